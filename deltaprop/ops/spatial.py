"""What the image ops share: their size arguments, the channels-last view, and sliding windows.

Layout. The ops take and return PyTorch's layout, NCHW (batch, channels,
height, width), but compute on the channels-last *view* of the same array,
``x.transpose(0, 2, 3, 1)`` (NHWC), and hand back results whose memory is
channels-last (PyTorch calls this ``torch.channels_last``). Why: the
im2col copy of a convolution then moves runs of ``kernel_width * channels``
contiguous numbers instead of single pixels, one matrix product covers the
whole batch, and pooling and batch norm read each pixel's channels side by
side. Nothing outside sees the difference: shapes, indices and values are
NCHW; ``.numpy()`` merely returns an array whose strides are not C order.

One-dimensional ops (Conv1d, MaxPool1d) are the two-dimensional ones on
images of height 1, so each op is written once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from deltaprop.backend import array_module
from deltaprop.errors import ShapeError


def ntuple(value: Any, n: int, name: str, op: str, minimum: int = 0) -> tuple[int, ...]:
    """``3 -> (3, 3)``; a tuple of n whole numbers stays; anything else is a clear error."""
    values = (value,) * n if isinstance(value, (int, np.integer)) else tuple(value) if isinstance(
        value, Sequence) and not isinstance(value, str) else None
    if values is None or len(values) != n or not all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        raise TypeError(f"{op}: {name} must be a whole number or a tuple of {n}, got {value!r}")
    if any(v < minimum for v in values):
        raise ValueError(f"{op}: {name} must be >= {minimum} in every dimension, got {value!r}")
    return tuple(int(v) for v in values)


def channels_last(x: Any) -> Any:
    """(N, C, H, W) -> the (N, H, W, C) view of the same memory."""
    return x.transpose(0, 2, 3, 1)


def channels_first(x: Any) -> Any:
    """(N, H, W, C) -> the (N, C, H, W) view: what the ops return."""
    return x.transpose(0, 3, 1, 2)


def windows(x: Any, out_hw: tuple[int, int], kernel: tuple[int, int], stride: tuple[int, int],
            dilation: tuple[int, int]) -> Any:
    """Every kernel window of the channels-last ``x`` (N, H, W, C): a (N, Ho, Wo, kh, kw, C) view.

    ``[n, p, q, i, j, c]`` is ``x[n, p*sh + i*dh, q*sw + j*dw, c]``. No number
    is copied: the view steps through x's memory with larger strides (what
    ``numpy.lib.stride_tricks.sliding_window_view`` does, with stride and
    dilation in the same view). It is read-only by convention.
    """
    n, _, _, c = x.shape
    s_n, s_h, s_w, s_c = x.strides
    shape = (n, out_hw[0], out_hw[1], kernel[0], kernel[1], c)
    strides = (s_n, s_h * stride[0], s_w * stride[1], s_h * dilation[0], s_w * dilation[1], s_c)
    return array_module(x).lib.stride_tricks.as_strided(x, shape=shape, strides=strides)


def window_slab(h_start: int, w_start: int, out_hw: tuple[int, int], stride: tuple[int, int]) -> tuple:
    """The index of ``[:, p*sh + h_start, q*sw + w_start, :]`` for all (p, q): one kernel offset's pixels."""
    (ho, wo), (sh, sw) = out_hw, stride
    return (slice(None), slice(h_start, h_start + sh * (ho - 1) + 1, sh),
            slice(w_start, w_start + sw * (wo - 1) + 1, sw))


def output_size(size: int, kernel: int, stride: int, dilation: int, op: str, axis: str,
                ceil_mode: bool = False, padding_before: int = 0) -> int:
    """How many windows fit along an axis of ``size`` (already padded) numbers.

    ``ceil_mode`` counts a last, partial window too, as long as it starts
    inside the input or its left padding (PyTorch's rule).
    """
    span = dilation * (kernel - 1) + 1
    if size < span:
        raise ShapeError(
            f"{op}: the {axis} is {size} after padding but the kernel spans {span} "
            f"(kernel {kernel}, dilation {dilation}); the kernel cannot be larger than the padded "
            "input: use a smaller kernel, more padding, or a larger input"
        )
    steps, rest = divmod(size - span, stride)
    count = steps + 1
    if ceil_mode and rest:
        count += 1
        if (count - 1) * stride >= size - padding_before:  # would start in the right padding only
            count -= 1
    return count


def check_rank(x: Any, ranks: tuple[int, ...], op: str, layout: str) -> None:
    if x.ndim not in ranks:
        want = " or ".join(f"{r}-D" for r in ranks)
        raise ShapeError(f"{op}: expected a {want} input {layout}, got shape {tuple(x.shape)}")
