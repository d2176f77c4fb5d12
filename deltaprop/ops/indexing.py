"""Ops that pick or place values by index along one dimension: gather, scatter, index_select, masked_fill.

They share one idea: an index array along dimension ``dim`` plus, for every
other dimension, "the same position" (an arange broadcast along it) is a full
NumPy advanced index. Reading with it is `gather`; the backward writes the
gradient back with ``add.at``, which sums where an index repeats. The helpers
here build that index with the input's own array module, so they run on CuPy
unchanged.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from deltaprop import backend
from deltaprop.backend import array_module
from deltaprop.errors import ShapeError
from deltaprop.ops.dims import axis as one_axis
from deltaprop.tensor import Tensor, as_tensor, make_result


def along(index: Any, dim: int, xp: Any) -> tuple[Any, ...]:
    """The advanced index that means ``index`` on ``dim`` and "the same position" on every other dimension."""
    parts = []
    for d, n in enumerate(index.shape):
        if d == dim:
            parts.append(index)
        else:
            shape = [1] * index.ndim
            shape[d] = n
            parts.append(xp.arange(n).reshape(shape))
    return tuple(parts)


def _index_array(index: Any, like: Tensor, op: str) -> Any:
    array = index.array if isinstance(index, Tensor) else index
    xp = like.xp
    array = xp.asarray(array) if array_module(array) is not xp or not hasattr(array, "dtype") else array
    if array.dtype.kind not in "iu":
        raise TypeError(f"{op}: index must hold integers (an int64 tensor), got dtype {array.dtype}")
    return array


def _check_index(a: Tensor, index: Any, dim: int, op: str) -> None:
    if index.ndim != max(a.ndim, 1):
        raise ShapeError(
            f"{op}: index has {index.ndim} dimensions but the input has {a.ndim}; they must have the same "
            "number (unsqueeze the index, e.g. index.unsqueeze(1))"
        )
    for d, (n, m) in enumerate(zip(index.shape, a.shape, strict=False)):
        if d != dim and n > m:
            raise ShapeError(
                f"{op}: index of shape {tuple(index.shape)} is larger than the input {a.shape} in dim {d}"
            )


# ----------------------------------------------------------------- gather
def gather(input, dim: int, index, *, sparse_grad: bool = False) -> Tensor:  # noqa: A002
    """``out[i][j] = input[index[i][j]][j]`` for dim=0 (and likewise for any dim), as ``torch.gather``."""
    a = as_tensor(input)
    dim = one_axis(dim, a.ndim, "gather")
    index = _index_array(index, a, "gather")
    _check_index(a, index, dim, "gather")
    where = along(index, dim, a.xp)
    return make_result(a.array[where], (a,), _scatter_add_backward, (a.shape, a.dtype, where), "gather")


def take_along_dim(input, indices, dim: int | None = None) -> Tensor:  # noqa: A002
    """``torch.take_along_dim``: `gather` with NumPy's broadcasting (dim=None: on the flattened input)."""
    a = as_tensor(input)
    if dim is None:
        return gather(a.reshape(-1), 0, as_tensor(indices).reshape(-1))
    dim = one_axis(dim, a.ndim, "take_along_dim")
    index = _index_array(indices, a, "take_along_dim")
    shape = list(np.broadcast_shapes(tuple(index.shape[:dim] + (1,) + index.shape[dim + 1:]),
                                     tuple(a.shape[:dim] + (1,) + a.shape[dim + 1:])))  # fmt: skip
    target = shape.copy()
    target[dim] = index.shape[dim]
    source = shape.copy()
    source[dim] = a.shape[dim]
    return gather(a.expand(*source), dim, Tensor._wrap(a.xp.broadcast_to(index, tuple(target))))


def _scatter_add_backward(g, saved, parents):
    shape, dtype, where = saved
    grad = array_module(g).zeros(shape, dtype=dtype)
    array_module(g).add.at(grad, where, g)  # a repeated index adds up, as the chain rule says
    return (grad,)


# ----------------------------------------------------------------- index_select
def index_select(input, dim: int, index) -> Tensor:  # noqa: A002
    """The entries at ``index`` (a 1-D integer tensor) along ``dim``."""
    a = as_tensor(input)
    dim = one_axis(dim, a.ndim, "index_select")
    index = _index_array(index, a, "index_select")
    if index.ndim > 1:
        raise ShapeError(f"index_select: index must be 1-D, got shape {tuple(index.shape)}")
    where = (slice(None),) * dim + (index.reshape(-1),)
    return make_result(a.array[where], (a,), _scatter_add_backward, (a.shape, a.dtype, where), "index_select")


# ----------------------------------------------------------------- scatter
def scatter(input, dim: int, index, src=None, *, value=None, reduce: str | None = None) -> Tensor:  # noqa: A002
    """A copy of ``input`` with ``src`` (or the number ``value``) written at ``index`` along ``dim``.

    ``torch.scatter``; the gradient of ``input`` is zero where it was
    overwritten, and ``src`` gets the gradient of the places it was written
    to. With a repeated index PyTorch leaves unspecified which write wins;
    here that is refused. ``reduce='add'`` is `scatter_add`.
    """
    if reduce is not None:
        if reduce != "add":
            raise ValueError(f"scatter: reduce must be None or 'add' here, got {reduce!r}")
        return scatter_add(input, dim, index, src if src is not None else value)
    a, index, where, src = _scatter_parts(input, dim, index, src, value, "scatter")
    if _repeats(where, a.shape, a.xp):
        raise ValueError(
            "scatter: index writes the same position more than once, and which write wins is unspecified "
            "(PyTorch's words); use scatter_add to sum the writes, or make the indices unique"
        )
    out = a.array.copy()
    written = a.xp.zeros(a.shape, dtype=bool)
    written[where] = True
    out[where] = src.array[tuple(slice(0, n) for n in index.shape)]
    return make_result(out, (a, src), _scatter_backward, (where, written, index.shape, src.shape), "scatter")


def _scatter_backward(g, saved, parents):
    where, written, index_shape, src_shape = saved
    ga = None if parents[0] is None else np.where(written, 0, g)
    gs = None
    if parents[1] is not None:
        gs = array_module(g).zeros(src_shape, dtype=g.dtype)
        gs[tuple(slice(0, n) for n in index_shape)] = g[where]
    return ga, gs


def scatter_add(input, dim: int, index, src) -> Tensor:  # noqa: A002
    """A copy of ``input`` with ``src`` added at ``index`` along ``dim`` (repeats add up)."""
    a, index, where, src = _scatter_parts(input, dim, index, src, None, "scatter_add")
    out = a.array.copy()
    a.xp.add.at(out, where, src.array[tuple(slice(0, n) for n in index.shape)])
    return make_result(
        out, (a, src), _scatter_add_src_backward, (where, index.shape, src.shape), "scatter_add"
    )


def _scatter_add_src_backward(g, saved, parents):
    where, index_shape, src_shape = saved
    gs = None
    if parents[1] is not None:
        gs = array_module(g).zeros(src_shape, dtype=g.dtype)
        gs[tuple(slice(0, n) for n in index_shape)] = g[where]
    return (None if parents[0] is None else g), gs


def _scatter_parts(input, dim, index, src, value, op):  # noqa: A002
    a = as_tensor(input)
    dim = one_axis(dim, a.ndim, op)
    index = _index_array(index, a, op)
    _check_index(a, index, dim, op)
    if src is None and value is None:
        raise TypeError(f"{op}: give src (a tensor) or value (a number)")
    if src is None or not isinstance(src, Tensor) and np.ndim(src) == 0:
        fill = value if src is None else src
        src = Tensor._wrap(a.xp.full(index.shape, fill, dtype=a.dtype))
    src = as_tensor(src, like=a)
    if src.ndim != index.ndim or any(n > m for n, m in zip(index.shape, src.shape, strict=True)):
        raise ShapeError(
            f"{op}: src of shape {src.shape} is smaller than index of shape {tuple(index.shape)}"
        )
    return a, index, along(index, dim, a.xp), src


def _repeats(where: tuple[Any, ...], shape: tuple[int, ...], xp: Any) -> bool:
    flat = xp.ravel_multi_index(xp.broadcast_arrays(*where), shape).reshape(-1)
    return bool(xp.unique(flat).size != flat.size)


# ----------------------------------------------------------------- masked_fill
def masked_fill(input, mask, value) -> Tensor:  # noqa: A002
    """``input`` with ``value`` wherever ``mask`` (a bool tensor broadcasting to it) is True."""
    a = as_tensor(input)
    keep = mask.array if isinstance(mask, Tensor) else mask
    if backend.array_module(keep) is not a.xp or not hasattr(keep, "dtype"):  # host masks, as in getitem
        keep = backend.to_module(keep, a.xp) if hasattr(keep, "shape") else a.xp.asarray(keep)
    if keep.dtype != bool:
        raise TypeError(f"masked_fill: mask must be a bool tensor, got dtype {keep.dtype}")
    if isinstance(value, Tensor):
        if value.requires_grad:
            raise NotImplementedError("masked_fill: a value that requires grad is not supported; use where()")
        value = value.array
    try:
        out = np.where(keep, a.array.dtype.type(value) if np.ndim(value) == 0 else value, a.array)
    except ValueError:
        raise ShapeError(
            f"masked_fill: mask of shape {tuple(keep.shape)} does not broadcast to {a.shape}"
        ) from None
    if out.shape != a.shape:
        raise ShapeError(f"masked_fill: mask of shape {tuple(keep.shape)} would grow the input {a.shape}")
    return make_result(out.astype(a.dtype, copy=False), (a,), _masked_fill_backward, (keep,), "masked_fill")


def _masked_fill_backward(g, saved, parents):
    (mask,) = saved
    return (np.where(mask, 0, g),)
