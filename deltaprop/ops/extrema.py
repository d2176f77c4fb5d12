"""Where the largest and smallest values are: max/min (with indices), argmax/argmin, topk, sort, argsort.

PyTorch's ``x.max(dim)`` returns ``(values, indices)`` as a named tuple, and
``_, predicted = torch.max(output, 1)`` is how half the tutorials read off a
classifier's answer; ``x.max()`` with no dim is one number, and
``torch.max(a, b)`` is the elementwise maximum. All three are here. The
values of max/min/topk/sort are differentiable: the gradient goes to the
position each value came from, as in PyTorch (ties in a full ``x.max()``
share it, as `amax` does). Indices are int64 and carry no gradient.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable
from typing import Any

import numpy as np

from deltaprop.ops.dims import axis as one_axis
from deltaprop.ops.dims import no_out, pick, pick_keepdim
from deltaprop.ops.indexing import _scatter_add_backward, along
from deltaprop.tensor import Tensor, as_tensor, make_result

# torch.return_types.max and friends: tuples whose fields are also named
return_types: dict[str, Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]] = {
    name: namedtuple(name, ["values", "indices"]) for name in ("max", "min", "sort", "topk")
}


# NumPy's np.max(t, axis=1) calls t.max(axis=1, out=None): an ``out`` argument marks a NumPy call,
# which wants the values alone (PyTorch's Tensor.max takes no out=), so both libraries get their answer.
_NOT_NUMPY = object()


def max(input, dim=None, keepdim=False, *, axis=None, keepdims=None, out=_NOT_NUMPY) -> Any:  # noqa: A001, A002
    """``x.max()``: the largest value; ``x.max(dim)``: (values, indices); ``max(a, b)``: elementwise."""
    return _extreme(input, dim, keepdim, axis, keepdims, out, "max")


def min(input, dim=None, keepdim=False, *, axis=None, keepdims=None, out=_NOT_NUMPY) -> Any:  # noqa: A001, A002
    """``x.min()``: the smallest value; ``x.min(dim)``: (values, indices); ``min(a, b)``: elementwise."""
    return _extreme(input, dim, keepdim, axis, keepdims, out, "min")


def _extreme(a, dim, keepdim, axis, keepdims, out, op):
    from deltaprop.ops import arithmetic, reduce

    if out is not _NOT_NUMPY:  # called by NumPy's np.max / np.min: NumPy's answer
        no_out(out, op)
        chosen = pick(dim, axis, op)
        return (reduce.amax if op == "max" else reduce.amin)(
            a, () if chosen is None else chosen, pick_keepdim(keepdim, keepdims, op)
        )
    if isinstance(dim, Tensor) or (dim is not None and hasattr(dim, "shape")):  # torch.max(a, b)
        return (arithmetic.maximum if op == "max" else arithmetic.minimum)(a, dim)
    dim = pick(dim, axis, op)
    keep = pick_keepdim(keepdim, keepdims, op)
    if dim is None:
        if keep:
            raise TypeError(f"{op}: keepdim=True needs a dim; use amax/amin(keepdim=True) to keep every dim")
        return (reduce.amax if op == "max" else reduce.amin)(a)
    if isinstance(dim, (tuple, list)):
        raise TypeError(f"{op}: dim must be one int (PyTorch's max/min); use amax/amin for several dims")
    a = as_tensor(a)
    d = one_axis(dim, a.ndim, op)
    array = a.array if a.ndim else a.array.reshape(1)
    index = (array.argmax if op == "max" else array.argmin)(axis=d, keepdims=True)
    return _values_and_indices(a, index, d, keep, op)


def _values_and_indices(a: Tensor, index: Any, d: int, keep: bool, op: str) -> Any:
    """The values at ``index`` along ``d`` (differentiable) and the indices, as PyTorch's named tuple."""
    if a.ndim == 0:  # a 0-d tensor's only value, at index 0
        values = make_result(a.array.copy(), (a,), _identity_backward, (), op)
        return return_types[op](values, Tensor._wrap(a.xp.zeros((), dtype=np.int64)))
    where = along(index, d, a.xp)
    picked = a.array[where]
    if not keep:
        picked, index = picked.squeeze(d), index.squeeze(d)
    values = make_result(picked, (a,), _picked_backward, (a.shape, a.dtype, where, keep, d), op)
    return return_types[op](values, Tensor._wrap(index.astype(np.int64, copy=False)))


def _identity_backward(g, saved, parents):
    return (g,)


def _picked_backward(g, saved, parents):
    shape, dtype, where, keep, d = saved
    if not keep:
        g = np.expand_dims(g, d)
    return _scatter_add_backward(g, (shape, dtype, where), parents)


# ----------------------------------------------------------------- argmax / argmin
def argmax(input, dim=None, keepdim=False, *, axis=None, keepdims=None, out=None) -> Tensor:  # noqa: A002
    """The index of the largest value (of the flattened tensor when dim is None), int64, no gradient."""
    no_out(out, "argmax")
    return _arg(input, dim, keepdim, axis, keepdims, "argmax")


def argmin(input, dim=None, keepdim=False, *, axis=None, keepdims=None, out=None) -> Tensor:  # noqa: A002
    no_out(out, "argmin")
    return _arg(input, dim, keepdim, axis, keepdims, "argmin")


def _arg(a, dim, keepdim, axis, keepdims, op) -> Tensor:
    a = as_tensor(a)
    dim = pick(dim, axis, op)
    keep = pick_keepdim(keepdim, keepdims, op)
    array = a.array
    if dim is None:
        flat = getattr(array.reshape(-1), op)()
        out = flat.reshape((1,) * a.ndim) if keep else flat
    else:
        d = one_axis(dim, a.ndim, op)
        out = getattr(array if a.ndim else array.reshape(1), op)(axis=d, keepdims=keep and a.ndim > 0)
    return Tensor._wrap(a.xp.asarray(out).astype(np.int64, copy=False))


# ----------------------------------------------------------------- sort / argsort / topk
def _order(a: Tensor, d: int, descending: bool) -> Any:
    """Stable argsort along ``d``; descending keeps equal values in their order, as stable=True does."""
    array = a.array
    if descending:
        if array.dtype.kind in "bu":
            array = array.astype(np.int64)
        array = -array
    return a.xp.argsort(array, axis=d, kind="stable")


def sort(input, dim: int = -1, descending: bool = False, stable: bool = False) -> Any:  # noqa: A002
    """(values, indices) sorted along ``dim``; equal values keep their order (PyTorch leaves it open)."""
    a = as_tensor(input)
    if a.ndim == 0:
        return _values_and_indices(a, None, 0, True, "sort")
    d = one_axis(dim, a.ndim, "sort")
    return _values_and_indices(a, _order(a, d, descending), d, True, "sort")


def argsort(input, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:  # noqa: A002
    a = as_tensor(input)
    if a.ndim == 0:
        return Tensor._wrap(a.xp.zeros((), dtype=np.int64))
    d = one_axis(dim, a.ndim, "argsort")
    return Tensor._wrap(_order(a, d, descending).astype(np.int64, copy=False))


def topk(input, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> Any:  # noqa: A002
    """The ``k`` largest (or smallest) values along ``dim`` and their indices, largest first."""
    a = as_tensor(input)
    d = one_axis(dim, a.ndim, "topk")
    size = a.shape[d] if a.ndim else 1
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k <= size:
        raise ValueError(f"topk: k must be an int in [0, {size}] for dim {dim} of shape {a.shape}, got {k!r}")
    if a.ndim == 0:
        return _values_and_indices(a, None, 0, True, "topk")
    order = _order(a, d, largest)
    return _values_and_indices(a, order[(slice(None),) * d + (slice(0, int(k)),)], d, True, "topk")
