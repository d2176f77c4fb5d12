"""Adagrad: per-coordinate step sizes that shrink with the sum of squared gradients.

The rule (PyTorch's, step for step; t counts this parameter's steps)::

    g   = grad + weight_decay * p
    clr = lr / (1 + (t - 1) * lr_decay)
    s   = s + g**2
    p   = p - clr * g / (sqrt(s) + eps)

Coordinates with large past gradients take small steps, rarely-updated ones
keep large steps: good for sparse features, too cautious for long training.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from deltaprop.optim.optimizer import Optimizer, check_nonnegative
from deltaprop.tensor import Tensor


class Adagrad(Optimizer):
    """Adagrad (Duchi et al., 2011), as in PyTorch."""

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
        maximize: bool = False,
    ) -> None:
        defaults = dict(
            lr=lr,
            lr_decay=lr_decay,
            weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value,
            eps=eps,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        for key in ("lr_decay", "weight_decay", "initial_accumulator_value", "eps"):
            check_nonnegative("Adagrad", key, group[key])

    def _init_state(self, p: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        accumulator = np.full_like(p.array, group["initial_accumulator_value"])
        return {"step": 0, "sum": accumulator}

    def _update(self, p: Tensor, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        g_buf, tmp = self._buffers(p, grad)
        g = self._effective_grad(p, grad, group, out=g_buf)
        state["step"] = step = state["step"] + 1
        clr = group["lr"] / (1 + (step - 1) * group["lr_decay"])

        total = state["sum"]
        np.multiply(g, g, out=tmp)
        total += tmp
        np.sqrt(total, out=tmp)
        tmp += group["eps"]
        np.divide(g, tmp, out=tmp)
        tmp *= clr
        p.array -= tmp
