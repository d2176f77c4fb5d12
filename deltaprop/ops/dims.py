"""The ``dim`` argument of reductions and shape ops: PyTorch's name, NumPy's ``axis`` as an alias.

PyTorch code writes ``x.sum(1, keepdim=True)``; NumPy code ``x.sum(axis=1,
keepdims=True)``. Both spellings reach the same op; giving both at once is
refused rather than guessed. A dimension out of range raises NumPy's
``AxisError``, which is both a ValueError and an IndexError (PyTorch raises
IndexError), naming the op; wrapping around would reduce the wrong axis.
"""

from __future__ import annotations

from typing import Any

import numpy as np

AxisError = getattr(np, "exceptions", np).AxisError  # numpy.exceptions is new in NumPy 1.25


def pick(dim: Any, axis: Any, op: str) -> Any:
    """``dim``, or its NumPy alias ``axis`` when only that was given."""
    if axis is None:
        return dim
    if dim is not None:
        raise TypeError(f"{op}: got both dim={dim!r} and its NumPy alias axis={axis!r}; pass one of them")
    return axis


def pick_keepdim(keepdim: bool, keepdims: bool | None, op: str) -> bool:
    """``keepdim``, or NumPy's ``keepdims`` when that was given."""
    if keepdims is None:
        return bool(keepdim)
    if keepdim and not keepdims:
        raise TypeError(f"{op}: got keepdim=True and keepdims=False; pass one of them")
    return bool(keepdims)


def axis(dim: Any, ndim: int, op: str) -> int:
    """One dimension as a non-negative int (a 0-d tensor accepts 0 and -1, as in PyTorch)."""
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{op}: dim must be an int, got {dim!r}")
    size = max(ndim, 1)
    if not -size <= dim < size:
        raise AxisError(int(dim), ndim, op)
    return int(dim) % size


_ALL = [tuple(range(n)) for n in range(8)]  # every dim of a tensor of n dims, made once


def axes(dim: Any, ndim: int, op: str, empty_means_all: bool = True) -> tuple[int, ...]:
    """The reduced dimensions as sorted non-negative ints; None (and, as in PyTorch, ``()``) means all."""
    if dim is None:
        return _ALL[ndim] if ndim < len(_ALL) else tuple(range(ndim))
    if type(dim) is int and -ndim <= dim < ndim:  # the common case, one int in range
        return (dim % ndim,)
    listed = tuple(dim) if isinstance(dim, (tuple, list)) else (dim,)
    if not listed and empty_means_all:
        return tuple(range(ndim))
    found = []
    for d in listed:
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)):
            raise TypeError(f"{op}: dim must be an int or a tuple of ints, got {dim!r}")
        if ndim == 0 and d in (0, -1):  # PyTorch lets a 0-d tensor name its one pseudo-dimension
            continue
        if not -ndim <= d < ndim:
            raise AxisError(int(d), ndim, op)
        found.append(int(d) % ndim)
    if len(set(found)) != len(found):
        raise ValueError(f"{op}: dim {dim!r} names the same dimension twice")
    return tuple(sorted(found))


def sizes(shape: Any) -> tuple[int, ...]:
    """``f(2, 3)`` and ``f((2, 3))`` (and a Size) as one tuple of ints: how PyTorch takes shapes."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    return tuple(int(n) for n in shape)


def no_out(out: Any, op: str) -> None:
    """Reductions accept ``out=None``: NumPy's functions pass it (``np.sum(t)`` calls ``t.sum(out=None)``)."""
    if out is not None:
        raise TypeError(f"{op}: out= is not supported; use the returned tensor (or copy_ it into yours)")
