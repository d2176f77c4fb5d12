"""Questions about values, answered with bool or int tensors: comparisons, isclose, any/all, nonzero, unique.

None of these has a derivative, so none records a node: the answers are
constants, as in PyTorch (where they do not require grad either). They run on
the array module of their input.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from deltaprop import backend
from deltaprop.ops.dims import axes as many_axes
from deltaprop.ops.dims import no_out, pick, pick_keepdim
from deltaprop.tensor import Tensor, as_tensor


def _values(x: Any, like: Any = None) -> Any:
    if isinstance(x, Tensor):
        return x.array
    if like is not None and hasattr(x, "shape") and backend.array_module(x) is not backend.array_module(like):
        return backend.to_module(x, backend.array_module(like))
    return x


def _answer(array: Any) -> Tensor:
    return Tensor._wrap(array if hasattr(array, "shape") else np.asarray(array))


# ----------------------------------------------------------------- comparisons
def eq(input, other) -> Tensor:  # noqa: A002
    a = as_tensor(input)
    return _answer(a.array == _values(other, a.array))


def ne(input, other) -> Tensor:  # noqa: A002
    a = as_tensor(input)
    return _answer(a.array != _values(other, a.array))


def lt(input, other) -> Tensor:  # noqa: A002
    a = as_tensor(input)
    return _answer(a.array < _values(other, a.array))


def le(input, other) -> Tensor:  # noqa: A002
    a = as_tensor(input)
    return _answer(a.array <= _values(other, a.array))


def gt(input, other) -> Tensor:  # noqa: A002
    a = as_tensor(input)
    return _answer(a.array > _values(other, a.array))


def ge(input, other) -> Tensor:  # noqa: A002
    a = as_tensor(input)
    return _answer(a.array >= _values(other, a.array))


greater, greater_equal, less, less_equal, not_equal = gt, ge, lt, le, ne


def isclose(input, other, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> Tensor:  # noqa: A002
    """|input - other| <= atol + rtol |other|, elementwise (PyTorch's and NumPy's defaults agree)."""
    a = as_tensor(input)
    return _answer(a.xp.isclose(a.array, _values(other, a.array), rtol=rtol, atol=atol, equal_nan=equal_nan))


def allclose(input, other, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> bool:  # noqa: A002
    return bool(isclose(input, other, rtol, atol, equal_nan).array.all())


def equal(input, other) -> bool:  # noqa: A002
    """True when both have the same shape and the same values (a Python bool, as ``torch.equal``)."""
    a, b = as_tensor(input), as_tensor(other)
    return a.shape == b.shape and bool((a.array == _values(b, a.array)).all())


def isnan(input) -> Tensor:  # noqa: A002
    a = as_tensor(input)
    return _answer(a.xp.isnan(a.array))


def isinf(input) -> Tensor:  # noqa: A002
    a = as_tensor(input)
    return _answer(a.xp.isinf(a.array))


def isfinite(input) -> Tensor:  # noqa: A002
    a = as_tensor(input)
    return _answer(a.xp.isfinite(a.array))


# ----------------------------------------------------------------- any / all
def any(input, dim=None, keepdim=False, *, axis=None, keepdims=None, out=None) -> Tensor:  # noqa: A001, A002
    no_out(out, "any")
    return _boolean_reduction(input, dim, keepdim, axis, keepdims, "any")


def all(input, dim=None, keepdim=False, *, axis=None, keepdims=None, out=None) -> Tensor:  # noqa: A001, A002
    no_out(out, "all")
    return _boolean_reduction(input, dim, keepdim, axis, keepdims, "all")


def _boolean_reduction(a, dim, keepdim, axis, keepdims, op) -> Tensor:
    a = as_tensor(a)
    reduced = many_axes(pick(dim, axis, op), a.ndim, op)
    keep = pick_keepdim(keepdim, keepdims, op)
    array = a.array != 0 if a.array.dtype != bool else a.array
    out = getattr(array, op)(axis=reduced, keepdims=keep) if reduced else array.copy()
    return _answer(a.xp.asarray(out))


def count_nonzero(input, dim=None) -> Tensor:  # noqa: A002
    a = as_tensor(input)
    reduced = many_axes(dim, a.ndim, "count_nonzero")
    return _answer(a.xp.asarray((a.array != 0).sum(axis=reduced)).astype(np.int64))


# ----------------------------------------------------------------- logical
def logical_and(input, other) -> Tensor:  # noqa: A002
    a = as_tensor(input)
    return _answer(a.xp.logical_and(a.array, _values(other, a.array)))


def logical_or(input, other) -> Tensor:  # noqa: A002
    a = as_tensor(input)
    return _answer(a.xp.logical_or(a.array, _values(other, a.array)))


def logical_xor(input, other) -> Tensor:  # noqa: A002
    a = as_tensor(input)
    return _answer(a.xp.logical_xor(a.array, _values(other, a.array)))


def logical_not(input) -> Tensor:  # noqa: A002
    a = as_tensor(input)
    return _answer(a.xp.logical_not(a.array))


# ----------------------------------------------------------------- where things are
def nonzero(input, *, as_tuple: bool = False) -> Any:  # noqa: A002
    """Indices of the non-zero entries: an (n, ndim) int64 tensor, or one tensor per dim with as_tuple."""
    a = as_tensor(input)
    found = a.xp.nonzero(a.array if a.ndim else a.array.reshape(1))
    if as_tuple:
        return tuple(Tensor._wrap(i.astype(np.int64, copy=False)) for i in found)
    return Tensor._wrap(a.xp.stack(found, axis=1).astype(np.int64, copy=False))


def argwhere(input) -> Tensor:  # noqa: A002
    return nonzero(input)


def unique(input, sorted: bool = True, return_inverse: bool = False, return_counts: bool = False,  # noqa: A002
           dim: int | None = None) -> Any:  # fmt: skip
    """The distinct values, sorted (and where each entry went, and how often each value occurs)."""
    a = as_tensor(input)
    if dim is not None:
        raise NotImplementedError("unique: dim= is not supported; call it on the flattened tensor")
    found = a.xp.unique(a.array, return_inverse=return_inverse, return_counts=return_counts)
    if not isinstance(found, tuple):
        return Tensor._wrap(found)
    values, *rest = found
    if return_inverse:
        rest[0] = rest[0].reshape(a.shape).astype(np.int64)
    if return_counts:
        rest[-1] = rest[-1].astype(np.int64)
    return (Tensor._wrap(values), *(Tensor._wrap(r) for r in rest))
