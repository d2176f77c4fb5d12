"""`LazyLinear`: a `Linear` whose input size is read from its first input, as PyTorch's.

``nn.LazyLinear(10)`` needs no ``in_features``: the first forward pass sees
the input's last dimension, creates the weight and bias there (initialised
as `Linear` initialises them, on the input's array module), and the layer
becomes a plain `Linear` from then on (PyTorch's ``cls_to_become``). The
Parameter objects stay the same, so an optimizer made before that first
call updates them. Before it, the parameters hold no numbers (shape
``(out_features, 0)``) and the layer cannot be saved.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from deltaprop.dtypes import as_dtype
from deltaprop.nn import init
from deltaprop.nn.linear import Linear
from deltaprop.nn.module import Module
from deltaprop.nn.parameter import Parameter
from deltaprop.tensor import Tensor, no_grad


class LazyLinear(Linear):
    """``y = x @ W.T + b`` with ``in_features`` taken from the first input."""

    def __init__(self, out_features: int, bias: bool = True, device: Any = None, dtype: Any = None) -> None:
        Module.__init__(self)
        whole = isinstance(out_features, (int, np.integer)) and not isinstance(out_features, bool)
        if not whole or out_features < 1:
            raise ValueError(f"LazyLinear: out_features must be a positive int, got {out_features!r}")
        self.in_features = 0
        self.out_features = int(out_features)
        self._dtype = np.dtype(np.float32) if dtype is None else as_dtype(dtype)
        self.weight = Parameter(np.empty((self.out_features, 0), dtype=self._dtype))
        if bias:
            self.bias = Parameter(np.empty(self.out_features, dtype=self._dtype))
        else:
            self.register_parameter("bias", None)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim == 0:
            raise ValueError("LazyLinear: the input needs a feature dimension, got a 0-d tensor")
        self.initialize_parameters(x)
        return Linear.forward(self, x)

    def initialize_parameters(self, x: Tensor) -> None:
        """Create the weights for inputs like ``x``, and become a `Linear`."""
        in_features = int(x.shape[-1])
        if in_features <= 0:
            raise ValueError(f"LazyLinear: the input's last dimension is empty (shape {x.shape})")
        xp = x.xp
        bound = 1.0 / math.sqrt(in_features)
        with no_grad():
            self.weight.array = xp.empty((self.out_features, in_features), dtype=self._dtype)
            self.weight.grad_array = None
            init.uniform_(self.weight, -bound, bound)
            if self.bias is not None:
                self.bias.array = xp.empty(self.out_features, dtype=self._dtype)
                init.uniform_(self.bias, -bound, bound)
        self.in_features = in_features
        del self.__dict__["_dtype"]
        self.__class__ = Linear  # type: ignore[assignment]  # PyTorch's cls_to_become

    def get_config(self) -> dict[str, Any]:
        """Still lazy: its constructor's arguments (once it has run, it is a Linear and saves as one)."""
        return {"out_features": self.out_features, "bias": self.bias is not None, "dtype": self._dtype}

    def extra_repr(self) -> str:
        return f"in_features=<lazy>, out_features={self.out_features}, bias={self.bias is not None}"
