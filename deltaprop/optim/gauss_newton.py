"""Gauss-Newton: the Newton step with the Hessian replaced by J^T J, made safe by a line search.

Solve ``(J^T J + mu I) dw = -J^T e`` with a fixed (default zero) ``mu``; the
pseudo-inverse (least squares) takes over where J^T J is singular, as it is
whenever the net has more parameters than residuals. Far from a minimum the
full step can overshoot, so it is scaled by ``alpha = 1, 1/2, 1/4, ...``
until the objective drops by at least ``c1 * alpha * |g . dw|`` (Armijo).
Compare `LevenbergMarquardt`, which adapts mu instead of alpha.
Cross-entropy losses use the generalized Gauss-Newton matrix, as in LM.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from deltaprop.optim.jacobian import assign_params, flatten_params
from deltaprop.optim.levenberg_marquardt import CurvatureOptimizer, solve_damped
from deltaprop.optim.optimizer import check_nonnegative


class GaussNewton(CurvatureOptimizer):
    """Gauss-Newton with backtracking (Armijo) line search; ``mu`` is a fixed ridge (0 = none)."""

    def __init__(
        self,
        params: Iterable[Any],
        mu: float = 0.0,
        max_backtracks: int = 20,
        c1: float = 1e-4,
        max_jacobian_rows: int | None = None,
    ) -> None:
        defaults = dict(mu=mu, max_backtracks=max_backtracks, c1=c1, max_jacobian_rows=max_jacobian_rows)
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        check_nonnegative("GaussNewton", "mu", group["mu"], "a fixed ridge added to J^T J")
        check_nonnegative("GaussNewton", "c1", group["c1"], "the Armijo sufficient-decrease constant")
        if int(group["max_backtracks"]) < 1:
            raise ValueError(f"GaussNewton: max_backtracks must be >= 1, got {group['max_backtracks']!r}")

    def _take_step(self, f0: float, G: np.ndarray, g: np.ndarray, evaluate: Callable[[], float]) -> None:
        group = self.param_groups[0]
        params = self._params
        w0 = flatten_params(params)
        dw, solver = solve_damped(G, g, float(group["mu"]))
        slope = float(g @ dw)  # directional derivative; negative for a descent direction
        if slope >= 0:  # numerically not a descent direction: fall back to the gradient
            dw, slope = -g, -float(g @ g)
        alpha, f, accepted, trials = 1.0, f0, False, 0
        for _ in range(int(group["max_backtracks"])):
            trials += 1
            assign_params(params, w0 + alpha * dw)
            f = evaluate()
            if math.isfinite(f) and f <= f0 + group["c1"] * alpha * slope and f < f0:
                accepted = True
                break
            alpha *= 0.5
        if not accepted:
            assign_params(params, w0)
            f = f0
            self.stopped_reason = "line search found no step that lowers the loss"
        self.last_step = dict(
            objective_before=f0,
            objective_after=f,
            alpha=alpha if accepted else 0.0,
            trials=trials,
            solver=solver,
            accepted=accepted,
        )
