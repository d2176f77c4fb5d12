"""Pooling and nearest-neighbour upsampling, forward and backward side by side.

Each kernel offset (i, j) of a pooling window picks, for every output pixel
at once, one strided slab of the (padded) input: ``x[:, p*s + i*d, q*s + j*d]``.
So a pooling op is a loop over the kh*kw offsets, never over pixels:

- max pooling keeps the running maximum and, per output pixel, which offset
  held it (the first one on ties, as PyTorch). Only that input gets the
  gradient: the backward writes g onto each offset's slab where the offset
  won. (The maximum is a switch: dmax/dx is 1 for the winner, 0 for the rest.)
- average pooling sums the slabs and divides by the window's count; the
  backward gives every input of the window g / count.
- adaptive pooling picks windows so that the output has a given size; the
  average is separable, two small matrix products (rows, then columns).
- nearest upsampling copies each input pixel into an s x s block; its
  backward sums each block, i.e. it is sum pooling, its adjoint.

All work on the channels-last view (see `deltaprop.ops.spatial`); 1-D pools
are the 2-D ones on height-1 images.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from deltaprop.backend import array_module
from deltaprop.errors import ShapeError
from deltaprop.ops.spatial import channels_first, channels_last, check_rank, ntuple, output_size, window_slab
from deltaprop.tensor import Tensor, as_tensor, make_result

__all__ = [
    "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_max_pool1d", "adaptive_max_pool2d",
    "avg_pool1d", "avg_pool2d", "max_pool1d", "max_pool2d", "upsample_nearest",
]


# ----------------------------------------------------------------- geometry
class _Pool:
    """One pooling call's geometry, on (N, C, H, W) (1-D pools get height 1)."""

    def __init__(self, x: Tensor, n: int, kernel_size, stride, padding, dilation, ceil_mode, op: str) -> None:
        check_rank(x, (n + 1, n + 2), op, "(N, C, H, W)" if n == 2 else "(N, C, L)")
        self.op, self.n, self.batched = op, n, x.ndim == n + 2
        a = x.array if self.batched else x.array[None]
        self.x4 = a[:, :, None, :] if n == 1 else a
        lift = (lambda t, fill: t) if n == 2 else (lambda t, fill: (fill, t[0]))
        self.kernel = lift(ntuple(kernel_size, n, "kernel_size", op, 1), 1)
        default = stride is None or (isinstance(stride, (tuple, list)) and not stride)
        self.stride = self.kernel if default else lift(ntuple(stride, n, "stride", op, 1), 1)
        self.padding = lift(ntuple(padding, n, "padding", op, 0), 0)
        self.dilation = lift(ntuple(dilation, n, "dilation", op, 1), 1)
        for p, k in zip(self.padding, self.kernel, strict=True):
            if p > k // 2:
                raise ValueError(f"{op}: padding {padding} must be at most half the kernel size "
                                 f"({kernel_size}), as in PyTorch")
        self.in_hw = self.x4.shape[2:]
        per_axis = list(zip(self.in_hw, self.kernel, self.stride, self.dilation, self.padding,
                            ("height", "width"), strict=True))
        self.out_hw = tuple(output_size(size + 2 * p, k, s, d, op, axis, ceil_mode, p)
                            for size, k, s, d, p, axis in per_axis)
        # ceil_mode's last window may reach past the right padding: pad that far too
        self.padded_hw = tuple(max(size + 2 * p, (o - 1) * s + d * (k - 1) + 1)
                               for (size, k, s, d, p, _), o in zip(per_axis, self.out_hw, strict=True))

    def padded(self, value: float) -> Any:
        """The channels-last input inside a frame of ``value`` (a view when no frame is needed)."""
        xl = channels_last(self.x4)
        (ph, pw), (h, w) = self.padding, self.in_hw
        if self.padded_hw == (h, w):
            return xl
        out = array_module(xl).full((xl.shape[0], *self.padded_hw, xl.shape[3]), value, dtype=xl.dtype)
        out[:, ph:ph + h, pw:pw + w, :] = xl
        return out

    def offsets(self):
        """(k, slab index) for each kernel offset, row-major."""
        kh, kw = self.kernel
        for i in range(kh):
            for j in range(kw):
                start = (i * self.dilation[0], j * self.dilation[1])
                yield i * kw + j, window_slab(*start, self.out_hw, self.stride)

    def tiles(self) -> bool:
        """Whether the windows cover the padded input exactly once (stride = kernel, no dilation)."""
        return self.stride == self.kernel and self.dilation == (1, 1) and all(
            size == o * k for size, o, k in zip(self.padded_hw, self.out_hw, self.kernel, strict=True))

    def overlapping(self) -> bool:
        spans = (d * (k - 1) + 1 for d, k in zip(self.dilation, self.kernel, strict=True))
        return any(s < span for s, span in zip(self.stride, spans, strict=True))

    def crop(self, full: Any) -> Any:
        """The padded-frame gradient (N, Hp, Wp, C) cut back to the input, in the caller's shape."""
        (ph, pw), (h, w) = self.padding, self.in_hw
        return self.finish(channels_first(full[:, ph:ph + h, pw:pw + w, :]))

    def finish(self, out4: Any) -> Any:
        if self.n == 1:
            out4 = out4[:, :, 0, :]
        return out4 if self.batched else out4[0]

    def unfinish(self, g: Any) -> Any:
        if not self.batched:
            g = g[None]
        return g[:, :, None, :] if self.n == 1 else g


# ----------------------------------------------------------------- max pooling
def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """PyTorch's max_pool2d; with ``return_indices`` also the flat H*W index of each maximum (int64)."""
    return _max_pool(x, 2, kernel_size, stride, padding, dilation, ceil_mode, return_indices, "max_pool2d")


def max_pool1d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    return _max_pool(x, 1, kernel_size, stride, padding, dilation, ceil_mode, return_indices, "max_pool1d")


def _max_pool(x, n, kernel_size, stride, padding, dilation, ceil_mode, return_indices, op):
    x = as_tensor(x)
    pool = _Pool(x, n, kernel_size, stride, padding, dilation, ceil_mode, op)
    xl = pool.padded(-math.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min)
    xp = array_module(xl)
    slabs = [xl[slab] for _, slab in pool.offsets()]
    best = slabs[0].copy()
    for slab in slabs[1:]:
        xp.maximum(best, slab, out=best)  # a NaN anywhere in the window stays NaN, as in PyTorch
    out = make_result(pool.finish(channels_first(best)), (x,), _max_pool_backward, (pool, xl, best), op)
    if not return_indices:
        return out
    which = xp.zeros(best.shape, dtype=np.int64)
    for k, _, won in _winners(pool, xl, best):
        which += won * k
    return out, Tensor._wrap(pool.finish(channels_first(_flat_indices(pool, which, xp))))


def _winners(pool: _Pool, xl: Any, best: Any):
    """(offset, slab, mask) per kernel offset: where that offset holds its window's first maximum.

    First in row-major order, as PyTorch breaks ties (after a ReLU whole
    windows are 0): an offset wins where it equals the maximum and no
    earlier offset has won. Worked out in the backward, so a forward alone
    (evaluation) pays nothing for it.
    """
    taken = None
    for k, slab in pool.offsets():
        won = xl[slab] == best
        if taken is None:
            taken = won.copy()
        else:
            np.greater(won, taken, out=won)  # won and not taken
            np.logical_or(taken, won, out=taken)
        yield k, slab, won


def _max_pool_backward(g, saved, parents):
    pool, xl, best = saved
    gl = channels_last(pool.unfinish(g))
    if pool.tiles():
        return (pool.crop(_tiled_max_pool_backward(pool, gl, xl, best)),)
    full = array_module(gl).zeros(xl.shape, dtype=gl.dtype)
    overlapping = pool.overlapping()
    for _, slab, won in _winners(pool, xl, best):
        if overlapping:
            full[slab] += gl * won
        else:  # each input pixel is in one window only: write, don't add
            np.multiply(gl, won, out=full[slab])
    return (pool.crop(full),)


def _tiled_max_pool_backward(pool: _Pool, gl: Any, xl: Any, best: Any) -> Any:
    """Windows that tile the (padded) input exactly, the common 2x2 case: whole-array operations.

    The input seen as (N, Ho, kh, Wo, kw, C): one comparison finds every
    maximum, the ties are settled on its (cheap, boolean) slabs, and one
    multiplication writes the whole gradient, with no zero-filled buffer.
    """
    (ho, wo), (kh, kw) = pool.out_hw, pool.kernel
    n, _, _, c = xl.shape
    tiles = xl.reshape(n, ho, kh, wo, kw, c)
    won = tiles == best[:, :, None, :, None, :]
    taken = won[:, :, 0, :, 0, :].copy()
    for i in range(kh):
        for j in range(kw):
            if i or j:
                part = won[:, :, i, :, j, :]
                np.greater(part, taken, out=part)  # won and no earlier offset did
                np.logical_or(taken, part, out=taken)
    full = array_module(gl).empty(xl.shape, dtype=gl.dtype)
    np.multiply(won, gl[:, :, None, :, None, :], out=full.reshape(tiles.shape))
    return full


def _flat_indices(pool: _Pool, which: Any, xp: Any) -> Any:
    """PyTorch's indices: row * W + column of each maximum, in unpadded input coordinates."""
    kw = pool.kernel[1]
    (ho, wo), (sh, sw), (dh, dw), (ph, pw) = pool.out_hw, pool.stride, pool.dilation, pool.padding
    which = which.astype(np.int64)
    rows = (xp.arange(ho) * sh - ph).reshape(1, ho, 1, 1) + (which // kw) * dh
    cols = (xp.arange(wo) * sw - pw).reshape(1, 1, wo, 1) + (which % kw) * dw
    return rows * pool.in_hw[1] + cols


# ----------------------------------------------------------------- average pooling
def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None) -> Tensor:
    """PyTorch's avg_pool2d: the window mean, padding counted unless ``count_include_pad=False``."""
    return _avg_pool(x, 2, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override,
                     "avg_pool2d")


def avg_pool1d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True) -> Tensor:
    return _avg_pool(x, 1, kernel_size, stride, padding, ceil_mode, count_include_pad, None, "avg_pool1d")


def _avg_pool(x, n, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, op):
    x = as_tensor(x)
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: needs a floating-point input, got {x.dtype}; cast it with x.float()")
    pool = _Pool(x, n, kernel_size, stride, padding, 1, ceil_mode, op)
    if divisor_override is not None and (not isinstance(divisor_override, (int, np.integer))
                                         or divisor_override <= 0):
        raise ValueError(f"{op}: divisor_override must be a whole number > 0, got {divisor_override!r}")
    xl = pool.padded(0.0)
    slabs = [xl[slab] for _, slab in pool.offsets()]
    total = slabs[0].copy()
    for slab in slabs[1:]:
        total += slab
    divisor = _divisor(pool, count_include_pad, divisor_override, array_module(xl), xl.dtype)
    total /= divisor
    return make_result(pool.finish(channels_first(total)), (x,), _avg_pool_backward,
                       (pool, divisor, xl.shape), op)


def _avg_pool_backward(g, saved, parents):
    pool, divisor, padded_shape = saved
    share = channels_last(pool.unfinish(g)) / divisor  # each input of a window gets g / count
    full = array_module(share).zeros(padded_shape, dtype=share.dtype)
    for _, slab in pool.offsets():
        full[slab] += share
    return (pool.crop(full),)


def _divisor(pool: _Pool, count_include_pad: bool, override: int | None, xp: Any, dtype: Any) -> Any:
    """Each output pixel's window count (PyTorch's rule), as a (1, Ho, Wo, 1) array or one number."""
    if override is not None:
        return float(override)
    counts = []
    for size, o, s, k, p in zip(pool.in_hw, pool.out_hw, pool.stride, pool.kernel, pool.padding, strict=True):
        start = np.arange(o) * s - p
        end = np.minimum(start + k, size + p)  # the window stops at the padding's end (ceil_mode)
        if not count_include_pad:
            start, end = np.maximum(start, 0), np.minimum(end, size)
        counts.append(end - start)
    table = np.outer(counts[0], counts[1]).astype(dtype)
    if (table == table.flat[0]).all():
        return float(table.flat[0])
    return xp.asarray(table.reshape(1, *table.shape, 1))


# ----------------------------------------------------------------- adaptive pooling
def _adaptive_sizes(x: Tensor, n: int, output_size: Any, op: str) -> tuple[_Pool, tuple[int, int]]:
    sizes = (output_size,) * n if isinstance(output_size, (int, np.integer)) or output_size is None \
        else tuple(output_size)
    if len(sizes) != n:
        raise ValueError(f"{op}: output_size must be a whole number or a tuple of {n}, got {output_size!r}")
    check_rank(x, (n + 1, n + 2), op, "(N, C, H, W)" if n == 2 else "(N, C, L)")
    in_hw = x.shape[-n:]
    wanted = [int(i if s is None else s) for s, i in zip(sizes, in_hw, strict=True)]
    if min(wanted) < 1:
        raise ValueError(f"{op}: output_size must be >= 1, got {output_size!r}")
    pool = _Pool(x, n, 1, 1, 0, 1, False, op)
    return pool, (wanted[0], wanted[1]) if n == 2 else (1, wanted[0])


def _bounds(size: int, out: int) -> list[tuple[int, int]]:
    """PyTorch's adaptive windows: [floor(i*size/out), ceil((i+1)*size/out))."""
    return [((i * size) // out, -(-((i + 1) * size) // out)) for i in range(out)]


def _averaging_matrix(size: int, out: int, dtype: Any, xp: Any) -> Any:
    matrix = np.zeros((out, size))
    for i, (start, end) in enumerate(_bounds(size, out)):
        matrix[i, start:end] = 1.0 / (end - start)
    return xp.asarray(matrix.astype(dtype))


def adaptive_avg_pool2d(x, output_size) -> Tensor:
    """Average over windows chosen so the output is ``output_size`` (None keeps that axis's size)."""
    return _adaptive_avg(x, 2, output_size, "adaptive_avg_pool2d")


def adaptive_avg_pool1d(x, output_size) -> Tensor:
    return _adaptive_avg(x, 1, output_size, "adaptive_avg_pool1d")


def _adaptive_avg(x, n, output_size, op) -> Tensor:
    x = as_tensor(x)
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: needs a floating-point input, got {x.dtype}; cast it with x.float()")
    pool, (oh, ow) = _adaptive_sizes(x, n, output_size, op)
    xl = channels_last(pool.x4)
    xp = array_module(xl)
    nb, h, w, c = xl.shape
    rows, cols = _averaging_matrix(h, oh, xl.dtype, xp), _averaging_matrix(w, ow, xl.dtype, xp)
    # separable: average the rows of each window, then its columns
    t = rows @ xl.reshape(nb, h, w * c)  # (N, oh, W*C)
    out = (cols @ t.reshape(nb * oh, w, c)).reshape(nb, oh, ow, c)
    return make_result(pool.finish(channels_first(out)), (x,), _adaptive_avg_backward,
                       (pool, rows, cols, xl.shape), op)


def _adaptive_avg_backward(g, saved, parents):
    pool, rows, cols, (nb, h, w, c) = saved
    gl = channels_last(pool.unfinish(g))
    oh, ow = gl.shape[1:3]
    t = (cols.T @ gl.reshape(nb * oh, ow, c)).reshape(nb, oh, w * c)
    full = (rows.T @ t).reshape(nb, h, w, c)
    return (pool.finish(channels_first(full)),)


def adaptive_max_pool2d(x, output_size, return_indices=False):
    """Maximum over PyTorch's adaptive windows; ``return_indices`` as in `max_pool2d`."""
    return _adaptive_max(x, 2, output_size, return_indices, "adaptive_max_pool2d")


def adaptive_max_pool1d(x, output_size, return_indices=False):
    return _adaptive_max(x, 1, output_size, return_indices, "adaptive_max_pool1d")


def _adaptive_max(x, n, output_size, return_indices, op):
    x = as_tensor(x)
    pool, (oh, ow) = _adaptive_sizes(x, n, output_size, op)
    h, w = pool.in_hw
    if h % oh == 0 and w % ow == 0:  # equal windows: a plain max pool
        kernel = (h // oh, w // ow) if n == 2 else (w // ow,)
        return _max_pool(x, n, kernel, kernel, 0, 1, False, return_indices, op)
    xl = channels_last(pool.x4)
    xp = array_module(xl)
    nb, _, _, c = xl.shape
    best = xp.empty((nb, oh, ow, c), dtype=xl.dtype)
    where = xp.empty((nb, oh, ow, c), dtype=np.int64)  # flat index into H*W
    for p, (h0, h1) in enumerate(_bounds(h, oh)):
        for q, (w0, w1) in enumerate(_bounds(w, ow)):
            block = xl[:, h0:h1, w0:w1, :].reshape(nb, -1, c)
            k = block.argmax(axis=1)  # the first maximum, as PyTorch
            best[:, p, q, :] = xp.take_along_axis(block, k[:, None, :], axis=1)[:, 0, :]
            where[:, p, q, :] = (h0 + k // (w1 - w0)) * w + w0 + k % (w1 - w0)
    out = make_result(pool.finish(channels_first(best)), (x,), _adaptive_max_backward,
                      (pool, where, xl.shape), op)
    return (out, Tensor._wrap(pool.finish(channels_first(where)))) if return_indices else out


def _adaptive_max_backward(g, saved, parents):
    pool, where, (nb, h, w, c) = saved
    gl = channels_last(pool.unfinish(g))
    xp = array_module(gl)
    # scatter-add g onto the winners (windows may overlap): one bincount over (n, pixel, channel)
    n_idx = xp.arange(nb).reshape(nb, 1, 1, 1)
    c_idx = xp.arange(c).reshape(1, 1, 1, c)
    flat = (n_idx * (h * w) + where) * c + c_idx
    full = xp.bincount(flat.ravel(), weights=gl.ravel(), minlength=nb * h * w * c)
    return (pool.finish(channels_first(full.astype(gl.dtype).reshape(nb, h, w, c))),)


# ----------------------------------------------------------------- nearest upsampling
def upsample_nearest(x, size=None, scale_factor=None) -> Tensor:
    """Nearest-neighbour resize of (N, C, L), (N, C, H, W): PyTorch's interpolate(mode='nearest')."""
    x = as_tensor(x)
    op = "upsample_nearest"
    if x.ndim not in (3, 4):
        raise ShapeError(f"{op}: expected (N, C, L) or (N, C, H, W), got shape {x.shape}")
    spatial = x.shape[2:]
    if (size is None) == (scale_factor is None):
        raise ValueError(f"{op}: give exactly one of size and scale_factor")
    if size is not None:
        out = ntuple(size, len(spatial), "size", op, 1)
        scales = [np.float32(i / o) for i, o in zip(spatial, out, strict=True)]
    else:
        single = isinstance(scale_factor, (int, float))
        factors = (scale_factor,) * len(spatial) if single else tuple(scale_factor)
        if len(factors) != len(spatial) or any(f <= 0 for f in factors):
            raise ValueError(f"{op}: scale_factor must be > 0, one per spatial axis, got {scale_factor!r}")
        out = tuple(int(math.floor(i * f)) for i, f in zip(spatial, factors, strict=True))
        scales = [np.float32(1.0 / f) for f in factors]
    xp = x.xp
    sources = []
    for i, o, s in zip(spatial, out, scales, strict=True):
        # PyTorch's rule: the same size maps to itself, twice the size to dst // 2, and any other
        # ratio to min(floor(dst * scale), in - 1) computed in float32
        dst = np.arange(o)
        if o in (i, 2 * i):
            sources.append(dst // (o // i))
        else:
            sources.append(np.minimum(np.floor(dst.astype(np.float32) * s).astype(np.int64), i - 1))
    result = x.array
    for axis, src in enumerate(sources, start=2):
        result = xp.take(result, xp.asarray(src), axis=axis)
    return make_result(result, (x,), _upsample_backward, (x.shape, tuple(sources)), op)


def _upsample_backward(g, saved, parents):
    shape, sources = saved
    xp = array_module(g)
    for axis in range(len(sources) + 1, 1, -1):
        src, size = sources[axis - 2], shape[axis]
        factor = len(src) // size
        if len(src) == factor * size and (src == np.arange(len(src)) // factor).all():
            g = g.reshape(*g.shape[:axis], size, factor, *g.shape[axis + 1:]).sum(axis=axis + 1)
        else:  # any other ratio: each source position sums the outputs that copied it
            picks = np.zeros((size, len(src)), dtype=g.dtype)
            picks[src, np.arange(len(src))] = 1
            g = xp.moveaxis(xp.tensordot(g, xp.asarray(picks), axes=([axis], [1])), -1, axis)
    return (g,)
