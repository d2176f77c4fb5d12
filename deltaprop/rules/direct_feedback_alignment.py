"""`DirectFeedbackAlignment`: the output error sent straight to every hidden layer by fixed random matrices.

Nokland, "Direct Feedback Alignment Provides Learning in Deep Neural
Networks", NeurIPS 2016.

With a_l = W_l h_{l-1} + b_l, h_l = f_l(a_l), the output error e = dL/da_L
and, for every hidden layer, a fixed random matrix B_l of shape
(units of layer l) x (outputs):

    delta_L = e
    delta_l = (B_l e) * f_l'(a_l)        (no dependence on the layers above)
    update:   dW_l = delta_l h_{l-1}^T,  db_l = delta_l

Every hidden layer gets its error in one step from the output, in parallel:
no weight transport and no backward pass through the layers above. The output
layer's update is the true gradient.

Default: B_l uniform in +-1/sqrt(units of layer l), the automatic scale of the
paper's code (anokland/dfa-torch, ErrorFeedback with rfb_mag 0); ``scale``
sets it by hand.
"""

from __future__ import annotations

import math
from typing import Any

from deltaprop.rules.base import Rule, check_positive
from deltaprop.rules.blocks import Network
from deltaprop.rules.feedback_alignment import feedback_state, load_feedback, random_feedback
from deltaprop.rules.local import (
    affine_backward,
    backward_through,
    finite,
    forward_and_loss,
    output_delta,
)


class DirectFeedbackAlignment(Rule):
    """Each hidden layer's error is a fixed random projection of the output error (Nokland 2016)."""

    name = "direct-feedback-alignment"

    def __init__(self, scale: float | None = None, alignment_every: int = 10) -> None:
        super().__init__(alignment_every)
        self.scale = None if scale is None else check_positive("DirectFeedbackAlignment", "scale", scale)
        self.feedback: list[Any] = []

    def setup(self, network: Network) -> None:
        n_out = network.output.width
        self.feedback = []
        for block in network.hidden:
            scale = self.scale if self.scale is not None else 1.0 / math.sqrt(block.width)
            self.feedback.append(random_feedback((n_out, block.width), scale, block.weight.array))

    def gradients(self, model: Any, loss_fn: Any, x: Any, y: Any) -> tuple[float, Any]:
        passes, output, loss, value = forward_and_loss(self.bound(self.network), loss_fn, x, y)
        if not finite(value):
            return value, output
        error = output_delta(passes[-1], loss)
        affine_backward(passes[-1], error)
        for p, feedback in zip(passes[:-1], self.feedback, strict=True):
            backward_through(p, error @ feedback)
        return value, output

    def extra_state(self) -> dict[str, Any]:
        return feedback_state(self.feedback)

    def load_extra_state(self, state: dict[str, Any]) -> None:
        load_feedback("DirectFeedbackAlignment", self.feedback, state)

    def __repr__(self) -> str:
        return f"DirectFeedbackAlignment(scale={self.scale})"
