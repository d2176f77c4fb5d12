"""Convolutional layers with PyTorch's names, arguments, parameter shapes and initialisation.

`Conv1d`, `Conv2d` (weight (out, in/groups, kh, kw), bias (out,)) and
`ConvTranspose1d`, `ConvTranspose2d` (weight (in, out/groups, kh, kw)), so a
PyTorch state_dict loads by converting its arrays. The work is done by the
ops in `deltaprop.ops.conv`, whose docstring derives the backward.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from deltaprop.nn import init
from deltaprop.nn.functional_conv import conv1d, conv2d, conv_transpose1d, conv_transpose2d, pad
from deltaprop.nn.module import Module
from deltaprop.nn.parameter import Parameter, float_dtype
from deltaprop.ops.conv import same_padding
from deltaprop.ops.spatial import ntuple
from deltaprop.tensor import Tensor

__all__ = ["Conv1d", "Conv2d", "ConvTranspose1d", "ConvTranspose2d"]

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _whole(name: str, value: Any, kind: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{kind}: {name} must be a whole number > 0, got {value!r}")
    return int(value)


class _ConvNd(Module):
    """What every convolution layer shares: checks, parameters (PyTorch's init) and its configuration."""

    _dims = 2
    _transposed = False

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                 padding_mode, dtype, output_padding=0) -> None:
        super().__init__()
        kind, n = type(self).__name__, self._dims
        dtype = float_dtype(dtype, kind)
        self.in_channels = _whole("in_channels", in_channels, kind)
        self.out_channels = _whole("out_channels", out_channels, kind)
        self.groups = _whole("groups", groups, kind)
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError(f"{kind}: in_channels ({in_channels}) and out_channels ({out_channels}) must "
                             f"both be divisible by groups ({groups})")
        self.kernel_size = ntuple(kernel_size, n, "kernel_size", kind, 1)
        self.stride = ntuple(stride, n, "stride", kind, 1)
        self.dilation = ntuple(dilation, n, "dilation", kind, 1)
        self.padding = self._check_padding(padding, kind)
        if padding_mode not in PADDING_MODES:
            raise ValueError(f"{kind}: padding_mode must be one of {', '.join(PADDING_MODES)}, "
                             f"got {padding_mode!r}")
        if self._transposed and padding_mode != "zeros":
            raise ValueError(f"{kind}: only padding_mode='zeros' is supported, as in PyTorch")
        self.padding_mode = padding_mode
        self.output_padding = ntuple(output_padding, n, "output_padding", kind, 0)
        shape = ((self.in_channels, self.out_channels // self.groups) if self._transposed
                 else (self.out_channels, self.in_channels // self.groups)) + self.kernel_size
        self.weight = Parameter(np.empty(shape, dtype=dtype))
        if bias:
            self.bias = Parameter(np.empty(self.out_channels, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def _check_padding(self, padding: Any, kind: str) -> Any:
        if isinstance(padding, str):
            if self._transposed or padding not in ("same", "valid"):
                allowed = "whole numbers" if self._transposed else "'same', 'valid' or whole numbers"
                raise ValueError(f"{kind}: padding must be {allowed}, got {padding!r}")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError(f"{kind}: padding='same' is not supported for strided convolutions "
                                 f"(stride={self.stride}), as in PyTorch")
            return padding
        return ntuple(padding, self._dims, "padding", kind, 0)

    def reset_parameters(self) -> None:
        """PyTorch's default: kaiming_uniform_(a=sqrt(5)), i.e. U(+-1/sqrt(fan_in)), for weight and bias."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.shape[1] * math.prod(self.kernel_size)
            bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            init.uniform_(self.bias, -bound, bound)

    def _explicit_padding(self) -> tuple[int, ...]:
        """F.pad's (left, right, top, bottom) for the non-zero padding modes (last axis first)."""
        pairs = (same_padding(self.kernel_size, self.dilation) if self.padding == "same"
                 else ((0, 0),) * self._dims if self.padding == "valid"
                 else tuple((p, p) for p in self.padding))
        return tuple(v for pair in reversed(pairs) for v in pair)

    def extra_repr(self) -> str:
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}")
        if self.padding not in ((0,) * self._dims, "valid"):
            text += f", padding={self.padding!r}"
        if self.dilation != (1,) * self._dims:
            text += f", dilation={self.dilation}"
        if self._transposed and self.output_padding != (0,) * self._dims:
            text += f", output_padding={self.output_padding}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        if self.padding_mode != "zeros":
            text += f", padding_mode={self.padding_mode!r}"
        return text

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments; ``bias`` as a bool and ``dtype`` read from the weights (as Linear)."""
        config = {
            "in_channels": self.in_channels, "out_channels": self.out_channels,
            "kernel_size": self.kernel_size, "stride": self.stride, "padding": self.padding,
            "dilation": self.dilation, "groups": self.groups, "bias": self.bias is not None,
            "dtype": self.weight.dtype,
        }
        if self._transposed:
            config["output_padding"] = self.output_padding
        else:
            config["padding_mode"] = self.padding_mode
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Module:
        return cls(**{**config, "dtype": float_dtype(config.get("dtype", np.float32), cls.__name__)})


class Conv2d(_ConvNd):
    """2-D convolution over (N, C_in, H, W) (or unbatched (C_in, H, W)) -> (N, C_out, H_out, W_out).

    H_out = floor((H + 2*padding - dilation*(kernel-1) - 1) / stride) + 1. ``padding`` may be
    'same' (output as large as the input; stride 1) or 'valid' (none); ``padding_mode``
    'zeros', 'reflect', 'replicate' or 'circular'.
    """

    _dims = 2

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", dtype: Any = np.float32) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, dtype)

    def forward(self, x: Tensor) -> Tensor:
        if self.padding_mode != "zeros":
            x = pad(x, self._explicit_padding(), mode=self.padding_mode)
            return conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)
        return conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class Conv1d(_ConvNd):
    """1-D convolution over (N, C_in, L) (or (C_in, L)) -> (N, C_out, L_out); arguments as Conv2d's."""

    _dims = 1

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", dtype: Any = np.float32) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, dtype)

    def forward(self, x: Tensor) -> Tensor:
        if self.padding_mode != "zeros":
            x = pad(x, self._explicit_padding(), mode=self.padding_mode)
            return conv1d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)
        return conv1d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class ConvTranspose2d(_ConvNd):
    """The adjoint of Conv2d, which upsamples: (N, C_in, H, W) -> (N, C_out, H_out, W_out) with
    H_out = (H - 1)*stride - 2*padding + dilation*(kernel - 1) + output_padding + 1.

    Its weight has shape (C_in, C_out/groups, kh, kw), as in PyTorch.
    """

    _dims = 2
    _transposed = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, output_padding: Any = 0, groups: int = 1, bias: bool = True,
                 dilation: Any = 1, padding_mode: str = "zeros", dtype: Any = np.float32) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, dtype, output_padding)

    def forward(self, x: Tensor) -> Tensor:
        return conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding, self.output_padding,
                                self.groups, self.dilation)


class ConvTranspose1d(_ConvNd):
    """The adjoint of Conv1d: (N, C_in, L) -> (N, C_out, L_out); arguments as ConvTranspose2d's."""

    _dims = 1
    _transposed = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, output_padding: Any = 0, groups: int = 1, bias: bool = True,
                 dilation: Any = 1, padding_mode: str = "zeros", dtype: Any = np.float32) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, dtype, output_padding)

    def forward(self, x: Tensor) -> Tensor:
        return conv_transpose1d(x, self.weight, self.bias, self.stride, self.padding, self.output_padding,
                                self.groups, self.dilation)
