"""``norm``: vector p-norms over some or all dimensions (``x.norm()``, ``p.grad.norm()``), with the backward.

PyTorch's ``Tensor.norm(p='fro', dim=None, keepdim=False)``: 'fro' and 2 are
the Euclidean norm of the entries (over all of them when dim is None), 1 the
sum of absolute values, inf/-inf the largest/smallest absolute value, 0 the
count of non-zeros, any other p ``(sum |x|^p)^(1/p)``. At a zero vector the
gradient of the 2-norm is taken as 0, as PyTorch does (the norm has no
derivative there).
"""

from __future__ import annotations

import math

import numpy as np

from deltaprop.ops.dims import axes as many_axes
from deltaprop.ops.dims import pick, pick_keepdim
from deltaprop.ops.reduce import _regrow
from deltaprop.tensor import Tensor, as_tensor, make_result


def _order(p) -> float:
    if p in ("fro", None):
        return 2.0
    if isinstance(p, str):
        raise ValueError(
            f"norm: p={p!r} is not supported (the nuclear norm needs an SVD); use a number or 'fro'"
        )
    return float(p)


def norm(input, p="fro", dim=None, keepdim=False, dtype=None, *, axis=None, keepdims=None) -> Tensor:  # noqa: A002
    a = as_tensor(input)
    if dtype is not None:
        a = a.astype(dtype)
    order = _order(p)
    reduced = many_axes(pick(dim, axis, "norm"), a.ndim, "norm")
    keep = pick_keepdim(keepdim, keepdims, "norm")
    size = np.abs(a.array)
    if order == 2.0:
        kept = np.sqrt((a.array * a.array).sum(axis=reduced, keepdims=True))
    elif math.isinf(order):
        kept = size.max(axis=reduced, keepdims=True) if order > 0 else size.min(axis=reduced, keepdims=True)
    elif order == 0.0:
        kept = (size != 0).sum(axis=reduced, keepdims=True).astype(a.dtype)
    elif order == 1.0:
        kept = size.sum(axis=reduced, keepdims=True)
    else:
        kept = ((size**order).sum(axis=reduced, keepdims=True)) ** (1.0 / order)
    out = kept if keep else kept.reshape([n for i, n in enumerate(kept.shape) if i not in reduced])
    return make_result(a.xp.asarray(out), (a,), _norm_backward, (a.array, kept, order, reduced, keep), "norm")


def _norm_backward(g, saved, parents):
    x, kept, order, reduced, keep = saved
    g = _regrow(g, x.shape, reduced, keep)
    sign = np.sign(x)
    if order == 0.0:
        return (np.zeros_like(x),)
    if order == 1.0:
        return (g * sign,)
    if math.isinf(order):  # the extreme entries share the gradient, as in amax
        hit = np.abs(x) == kept
        return (g * sign * hit / hit.sum(axis=reduced, keepdims=True),)
    safe = np.where(kept == 0, 1, kept)
    if order == 2.0:
        return (np.where(kept == 0, 0, g * x / safe),)
    return (np.where(kept == 0, 0, g * sign * np.abs(x) ** (order - 1) / safe ** (order - 1)),)
