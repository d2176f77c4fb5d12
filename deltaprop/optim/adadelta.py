"""Adadelta: step sizes from running averages of squared gradients and squared steps, no tuned rate.

The rule (PyTorch's, step for step)::

    g     = grad + weight_decay * p            (-grad ... when maximize)
    v     = rho * v + (1 - rho) * g**2         (square_avg)
    delta = sqrt(u + eps) / sqrt(v + eps) * g
    u     = rho * u + (1 - rho) * delta**2     (acc_delta)
    p     = p - lr * delta

The ratio of the two running RMS values gives each coordinate a step in the
units of the parameter itself (Zeiler, 2012), which is why ``lr=1.0`` is the
default; PyTorch's mnist example trains with it and a StepLR.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from deltaprop.optim.optimizer import Optimizer, check_nonnegative
from deltaprop.tensor import Tensor


class Adadelta(Optimizer):
    """Adadelta (Zeiler, 2012), as in PyTorch."""

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0.0,
        foreach: bool | None = None,
        *,
        capturable: bool = False,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        for key in ("eps", "weight_decay"):
            check_nonnegative("Adadelta", key, group[key])
        if not 0.0 <= group["rho"] <= 1.0:
            raise ValueError(f"Adadelta: rho must be in [0, 1], got {group['rho']!r}")

    def _init_state(self, p: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        return {"step": 0, "square_avg": np.zeros_like(p.array), "acc_delta": np.zeros_like(p.array)}

    def _update(self, p: Tensor, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        g_buf, tmp = self._buffers(p, grad)
        g = self._effective_grad(p, grad, group, out=g_buf)
        rho, eps = group["rho"], group["eps"]
        state["step"] += 1
        square_avg, acc_delta = state["square_avg"], state["acc_delta"]

        square_avg *= rho
        np.multiply(g, g, out=tmp)
        tmp *= 1 - rho
        square_avg += tmp
        # g_buf holds sqrt(v + eps) unless it holds g itself (weight decay, maximize): then a fresh array
        std = g_buf if g is not g_buf else np.empty_like(tmp)
        np.sqrt(np.add(square_avg, eps, out=std), out=std)
        np.sqrt(np.add(acc_delta, eps, out=tmp), out=tmp)
        tmp /= std
        tmp *= g  # delta
        acc_delta *= rho
        np.multiply(tmp, tmp, out=std)
        std *= 1 - rho
        acc_delta += std
        tmp *= group["lr"]
        p.array -= tmp
