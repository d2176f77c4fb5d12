"""Adam and AdamW: per-parameter step sizes from running moments of the gradient.

The rule (PyTorch's, step for step; t counts this parameter's steps)::

    g  = grad + weight_decay * p          (Adam: L2 folded into the gradient)
    p  = p * (1 - lr * weight_decay)      (AdamW instead: decay decoupled from g)
    m  = beta1 * m + (1 - beta1) * g      (first moment: a smoothed gradient)
    v  = beta2 * v + (1 - beta2) * g**2   (second moment: its typical size)
    v^ = max(v^, v) if amsgrad else v
    p  = p - lr / (1 - beta1**t) * m / (sqrt(v^) / sqrt(1 - beta2**t) + eps)

Dividing by sqrt(v) makes each coordinate's step about ``lr`` whatever the
scale of its gradient; the ``1 - beta**t`` factors undo the bias of moments
that start at zero (so the first step is ``lr * sign(g)``, nearly).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from deltaprop.optim.optimizer import Optimizer, check_nonnegative, check_range
from deltaprop.tensor import Tensor


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015), optionally AMSGrad; ``weight_decay`` is L2 added to the gradient."""

    #: AdamW sets this: weight decay shrinks ``p`` directly instead of entering the moments.
    decoupled_weight_decay: bool = False

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        maximize: bool = False,
    ) -> None:
        defaults = dict(
            lr=lr,
            betas=tuple(betas),
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        name = type(self).__name__
        betas = group["betas"] = tuple(group["betas"])
        if len(betas) != 2:
            raise ValueError(f"{name}: betas must be a pair (beta1, beta2), got {betas!r}")
        check_range(name, "betas[0]", betas[0], 0.0, 1.0)
        check_range(name, "betas[1]", betas[1], 0.0, 1.0)
        check_nonnegative(name, "eps", group["eps"])
        check_nonnegative(name, "weight_decay", group["weight_decay"])

    def _init_state(self, p: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        state: dict[str, Any] = {
            "step": 0,
            "exp_avg": np.zeros_like(p.array),
            "exp_avg_sq": np.zeros_like(p.array),
        }
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = np.zeros_like(p.array)
        return state

    def _update(self, p: Tensor, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        g_buf, tmp = self._buffers(p, grad)
        lr = group["lr"]
        beta1, beta2 = group["betas"]
        weight_decay = group["weight_decay"]
        state["step"] = step = state["step"] + 1

        if self.decoupled_weight_decay:
            if weight_decay != 0:
                p.array *= 1 - lr * weight_decay
            g = grad if not group["maximize"] else np.negative(grad, out=g_buf)
        else:
            g = self._effective_grad(p, grad, group, out=g_buf)

        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        exp_avg *= beta1
        np.multiply(g, 1 - beta1, out=tmp)
        exp_avg += tmp
        exp_avg_sq *= beta2
        np.multiply(g, g, out=tmp)
        tmp *= 1 - beta2
        exp_avg_sq += tmp

        step_size = lr / (1 - beta1**step)
        bias_correction2_sqrt = math.sqrt(1 - beta2**step)
        second = exp_avg_sq
        if group["amsgrad"]:
            second = np.maximum(state["max_exp_avg_sq"], exp_avg_sq, out=state["max_exp_avg_sq"])
        np.sqrt(second, out=tmp)
        tmp /= bias_correction2_sqrt
        tmp += group["eps"]
        np.divide(exp_avg, tmp, out=tmp)
        tmp *= step_size
        p.array -= tmp


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): ``p *= 1 - lr * weight_decay`` each step."""

    decoupled_weight_decay = True

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        maximize: bool = False,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize)
