"""The two solvers whose rule differs from deltaprop's stock optimizers: scikit-learn's Adam, and LM with L2.

`ScikitLearnAdam` is `Adam` with epsilon where scikit-learn puts it: added
to sqrt(v) before the bias correction, which is PyTorch's form with
``eps / sqrt(1 - beta2**t)`` in place of eps (31.6 times eps on the first
step, tending to eps). For weights with small gradients the two forms take
visibly different early steps, so solver='adam' uses scikit-learn's.

`PenalizedLevenbergMarquardt` (solver='lm'): `LevenbergMarquardt`
minimises the loss's summed objective E(z) through its curvature in the
outputs; an L2 term on the weights lives outside the
outputs, so it is added where the step is chosen: with lam the strength in
E's scale and m the mask of weight-matrix entries,

    E + lam/2 ||m w||^2,   G + lam diag(m),   g + lam m w

which is exact (the penalty is quadratic, its Gauss-Newton matrix is its
Hessian). Biases are not penalised, as in scikit-learn.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from deltaprop.optim import Adam, LevenbergMarquardt
from deltaprop.optim.jacobian import flatten_params


class ScikitLearnAdam(Adam):
    """Adam with scikit-learn's placement of epsilon (see the module docstring); otherwise `Adam`."""

    def _update(self, p: Any, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        step = state["step"] + 1
        eps = group["eps"] / math.sqrt(1.0 - group["betas"][1] ** step)
        super()._update(p, grad, state, {**group, "eps": eps})


class PenalizedLevenbergMarquardt(LevenbergMarquardt):
    """`LevenbergMarquardt` plus ``strength/2 * ||w||^2`` over the parameters in ``penalized``."""

    def __init__(self, params: Iterable[Any], penalized: Sequence[Any], strength: float,
                 **options: Any) -> None:
        super().__init__(params, **options)
        chosen = {id(p) for p in penalized}
        self._mask = np.concatenate(
            [np.full(p.array.size, id(p) in chosen) for p in self.param_groups[0]["params"]]
        )
        self.strength = float(strength)

    def _take_step(self, f0: float, G: np.ndarray, g: np.ndarray, evaluate: Callable[[], float]) -> None:
        lam, mask, params = self.strength, self._mask, self._params
        if not lam:
            return super()._take_step(f0, G, g, evaluate)

        def penalty() -> float:
            w = flatten_params(params)[mask]
            return 0.5 * lam * float(w @ w)

        w0 = flatten_params(params)
        G[np.diag_indices_from(G)] += lam * mask  # G is built afresh for every step: changed in place
        g = g + lam * np.where(mask, w0, 0.0)
        return super()._take_step(f0 + penalty(), G, g, lambda: evaluate() + penalty())
