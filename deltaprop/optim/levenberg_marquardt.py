"""Levenberg-Marquardt: Gauss-Newton steps damped by mu (MATLAB's ``trainlm``).

For a sum-of-squares objective ``E(w) = 1/2 ||e(w)||^2`` with residuals
``e = output - target`` and their Jacobian ``J = de/dw``, one step solves

    (J^T J + mu I) dw = -J^T e

Small mu: the Gauss-Newton step (Newton's method with the Hessian
approximated by J^T J). Large mu: ``dw ~= -J^T e / mu``, plain gradient
descent with step size 1/mu. A step that lowers E is kept and mu shrinks
(``mu *= mu_dec``); one that does not is undone and retried with
``mu *= mu_inc``; when mu passes ``mu_max`` training has converged (or
stalled) and `should_stop()` says so.

Cross-entropy losses use the generalized Gauss-Newton matrix
``J^T H J`` (H: the Hessian of the loss in the network's outputs, e.g.
``diag(p) - p p^T`` for softmax cross-entropy) and the gradient ``J^T (p - y)``.

Memory, in float64 bytes, with N examples, K outputs and P parameters::

    8 * (2 * P**2 + R * P)        R = N * K, or max_jacobian_rows when set

(J^T J and its factor, plus the Jacobian rows held at once). With
``max_jacobian_rows`` the examples are processed in chunks of
``max_jacobian_rows // K`` and J^T J, J^T e are accumulated, so the full
Jacobian is never held; the P**2 term is what limits LM to networks of a few
thousand parameters.

Use it with ``deltaprop.fit(model, X, y, loss='mse', optimizer=LevenbergMarquardt(model.parameters()))``
(full batch), or directly with ``opt.train_step(model, loss_fn, X, y)`` (the
training-step protocol of `deltaprop.optim.Optimizer`), or in the PyTorch
LBFGS style with ``opt.step(closure)`` where ``closure()`` returns the
residual tensor e.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from deltaprop.optim.jacobian import (
    assign_params,
    flatten_params,
    model_output,
    output_jacobian,
    residual_jacobian,
)
from deltaprop.optim.optimizer import (
    AfterBackward,
    GradientFn,
    Optimizer,
    backprop,
    check_nonnegative,
    refuse_other_rules,
)
from deltaprop.tensor import Tensor, enable_grad, no_grad

SUPPORTED_LOSSES = "MSELoss, SquaredErrorLoss, CrossEntropyLoss, BCEWithLogitsLoss"


# --------------------------------------------------------------------------- the objective in the outputs
def output_curvature(loss_fn: Any, who: str) -> Any:
    """The loss's description of its curvature in the outputs (deltaprop.nn.curvature), or a clear error."""
    describe = getattr(loss_fn, "output_curvature", None)
    curvature = describe() if callable(describe) else None
    if curvature is None:
        raise TypeError(
            f"{who}: loss {type(loss_fn).__name__} is not supported; second-order training needs a loss "
            f"whose curvature in the outputs is known: {SUPPORTED_LOSSES}. For probabilities use "
            "BCEWithLogitsLoss on logits (drop the final Sigmoid), for NLLLoss use CrossEntropyLoss on logits"
        )
    return curvature


def gauss_newton_system(curvature: Any, output: np.ndarray, q: np.ndarray, J: np.ndarray):
    """(G, g): the Gauss-Newton matrix J^T H J and the gradient J^T dE/dz of the summed objective."""
    J = J.astype(np.float64, copy=False)
    n, k = output.shape
    r = curvature.gradient(output, q).ravel()
    HJ = curvature.hessian_times(output, q, J.reshape(n, k, -1))
    return J.T @ HJ.reshape(n * k, -1), J.T @ r


def solve_damped(G: np.ndarray, g: np.ndarray, mu: float) -> tuple[np.ndarray, str]:
    """dw solving (G + mu I) dw = -g: Cholesky, or least squares when G + mu I is (nearly) singular.

    G + mu I is symmetric positive definite for mu > 0, so one Cholesky
    factorization (n^3/3 flops) both checks the conditioning and solves; the two
    triangular solves cost only n^2 with SciPy. Without SciPy, NumPy has no
    triangular solver, so the factor is used for the check and the system is
    solved by LU (2n^3/3) instead of two general solves with L (4n^3/3).
    """
    A = G.copy()
    A[np.diag_indices_from(A)] += mu
    try:
        L = np.linalg.cholesky(A)
    except np.linalg.LinAlgError:
        L = None
    if L is not None:
        d = np.diag(L)
        if d.min() > 0 and (d.min() / d.max()) ** 2 > 1e-13:  # condition number of A below ~1e13
            try:
                from scipy.linalg import cho_solve
            except ImportError:
                return np.linalg.solve(A, -g), "cholesky"
            return cho_solve((L, True), -g, check_finite=False), "cholesky"
    return np.linalg.lstsq(A, -g, rcond=None)[0], "lstsq"


# --------------------------------------------------------------------------- shared base
class CurvatureOptimizer(Optimizer):
    """Base of LM and Gauss-Newton: builds G and g, then lets the subclass pick the step.

    Subclasses define ``_take_step(f0, G, g, evaluate)`` which changes the
    parameters and returns nothing; ``evaluate()`` gives the objective at the
    current parameters.
    """

    full_batch = True

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError(f"{type(self).__name__} takes one parameter group (it solves for all at once)")
        #: set when no step can lower the loss any more (`should_stop` reports it, fit stops on it)
        self.stopped_reason: str | None = None
        #: what the last step did: objective before/after, mu, trials, solver, accepted
        self.last_step: dict[str, Any] = {}
        #: None, or where the data is split over processes (set by deltaprop.distributed for fit):
        #: ``new_system(P)`` gives the zeroed (G, g) to accumulate into, ``sum_system(G, g, E)``
        #: sums them and the objective over the processes in one all-reduce (returning E), and
        #: ``sum_value(E)`` sums a trial step's objective.
        self.data_parallel: Any = None

    @property
    def _params(self) -> list[Tensor]:
        return self.param_groups[0]["params"]

    # ------------------------------------------------------------------ the training-step protocol
    def should_stop(self) -> str | None:
        return self.stopped_reason

    def train_step(
        self,
        model: Any,
        loss_fn: Any,
        X: Any,
        y: Any,
        *,
        gradients: GradientFn = backprop,
        after_backward: AfterBackward | None = None,
    ) -> tuple[float, None]:
        """One step on (X, y); returns (``loss_fn``'s value before the step, None).

        The step is built from the Jacobian and the loss's curvature, not from
        ``.grad``: there is no model output to report and ``after_backward``
        is not called. Only plain backpropagation can feed it.
        """
        refuse_other_rules(self, gradients)
        curvature = output_curvature(loss_fn, type(self).__name__)
        x = X.array if isinstance(X, Tensor) else np.asarray(X)
        yy = y.array if isinstance(y, Tensor) else np.asarray(y)
        rows = self.param_groups[0].get("max_jacobian_rows")
        params = self._params
        P = sum(p.array.size for p in params)
        across = self.data_parallel
        G, g = (np.zeros((P, P)), np.zeros(P)) if across is None else across.new_system(P)
        f0, outputs = 0.0, []
        chunk = len(x)
        if rows:
            k = model_output(model, x[:1]).shape[1]
            chunk = max(1, int(rows) // k)
        for start in range(0, len(x), chunk):
            xc, yc = x[start : start + chunk], yy[start : start + chunk]
            out, J = residual_jacobian(model, xc, params)
            q = curvature.targets(yc, out)
            Gc, gc = gauss_newton_system(curvature, out, q, J)
            G += Gc
            g += gc
            f0 += curvature.objective(out, q)
            outputs.append(out)
        if across is not None:  # each process formed the system of its own examples: add them up
            f0 = across.sum_system(G, g, f0)
        output = np.concatenate(outputs)
        q_all = curvature.targets(yy, output)

        def evaluate() -> float:
            objective = curvature.objective(model_output(model, x), q_all)
            return objective if across is None else across.sum_value(objective)

        with no_grad():
            pred = Tensor(output.reshape((len(x),) + _output_tail(model, x)))
            target = y if isinstance(y, Tensor) else Tensor(yy)
            reported = float(loss_fn(pred, target).item())
        self._take_step(f0, G, g, evaluate)
        return reported, None

    # ------------------------------------------------------------------ PyTorch LBFGS style
    def step(self, closure: Callable[[], Any] | None = None) -> float:  # type: ignore[override]
        """One step; ``closure()`` returns the residual Tensor e (objective 1/2 ||e||^2).

        Returns the objective before the step. The closure is called once with
        the graph (for the Jacobian, one backward per residual) and then
        without it for every trial step.
        """
        if closure is None:
            raise ValueError(
                f"{type(self).__name__}.step needs a closure returning the residuals, e.g. "
                "lambda: model(X) - y; or call train_step(model, loss_fn, X, y) / deltaprop.fit"
            )
        params = self._params
        with enable_grad():
            e = closure()
        if not isinstance(e, Tensor) or e.array.size == 1 and e.array.ndim == 0:
            raise TypeError(
                f"{type(self).__name__}.step: the closure must return the residual Tensor e "
                "(e.g. model(X) - y), not a scalar loss"
            )
        J = output_jacobian(e, params)
        r = e.array.astype(np.float64).ravel()
        f0 = 0.5 * float(r @ r)

        def evaluate() -> float:
            with no_grad():
                values = np.asarray(closure().array, dtype=np.float64).ravel()
            return 0.5 * float(values @ values)

        self._take_step(f0, J.T @ J, J.T @ r, evaluate)
        return f0

    def _take_step(self, f0: float, G: np.ndarray, g: np.ndarray, evaluate: Callable[[], float]) -> None:
        raise NotImplementedError


def _output_tail(model: Any, x: np.ndarray) -> tuple[int, ...]:
    """The shape of one example's output (so the reported loss sees the model's own shape)."""
    return tuple(model_output_shape(model, x[:1])[1:])


def model_output_shape(model: Any, x: np.ndarray) -> tuple[int, ...]:
    with no_grad():
        return tuple(model(Tensor(x)).array.shape)


# --------------------------------------------------------------------------- Levenberg-Marquardt
class LevenbergMarquardt(CurvatureOptimizer):
    """Levenberg-Marquardt with trainlm's mu schedule (see the module docstring).

    ``mu`` is kept between steps in ``param_groups[0]['mu']`` (and so in
    ``state_dict``). ``max_jacobian_rows`` bounds the Jacobian rows held at
    once (memory ``8 * (2 P^2 + rows * P)`` bytes).
    """

    def __init__(
        self,
        params: Iterable[Any],
        mu: float = 1e-3,
        mu_dec: float = 0.1,
        mu_inc: float = 10.0,
        mu_max: float = 1e10,
        max_jacobian_rows: int | None = None,
    ) -> None:
        defaults = dict(
            mu=mu, mu_dec=mu_dec, mu_inc=mu_inc, mu_max=mu_max, max_jacobian_rows=max_jacobian_rows
        )
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        check_nonnegative("LevenbergMarquardt", "mu", group["mu"], "the damping added to J^T J")
        if not 0 < group["mu_dec"] < 1:
            raise ValueError(f"LevenbergMarquardt: mu_dec must be in (0, 1), got {group['mu_dec']!r}")
        if not group["mu_inc"] > 1:
            raise ValueError(f"LevenbergMarquardt: mu_inc must be > 1, got {group['mu_inc']!r}")
        if not group["mu_max"] > group["mu"]:
            raise ValueError(
                f"LevenbergMarquardt: mu_max ({group['mu_max']!r}) must exceed mu ({group['mu']!r})"
            )
        rows = group["max_jacobian_rows"]
        if rows is not None and (int(rows) != rows or rows < 1):
            raise ValueError(
                f"LevenbergMarquardt: max_jacobian_rows must be a positive int or None, got {rows!r}"
            )

    def _take_step(self, f0: float, G: np.ndarray, g: np.ndarray, evaluate: Callable[[], float]) -> None:
        group = self.param_groups[0]
        params = self._params
        w0 = flatten_params(params)
        mu = float(group["mu"])
        trials, solver, f = 0, "", f0
        accepted = False
        while True:
            dw, solver = solve_damped(G, g, mu)
            trials += 1
            assign_params(params, w0 + dw)
            f = evaluate()
            if math.isfinite(f) and f < f0:
                accepted = True
                mu = max(mu * group["mu_dec"], 1e-20)
                break
            mu *= group["mu_inc"]
            if mu > group["mu_max"]:
                assign_params(params, w0)
                f = f0
                self.stopped_reason = f"mu reached mu_max={group['mu_max']:g}: no step lowers the loss"
                break
        group["mu"] = mu
        self.last_step = dict(
            objective_before=f0, objective_after=f, mu=mu, trials=trials, solver=solver, accepted=accepted
        )
