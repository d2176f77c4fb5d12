"""Reductions: sum, mean, amax, amin, var, std, logsumexp, each with its backward beside it.

Each takes PyTorch's ``dim`` and ``keepdim`` (positional too: ``x.sum(1,
True)``) and NumPy's ``axis``/``keepdims`` as aliases. ``max``/``min`` with a
``dim`` return values and indices, as in PyTorch: they are in `extrema`.
"""

from __future__ import annotations

import numpy as np

from deltaprop.ops.dims import AxisError, axes, no_out, pick, pick_keepdim
from deltaprop.tensor import Tensor, as_tensor, make_result

_AxisError = AxisError  # (the name other modules and tests have used)


def _axes(axis, ndim: int, op: str) -> tuple[int, ...]:
    """The reduced axes as sorted non-negative ints; out of range raises NumPy's AxisError, naming ``op``."""
    return axes(axis, ndim, op)


def _regrow(g, shape, axes, keepdims):
    """Put back the reduced axes (as size 1) so g broadcasts against the input."""
    if not keepdims and axes:
        g = np.expand_dims(g, axes)
    return g


def _count(shape: tuple[int, ...], reduced: tuple[int, ...]) -> int:
    count = 1
    for ax in reduced:
        count *= shape[ax]
    return count


# ----------------------------------------------------------------- sum and mean
def _reduction(input, dim, keepdim, dtype, axis, keepdims, out, op):  # noqa: A002
    """(tensor, reduced dims, keepdim, NumPy's result) for sum and mean: the arguments read once, here."""
    if out is not None:
        no_out(out, op)
    a = input if isinstance(input, Tensor) else as_tensor(input)
    if axis is not None:  # (the NumPy spellings are checked only when given: these run often)
        dim = pick(dim, axis, op)
    keep = keepdim if keepdims is None else pick_keepdim(keepdim, keepdims, op)
    data = a.array
    reduced = axes(dim, data.ndim, op)
    if not reduced:
        return a, reduced, keep, data.copy()
    method = getattr(data, op)
    if dtype is None:
        return a, reduced, keep, method(axis=reduced, keepdims=keep)
    return a, reduced, keep, method(axis=reduced, keepdims=keep, dtype=dtype)


def sum(input, dim=None, keepdim=False, *, dtype=None, axis=None, keepdims=None, out=None) -> Tensor:  # noqa: A001, A002
    a, reduced, keep, result = _reduction(input, dim, keepdim, dtype, axis, keepdims, out, "sum")
    return make_result(a.xp.asarray(result), (a,), _sum_backward, (a.shape, reduced, keep), "sum")


def _sum_backward(g, saved, parents):
    shape, axes, keepdims = saved
    return (np.broadcast_to(_regrow(g, shape, axes, keepdims), shape),)


def mean(input, dim=None, keepdim=False, *, dtype=None, axis=None, keepdims=None, out=None) -> Tensor:  # noqa: A002
    a, reduced, keep, result = _reduction(input, dim, keepdim, dtype, axis, keepdims, out, "mean")
    count = _count(a.shape, reduced)
    return make_result(a.xp.asarray(result), (a,), _mean_backward, (a.shape, reduced, keep, count), "mean")


def _mean_backward(g, saved, parents):
    shape, axes, keepdims, count = saved
    g = _regrow(g, shape, axes, keepdims) / count
    return (np.broadcast_to(g, shape),)


# ----------------------------------------------------------------- amax / amin
def amax(input, dim=(), keepdim=False, *, axis=None, keepdims=None, out=None) -> Tensor:  # noqa: A002
    """The largest values over ``dim`` (all by default); ties share the gradient equally, as in PyTorch."""
    no_out(out, "amax")
    return _extreme(input, _dims(dim, axis, "amax"), pick_keepdim(keepdim, keepdims, "amax"), "amax")


def amin(input, dim=(), keepdim=False, *, axis=None, keepdims=None, out=None) -> Tensor:  # noqa: A002
    no_out(out, "amin")
    return _extreme(input, _dims(dim, axis, "amin"), pick_keepdim(keepdim, keepdims, "amin"), "amin")


def _dims(dim, axis, op):
    """amax's default dim=() (every dim) does not count as given when NumPy's axis= is."""
    chosen = pick(None if isinstance(dim, tuple) and not dim else dim, axis, op)
    return () if chosen is None else chosen


def _extreme(a, axis, keepdims, op):
    a = as_tensor(a)
    reduced = _axes(axis, a.ndim, op)
    kept = (
        a.array.max(axis=reduced, keepdims=True) if op == "amax" else a.array.min(axis=reduced, keepdims=True)
    )
    out = kept if keepdims else kept.reshape([n for i, n in enumerate(kept.shape) if i not in reduced])
    return make_result(out, (a,), _extreme_backward, (a.array, kept, reduced, keepdims), op)


def _extreme_backward(g, saved, parents):
    a, kept, axes, keepdims = saved
    hit = a == kept
    # ties share the gradient equally (it is a subgradient either way)
    share = hit / hit.sum(axis=axes, keepdims=True)
    return (_regrow(g, a.shape, axes, keepdims) * share,)


# ----------------------------------------------------------------- var / std
def var(input, dim=None, unbiased=None, keepdim=False, *, correction=None, axis=None,  # noqa: A002
        keepdims=None, ddof=None, dtype=None, out=None) -> Tensor:  # fmt: skip
    """The variance with PyTorch's default, the unbiased estimate (divide by N - 1).

    ``correction`` (NumPy's ``ddof``) is subtracted from N; ``unbiased=False``
    or ``correction=0`` gives the population variance. With N - correction
    <= 0 PyTorch returns NaN with a warning; here that raises.
    """
    no_out(out, "var")
    return _variance(input if dtype is None else as_tensor(input).astype(dtype), dim, unbiased, keepdim,
                     correction, axis, keepdims, ddof, "var")  # fmt: skip


def std(input, dim=None, unbiased=None, keepdim=False, *, correction=None, axis=None,  # noqa: A002
        keepdims=None, ddof=None, dtype=None, out=None) -> Tensor:  # fmt: skip
    """The square root of `var`, with the same arguments and the same unbiased default."""
    from deltaprop.ops.arithmetic import sqrt

    no_out(out, "std")
    a = input if dtype is None else as_tensor(input).astype(dtype)
    return sqrt(_variance(a, dim, unbiased, keepdim, correction, axis, keepdims, ddof, "std"))


def _correction(unbiased, correction, ddof, op: str) -> float:
    given = [name for name, v in (("unbiased", unbiased), ("correction", correction), ("ddof", ddof))
             if v is not None]  # fmt: skip
    if len(given) > 1:
        raise TypeError(f"{op}: got {' and '.join(given)}; pass one of them")
    if unbiased is not None:
        return 1.0 if unbiased else 0.0
    value = correction if correction is not None else ddof
    return 1.0 if value is None else float(value)


def _variance(a, dim, unbiased, keepdim, correction, axis, keepdims, ddof, op) -> Tensor:
    if isinstance(dim, bool):  # x.var(False): PyTorch's var(unbiased) overload
        dim, unbiased = None, dim if unbiased is None else unbiased
    a = as_tensor(a)
    reduced = _axes(pick(dim, axis, op), a.ndim, op)
    keep = pick_keepdim(keepdim, keepdims, op)
    denominator = _count(a.shape, reduced) - _correction(unbiased, correction, ddof, op)
    if denominator <= 0:
        raise ValueError(
            f"{op}: {_count(a.shape, reduced)} value(s) per reduction with correction "
            f"{_count(a.shape, reduced) - denominator:g} leave no degrees of freedom (PyTorch returns nan); "
            "pass unbiased=False (correction=0) for the population formula, or reduce over more values"
        )
    centered = a.array - a.array.mean(axis=reduced, keepdims=True)
    out = (centered * centered).sum(axis=reduced, keepdims=keep) / denominator
    return make_result(a.xp.asarray(out), (a,), _var_backward, (centered, reduced, keep, denominator), "var")


def _var_backward(g, saved, parents):
    centered, axes, keepdims, denominator = saved
    # d/dx_i of sum_j (x_j - mean)^2 / n' = 2 (x_i - mean) / n' (the mean's own term sums to 0)
    return (_regrow(g, centered.shape, axes, keepdims) * (2.0 / denominator) * centered,)


# ----------------------------------------------------------------- logsumexp
def logsumexp(input, dim=None, keepdim=False, *, axis=None, keepdims=None) -> Tensor:  # noqa: A002
    """log(sum(exp(a))) computed stably by factoring out the max."""
    a = as_tensor(input)
    reduced = _axes(pick(dim, axis, "logsumexp"), a.ndim, "logsumexp")
    keep = pick_keepdim(keepdim, keepdims, "logsumexp")
    peak = a.array.max(axis=reduced, keepdims=True)
    peak = np.where(np.isfinite(peak), peak, 0)
    shifted = np.exp(a.array - peak)
    total = shifted.sum(axis=reduced, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):  # an all -inf slice: log 0 = -inf, by design
        kept = np.log(total) + peak
        # Where every entry is -inf no entry moves the result: give them gradient 0, not 0/0.
        softmax = np.where(total > 0, shifted / total, 0)
    out = kept if keep else kept.reshape([n for i, n in enumerate(kept.shape) if i not in reduced])
    return make_result(out, (a,), _logsumexp_backward, (softmax, reduced, keep), "logsumexp")


def _logsumexp_backward(g, saved, parents):
    softmax, axes, keepdims = saved
    return (_regrow(g, softmax.shape, axes, keepdims) * softmax,)
