"""Ops that move values around without changing them; their backward moves gradients back."""

from __future__ import annotations

from itertools import accumulate

import numpy as np

from deltaprop.backend import array_module
from deltaprop.errors import ShapeError
from deltaprop.ops.dims import axis as one_axis
from deltaprop.ops.dims import pick
from deltaprop.tensor import Tensor, as_tensor, make_result


# ----------------------------------------------------------------- reshape
def reshape(a, shape) -> Tensor:
    a = as_tensor(a)
    try:
        out = a.array.reshape(shape)
    except ValueError:
        raise ShapeError(
            f"reshape: cannot reshape {a.array.size} elements of shape {a.shape} into {tuple(shape)}"
        ) from None
    return make_result(out, (a,), _reshape_backward, (a.shape,), "reshape")


def _reshape_backward(g, saved, parents):
    (shape,) = saved
    return (g.reshape(shape),)


def flatten(a, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge the dimensions from ``start_dim`` to ``end_dim`` into one (start_dim=1 keeps the batch axis)."""
    a = as_tensor(a)
    if a.ndim == 0:
        return reshape(a, (1,))
    start, end = one_axis(start_dim, a.ndim, "flatten"), one_axis(end_dim, a.ndim, "flatten")
    if start > end:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for shape {a.shape}")
    merged = 1
    for n in a.shape[start : end + 1]:
        merged *= n
    return reshape(a, a.shape[:start] + (merged,) + a.shape[end + 1 :])


# ----------------------------------------------------------------- transpose
def transpose(a, dim0=None, dim1=None) -> Tensor:
    """PyTorch's ``transpose(x, dim0, dim1)`` swaps two dimensions; NumPy's ``transpose(x, axes)`` permutes.

    With two ints it is PyTorch's; with one sequence (or none, which reverses
    every axis) it is NumPy's. The two agree wherever both accept the call.
    """
    a = as_tensor(a)
    if dim1 is not None:
        return swapaxes(a, dim0, dim1)
    if dim0 is None:
        axes = tuple(range(a.ndim))[::-1]
    else:
        axes = tuple(one_axis(ax, a.ndim, "transpose") for ax in dim0)
        if sorted(axes) != list(range(a.ndim)):
            raise ShapeError(f"transpose/permute: {tuple(dim0)} does not permute the dims of {a.shape}")
    return make_result(a.array.transpose(axes), (a,), _transpose_backward, (axes,), "transpose")


def _transpose_backward(g, saved, parents):
    (axes,) = saved
    inverse = tuple(sorted(range(len(axes)), key=axes.__getitem__))  # where each axis came from
    return (g.transpose(inverse),)


def swapaxes(a, axis1: int, axis2: int) -> Tensor:
    a = as_tensor(a)
    if a.ndim == 0:
        one_axis(axis1, 0, "transpose"), one_axis(axis2, 0, "transpose")
        return transpose(a, ())
    axes = list(range(a.ndim))
    i, j = one_axis(axis1, a.ndim, "transpose"), one_axis(axis2, a.ndim, "transpose")
    axes[i], axes[j] = axes[j], axes[i]
    return transpose(a, axes)


# ----------------------------------------------------------------- expand / squeeze
# Both are reshapes; the new shape is worked out from the old one (no array is made to ask NumPy).
def expand_dims(a, axis) -> Tensor:
    a = as_tensor(a)
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    ndim = a.ndim + len(axes)
    new = {_axis(ax, ndim, "expand_dims", a.shape) for ax in axes}
    if len(new) != len(axes):
        raise ShapeError(f"expand_dims: repeated axis in {axis} for shape {a.shape}")
    sizes = iter(a.shape)
    return reshape(a, tuple(1 if i in new else next(sizes) for i in range(ndim)))


def squeeze(a, dim=None, *, axis=None) -> Tensor:
    """Drop dimensions of size 1: all of them, or those in ``dim`` that have size 1.

    As in PyTorch, naming a dimension whose size is not 1 leaves it alone
    (NumPy raises there): ``out.squeeze(1)`` on a batch of shape (N, 1) and on
    one of shape (N, 3) both give what PyTorch gives.
    """
    a = as_tensor(a)
    dim = pick(dim, axis, "squeeze")
    if dim is None:
        return reshape(a, tuple(n for n in a.shape if n != 1))
    gone = set()
    for ax in (dim,) if not isinstance(dim, (tuple, list)) else dim:
        i = one_axis(ax, a.ndim, "squeeze")
        if a.ndim and a.shape[i] == 1:
            gone.add(i)
    return reshape(a, tuple(n for i, n in enumerate(a.shape) if i not in gone))


def unsqueeze(a, dim: int) -> Tensor:
    """A new dimension of size 1 at ``dim`` (-1 appends one)."""
    return expand_dims(a, dim)


def _axis(axis: int, ndim: int, op: str, shape: tuple[int, ...]) -> int:
    if not -ndim <= axis < ndim:
        raise ShapeError(f"{op}: axis {axis} is out of range for shape {shape} (result has {ndim} axes)")
    return axis % ndim


# ----------------------------------------------------------------- indexing
def getitem(a, index) -> Tensor:
    """``a[index]``: basic slices and integer/boolean arrays; the backward scatters with accumulation."""
    a = as_tensor(a)
    index = _plain_index(index, a.xp)
    return make_result(a.array[index], (a,), _getitem_backward, (a.shape, a.dtype, index), "getitem")


def _plain_index(index, xp):
    """The index as the array library of the data wants it: arrays of ``xp``, not host arrays or Tensors."""
    if isinstance(index, tuple):
        return tuple(_plain_index_part(i, xp) for i in index)
    return _plain_index_part(index, xp)


def _plain_index_part(part, xp):
    if isinstance(part, Tensor):
        part = part.array
    if isinstance(part, list) or (xp is not np and isinstance(part, np.ndarray)):
        return xp.asarray(part)
    return part


def _getitem_backward(g, saved, parents):
    shape, dtype, index = saved
    xp = array_module(g)
    grad = xp.zeros(shape, dtype=dtype)
    # add.at accumulates when an index repeats (x[[0, 0]] uses x[0] twice)
    xp.add.at(grad, index, g)
    return (grad,)


# ----------------------------------------------------------------- joining
def concatenate(tensors, dim: int = 0, *, axis: int | None = None) -> Tensor:
    """Join tensors along an existing dimension (``torch.cat``; ``axis`` is NumPy's name for ``dim``)."""
    axis = axis if axis is not None else dim
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("cat: expected a non-empty list of tensors")
    tensors = _common_dtype(tensors)
    try:
        out = np.concatenate([t.array for t in tensors], axis=axis)
    except ValueError as exc:
        shapes = [t.shape for t in tensors]
        raise ShapeError(f"concatenate(axis={axis}): shapes {shapes} do not fit: {exc}") from None
    sizes = list(accumulate(t.shape[axis] for t in tensors))[:-1]  # split points, as Python ints
    return make_result(out, tuple(tensors), _concatenate_backward, (axis, sizes), "concatenate")


def _concatenate_backward(g, saved, parents):
    axis, sizes = saved
    return tuple(np.split(g, sizes, axis=axis))


cat = concat = concatenate


def _common_dtype(tensors: list[Tensor]) -> list[Tensor]:
    """Float tensors joined with integer ones make the float dtype, as in PyTorch's type promotion."""
    dtypes = {t.dtype for t in tensors}
    if len(dtypes) == 1:
        return tensors
    target = np.result_type(*dtypes)
    return [t if t.dtype == target else t.astype(target) for t in tensors]


def stack(tensors, dim: int = 0, *, axis: int | None = None) -> Tensor:
    """Join same-shaped tensors along a new dimension ``dim``."""
    axis = axis if axis is not None else dim
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("stack: expected a non-empty list of tensors")
    tensors = _common_dtype(tensors)
    shapes = {t.shape for t in tensors}
    if len(shapes) != 1:
        raise ShapeError(f"stack: all tensors need the same shape, got {[t.shape for t in tensors]}")
    out = np.stack([t.array for t in tensors], axis=axis)
    return make_result(out, tuple(tensors), _stack_backward, (axis, len(tensors)), "stack")


def _stack_backward(g, saved, parents):
    axis, count = saved
    return tuple(np.squeeze(part, axis=axis) for part in np.split(g, count, axis=axis))


def pad(a, pad_width, mode: str = "constant", constant_values=0) -> Tensor:
    """Zero (or constant) padding in NumPy's ``pad_width`` form; the backward crops."""
    a = as_tensor(a)
    if mode != "constant":
        raise ValueError(f"pad: only mode='constant' is differentiable here, got {mode!r}")
    if a.ndim == 0:
        raise ShapeError("pad: a 0-d tensor has no axes to pad; reshape it to 1-D first")
    # (before, after) per axis as Python ints, so the array library is handed no host array
    widths = tuple((int(lo), int(hi)) for lo, hi in np.broadcast_to(np.asarray(pad_width), (a.ndim, 2)))
    out = np.pad(a.array, widths, mode="constant", constant_values=constant_values)
    crop = tuple(slice(lo, lo + n) for (lo, _), n in zip(widths, a.shape, strict=True))
    return make_result(out, (a,), _pad_backward, (crop,), "pad")


def _pad_backward(g, saved, parents):
    (crop,) = saved
    return (g[crop],)
