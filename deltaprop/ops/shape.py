"""Ops that move values around without changing them; their backward moves gradients back."""

from __future__ import annotations

from itertools import accumulate

import numpy as np

from deltaprop.backend import array_module
from deltaprop.errors import ShapeError
from deltaprop.tensor import Tensor, as_tensor, make_result


# ----------------------------------------------------------------- reshape
def reshape(a, shape) -> Tensor:
    a = as_tensor(a)
    try:
        out = a.array.reshape(shape)
    except ValueError:
        raise ShapeError(
            f"reshape: cannot reshape {a.size} elements of shape {a.shape} into {tuple(shape)}"
        ) from None
    return make_result(out, (a,), _reshape_backward, (a.shape,), "reshape")


def _reshape_backward(g, saved, parents):
    (shape,) = saved
    return (g.reshape(shape),)


def flatten(a, start_dim: int = 0) -> Tensor:
    """Merge the axes from ``start_dim`` on into one (start_dim=1 keeps the batch axis)."""
    a = as_tensor(a)
    return reshape(a, a.shape[:start_dim] + (-1,))


# ----------------------------------------------------------------- transpose
def transpose(a, axes=None) -> Tensor:
    a = as_tensor(a)
    axes = tuple(range(a.ndim))[::-1] if axes is None else tuple(ax % a.ndim for ax in axes)
    return make_result(a.array.transpose(axes), (a,), _transpose_backward, (axes,), "transpose")


def _transpose_backward(g, saved, parents):
    (axes,) = saved
    inverse = tuple(sorted(range(len(axes)), key=axes.__getitem__))  # where each axis came from
    return (g.transpose(inverse),)


def swapaxes(a, axis1: int, axis2: int) -> Tensor:
    a = as_tensor(a)
    axes = list(range(a.ndim))
    axes[axis1], axes[axis2] = axes[axis2], axes[axis1]
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


def squeeze(a, axis=None) -> Tensor:
    a = as_tensor(a)
    if axis is None:
        return reshape(a, tuple(n for n in a.shape if n != 1))
    gone = set()
    for ax in (axis,) if isinstance(axis, int) else axis:
        i = _axis(ax, a.ndim, "squeeze", a.shape)
        if a.shape[i] != 1:
            raise ShapeError(f"squeeze: axis {ax} of shape {a.shape} has size {a.shape[i]}, not 1")
        gone.add(i)
    return reshape(a, tuple(n for i, n in enumerate(a.shape) if i not in gone))


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
def concatenate(tensors, axis: int = 0) -> Tensor:
    tensors = [as_tensor(t) for t in tensors]
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


def stack(tensors, axis: int = 0) -> Tensor:
    tensors = [as_tensor(t) for t in tensors]
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
