"""Making tensors: from data, filled with constants, or drawn from the package generator.

Each one allocates with the default backend's namespace (`backend.set_default_backend`),
on that device directly: nothing is made on the host and copied over.
"""

from __future__ import annotations

from typing import Any

from deltaprop import backend, random
from deltaprop.tensor import DEFAULT_DTYPE, Tensor


def tensor(data: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A new tensor from a list, number or array (Python floats become float32)."""
    return Tensor(data, dtype=dtype, requires_grad=requires_grad)


def _shape(shape: tuple) -> tuple[int, ...]:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def zeros(*shape, dtype: Any = DEFAULT_DTYPE, requires_grad: bool = False) -> Tensor:
    return Tensor(backend.default_module().zeros(_shape(shape), dtype=dtype), requires_grad=requires_grad)


def ones(*shape, dtype: Any = DEFAULT_DTYPE, requires_grad: bool = False) -> Tensor:
    return Tensor(backend.default_module().ones(_shape(shape), dtype=dtype), requires_grad=requires_grad)


def full(shape, value: float, dtype: Any = DEFAULT_DTYPE, requires_grad: bool = False) -> Tensor:
    array = backend.default_module().full(_shape((shape,)), value, dtype=dtype)
    return Tensor(array, requires_grad=requires_grad)


def eye(n: int, m: int | None = None, dtype: Any = DEFAULT_DTYPE, requires_grad: bool = False):
    return Tensor(backend.default_module().eye(n, m, dtype=dtype), requires_grad=requires_grad)


def arange(*args, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Like np.arange; float arguments give float32 unless dtype says otherwise."""
    values = backend.default_module().arange(*args)
    if dtype is None and values.dtype.kind == "f":
        dtype = DEFAULT_DTYPE
    return Tensor(values.astype(dtype) if dtype is not None else values, requires_grad=requires_grad)


def randn(*shape, dtype: Any = DEFAULT_DTYPE, requires_grad: bool = False) -> Tensor:
    """Standard normal samples from the package generator (see `deltaprop.manual_seed`)."""
    array = random.standard_normal(_shape(shape), dtype, xp=backend.default_module())
    return Tensor(array, requires_grad=requires_grad)


def rand(*shape, dtype: Any = DEFAULT_DTYPE, requires_grad: bool = False) -> Tensor:
    """Uniform samples on [0, 1) from the package generator."""
    array = random.random(_shape(shape), dtype, xp=backend.default_module())
    return Tensor(array, requires_grad=requires_grad)


def zeros_like(t: Tensor, requires_grad: bool = False) -> Tensor:
    return Tensor(t.xp.zeros_like(t.array), requires_grad=requires_grad)


def ones_like(t: Tensor, requires_grad: bool = False) -> Tensor:
    return Tensor(t.xp.ones_like(t.array), requires_grad=requires_grad)
