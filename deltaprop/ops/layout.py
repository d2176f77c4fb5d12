"""Shape ops with PyTorch's names that NumPy spells differently: permute, expand, repeat, split, chunk, ...

Each either is one op with its backward here (expand sums the gradient back
over the stretched dimensions; repeat sums over the copies) or is built from
ops that already have one (split and chunk are slices, unflatten a reshape,
permute a transpose), so every gradient is the composition of checked ones.

One name means different things in the two libraries: PyTorch's
``x.repeat(2, 1)`` tiles the whole tensor (NumPy's ``np.tile``), while NumPy's
``a.repeat(2)`` repeats each element; here ``repeat`` is PyTorch's and
``repeat_interleave`` is NumPy's ``repeat``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from deltaprop.errors import ShapeError
from deltaprop.ops.broadcast import unbroadcast
from deltaprop.ops.dims import axis as one_axis
from deltaprop.ops.dims import sizes as shape_of
from deltaprop.ops.shape import getitem, reshape, transpose
from deltaprop.tensor import Tensor, as_tensor, make_result


def permute(input, *dims) -> Tensor:  # noqa: A002
    """The dimensions in the order ``dims`` (each named once): ``x.permute(0, 2, 1)``."""
    a = as_tensor(input)
    order = shape_of(dims)
    if len(order) != a.ndim:
        raise ShapeError(f"permute: got {len(order)} dims {order} for a tensor with {a.ndim} dims {a.shape}")
    return transpose(a, order)


def movedim(input, source, destination) -> Tensor:  # noqa: A002
    """Dimensions ``source`` moved to positions ``destination`` (ints or sequences), the rest in order."""
    a = as_tensor(input)
    sources = [one_axis(d, a.ndim, "movedim") for d in _listed(source)]
    targets = [one_axis(d, a.ndim, "movedim") for d in _listed(destination)]
    if len(sources) != len(targets) or len(set(sources)) != len(sources) or len(set(targets)) != len(targets):
        raise ShapeError(f"movedim: {source} and {destination} must be the same number of distinct dims")
    order = [d for d in range(a.ndim) if d not in sources]
    for target, moved in sorted(zip(targets, sources, strict=True)):
        order.insert(target, moved)
    return transpose(a, order)


def _listed(dims) -> list:
    return list(dims) if isinstance(dims, (list, tuple)) else [dims]


# ----------------------------------------------------------------- expand
def expand(input, *sizes) -> Tensor:  # noqa: A002
    """A view with size-1 dimensions stretched to ``sizes`` (-1 keeps a size); new dims go in front."""
    a = as_tensor(input)
    target = shape_of(sizes)
    if len(target) < a.ndim:
        raise ShapeError(f"expand: {target} has fewer dims than the tensor's shape {a.shape}")
    lead = len(target) - a.ndim
    shape = []
    for i, n in enumerate(target):
        if n == -1:
            if i < lead:
                raise ShapeError(f"expand: -1 is not allowed for a new leading dim (got {target})")
            n = a.shape[i - lead]
        elif i >= lead and a.shape[i - lead] not in (1, n):
            raise ShapeError(
                f"expand: dim {i} has size {a.shape[i - lead]}, which can only expand from 1 "
                f"(shape {a.shape} to {target})"
            )
        shape.append(n)
    out = a.xp.broadcast_to(a.array, tuple(shape))
    return make_result(out, (a,), _expand_backward, (a.shape,), "expand")


def _expand_backward(g, saved, parents):
    (shape,) = saved
    return (unbroadcast(g, shape),)


def expand_as(input, other) -> Tensor:  # noqa: A002
    return expand(input, as_tensor(other).shape)


broadcast_to = expand


# ----------------------------------------------------------------- repeat (tile)
def repeat(input, *repeats) -> Tensor:  # noqa: A002
    """PyTorch's ``x.repeat(2, 3)``: the whole tensor tiled 2 x 3 times (NumPy's ``tile``)."""
    a = as_tensor(input)
    counts = shape_of(repeats)
    if len(counts) < a.ndim:
        raise ShapeError(
            f"repeat: give at least one count per dim ({a.ndim} for shape {a.shape}), got {counts}"
        )
    shape = (1,) * (len(counts) - a.ndim) + a.shape
    out = a.xp.tile(a.array.reshape(shape), counts)
    return make_result(out, (a,), _repeat_backward, (a.shape, shape, counts), "repeat")


def _repeat_backward(g, saved, parents):
    original, shape, counts = saved
    # (r0 * s0, r1 * s1, ...) -> (r0, s0, r1, s1, ...), then sum over every r
    split = g.reshape([n for pair in zip(counts, shape, strict=True) for n in pair])
    summed = split.sum(axis=tuple(range(0, 2 * len(shape), 2)))
    return (summed.reshape(original),)


def tile(input, dims) -> Tensor:  # noqa: A002
    a = as_tensor(input)
    counts = shape_of((dims,))
    return repeat(a, (1,) * (a.ndim - len(counts)) + counts)


def repeat_interleave(input, repeats: int, dim: int | None = None) -> Tensor:  # noqa: A002
    """Each entry repeated ``repeats`` times along ``dim`` (flattened if dim is None): NumPy's ``repeat``."""
    a = as_tensor(input)
    if dim is None:
        a, dim = reshape(a, (-1,)), 0
    d = one_axis(dim, a.ndim, "repeat_interleave")
    if not isinstance(repeats, (int, np.integer)):
        raise TypeError("repeat_interleave: repeats must be an int here")
    index = a.xp.repeat(a.xp.arange(a.shape[d]), int(repeats))
    return getitem(a, (slice(None),) * d + (index,))


# ----------------------------------------------------------------- cutting into pieces
def split(tensor, split_size_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
    """Pieces of ``split_size_or_sections`` entries along ``dim`` (the last may be shorter).

    A list gives the pieces' sizes instead.
    """
    a = as_tensor(tensor)
    d = one_axis(dim, a.ndim, "split")
    n = a.shape[d]
    if isinstance(split_size_or_sections, (list, tuple)):
        sizes = [int(s) for s in split_size_or_sections]
        if sum(sizes) != n:
            raise ShapeError(f"split: sizes {sizes} add up to {sum(sizes)}, but dim {dim} has {n} entries")
    else:
        size = int(split_size_or_sections)
        if size <= 0:
            raise ValueError(f"split: split_size must be positive, got {size}")
        sizes = [min(size, n - start) for start in range(0, n, size)] or [0]
    return _pieces(a, d, sizes)


def _pieces(a: Tensor, d: int, sizes: list[int]) -> tuple[Tensor, ...]:
    pieces, start = [], 0
    for size in sizes:
        pieces.append(getitem(a, (slice(None),) * d + (slice(start, start + size),)))
        start += size
    return tuple(pieces)


def chunk(input, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:  # noqa: A002
    """At most ``chunks`` pieces of ceil(n / chunks) entries along ``dim``, as ``torch.chunk``."""
    a = as_tensor(input)
    if int(chunks) <= 0:
        raise ValueError(f"chunk: chunks must be positive, got {chunks}")
    d = one_axis(dim, a.ndim, "chunk")
    size = -(-a.shape[d] // int(chunks)) or 1
    return split(a, size, d)


def tensor_split(input, indices_or_sections, dim: int = 0) -> tuple[Tensor, ...]:  # noqa: A002
    """NumPy's ``array_split``: ``n`` nearly equal pieces, or cuts at the listed indices."""
    a = as_tensor(input)
    d = one_axis(dim, a.ndim, "tensor_split")
    n = a.shape[d]
    if isinstance(indices_or_sections, (list, tuple)):
        bounds = [0, *[int(i) for i in indices_or_sections], n]
        sizes = [max(0, min(hi, n) - min(lo, n)) for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]
    else:
        count = int(indices_or_sections)
        sizes = [n // count + (1 if i < n % count else 0) for i in range(count)]
    return _pieces(a, d, sizes)


def unbind(input, dim: int = 0) -> tuple[Tensor, ...]:  # noqa: A002
    """Every slice along ``dim``, without that dim."""
    a = as_tensor(input)
    d = one_axis(dim, a.ndim, "unbind")
    return tuple(getitem(a, (slice(None),) * d + (i,)) for i in range(a.shape[d]))


def unflatten(input, dim: int, sizes) -> Tensor:  # noqa: A002
    """Dimension ``dim`` split into ``sizes`` (one of them may be -1)."""
    a = as_tensor(input)
    d = one_axis(dim, a.ndim, "unflatten")
    return reshape(a, a.shape[:d] + shape_of((sizes,)) + a.shape[d + 1 :])


def narrow(input, dim: int, start: int, length: int) -> Tensor:  # noqa: A002
    a = as_tensor(input)
    d = one_axis(dim, a.ndim, "narrow")
    start = int(start) % a.shape[d] if start < 0 else int(start)
    if start + length > a.shape[d]:
        raise ShapeError(f"narrow: start {start} + length {length} exceeds dim {dim} of size {a.shape[d]}")
    return getitem(a, (slice(None),) * d + (slice(start, start + int(length)),))


def flip(input, dims) -> Tensor:  # noqa: A002
    """The entries in reverse order along each of ``dims``."""
    a = as_tensor(input)
    listed = dims if isinstance(dims, (list, tuple)) else (dims,)
    index = [slice(None)] * a.ndim
    for dim in listed:
        index[one_axis(dim, a.ndim, "flip")] = slice(None, None, -1)
    return getitem(a, tuple(index))


def meshgrid(*tensors, indexing: str = "ij") -> tuple[Tensor, ...]:
    """Coordinate grids of 1-D tensors; PyTorch's default ``indexing='ij'`` (NumPy's is 'xy')."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing not in ("ij", "xy"):
        raise ValueError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    vectors = [as_tensor(t) for t in tensors]
    for t in vectors:
        if t.ndim > 1:
            raise ShapeError(f"meshgrid: expected 0-d or 1-D tensors, got shape {t.shape}")
    lengths = [max(t.array.size, 1) for t in vectors]
    order = list(range(len(vectors)))
    if indexing == "xy" and len(vectors) >= 2:
        order[0], order[1] = 1, 0
    shape = [lengths[i] for i in order]
    grids = []
    for i, t in enumerate(vectors):
        where = order.index(i)
        view = [1] * len(vectors)
        view[where] = lengths[i]
        grids.append(expand(reshape(t, tuple(view)), tuple(shape)))
    return tuple(grids)
