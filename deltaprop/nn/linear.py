"""`Linear`: the dense layer z = W a + b, with W of shape (out, in) (rows are output nodes)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from deltaprop import ops
from deltaprop.errors import ShapeError
from deltaprop.nn import init
from deltaprop.nn.module import Module
from deltaprop.nn.parameter import Parameter, float_dtype
from deltaprop.tensor import Tensor


class Linear(Module):
    """Fully connected layer: ``y = x @ W.T + b`` for a batch x of shape (N, in_features).

    Initialised like PyTorch: W and b uniform in +-1/sqrt(in_features), which
    suits most activations; call `deltaprop.nn.init` functions to change it.
    """

    def __init__(
        self, in_features: int, out_features: int, bias: bool = True, dtype=np.float32
    ) -> None:
        super().__init__()
        for name, size in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
                raise TypeError(
                    f"Linear: {name} must be a whole number of units, got {size!r} "
                    f"({type(size).__name__}); e.g. Linear({name}=int(n))"
                )
        if in_features <= 0 or out_features <= 0:
            raise ValueError(
                f"Linear: sizes must be positive, got in_features={in_features}, "
                f"out_features={out_features}"
            )
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        dtype = float_dtype(dtype, "Linear")
        bound = 1.0 / math.sqrt(in_features)
        self.weight = Parameter(np.empty((out_features, in_features), dtype=dtype))
        init.uniform_(self.weight, -bound, bound)
        if bias:
            self.bias = Parameter(np.empty(out_features, dtype=dtype))
            init.uniform_(self.bias, -bound, bound)
        else:
            self.register_parameter("bias", None)

    def forward(self, x: Tensor) -> Tensor:
        try:
            return ops.linear(x, self.weight, self.bias)
        except IndexError:  # checked only on failure: the forward pass stays free of extra work
            if np.ndim(getattr(x, "data", x)) != 0:
                raise
        raise ShapeError(
            f"Linear: got a 0-d input (a single number) but the layer expects {self.in_features} "
            f"features per example; pass shape (batch, {self.in_features}), e.g. x.reshape(1, -1)"
        )

    def affine_parameters(self) -> tuple[Parameter, Parameter | None]:
        return self.weight, self.bias

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )

    def get_config(self) -> dict[str, Any]:
        """``bias`` as the bool it was given (the attribute holds the Parameter) and the weights' dtype."""
        return {
            "in_features": self.in_features,
            "out_features": self.out_features,
            "bias": self.bias is not None,
            "dtype": self.weight.dtype,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Linear:
        """Refuses dtypes a saved Linear cannot have (its weights are float32 or float64)."""
        return cls(**{**config, "dtype": float_dtype(config.get("dtype", np.float32), "Linear")})
