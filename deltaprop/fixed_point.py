"""`fixed_point`: relax z = f(z) to its fixed point and differentiate the result (recurrent backpropagation).

Almeida (1987) and Pineda (1987) trained recurrent networks whose activation
is fed around until it stops changing, s* = f(W s* + U x + b). Their gradient
needs no record of the relaxation: at the fixed point z* = f(z*, theta), the
implicit function theorem gives dz*/dtheta = (I - J)^{-1} df/dtheta with
J = df/dz at z*, so for a loss L

    dL/dtheta = u^T df/dtheta,   where u solves the adjoint fixed point  u = dL/dz* + J^T u,

and u is found by iterating that second equation, which converges whenever
the forward iteration does (J and J^T have the same spectral radius). The
backward therefore keeps only z* and one recorded application of f, however
many iterations the forward took; ``backward='unroll'`` instead records every
iteration and backpropagates through them all (BPTT through the relaxation),
which costs memory in proportion to the iterations and is the reference the
implicit gradient is checked against.

Both iterations converge when f is a contraction near z*. For
f(z) = tanh(W z + ...), that holds when the spectral norm of W (its largest
singular value) is below 1; when an iteration does not converge,
`FixedPointError` says so, with the measured stretch factor.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, overload

import numpy as np

from deltaprop import backend
from deltaprop.errors import DeltapropError
from deltaprop.tensor import Tensor, _next_seq, as_tensor, enable_grad, is_grad_enabled, make_result, no_grad

__all__ = ["FixedPointError", "FixedPointInfo", "fixed_point"]

_SOLVERS = ("iterate", "anderson")
_BACKWARDS = ("implicit", "unroll")


class FixedPointError(DeltapropError, RuntimeError):
    """A fixed-point iteration (the forward relaxation or the adjoint one) did not converge."""


@dataclass
class FixedPointInfo:
    """What the solver did: iterations and the residual ||f(z) - z|| / (1 + ||z||) after each.

    ``backward_iterations`` and ``backward_residuals`` are filled in when the
    implicit backward has solved the adjoint fixed point.
    """

    iterations: int = 0
    residuals: list[float] = field(default_factory=list)
    converged: bool = False
    backward_iterations: int = 0
    backward_residuals: list[float] = field(default_factory=list)


@overload
def fixed_point(f: Callable[[Tensor], Tensor], z0: Any, *, tol: float = ..., max_iter: int = ...,
                solver: str = ..., backward: str = ..., memory: int = ...,
                return_info: Literal[False] = ...) -> Tensor: ...


@overload
def fixed_point(f: Callable[[Tensor], Tensor], z0: Any, *, tol: float = ..., max_iter: int = ...,
                solver: str = ..., backward: str = ..., memory: int = ...,
                return_info: Literal[True]) -> tuple[Tensor, FixedPointInfo]: ...


@overload
def fixed_point(f: Callable[[Tensor], Tensor], z0: Any, *, tol: float = ..., max_iter: int = ...,
                solver: str = ..., backward: str = ..., memory: int = ...,
                return_info: bool = ...) -> Tensor | tuple[Tensor, FixedPointInfo]: ...


def fixed_point(
    f: Callable[[Tensor], Tensor],
    z0: Any,
    *,
    tol: float = 1e-6,
    max_iter: int = 500,
    solver: str = "iterate",
    backward: str = "implicit",
    memory: int = 5,
    return_info: bool = False,
) -> Tensor | tuple[Tensor, FixedPointInfo]:
    """z* with z* = f(z*), differentiable with respect to everything f uses.

    ``solver='iterate'`` applies z <- f(z); ``'anderson'`` mixes the last
    ``memory`` iterates (Anderson acceleration), usually in far fewer steps.
    ``backward='implicit'`` differentiates by solving the adjoint fixed point
    (Almeida-Pineda; memory independent of the iterations), ``'unroll'``
    backpropagates through every recorded iteration (plain z <- f(z) steps,
    whatever the solver: that is the BPTT the implicit gradient replaces). Iteration stops when the
    residual ||f(z) - z|| / (1 + ||z||) is below ``tol``; after ``max_iter``
    without that, `FixedPointError`. ``return_info=True`` also returns the
    `FixedPointInfo` (iterations and residuals).
    """
    if solver not in _SOLVERS:
        raise ValueError(f"fixed_point: solver must be one of {_SOLVERS}, got {solver!r}")
    if backward not in _BACKWARDS:
        raise ValueError(f"fixed_point: backward must be one of {_BACKWARDS}, got {backward!r}")
    if not (tol > 0 and int(max_iter) >= 1):
        raise ValueError(f"fixed_point: need tol > 0 and max_iter >= 1, got tol={tol!r}, "
                         f"max_iter={max_iter!r}")
    info = FixedPointInfo()
    z0 = as_tensor(z0)
    max_iter = int(max_iter)
    if backward == "unroll" and is_grad_enabled():
        z = _unrolled(f, z0, tol, max_iter, info)
    else:
        with no_grad():
            step = lambda a: _apply(f, a, "f")  # noqa: E731
            found = _solve(step, z0.array, tol, max_iter, solver, memory, info, "forward")
        if is_grad_enabled():
            z = _attach_implicit(f, found, tol, max_iter, solver, memory, info)
        else:
            z = Tensor._wrap(found)
    return (z, info) if return_info else z


def _apply(f: Callable[[Tensor], Tensor], z: Any, what: str) -> Any:
    out = f(Tensor._wrap(z))
    if not isinstance(out, Tensor) or out.shape != z.shape:
        got = type(out).__name__ if not isinstance(out, Tensor) else f"shape {out.shape}"
        raise ValueError(f"fixed_point: {what}(z) must return a Tensor of z's shape {z.shape}, got {got}")
    return out.array


def _residual(fz: Any, z: Any) -> float:
    xp = backend.array_module(z)
    diff = float(xp.sqrt(((fz - z) ** 2).sum()))
    return diff / (1.0 + float(xp.sqrt((z * z).sum())))


# --------------------------------------------------------------------------- the two solvers


def _solve(g: Callable[[Any], Any], z: Any, tol: float, max_iter: int, solver: str, memory: int,
           info: FixedPointInfo, which: str) -> Any:
    """Iterate z <- g(z) (or Anderson-mix the iterates) until the residual is below tol; returns z."""
    history: list[tuple[Any, Any]] = []
    residuals = info.residuals if which == "forward" else info.backward_residuals
    previous, stretch = None, None
    for k in range(1, max_iter + 1):
        gz = g(z)
        residuals.append(_residual(gz, z))
        if residuals[-1] < tol:
            _count(info, which, k)
            return gz
        if previous is not None:
            stretch = _stretch(gz, previous, z)
        previous = (z, gz)
        if solver == "anderson":
            history = (history + [(z, gz)])[-memory:]
            z = _anderson(history)
        else:
            z = gz
    _count(info, which, max_iter)
    raise FixedPointError(_not_converged(which, max_iter, residuals[-1], tol, stretch))


def _count(info: FixedPointInfo, which: str, k: int) -> None:
    if which == "forward":
        info.iterations, info.converged = k, True
    else:
        info.backward_iterations = k


def _stretch(gz: Any, previous: tuple[Any, Any], z: Any) -> float:
    """||g(z_k) - g(z_{k-1})|| / ||z_k - z_{k-1}||: how much the map stretches a difference (> 1 diverges)."""
    z_prev, gz_prev = previous
    xp = backend.array_module(z)
    step = float(xp.sqrt(((z - z_prev) ** 2).sum()))
    return float(xp.sqrt(((gz - gz_prev) ** 2).sum())) / step if step > 0 else float("nan")


def _not_converged(which: str, iterations: int, residual: float, tol: float, stretch: float | None) -> str:
    where = "z = f(z)" if which == "forward" else "the adjoint u = dL/dz* + J^T u (implicit backward)"
    measured = f"; the last step stretched differences by {stretch:.3g}x" if stretch is not None else ""
    return (
        f"fixed_point: {where} did not converge in {iterations} iterations (residual {residual:.3g} > tol "
        f"{tol:g}){measured}. The iteration converges when f is a contraction: for f(z) = tanh(W z + ...) "
        "keep the spectral norm of W (its largest singular value, np.linalg.norm(W, 2)) below 1, e.g. by "
        "scaling W down or initialising it smaller; or try solver='anderson', a larger max_iter or tol"
    )


def _anderson(history: list[tuple[Any, Any]]) -> Any:
    """Anderson mixing: the combination of the stored f(z_i) whose residuals f(z_i) - z_i cancel best.

    Minimises ||sum a_i (f(z_i) - z_i)|| subject to sum a_i = 1 (a small regularised normal equation).
    """
    if len(history) == 1:
        return history[0][1]
    xp = backend.array_module(history[0][0])
    residuals = xp.stack([(gz - z).reshape(-1) for z, gz in history])
    gram = backend.to_numpy(residuals @ residuals.T).astype(np.float64)
    gram += 1e-10 * (np.trace(gram) / len(history) + 1e-30) * np.eye(len(history))
    try:
        weights = np.linalg.solve(gram, np.ones(len(history)))
    except np.linalg.LinAlgError:
        return history[-1][1]
    weights /= weights.sum()
    mixed = sum(float(w) * gz for w, (_, gz) in zip(weights, history, strict=True))
    return mixed.astype(history[-1][1].dtype, copy=False)


# --------------------------------------------------------------------------- backward='unroll'


def _unrolled(f: Callable[[Tensor], Tensor], z0: Tensor, tol: float, max_iter: int, info: FixedPointInfo):
    """Every iteration recorded in the graph: plain backpropagation through the relaxation."""
    z = z0
    for k in range(1, max_iter + 1):
        fz = f(z)
        info.residuals.append(_residual(fz.array, z.array))
        z = fz
        if info.residuals[-1] < tol:
            info.iterations, info.converged = k, True
            return z
    info.iterations = max_iter
    raise FixedPointError(_not_converged("forward", max_iter, info.residuals[-1], tol, None))


# --------------------------------------------------------------------------- backward='implicit'


def _attach_implicit(f, z_star, tol, max_iter, solver, memory, info) -> Tensor:
    """z* as a node whose backward solves the adjoint fixed point over one recorded application of f."""
    leaf = Tensor(z_star, requires_grad=True)
    start = _next_seq()  # every op recorded inside f gets a larger sequence number
    with enable_grad():
        fz = f(leaf)
    inputs = _boundary(fz, start, leaf) if fz.requires_grad else []
    if not inputs:  # f uses nothing that needs a gradient
        return Tensor._wrap(z_star)
    saved = (fz, leaf, inputs, start, tol, max_iter, solver, memory, info)
    return make_result(z_star, tuple(inputs), _implicit_backward, saved, "fixed_point")


def _implicit_backward(g, saved, parents):
    fz, leaf, inputs, start, tol, max_iter, solver, memory, info = saved
    xp = backend.array_module(g)

    def adjoint_step(u: Any) -> Any:  # u <- dL/dz* + J^T u
        (through_z,) = _vjp(fz, u, [leaf], start)
        return g if through_z is None else g + through_z

    u = _solve(adjoint_step, g, tol, max_iter, solver, memory, info, "backward")
    grads = _vjp(fz, u, inputs, start)
    return tuple(None if p is None else (gr if gr is not None else xp.zeros_like(p.array))
                 for p, gr in zip(parents, grads, strict=True))


def _boundary(root: Tensor, start: int, leaf: Tensor) -> list[Tensor]:
    """The tensors f's graph reaches from outside f (parameters, earlier nodes), z itself excluded."""
    found: dict[int, Tensor] = {}
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        for parent in node._parents:
            if parent is None or parent is leaf or id(parent) in seen:
                continue
            seen.add(id(parent))
            if _inside(parent, start):
                stack.append(parent)
            elif parent.requires_grad:
                found[id(parent)] = parent
    return list(found.values())


def _inside(node: Tensor, start: int) -> bool:
    """Recorded while f ran (so its backward belongs to this fixed point's graph)."""
    return node._backward is not None and node._seq > start


def _vjp(root: Tensor, seed: Any, wrt: list[Tensor], start: int) -> list[Any]:
    """u^T d(root)/d(each of wrt) through the graph recorded inside f, which is kept for the next call.

    Inputs not asked for are handed to the ops' backwards as None, so they
    compute only what is needed (in the adjoint iteration: the gradient with
    respect to z alone).
    """
    wanted = {id(t): k for k, t in enumerate(wrt)}
    out: list[Any] = [None] * len(wrt)
    pending: dict[int, Any] = {root._seq: seed}
    heap: list[tuple[int, Tensor]] = [(-root._seq, root)]
    while heap:
        node = heapq.heappop(heap)[1]
        g = pending.pop(node._seq)
        parents = tuple(p if p is not None and (id(p) in wanted or _inside(p, start)) else None
                        for p in node._parents)
        backward, saved = node._backward, node._saved
        assert backward is not None and saved is not None, "only nodes recorded inside f, never freed"
        for parent, pg in zip(parents, backward(g, saved, parents), strict=False):
            if parent is None or pg is None:
                continue
            if id(parent) in wanted:
                k = wanted[id(parent)]
                out[k] = pg.copy() if out[k] is None else out[k] + pg
            elif parent._seq in pending:
                pending[parent._seq] = pending[parent._seq] + pg
            else:
                pending[parent._seq] = pg
                heapq.heappush(heap, (-parent._seq, parent))
    return out
