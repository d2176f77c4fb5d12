"""`Backprop`: backpropagation as a rule, the reference every other rule is measured against.

The update is the exact gradient of the loss (Rumelhart, Hinton, Williams,
Nature 1986): with a_l = W_l h_{l-1} + b_l, h_l = f_l(a_l) and the loss L,

    delta_L = dL/da_L
    delta_l = (W_{l+1}^T delta_{l+1}) * f_l'(a_l)
    dL/dW_l = delta_l h_{l-1}^T,  dL/db_l = delta_l

computed by the engine's reverse-mode walk (`deltaprop.optim.backprop`), so it
trains any model, not only chains of affine layers. ``fit(..., rule=Backprop())``
is bit for bit ``fit(...)``.

Its weakness is what the other rules address: the backward pass reuses W^T
(weight transport) and every layer waits for the layers above it (locking).
"""

from __future__ import annotations

from typing import Any

from deltaprop.optim.optimizer import backprop
from deltaprop.rules.base import Rule


class Backprop(Rule):
    """The true gradient by backpropagation (works with any model and any optimizer)."""

    name = "backprop"
    measures_alignment = False  # its update is the gradient: the angle is 0 by definition

    def __init__(self) -> None:
        super().__init__(alignment_every=0)

    def bind(self, model: Any) -> None:
        self.model = model  # no blocks needed: the engine differentiates whatever the model is

    def __call__(self, model: Any, loss_fn: Any, x: Any, y: Any) -> tuple[float, Any]:
        return backprop(model, loss_fn, x, y)

    def gradients(self, model: Any, loss_fn: Any, x: Any, y: Any) -> tuple[float, Any]:
        return backprop(model, loss_fn, x, y)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("rule") != "Backprop":
            raise ValueError(f"Backprop.load_state_dict: the state was saved by {state.get('rule')}")
