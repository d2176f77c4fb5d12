"""Layers that change an image's shape or size: `Unflatten` and `Upsample` (nearest).

`Unflatten(1, (1, 28, 28))` turns rows of 784 pixels back into images, the
inverse of `Flatten`; `Upsample(scale_factor=2)` repeats each pixel in a
2 x 2 block (its backward sums each block; see `deltaprop.ops.pooling`).
"""

from __future__ import annotations

import math
from typing import Any

from deltaprop import ops
from deltaprop.errors import ShapeError
from deltaprop.nn.functional_conv import interpolate
from deltaprop.nn.module import Module
from deltaprop.tensor import Tensor

__all__ = ["Unflatten", "Upsample"]


class Unflatten(Module):
    """Split axis ``dim`` into ``unflattened_size`` (one entry may be -1), as PyTorch's nn.Unflatten."""

    def __init__(self, dim: int, unflattened_size: Any) -> None:
        super().__init__()
        single = isinstance(unflattened_size, int)  # PyTorch wants a tuple; one size is read as (size,)
        sizes = (int(unflattened_size),) if single else tuple(int(n) for n in unflattened_size)
        if not sizes or sum(n == -1 for n in sizes) > 1 or any(n == 0 or n < -1 for n in sizes):
            raise ValueError(f"Unflatten: unflattened_size must be sizes > 0 (one may be -1), "
                             f"got {unflattened_size!r}")
        self.dim, self.unflattened_size = int(dim), sizes

    def forward(self, x: Tensor) -> Tensor:
        axis = self.dim % x.ndim if -x.ndim <= self.dim < x.ndim else None
        known = math.prod(n for n in self.unflattened_size if n != -1)
        if axis is None or x.shape[axis] % known or (-1 not in self.unflattened_size
                                                     and x.shape[axis] != known):
            raise ShapeError(f"Unflatten: cannot split axis {self.dim} of shape {tuple(x.shape)} into "
                             f"{self.unflattened_size}")
        return ops.reshape(x, x.shape[:axis] + self.unflattened_size + x.shape[axis + 1:])

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


class Upsample(Module):
    """Resize (N, C, L) or (N, C, H, W) to ``size`` or by ``scale_factor``; mode='nearest' only."""

    def __init__(self, size: Any = None, scale_factor: Any = None, mode: str = "nearest",
                 align_corners: bool | None = None, recompute_scale_factor: bool | None = None) -> None:
        super().__init__()
        if mode != "nearest":
            raise ValueError(f"Upsample: mode={mode!r} is not implemented; deltaprop has mode='nearest' "
                             "(for learned upsampling use nn.ConvTranspose2d)")
        self.size, self.scale_factor, self.mode = size, scale_factor, mode
        self.align_corners, self.recompute_scale_factor = align_corners, recompute_scale_factor

    def forward(self, x: Tensor) -> Tensor:
        return interpolate(x, self.size, self.scale_factor, self.mode, self.align_corners,
                           self.recompute_scale_factor)

    def extra_repr(self) -> str:
        what = f"size={self.size}" if self.size is not None else f"scale_factor={self.scale_factor}"
        return f"{what}, mode={self.mode!r}"
