"""Stochastic gradient descent, with momentum, Nesterov momentum and weight decay.

The rule (PyTorch's, step for step)::

    g = grad + weight_decay * p               (g = -grad ... when maximize)
    b = g                                     on the first step
    b = momentum * b + (1 - dampening) * g    afterwards
    g = g + momentum * b  if nesterov  else  b
    p = p - lr * g

Momentum keeps a running sum of past steps, so directions the gradient keeps
pointing in gain speed while ones it flips between cancel out.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from deltaprop.optim.optimizer import Optimizer, check_nonnegative
from deltaprop.tensor import Tensor


class SGD(Optimizer):
    """Gradient descent: ``p -= lr * g`` (with optional momentum, Nesterov, L2 weight decay)."""

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
        maximize: bool = False,
    ) -> None:
        defaults = dict(
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            nesterov=nesterov,
            weight_decay=weight_decay,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        check_nonnegative("SGD", "momentum", group["momentum"])
        check_nonnegative("SGD", "weight_decay", group["weight_decay"])
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(
                f"SGD: nesterov=True needs momentum > 0 and dampening = 0, got momentum="
                f"{group['momentum']}, dampening={group['dampening']}"
            )

    def _needs_state(self, group: dict[str, Any]) -> bool:
        return group["momentum"] != 0  # as in PyTorch, plain SGD keeps no per-parameter state

    def _update(self, p: Tensor, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        g_buf, tmp = self._buffers(p, grad)
        momentum = group["momentum"]
        plain = group["weight_decay"] == 0 and not group["maximize"]
        g = grad if plain else self._effective_grad(p, grad, group, out=g_buf)
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:  # first step: the buffer starts as the gradient itself
                buf = state["momentum_buffer"] = g.copy()
            else:
                buf *= momentum
                damp = 1 - group["dampening"]
                if damp != 1:
                    np.multiply(g, damp, out=tmp)
                    buf += tmp
                else:
                    buf += g
            if group["nesterov"]:
                np.multiply(buf, momentum, out=tmp)
                tmp += g
                g = tmp
            else:
                g = buf
        np.multiply(g, group["lr"], out=tmp)
        p.array -= tmp
