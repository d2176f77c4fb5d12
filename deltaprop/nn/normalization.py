"""Normalization layers: `BatchNorm1d`, `BatchNorm2d`, `LayerNorm`, `GroupNorm`, as PyTorch has them.

BatchNorm keeps PyTorch's buffers and updates them exactly as PyTorch does:
in training mode each call adds 1 to ``num_batches_tracked`` and moves
``running_mean``/``running_var`` (unbiased) towards the batch's statistics by
``momentum``, or, with ``momentum=None``, keeps their cumulative average
(factor 1/num_batches_tracked); evaluation mode normalizes with them.
``track_running_stats=False`` has no buffers and always uses the batch's
statistics. The ops, with the backward's derivation, are in
`deltaprop.ops.normalization`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from deltaprop.errors import ShapeError
from deltaprop.nn import init
from deltaprop.nn.functional_conv import batch_norm, group_norm, layer_norm
from deltaprop.nn.module import Module
from deltaprop.nn.parameter import Parameter, float_dtype
from deltaprop.tensor import Tensor

__all__ = ["BatchNorm1d", "BatchNorm2d", "GroupNorm", "LayerNorm"]


def _dtype_of(module: Module) -> np.dtype:
    """The float dtype the layer's numbers have now (after .double() too)."""
    for tensor in [*module.parameters(), *module.buffers()]:
        if tensor.dtype.kind == "f":
            return tensor.dtype
    return np.dtype(np.float32)


class _BatchNorm(Module):
    _ranks: tuple[int, ...] = ()
    _layout = ""
    running_mean: Tensor | None
    running_var: Tensor | None
    num_batches_tracked: Tensor | None
    weight: Parameter | None
    bias: Parameter | None

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, dtype: Any = np.float32) -> None:
        super().__init__()
        kind = type(self).__name__
        if isinstance(num_features, bool) or not isinstance(num_features, (int, np.integer)) \
                or num_features <= 0:
            raise ValueError(f"{kind}: num_features must be a whole number > 0, got {num_features!r}")
        if momentum is not None and not 0.0 <= momentum <= 1.0:
            raise ValueError(f"{kind}: momentum must be in [0, 1] or None, got {momentum!r}")
        dtype = float_dtype(dtype, kind)
        self.num_features, self.eps, self.momentum = int(num_features), eps, momentum
        self.affine, self.track_running_stats = bool(affine), track_running_stats
        if affine:
            self.weight = Parameter(np.empty(num_features, dtype))
            self.bias = Parameter(np.empty(num_features, dtype))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            # empty, then filled by reset_parameters (which deltaprop.load skips: the file has the values)
            self.register_buffer("running_mean", np.empty(num_features, dtype))
            self.register_buffer("running_var", np.empty(num_features, dtype))
            self.register_buffer("num_batches_tracked", np.zeros((), dtype=np.int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        mean, var, count = self.running_mean, self.running_var, self.num_batches_tracked
        if mean is not None and var is not None and count is not None:
            init.zeros_(mean)
            init.ones_(var)
            count.array[...] = 0

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.weight is not None and self.bias is not None:
            init.ones_(self.weight)
            init.zeros_(self.bias)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim not in self._ranks or x.shape[1] != self.num_features:
            raise ShapeError(f"{type(self).__name__}({self.num_features}): expected input {self._layout} "
                             f"with C = {self.num_features}, got shape {tuple(x.shape)}")
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.array += 1
            if self.momentum is None:  # cumulative moving average
                factor = 1.0 / float(self.num_batches_tracked.array)
        use_batch = self.training or self.running_mean is None
        tracked = not self.training or self.track_running_stats
        return batch_norm(x, self.running_mean if tracked else None, self.running_var if tracked else None,
                          self.weight, self.bias, use_batch, factor, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")

    def get_config(self) -> dict[str, Any]:
        return {"num_features": self.num_features, "eps": self.eps, "momentum": self.momentum,
                "affine": self.affine, "track_running_stats": self.track_running_stats,
                "dtype": _dtype_of(self)}


class BatchNorm1d(_BatchNorm):
    """Batch normalization of (N, C) or (N, C, L): statistics per feature C over the batch (and L)."""

    _ranks = (2, 3)
    _layout = "(N, C) or (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalization of (N, C, H, W): statistics per channel over the batch and the pixels."""

    _ranks = (4,)
    _layout = "(N, C, H, W)"


class LayerNorm(Module):
    """Standardize each example over its last axes ``normalized_shape``, then scale and shift."""

    def __init__(self, normalized_shape: Any, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, dtype: Any = np.float32) -> None:
        super().__init__()
        single = isinstance(normalized_shape, (int, np.integer))
        shape = (normalized_shape,) if single else tuple(normalized_shape)
        if not shape or not all(isinstance(n, (int, np.integer)) and n > 0 for n in shape):
            raise ValueError(f"LayerNorm: normalized_shape must be sizes > 0, got {normalized_shape!r}")
        dtype = float_dtype(dtype, "LayerNorm")
        self.normalized_shape = tuple(int(n) for n in shape)
        self.eps, self.elementwise_affine = eps, elementwise_affine
        if elementwise_affine:
            self.weight = init.ones_(Parameter(np.empty(self.normalized_shape, dtype)))
        else:
            self.register_parameter("weight", None)
        if elementwise_affine and bias:
            self.bias = init.zeros_(Parameter(np.empty(self.normalized_shape, dtype)))
        else:
            self.register_parameter("bias", None)

    def forward(self, x: Tensor) -> Tensor:
        return layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"

    def get_config(self) -> dict[str, Any]:
        return {"normalized_shape": self.normalized_shape, "eps": self.eps,
                "elementwise_affine": self.elementwise_affine, "bias": self.bias is not None,
                "dtype": _dtype_of(self)}


class GroupNorm(Module):
    """Standardize each example's channels in ``num_groups`` groups (batch-size independent)."""

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True,
                 dtype: Any = np.float32) -> None:
        super().__init__()
        if num_groups <= 0 or num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels ({num_channels}) must be divisible by num_groups "
                             f"({num_groups})")
        dtype = float_dtype(dtype, "GroupNorm")
        self.num_groups, self.num_channels, self.eps = num_groups, num_channels, eps
        self.affine = bool(affine)
        if affine:
            self.weight = init.ones_(Parameter(np.empty(num_channels, dtype)))
            self.bias = init.zeros_(Parameter(np.empty(num_channels, dtype)))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim < 2 or x.shape[1] != self.num_channels:
            raise ShapeError(f"GroupNorm: expected (N, {self.num_channels}, *), got shape {tuple(x.shape)}")
        return group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"

    def get_config(self) -> dict[str, Any]:
        return {"num_groups": self.num_groups, "num_channels": self.num_channels, "eps": self.eps,
                "affine": self.affine, "dtype": _dtype_of(self)}

