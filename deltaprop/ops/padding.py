"""Padding with PyTorch's ``F.pad`` semantics: constant, reflect, replicate and circular.

``pad`` is a flat tuple read from the last axis backwards, as in PyTorch:
``(left, right)`` pads the last axis, ``(left, right, top, bottom)`` the last
two. The non-constant modes make every padded position a copy of some input
position (reflect: mirrored without repeating the edge; replicate: the edge
itself; circular: wrapped around), so the backward adds each padded
position's gradient onto the position it copied. That is one gather per
axis forward and, backward, the interior plus one add per padded row or
column: no loop over elements.
"""

from __future__ import annotations

from typing import Any

from deltaprop.backend import array_module
from deltaprop.errors import ShapeError
from deltaprop.tensor import Tensor, as_tensor, make_result

__all__ = ["pad"]

MODES = ("constant", "reflect", "replicate", "circular")


def pad(x, pad: tuple[int, ...] | list[int], mode: str = "constant", value: float | None = None) -> Tensor:
    """Pad the last ``len(pad) // 2`` axes of x (PyTorch's ``torch.nn.functional.pad``)."""
    x = as_tensor(x)
    widths = _widths(x, pad, mode)
    if mode == "constant":
        return _pad_constant(x, widths, 0.0 if value is None else value)
    if value not in (None, 0, 0.0):
        raise ValueError(f"pad: value applies to mode='constant' only, not to mode={mode!r}")
    plan = []  # (axis, index array, lo, hi) for each padded axis
    out = x.array
    xp = array_module(out)
    for axis, (lo, hi) in widths.items():
        n = out.shape[axis]
        index = _source_index(xp, n, lo, hi, mode, axis, x.shape)
        out = xp.take(out, index, axis=axis)
        edges = [(k, _source(k - lo, n, mode)) for k in [*range(lo), *range(lo + n, lo + n + hi)]]
        plan.append((axis, edges, lo, n))
    return make_result(out, (x,), _pad_gather_backward, (tuple(plan),), f"pad_{mode}")


def _widths(x: Tensor, pad: Any, mode: str) -> dict[int, tuple[int, int]]:
    if mode not in MODES:
        raise ValueError(f"pad: mode must be one of {', '.join(MODES)}, got {mode!r}")
    try:
        widths = [int(p) for p in pad]
    except TypeError:
        raise TypeError(f"pad: pad must be whole numbers (left, right, ...), got {pad!r}") from None
    if len(widths) % 2 or len(widths) // 2 > x.ndim:
        raise ValueError(f"pad: pad {tuple(widths)} must hold a (before, after) pair per padded axis, "
                         f"for at most {x.ndim} axes (the input has shape {x.shape})")
    axes = {x.ndim - 1 - k: (widths[2 * k], widths[2 * k + 1]) for k in range(len(widths) // 2)}
    if mode != "constant":
        k = len(axes)
        if not 1 <= k <= 3 or x.ndim not in (k + 1, k + 2):
            raise ValueError(f"pad: mode={mode!r} with {len(widths)} widths pads the last {k} axes of a "
                             f"{k + 1}-D or {k + 2}-D input (as in PyTorch), got shape {x.shape}; give "
                             f"{2 * (x.ndim - 2)} widths for this input")
        if any(lo < 0 or hi < 0 for lo, hi in axes.values()):
            raise ValueError(f"pad: mode={mode!r} needs widths >= 0, got {tuple(widths)}")
    return {axis: w for axis, w in sorted(axes.items()) if w != (0, 0)}


def _source_index(xp: Any, n: int, lo: int, hi: int, mode: str, axis: int, shape: tuple) -> Any:
    """For each output position along an axis, the input position it copies."""
    limit = n - 1 if mode == "reflect" else n
    if mode != "replicate" and (lo > limit or hi > limit):
        raise ShapeError(f"pad: mode={mode!r} can pad axis {axis} of size {n} by at most {limit} on each "
                         f"side, got ({lo}, {hi}) for shape {shape}; pad less or use mode='replicate'")
    position = xp.arange(-lo, n + hi)
    if mode == "replicate":
        return xp.clip(position, 0, n - 1)
    if mode == "circular":
        return position % n
    position = xp.abs(position)  # reflect: -1 -> 1, and n -> n - 2
    return xp.where(position > n - 1, 2 * (n - 1) - position, position)


def _source(t: int, n: int, mode: str) -> int:
    """The input position that output position t (counted from the first input position) copies."""
    if mode == "replicate":
        return min(max(t, 0), n - 1)
    if mode == "circular":
        return t % n
    t = abs(t)
    return 2 * (n - 1) - t if t > n - 1 else t


def _pad_gather_backward(g, saved, parents):
    (plan,) = saved
    for axis, edges, lo, n in reversed(plan):
        g = _scatter_back(g, axis, edges, lo, n)
    return (g,)


def _scatter_back(g: Any, axis: int, edges: list[tuple[int, int]], lo: int, n: int) -> Any:
    """dC/d(input) along one axis: the interior of g, plus each padded row added where it came from."""
    def at(i):
        return (slice(None),) * axis + (i,)

    grad = g[at(slice(lo, lo + n))].copy()
    for k, source in edges:
        grad[at(source)] += g[at(k)]
    return grad


def _pad_constant(x: Tensor, widths: dict[int, tuple[int, int]], value: float) -> Tensor:
    """Constant padding; negative widths crop, as in PyTorch."""
    a = x.array
    crop = tuple(slice(max(-widths.get(i, (0, 0))[0], 0), a.shape[i] - max(-widths.get(i, (0, 0))[1], 0))
                 for i in range(a.ndim))
    a = a[crop]
    grow = {i: (max(lo, 0), max(hi, 0)) for i, (lo, hi) in widths.items()}
    shape = tuple(n + sum(grow.get(i, (0, 0))) for i, n in enumerate(a.shape))
    if min(shape, default=1) < 0:
        raise ShapeError(f"pad: cropping {widths} leaves nothing of shape {x.shape}")
    out = array_module(a).full(shape, value, dtype=a.dtype)
    place = tuple(slice(grow.get(i, (0, 0))[0], grow.get(i, (0, 0))[0] + n) for i, n in enumerate(a.shape))
    out[place] = a
    return make_result(out, (x,), _pad_constant_backward, (x.shape, crop, place), "pad_constant")


def _pad_constant_backward(g, saved, parents):
    shape, crop, place = saved
    if all(c == slice(0, n) for c, n in zip(crop, shape, strict=True)):
        return (g[place],)
    grad = array_module(g).zeros(shape, dtype=g.dtype)
    grad[crop] = g[place]
    return (grad,)
