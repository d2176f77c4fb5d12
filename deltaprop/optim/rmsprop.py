"""RMSprop: divide the step by a running root-mean-square of recent gradients.

The rule (PyTorch's, step for step)::

    g   = grad + weight_decay * p
    s   = alpha * s + (1 - alpha) * g**2
    avg = sqrt(s - gbar**2) + eps   with gbar = alpha * gbar + (1 - alpha) * g  (centered)
    avg = sqrt(s) + eps                                                         (otherwise)
    b   = momentum * b + g / avg;  p = p - lr * b      (momentum > 0)
    p   = p - lr * g / avg                             (momentum = 0)

Centered RMSprop divides by an estimate of the gradient's standard deviation
rather than its root mean square.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from deltaprop.optim.optimizer import Optimizer, check_nonnegative
from deltaprop.tensor import Tensor


class RMSprop(Optimizer):
    """RMSprop (Hinton's lecture 6e), with optional momentum and centering, as in PyTorch."""

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
        maximize: bool = False,
    ) -> None:
        defaults = dict(
            lr=lr,
            alpha=alpha,
            eps=eps,
            weight_decay=weight_decay,
            momentum=momentum,
            centered=centered,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        for key in ("alpha", "eps", "weight_decay", "momentum"):
            check_nonnegative("RMSprop", key, group[key])

    def _init_state(self, p: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        state: dict[str, Any] = {"step": 0, "square_avg": np.zeros_like(p.array)}
        if group["momentum"] > 0:
            state["momentum_buffer"] = np.zeros_like(p.array)
        if group["centered"]:
            state["grad_avg"] = np.zeros_like(p.array)
        return state

    def _update(self, p: Tensor, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        g_buf, tmp = self._buffers(p, grad)
        g = self._effective_grad(p, grad, group, out=g_buf)
        alpha = group["alpha"]
        state["step"] += 1

        square_avg = state["square_avg"]
        square_avg *= alpha
        np.multiply(g, g, out=tmp)
        tmp *= 1 - alpha
        square_avg += tmp
        if group["centered"]:
            grad_avg = state["grad_avg"]
            grad_avg *= alpha
            np.multiply(g, 1 - alpha, out=tmp)
            grad_avg += tmp
            np.multiply(grad_avg, grad_avg, out=tmp)
            np.subtract(square_avg, tmp, out=tmp)
            np.sqrt(tmp, out=tmp)
        else:
            np.sqrt(square_avg, out=tmp)
        tmp += group["eps"]
        np.divide(g, tmp, out=tmp)  # g may be g_buf or p.grad; tmp is distinct from both

        if group["momentum"] > 0:
            buf = state["momentum_buffer"]
            buf *= group["momentum"]
            buf += tmp
            np.multiply(buf, group["lr"], out=tmp)
        else:
            tmp *= group["lr"]
        p.array -= tmp
