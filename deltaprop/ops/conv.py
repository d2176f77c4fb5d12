"""Convolutions and transposed convolutions, forward and backward side by side.

What a convolution computes (one channel in, one out, stride 1, 1-D for
clarity; deep-learning libraries slide the kernel without flipping it, which
mathematicians call a cross-correlation)::

    y[p] = b + sum_i w[i] x[p + i]                      (i = 0 .. k-1)

Backpropagation needs three sums, given the output's error terms
delta[p] = dC/dy[p]:

- The weight gradient. Weight w[i] touches every output, y[p] through
  x[p + i], so ``dC/dw[i] = sum_p delta[p] x[p + i]``: the input correlated
  with the output delta, the delta playing the kernel's part. (And
  ``dC/db = sum_p delta[p]``.) With channels, ``dC/dw[o, c, i]`` correlates
  input channel c with output channel o's delta, summed over the batch.
- The input gradient. Input x[q] feeds every output p with p + i = q, so
  ``dC/dx[q] = sum_i delta[q - i] w[i]``. Put j = k-1-i and this is
  ``sum_j delta[q - (k-1) + j] w[k-1-j]``: a correlation of the delta,
  zero-padded by k-1 on each side, with the kernel *flipped* (and, with
  channels, in and out channels swapped). That is a "full" convolution, the
  transposed convolution: writing the forward as a matrix, y = M x, the
  backward is dC/dx = M^T delta, and M^T is again a convolution matrix, with
  the flipped kernel. With stride s the forward skipped positions, so the
  delta is spread out with s-1 zeros between its entries first; that is why
  a strided transposed convolution *upsamples* (ConvTranspose2d).

Example, x = [1, 2, 3, 4], w = [1, -1], delta = [d0, d1, d2]:
dC/dx = [d0, d1 - d0, d2 - d1, -d2] = the padded delta [0, d0, d1, d2, 0]
correlated with the flipped kernel [-1, 1]. ``deltaprop explain --conv``
walks a 2-D case through every number.

How it is computed here (im2col). The windows of the (zero-padded) input are
copied into the rows of one matrix X_cols, one row per output pixel, one
column per (kernel row, kernel column, input channel); then the forward is
one matrix product and the backward two:

    Y = X_cols W^T + b        dC/dW = delta^T X_cols        dC/dX_cols = delta W

and col2im adds every entry of dC/dX_cols back onto the input pixel it was
copied from (one slab add per kernel offset, no loop over pixels). That sum
is exactly the flipped-kernel correlation above, without building the
padded, dilated delta. The input gradient is skipped when the input needs
none (the data entering the first layer). A transposed convolution is the
same two halves the other way round: its forward is col2im, its input
gradient im2col plus a product. The arrays are channels-last inside (see
`deltaprop.ops.spatial`); weights keep PyTorch's (out, in/groups, kh, kw).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from deltaprop.backend import array_module
from deltaprop.errors import ShapeError
from deltaprop.ops.spatial import (
    channels_first,
    channels_last,
    check_rank,
    ntuple,
    output_size,
    window_slab,
    windows,
)
from deltaprop.tensor import Tensor, as_tensor, gradient_buffer, make_result

__all__ = ["conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d", "same_padding"]


# ----------------------------------------------------------------- arguments
def same_padding(kernel: tuple[int, ...], dilation: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
    """padding='same': dilation*(k-1) in total per axis, the odd one on the right/bottom (as PyTorch)."""
    totals = [d * (k - 1) for k, d in zip(kernel, dilation, strict=True)]
    return tuple((t // 2, t - t // 2) for t in totals)


def _padding(padding: Any, kernel: tuple, stride: tuple, dilation: tuple, op: str, n: int):
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * n
        if padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(f"{op}: padding='same' is not supported for strided convolutions "
                                 f"(stride={stride}), as in PyTorch; give the padding as numbers")
            return same_padding(kernel, dilation)
        raise ValueError(f"{op}: padding must be 'same', 'valid', a whole number or a tuple, got {padding!r}")
    return tuple((p, p) for p in ntuple(padding, n, "padding", op))


def _inputs(x: Any, weight: Any, bias: Any, op: str) -> tuple[Tensor, Tensor, Tensor | None]:
    """Tensors of one float dtype; data that needs no gradient takes the weight's dtype (as in linear)."""
    weight = weight if isinstance(weight, Tensor) else as_tensor(weight)
    x = x if isinstance(x, Tensor) else as_tensor(x, like=weight)
    if x.dtype != weight.dtype:
        if x.requires_grad and x.dtype.kind == "f":
            raise TypeError(f"{op}: the input is {x.dtype} but the weight is {weight.dtype}; cast one "
                            f"(model.double() or x.float()) so both have the same dtype")
        x = Tensor._wrap(x.array.astype(weight.dtype))
    if bias is not None and not isinstance(bias, Tensor):
        bias = as_tensor(bias, like=weight)
    return x, weight, bias


def _spatial(x: Tensor, weight: Tensor, n: int, op: str) -> tuple[Any, Any, bool]:
    """The raw input as (N, C, H, W) and the weight as (O, C/g, kh, kw); 1-D ops get height 1."""
    check_rank(x, (n + 1, n + 2), op, "(N, C, H, W)" if n == 2 else "(N, C, L)")
    if weight.ndim != n + 2:
        raise ShapeError(f"{op}: the weight must be {n + 2}-D (out, in/groups, *kernel), got {weight.shape}")
    batched = x.ndim == n + 2
    xa = x.array if batched else x.array[None]
    wa = weight.array
    if n == 1:
        xa, wa = xa[:, :, None, :], wa[:, :, None, :]
    return xa, wa, batched


# ----------------------------------------------------------------- the two halves
def im2col(x_padded: Any, out_hw: tuple, kernel: tuple, stride: tuple, dilation: tuple, groups: int):
    """The windows of a channels-last (N, Hp, Wp, C) array as rows: (groups, N*Ho*Wo, kh*kw*C/groups).

    Columns are ordered (kernel row, kernel column, channel), so each window
    row is copied in runs of kw*C contiguous numbers (one ``copyto`` from the
    strided view into a fresh array: faster than NumPy's copying reshape).
    With one input channel those runs would be kw numbers long, so the
    matrix is built column by column instead (runs of Wo) and returned as a
    transposed view, which the matrix products take as it is (4x faster for
    LeNet's first layer).
    """
    view = windows(x_padded, out_hw, kernel, stride, dilation)  # (N, Ho, Wo, kh, kw, C), no copy
    n, ho, wo, kh, kw, c = view.shape
    cg = c // groups
    xp = array_module(x_padded)
    if c == 1:  # one channel (greyscale input): kernel offset by offset, in runs of Wo pixels
        by_offset = xp.empty((kh, kw, n, ho, wo), dtype=x_padded.dtype)
        xp.copyto(by_offset, view[..., 0].transpose(3, 4, 0, 1, 2))
        return by_offset.reshape(kh * kw, n * ho * wo).T[None]  # the same matrix, stored transposed
    cols = xp.empty((groups, n * ho * wo, kh * kw * cg), dtype=x_padded.dtype)
    if groups == 1:
        xp.copyto(cols.reshape(n, ho, wo, kh, kw, c), view)
    else:
        grouped = view.reshape(n, ho, wo, kh, kw, groups, cg).transpose(5, 0, 1, 2, 3, 4, 6)
        xp.copyto(cols.reshape(groups, n, ho, wo, kh, kw, cg), grouped)
    return cols


def col2im(parts: Any, padded_shape: tuple, out_hw: tuple, kernel: tuple, stride: tuple,
           dilation: tuple) -> Any:
    """The adjoint of `im2col`: add each window entry back onto its pixel; returns (N, Hp, Wp, C).

    ``parts`` (groups, kh*kw, N*Ho*Wo, C/groups) holds, per kernel offset
    (i, j), what every window sends back from that offset; those land on the
    pixels ``[p*sh + i*dh, q*sw + j*dw]``, a strided slab: one add per offset,
    of a contiguous block (laid out so by `_offset_weights`; adding from the
    (N*Ho*Wo, kh*kw*C) layout of dC/dX_cols was 4x slower, in runs of C numbers).
    """
    n, hp, wp, c = padded_shape
    groups, kw = parts.shape[0], kernel[1]
    out = array_module(parts).zeros((n, hp, wp, c), dtype=parts.dtype)
    blocks = parts.reshape(groups, kernel[0] * kw, n, out_hw[0], out_hw[1], c // groups)
    grouped = out.reshape(n, hp, wp, groups, c // groups)
    for i in range(kernel[0]):
        for j in range(kw):
            slab = window_slab(i * dilation[0], j * dilation[1], out_hw, stride)
            if groups == 1:
                out[slab] += blocks[0, i * kw + j]
            else:
                grouped[slab] += blocks[:, i * kw + j].transpose(1, 2, 3, 0, 4)
    return out


def _weight_matrix(wa: Any, groups: int) -> Any:
    """(O, C/g, kh, kw) -> (g, O/g, kh*kw*C/g), columns ordered as `im2col`'s."""
    o, cg, kh, kw = wa.shape
    return wa.reshape(groups, o // groups, cg, kh, kw).transpose(0, 1, 3, 4, 2).reshape(
        groups, o // groups, kh * kw * cg)


def _offset_weights(wa: Any, groups: int) -> Any:
    """(O, C/g, kh, kw) -> (g, kh*kw, O/g, C/g): one (O/g, C/g) matrix per kernel offset, for `col2im`."""
    o, cg, kh, kw = wa.shape
    return wa.reshape(groups, o // groups, cg, kh, kw).transpose(0, 3, 4, 1, 2).reshape(
        groups, kh * kw, o // groups, cg)


def _weight_from_matrix(wm: Any, shape: tuple, out: Any = None) -> Any:
    """The inverse of `_weight_matrix`, written into ``out`` when given."""
    o, cg, kh, kw = shape
    groups = wm.shape[0]
    arranged = wm.reshape(groups, o // groups, kh, kw, cg).transpose(0, 1, 4, 2, 3).reshape(shape)
    if out is None:
        return arranged.copy()
    out[...] = arranged
    return out


def _rows(a: Any, groups: int) -> Any:
    """(M, C) -> (groups, M, C/groups), a view."""
    m, c = a.shape
    return a[None] if groups == 1 else a.reshape(m, groups, c // groups).transpose(1, 0, 2)


def _unrows(a: Any) -> Any:
    """(groups, M, C/groups) -> (M, C)."""
    return a[0] if a.shape[0] == 1 else a.transpose(1, 0, 2).reshape(a.shape[1], -1)


def _pad_channels_last(xl: Any, pads: tuple) -> Any:
    (top, bottom), (left, right) = pads
    if not (top or bottom or left or right):
        return xl
    n, h, w, c = xl.shape
    out = array_module(xl).zeros((n, h + top + bottom, w + left + right, c), dtype=xl.dtype)
    out[:, top:top + h, left:left + w, :] = xl
    return out


# ----------------------------------------------------------------- convolution
def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    """2-D convolution with PyTorch's signature: x (N, C, H, W) or (C, H, W), weight (O, C/groups, kh, kw).

    ``padding`` is a number, a pair, 'valid' or 'same' (zeros; other padding
    modes are `deltaprop.nn.functional.pad` first, as `nn.Conv2d` does).
    """
    return _convolution(x, weight, bias, stride, padding, dilation, groups, 2, "conv2d")


def conv1d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    """1-D convolution: x (N, C, L) or (C, L), weight (O, C/groups, k); the 2-D op on height-1 images."""
    return _convolution(x, weight, bias, stride, padding, dilation, groups, 1, "conv1d")


def _lift(value: Any, n: int, name: str, op: str, fill: int, minimum: int) -> tuple[int, int]:
    """A 1-D argument as its 2-D twin (height first), e.g. stride 2 -> (1, 2)."""
    values = ntuple(value, n, name, op, minimum)
    return (values[0], values[1]) if n == 2 else (fill, values[0])


def _convolution(x, weight, bias, stride, padding, dilation, groups, n: int, op: str) -> Tensor:
    x, weight, bias = _inputs(x, weight, bias, op)
    xa, wa, batched = _spatial(x, weight, n, op)
    kernel = tuple(wa.shape[2:])
    stride2 = _lift(stride, n, "stride", op, 1, 1)
    dilation2 = _lift(dilation, n, "dilation", op, 1, 1)
    pads = _padding(padding, kernel[2 - n:], stride2[2 - n:], dilation2[2 - n:], op, n)
    pads = pads if n == 2 else ((0, 0), pads[0])
    groups = _check_groups(groups, xa.shape[1], wa.shape[0], wa.shape[1], op)
    _check_bias(bias, wa.shape[0], op)
    xl = _pad_channels_last(channels_last(xa), pads)
    out_hw = tuple(output_size(size, k, s, d, op, axis) for size, k, s, d, axis in zip(
        xl.shape[1:3], kernel, stride2, dilation2, ("height", "width"), strict=True))
    cols = im2col(xl, out_hw, kernel, stride2, dilation2, groups)
    wm = _weight_matrix(wa, groups)
    rows = cols[0] @ wm[0].T if groups == 1 else _unrows(cols @ wm.transpose(0, 2, 1))
    if bias is not None:
        rows += bias.array
    out = channels_first(rows.reshape(xl.shape[0], out_hw[0], out_hw[1], wa.shape[0]))
    out = _finish(out, n, batched)
    geometry = (xa.shape, xl.shape, wa.shape, out_hw, kernel, stride2, dilation2, pads, groups, n, batched)
    saved = (cols if weight.requires_grad else None, wa if x.requires_grad else None, geometry)
    parents = (x, weight) if bias is None else (x, weight, bias)
    return make_result(out, parents, _convolution_backward, saved, op)


def _convolution_backward(g, saved, parents):
    cols, wa, (x_shape, padded, w_shape, out_hw, kernel, stride, dilation, pads, groups, n, batched) = saved
    g4 = _unfinish(g, n, batched)
    delta = channels_last(g4).reshape(-1, w_shape[0])  # (N*Ho*Wo, O): a view when g is channels-last
    dg = _rows(delta, groups)
    gx = gw = gb = None
    if parents[1] is not None:
        wm_grad = dg.transpose(0, 2, 1) @ cols  # dC/dW = delta^T X_cols, per group
        gw = _weight_grad(wm_grad, w_shape, n, parents[1])
    if len(parents) == 3 and parents[2] is not None:  # sum over the rows, as a (faster) matrix-vector product
        ones = array_module(delta).ones(delta.shape[0], dtype=delta.dtype)
        gb = np.matmul(ones, delta, out=gradient_buffer(parents[2]))
    if parents[0] is not None:
        parts = dg[:, None] @ _offset_weights(wa, groups)  # dC/dX_cols = delta W, offset by offset
        dx = col2im(parts, padded, out_hw, kernel, stride, dilation)
        (top, _), (left, _) = pads
        dx = channels_first(dx[:, top:top + x_shape[2], left:left + x_shape[3], :])
        gx = _unfinish_input(dx, n, batched)
    return gx, gw, gb


def _weight_grad(wm_grad: Any, w_shape: tuple, n: int, weight: Tensor) -> Any:
    buffer = gradient_buffer(weight)
    if n == 1:
        out = _weight_from_matrix(wm_grad, w_shape)
        return out[:, :, 0, :] if buffer is None else _fill(buffer, out[:, :, 0, :])
    return _weight_from_matrix(wm_grad, w_shape, out=buffer)


def _fill(buffer: Any, values: Any) -> Any:
    buffer[...] = values
    return buffer


def _finish(out4: Any, n: int, batched: bool) -> Any:
    """(N, O, H, W) back to the caller's rank: drop the height of a 1-D op, the batch of an unbatched one."""
    if n == 1:
        out4 = out4[:, :, 0, :]
    return out4 if batched else out4[0]


def _unfinish(g: Any, n: int, batched: bool) -> Any:
    if not batched:
        g = g[None]
    return g[:, :, None, :] if n == 1 else g


_unfinish_input = _finish


def _check_groups(groups: Any, channels: int, out_channels: int, per_group: int, op: str) -> int:
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{op}: groups must be a whole number >= 1, got {groups!r}")
    if channels != per_group * groups:
        raise ShapeError(
            f"{op}: the input has {channels} channels but the weight expects {per_group * groups} "
            f"({per_group} per group x groups={groups}); give in_channels={channels} or fix the input"
        )
    if out_channels % groups:
        raise ShapeError(f"{op}: {out_channels} output channels do not split into groups={groups}")
    return int(groups)


def _check_transposed_groups(groups: Any, channels: int, in_channels: int, op: str) -> int:
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{op}: groups must be a whole number >= 1, got {groups!r}")
    if channels != in_channels:
        raise ShapeError(f"{op}: the input has {channels} channels but the weight expects {in_channels} "
                         f"(its first axis); give in_channels={channels} or fix the input")
    if in_channels % groups:
        raise ShapeError(f"{op}: {in_channels} input channels do not split into groups={groups}")
    return int(groups)


def _check_bias(bias: Tensor | None, channels: int, op: str) -> None:
    if bias is not None and tuple(bias.shape) != (channels,):
        raise ShapeError(f"{op}: the bias must have shape ({channels},), one per output channel, "
                         f"got {tuple(bias.shape)}")


# ----------------------------------------------------------------- transposed convolution
def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1) -> Tensor:
    """The adjoint of conv2d (PyTorch's signature): x (N, C_in, H, W), weight (C_in, C_out/groups, kh, kw).

    Output height (H - 1)*stride - 2*padding + dilation*(kh - 1) + output_padding + 1:
    a stride-2 transposed convolution doubles the size (GAN generators, decoders).
    """
    return _transposed(x, weight, bias, stride, padding, output_padding, groups, dilation, 2,
                       "conv_transpose2d")


def conv_transpose1d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1) -> Tensor:
    """1-D transposed convolution: x (N, C_in, L), weight (C_in, C_out/groups, k)."""
    return _transposed(x, weight, bias, stride, padding, output_padding, groups, dilation, 1,
                       "conv_transpose1d")


def _transposed(x, weight, bias, stride, padding, output_padding, groups, dilation, n, op) -> Tensor:
    x, weight, bias = _inputs(x, weight, bias, op)
    xa, wa, batched = _spatial(x, weight, n, op)
    kernel = tuple(wa.shape[2:])
    stride2 = _lift(stride, n, "stride", op, 1, 1)
    dilation2 = _lift(dilation, n, "dilation", op, 1, 1)
    if isinstance(padding, str):
        raise ValueError(f"{op}: padding must be numbers (PyTorch has no 'same' for transposed convolutions)")
    pad2 = _lift(padding, n, "padding", op, 0, 0)
    extra = _lift(output_padding, n, "output_padding", op, 0, 0)
    for e, s, d in zip(extra, stride2, dilation2, strict=True):
        if e >= max(s, d):
            raise ValueError(f"{op}: output_padding {output_padding} must be smaller than the stride or "
                             f"the dilation (stride {stride}, dilation {dilation})")
    groups = _check_transposed_groups(groups, xa.shape[1], wa.shape[0], op)
    c_out = wa.shape[1] * groups
    _check_bias(bias, c_out, op)
    nb, _, h, w = xa.shape
    full = tuple((size - 1) * s + d * (k - 1) + 1 + e for size, s, d, k, e in zip(
        (h, w), stride2, dilation2, kernel, extra, strict=True))
    out_hw = tuple(f - 2 * p for f, p in zip(full, pad2, strict=True))
    if min(out_hw) < 1:
        raise ShapeError(f"{op}: the output would be {out_hw} pixels (input {(h, w)}, padding {padding}); "
                         "use less padding or a larger input")
    wm = _weight_matrix(wa, groups)  # (g, C_in/g, kh*kw*C_out/g): the weight of the conv this is adjoint to
    rows = _rows(channels_last(xa).reshape(-1, xa.shape[1]), groups)  # (g, N*H*W, C_in/g)
    parts = rows[:, None] @ _offset_weights(wa, groups)
    full_image = col2im(parts, (nb, full[0], full[1], c_out), (h, w), kernel, stride2, dilation2)
    out = full_image[:, pad2[0]:pad2[0] + out_hw[0], pad2[1]:pad2[1] + out_hw[1], :]
    if bias is not None:
        out += bias.array
    out = _finish(channels_first(out), n, batched)
    geometry = (xa.shape, full, wa.shape, (h, w), kernel, stride2, dilation2, pad2, groups, n, batched)
    saved = (rows if weight.requires_grad else None, wm, geometry)
    parents = (x, weight) if bias is None else (x, weight, bias)
    return make_result(out, parents, _transposed_backward, saved, op)


def _transposed_backward(g, saved, parents):
    rows, wm, (x_shape, full, w_shape, in_hw, kernel, stride, dilation, pads, groups, n, batched) = saved
    gl = channels_last(_unfinish(g, n, batched))  # (N, Hout, Wout, C_out)
    padded = _pad_channels_last(gl, ((pads[0], full[0] - gl.shape[1] - pads[0]),
                                     (pads[1], full[1] - gl.shape[2] - pads[1])))
    cols = im2col(padded, in_hw, kernel, stride, dilation, groups)  # the transposed conv's delta, as windows
    gx = gw = gb = None
    if parents[0] is not None:
        dx = _unrows(cols @ wm.transpose(0, 2, 1)).reshape(x_shape[0], in_hw[0], in_hw[1], x_shape[1])
        gx = _unfinish_input(channels_first(dx), n, batched)
    if parents[1] is not None:
        gw = _weight_grad(rows.transpose(0, 2, 1) @ cols, w_shape, n, parents[1])
    if len(parents) == 3 and parents[2] is not None:
        gb = gl.sum(axis=(0, 1, 2), out=gradient_buffer(parents[2]))
    return gx, gw, gb
