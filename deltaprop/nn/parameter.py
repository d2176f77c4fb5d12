"""`Parameter`: a leaf tensor that a `Module` registers as something to train."""

from __future__ import annotations

from typing import Any

import numpy as np

from deltaprop.tensor import Tensor


def float_dtype(dtype: Any, layer: str) -> np.dtype:
    """``dtype`` as a NumPy dtype if a layer's weights can have it (float32 or float64), else a clear error.

    A layer asked for float16 weights must not quietly build float32 ones
    (tensors round half-precision data up to float32): it refuses instead.
    """
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"{layer}: dtype must be float32 or float64, got {dtype} "
                         "(the dtypes deltaprop computes in)")
    return dtype


class Parameter(Tensor):
    """A tensor that always requires grad and is found by ``Module.parameters()``."""

    __slots__ = ()

    def __init__(self, data: Any, requires_grad: bool = True) -> None:
        if isinstance(data, Tensor):
            data = data.array
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()
