"""Reductions: sum, mean, max, min, var, logsumexp, each with its backward beside it."""

from __future__ import annotations

import numpy as np

from deltaprop.tensor import Tensor, as_tensor, make_result

_AxisError = getattr(np, "exceptions", np).AxisError  # numpy.exceptions is new in NumPy 1.25


def _axes(axis, ndim: int, op: str) -> tuple[int, ...]:
    """The reduced axes as sorted non-negative ints; out of range raises NumPy's AxisError, naming ``op``."""
    if axis is None:
        return tuple(range(ndim))
    listed = axis if isinstance(axis, (tuple, list)) else (axis,)
    axes = []
    for ax in listed:
        if isinstance(ax, bool) or not isinstance(ax, (int, np.integer)):
            raise TypeError(f"{op}: axis must be an int or a tuple of ints, got {axis!r}")
        if not -ndim <= ax < ndim:  # NumPy raises here too; wrapping around would reduce the wrong axis
            raise _AxisError(int(ax), ndim, op)
        axes.append(int(ax) % ndim)
    if len(set(axes)) != len(axes):
        raise ValueError(f"{op}: axis {axis!r} names the same axis twice")
    return tuple(sorted(axes))


def _regrow(g, shape, axes, keepdims):
    """Put back the reduced axes (as size 1) so g broadcasts against the input."""
    if not keepdims and axes:
        g = np.expand_dims(g, axes)
    return g


# ----------------------------------------------------------------- sum
def sum(a, axis=None, keepdims=False) -> Tensor:  # noqa: A001
    a = as_tensor(a)
    axes = _axes(axis, a.ndim, "sum")
    out = a.array.sum(axis=axes or None, keepdims=keepdims) if axes else a.array.copy()
    return make_result(
        a.xp.asarray(out), (a,), _sum_backward, (a.shape, axes, keepdims), "sum"
    )


def _sum_backward(g, saved, parents):
    shape, axes, keepdims = saved
    return (np.broadcast_to(_regrow(g, shape, axes, keepdims), shape),)


# ----------------------------------------------------------------- mean
def mean(a, axis=None, keepdims=False) -> Tensor:
    a = as_tensor(a)
    axes = _axes(axis, a.ndim, "mean")
    count = 1
    for ax in axes:
        count *= a.shape[ax]
    out = a.array.mean(axis=axes, keepdims=keepdims) if axes else a.array.copy()
    return make_result(
        a.xp.asarray(out), (a,), _mean_backward, (a.shape, axes, keepdims, count), "mean"
    )


def _mean_backward(g, saved, parents):
    shape, axes, keepdims, count = saved
    g = _regrow(g, shape, axes, keepdims) / count
    return (np.broadcast_to(g, shape),)


# ----------------------------------------------------------------- max / min
def max(a, axis=None, keepdims=False) -> Tensor:  # noqa: A001
    return _extreme(a, axis, keepdims, "max")


def min(a, axis=None, keepdims=False) -> Tensor:  # noqa: A001
    return _extreme(a, axis, keepdims, "min")


def _extreme(a, axis, keepdims, op):
    a = as_tensor(a)
    axes = _axes(axis, a.ndim, op)
    kept = a.array.max(axis=axes, keepdims=True) if op == "max" else a.array.min(
        axis=axes, keepdims=True
    )
    out = kept if keepdims else kept.reshape([n for i, n in enumerate(kept.shape) if i not in axes])
    return make_result(out, (a,), _extreme_backward, (a.array, kept, axes, keepdims), op)


def _extreme_backward(g, saved, parents):
    a, kept, axes, keepdims = saved
    hit = a == kept
    # ties share the gradient equally (it is a subgradient either way)
    share = hit / hit.sum(axis=axes, keepdims=True)
    return (_regrow(g, a.shape, axes, keepdims) * share,)


# ----------------------------------------------------------------- var
def var(a, axis=None, keepdims=False, ddof=0) -> Tensor:
    a = as_tensor(a)
    axes = _axes(axis, a.ndim, "var")
    count = 1
    for ax in axes:
        count *= a.shape[ax]
    centered = a.array - a.array.mean(axis=axes, keepdims=True)
    out = (centered * centered).sum(axis=axes, keepdims=keepdims) / (count - ddof)
    return make_result(
        a.xp.asarray(out), (a,), _var_backward, (centered, axes, keepdims, count - ddof), "var"
    )


def _var_backward(g, saved, parents):
    centered, axes, keepdims, denominator = saved
    # d/dx_i of sum_j (x_j - mean)^2 / n' = 2 (x_i - mean) / n' (the mean's own term sums to 0)
    return (_regrow(g, centered.shape, axes, keepdims) * (2.0 / denominator) * centered,)


# ----------------------------------------------------------------- logsumexp
def logsumexp(a, axis=None, keepdims=False) -> Tensor:
    """log(sum(exp(a))) computed stably by factoring out the max."""
    a = as_tensor(a)
    axes = _axes(axis, a.ndim, "logsumexp")
    peak = a.array.max(axis=axes, keepdims=True)
    peak = np.where(np.isfinite(peak), peak, 0)
    shifted = np.exp(a.array - peak)
    total = shifted.sum(axis=axes, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):  # an all -inf slice: log 0 = -inf, by design
        kept = np.log(total) + peak
        # Where every entry is -inf no entry moves the result: give them gradient 0, not 0/0.
        softmax = np.where(total > 0, shifted / total, 0)
    out = kept if keepdims else kept.reshape([n for i, n in enumerate(kept.shape) if i not in axes])
    return make_result(out, (a,), _logsumexp_backward, (softmax, axes, keepdims), "logsumexp")


def _logsumexp_backward(g, saved, parents):
    softmax, axes, keepdims = saved
    return (_regrow(g, softmax.shape, axes, keepdims) * softmax,)
