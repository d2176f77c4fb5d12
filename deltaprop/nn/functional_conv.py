"""The functional forms of the convolutional, pooling and normalization layers (re-exported by
`deltaprop.nn.functional`), with PyTorch's names and signatures.

Each is the op of `deltaprop.ops.conv`, `ops.pooling`, `ops.normalization` or
`ops.padding` (where the derivative lives), plus the few functions that are
compositions: channel dropout and interpolate.
"""

from __future__ import annotations

from deltaprop import ops, random
from deltaprop.errors import ShapeError
from deltaprop.ops.conv import conv1d, conv2d, conv_transpose1d, conv_transpose2d
from deltaprop.ops.normalization import batch_norm, group_norm, layer_norm
from deltaprop.ops.padding import pad
from deltaprop.ops.pooling import (
    adaptive_avg_pool1d,
    adaptive_avg_pool2d,
    adaptive_max_pool1d,
    adaptive_max_pool2d,
    avg_pool1d,
    avg_pool2d,
    max_pool1d,
    max_pool2d,
    upsample_nearest,
)
from deltaprop.tensor import Tensor, as_tensor

__all__ = [
    "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_max_pool1d", "adaptive_max_pool2d",
    "avg_pool1d", "avg_pool2d", "batch_norm", "conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d",
    "dropout1d", "dropout2d", "group_norm", "interpolate", "layer_norm", "max_pool1d", "max_pool2d", "pad",
]


def _channel_dropout(x: Tensor, p: float, training: bool, inplace: bool, spatial: int, name: str) -> Tensor:
    """Zero whole channels with probability p (one draw per example and channel), scaling the rest."""
    x = as_tensor(x)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{name}: p must be in [0, 1], got {p}")
    if inplace:
        raise ValueError(f"{name}: inplace=True is not supported; the result is returned as a new tensor")
    if spatial == 2 and x.ndim == 3:  # PyTorch reads this as (N, C, L), against its own documentation
        raise ShapeError(f"{name}: a 3-D input {x.shape} is ambiguous (PyTorch treats it as (N, C, L), its "
                         "documentation as (C, H, W)); use dropout1d for (N, C, L), or add the batch axis")
    if x.ndim not in (spatial + 1, spatial + 2):
        layout = "(N, C, L) or (C, L)" if spatial == 1 else "(N, C, H, W)"
        raise ShapeError(f"{name}: expected {layout}, got shape {x.shape}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return ops.mul(x, 0.0)
    channels = x.shape[: x.ndim - spatial]  # (N, C) or (C,): one draw each
    keep = random.random(channels, xp=x.xp) >= p
    mask = (keep / (1.0 - p)).astype(x.dtype).reshape(*channels, *(1,) * spatial)
    return ops.mul(x, mask)


def dropout2d(x: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Drop whole feature maps of (N, C, H, W): neighbouring pixels are correlated, single ones are not."""
    return _channel_dropout(x, p, training, inplace, 2, "dropout2d")


def dropout1d(x: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Drop whole channels of (N, C, L)."""
    return _channel_dropout(x, p, training, inplace, 1, "dropout1d")


def interpolate(x: Tensor, size=None, scale_factor=None, mode: str = "nearest", align_corners=None,
                recompute_scale_factor=None) -> Tensor:
    """Resize (N, C, L) or (N, C, H, W); only mode='nearest' (others raise rather than differ)."""
    if mode != "nearest":
        raise ValueError(f"interpolate: mode={mode!r} is not implemented; deltaprop has mode='nearest' "
                         "(for learned upsampling use nn.ConvTranspose2d)")
    if align_corners is not None:
        raise ValueError("interpolate: align_corners only applies to the linear modes; leave it None")
    if recompute_scale_factor and scale_factor is not None:
        x = as_tensor(x)
        factors = (scale_factor,) * (x.ndim - 2) if isinstance(scale_factor, (int, float)) else scale_factor
        size = tuple(int(n * f) for n, f in zip(x.shape[2:], factors, strict=True))
        scale_factor = None
    return upsample_nearest(x, size=size, scale_factor=scale_factor)
