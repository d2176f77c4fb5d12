"""Levenberg-Marquardt with scikit-learn's L2 term on the weight matrices (solver='lm').

`LevenbergMarquardt` minimises the loss's summed objective E(z) through its
curvature in the outputs; an L2 term on the weights lives outside the
outputs, so it is added where the step is chosen: with lam the strength in
E's scale and m the mask of weight-matrix entries,

    E + lam/2 ||m w||^2,   G + lam diag(m),   g + lam m w

which is exact (the penalty is quadratic, its Gauss-Newton matrix is its
Hessian). Biases are not penalised, as in scikit-learn.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from deltaprop.optim import LevenbergMarquardt
from deltaprop.optim.jacobian import flatten_params


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
