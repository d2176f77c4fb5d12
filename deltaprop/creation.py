"""Making tensors: from data, filled with constants, or drawn from the package generator."""

from __future__ import annotations

from typing import Any

import numpy as np

from deltaprop import backend
from deltaprop.random import generator
from deltaprop.tensor import DEFAULT_DTYPE, Tensor


def tensor(data: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A new tensor from a list, number or array (Python floats become float32)."""
    return Tensor(data, dtype=dtype, requires_grad=requires_grad)


def _shape(shape: tuple) -> tuple[int, ...]:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def _new(array: np.ndarray, requires_grad: bool) -> Tensor:
    xp = backend.default_module()
    return Tensor(array if xp is np else xp.asarray(array), requires_grad=requires_grad)


def zeros(*shape, dtype: Any = DEFAULT_DTYPE, requires_grad: bool = False) -> Tensor:
    return _new(np.zeros(_shape(shape), dtype=dtype), requires_grad)


def ones(*shape, dtype: Any = DEFAULT_DTYPE, requires_grad: bool = False) -> Tensor:
    return _new(np.ones(_shape(shape), dtype=dtype), requires_grad)


def full(shape, value: float, dtype: Any = DEFAULT_DTYPE, requires_grad: bool = False) -> Tensor:
    return _new(np.full(_shape((shape,)), value, dtype=dtype), requires_grad)


def eye(n: int, m: int | None = None, dtype: Any = DEFAULT_DTYPE, requires_grad: bool = False):
    return _new(np.eye(n, m, dtype=dtype), requires_grad)


def arange(*args, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Like np.arange; float arguments give float32 unless dtype says otherwise."""
    values = np.arange(*args)
    if dtype is None and values.dtype.kind == "f":
        dtype = DEFAULT_DTYPE
    return _new(values.astype(dtype) if dtype is not None else values, requires_grad)


def randn(*shape, dtype: Any = DEFAULT_DTYPE, requires_grad: bool = False) -> Tensor:
    """Standard normal samples from the package generator (see `deltaprop.manual_seed`)."""
    return _new(generator().standard_normal(_shape(shape)).astype(dtype), requires_grad)


def rand(*shape, dtype: Any = DEFAULT_DTYPE, requires_grad: bool = False) -> Tensor:
    """Uniform samples on [0, 1) from the package generator."""
    return _new(generator().random(_shape(shape)).astype(dtype), requires_grad)


def zeros_like(t: Tensor, requires_grad: bool = False) -> Tensor:
    return Tensor(t.xp.zeros_like(t.data), requires_grad=requires_grad)


def ones_like(t: Tensor, requires_grad: bool = False) -> Tensor:
    return Tensor(t.xp.ones_like(t.data), requires_grad=requires_grad)
