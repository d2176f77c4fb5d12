"""Making tensors: from data, filled with constants, or drawn at random, with PyTorch's signatures.

Each one allocates with the namespace of ``device=`` (or, without one, the
default backend's, `backend.set_default_backend`), on that device directly:
nothing is made on the host and copied over, except data given as Python
lists or host arrays, which has to be uploaded once, and draws from an
explicit ``generator=`` (a `deltaprop.Generator` draws on the host).

Dtypes follow PyTorch: Python floats and float factories give float32,
Python ints and ``arange``/``randint``/``randperm`` int64, and ``full``
takes the kind of its fill value. ``tensor(data)`` always copies;
``as_tensor`` and ``from_numpy`` share memory when they can.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from deltaprop import backend, random
from deltaprop.dtypes import as_dtype
from deltaprop.ops.dims import sizes
from deltaprop.rng import Generator, numpy_generator
from deltaprop.tensor import DEFAULT_DTYPE, Tensor

_DEFAULT = np.dtype(DEFAULT_DTYPE)


def _module(device: Any) -> Any:
    if device is None:
        return backend.default_module()
    from deltaprop.device import as_device

    return as_device(device).namespace


def _float(dtype: Any) -> np.dtype:
    """The dtype for float factories: as given, else float32 (PyTorch's default)."""
    return _DEFAULT if dtype is None else as_dtype(dtype)


def _made(array: Any, requires_grad: bool) -> Tensor:
    return Tensor(array, requires_grad=requires_grad)


# ----------------------------------------------------------------- from data
def tensor(data: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False,
           pin_memory: bool = False) -> Tensor:  # fmt: skip
    """A new tensor holding a copy of ``data`` (list, number, array or tensor); Python floats give float32."""
    if isinstance(data, Tensor):
        data = data.array
    dtype = None if dtype is None else as_dtype(dtype)
    t = Tensor(data, dtype=dtype, requires_grad=requires_grad)
    if t.array is data or getattr(t.array, "base", None) is data:  # Tensor() kept the caller's array: copy
        t.array = t.array.copy()
    return t if device is None else _on(t, device, requires_grad)


def _on(t: Tensor, device: Any, requires_grad: bool) -> Tensor:
    xp = _module(device)
    if backend.array_module(t.array) is not xp:
        t = Tensor(backend.to_module(t.array, xp), requires_grad=requires_grad)
    return t


def as_tensor(data: Any, dtype: Any = None, device: Any = None) -> Tensor:
    """``data`` as a tensor, sharing its memory when the dtype and device already fit (no copy)."""
    if isinstance(data, Tensor):
        out = data if dtype is None else data.to(as_dtype(dtype))
        return out if device is None else out.to(device)
    t = Tensor(data, dtype=None if dtype is None else as_dtype(dtype))
    return t if device is None else _on(t, device, False)


def from_numpy(ndarray: np.ndarray) -> Tensor:
    """A tensor sharing ``ndarray``'s memory and keeping its dtype (float64 stays float64)."""
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(ndarray).__name__}")
    if ndarray.dtype.kind not in "biuf":
        raise TypeError(f"from_numpy: can't convert an array of dtype {ndarray.dtype}")
    return Tensor._wrap(ndarray)


# ----------------------------------------------------------------- constants
def zeros(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    return _made(_module(device).zeros(sizes(size), dtype=_float(dtype)), requires_grad)


def ones(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    return _made(_module(device).ones(sizes(size), dtype=_float(dtype)), requires_grad)


def empty(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """Zeros: PyTorch leaves ``empty`` uninitialised; zeros cost no more and never hold garbage NaNs."""
    return zeros(*size, dtype=dtype, device=device, requires_grad=requires_grad)


def full(
    size: Any, fill_value: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False
) -> Tensor:
    """``size`` filled with ``fill_value``; its dtype follows the value (int64, float32, bool) by default."""
    if dtype is None:
        dtype = _kind_of(fill_value)
    return _made(_module(device).full(sizes((size,)), fill_value, dtype=as_dtype(dtype)), requires_grad)


def _kind_of(value: Any) -> np.dtype:
    if isinstance(value, (bool, np.bool_)):
        return np.dtype(bool)
    if isinstance(value, (int, np.integer)):
        return np.dtype(np.int64)
    return _float(None)


def eye(n: int, m: int | None = None, dtype: Any = None, device: Any = None, requires_grad: bool = False):
    return _made(_module(device).eye(n, m, dtype=_float(dtype)), requires_grad)


def arange(start: Any, end: Any = None, step: Any = 1, dtype: Any = None, device: Any = None,
           requires_grad: bool = False) -> Tensor:  # fmt: skip
    """``[start, end)`` in steps: int64 for whole numbers, float32 when any bound or the step is a float."""
    if end is None:
        start, end = 0, start
    if dtype is None:
        whole = all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in (start, end, step))
        dtype = np.int64 if whole else _float(None)
    values = _module(device).arange(start, end, step)
    return _made(values.astype(as_dtype(dtype), copy=False), requires_grad)


def linspace(start: float, end: float, steps: int, dtype: Any = None, device: Any = None,
             requires_grad: bool = False) -> Tensor:  # fmt: skip
    return _made(_module(device).linspace(start, end, int(steps), dtype=_float(dtype)), requires_grad)


def zeros_like(input: Tensor, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:  # noqa: A002
    return _like("zeros_like", input, dtype, device, requires_grad)


def ones_like(input: Tensor, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:  # noqa: A002
    return _like("ones_like", input, dtype, device, requires_grad)


def empty_like(input: Tensor, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:  # noqa: A002
    return _like("zeros_like", input, dtype, device, requires_grad)


def full_like(input: Tensor, fill_value: Any, dtype: Any = None, device: Any = None,  # noqa: A002
              requires_grad: bool = False) -> Tensor:  # fmt: skip
    t = _source(input, device)
    array = t.xp.full_like(t.array, fill_value, dtype=None if dtype is None else as_dtype(dtype))
    return _made(array, requires_grad)


def _source(input: Any, device: Any) -> Tensor:  # noqa: A002
    t = input if isinstance(input, Tensor) else Tensor(input)
    return t if device is None else _on(Tensor._wrap(t.array), device, False)


def _like(kind: str, input: Any, dtype: Any, device: Any, requires_grad: bool) -> Tensor:  # noqa: A002
    t = _source(input, device)
    array = getattr(t.xp, kind)(t.array, dtype=None if dtype is None else as_dtype(dtype))
    return _made(array, requires_grad)


# ----------------------------------------------------------------- random
def _draw(method: str, shape: tuple[int, ...], params: tuple, dtype: np.dtype, xp: Any,
          generator: Generator | None) -> Any:  # fmt: skip
    """Package-generator draws on the target device; an explicit generator draws on the host."""
    if generator is None:
        return getattr(random, method)(shape, *params, dtype=dtype, xp=xp)
    numpy_name = {"standard_normal": "standard_normal", "random": "random", "normal": "normal"}[method]
    values = getattr(numpy_generator(generator), numpy_name)(*params, shape).astype(dtype, copy=False)
    return values if xp is np else backend.to_module(values, xp)


def randn(*size: Any, generator: Generator | None = None, dtype: Any = None, device: Any = None,
          requires_grad: bool = False) -> Tensor:  # fmt: skip
    """Standard normal samples from the package generator (see `deltaprop.manual_seed`)."""
    return _made(
        _draw("standard_normal", sizes(size), (), _float(dtype), _module(device), generator), requires_grad
    )


def rand(*size: Any, generator: Generator | None = None, dtype: Any = None, device: Any = None,
         requires_grad: bool = False) -> Tensor:  # fmt: skip
    """Uniform samples on [0, 1) from the package generator."""
    return _made(_draw("random", sizes(size), (), _float(dtype), _module(device), generator), requires_grad)


def randn_like(input: Tensor, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:  # noqa: A002
    t = _source(input, device)
    return randn(
        t.shape, dtype=t.dtype if dtype is None else dtype, device=t.device, requires_grad=requires_grad
    )


def rand_like(input: Tensor, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:  # noqa: A002
    t = _source(input, device)
    return rand(
        t.shape, dtype=t.dtype if dtype is None else dtype, device=t.device, requires_grad=requires_grad
    )


def normal(mean: Any = 0.0, std: Any = 1.0, size: Any = None, *, generator: Generator | None = None,
           dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:  # fmt: skip
    """Normal samples: ``normal(mean, std, size)`` with numbers, or elementwise with tensor means/stds."""
    if isinstance(mean, Tensor) or isinstance(std, Tensor):
        like = mean if isinstance(mean, Tensor) else std
        shape = np.broadcast_shapes(np.shape(mean.array if isinstance(mean, Tensor) else mean),
                                    np.shape(std.array if isinstance(std, Tensor) else std))  # fmt: skip
        noise = randn(*shape, generator=generator, dtype=like.dtype, device=like.device)
        return (noise * std + mean).detach()
    if size is None:
        raise TypeError("normal: with number mean and std, give size=(...)")
    array = _draw("normal", sizes((size,)), (mean, std), _float(dtype), _module(device), generator)
    return _made(array, requires_grad)


def randint(low: int = 0, high: int | None = None, size: Any = None, *, generator: Generator | None = None,
            dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:  # fmt: skip
    """Integers uniform on [low, high): ``randint(high, size)`` or ``randint(low, high, size)``; int64."""
    if size is None:  # randint(high, size)
        low, high, size = 0, low, high
    if size is None or high is None:
        raise TypeError("randint: expected randint(high, size) or randint(low, high, size)")
    if high <= low:
        raise ValueError(f"randint: high ({high}) must be greater than low ({low})")
    values = numpy_generator(generator).integers(low, high, sizes((size,)))
    return _host_made(values, np.int64 if dtype is None else as_dtype(dtype), device, requires_grad)


def randperm(n: int, *, generator: Generator | None = None, dtype: Any = None, device: Any = None,
             requires_grad: bool = False) -> Tensor:  # fmt: skip
    """A random order of 0..n-1 (int64)."""
    values = numpy_generator(generator).permutation(int(n))
    return _host_made(values, np.int64 if dtype is None else as_dtype(dtype), device, requires_grad)


def multinomial(input: Tensor, num_samples: int, replacement: bool = False, *,  # noqa: A002
                generator: Generator | None = None) -> Tensor:  # fmt: skip
    """Indices drawn with the probabilities (unnormalised weights) in each row of ``input``; int64."""
    t = input if isinstance(input, Tensor) else Tensor(input)
    weights = np.asarray(backend.to_numpy(t.array), dtype=np.float64)
    rows = weights.reshape(-1, weights.shape[-1]) if weights.ndim else None
    if rows is None or (rows < 0).any() or not np.isfinite(rows).all() or (rows.sum(axis=1) <= 0).any():
        raise ValueError(
            "multinomial: each row of input must hold finite, non-negative weights with a positive sum"
        )
    if not replacement and num_samples > (rows > 0).sum(axis=1).min():
        raise ValueError(
            f"multinomial: cannot draw {num_samples} samples without replacement from a row with fewer "
            "non-zero weights; pass replacement=True"
        )
    rng = numpy_generator(generator)
    drawn = np.stack([rng.choice(row.size, size=num_samples, replace=replacement, p=row / row.sum())
                      for row in rows])  # fmt: skip
    drawn = drawn.reshape(weights.shape[:-1] + (num_samples,))
    return _host_made(drawn, np.int64, t.device, False)


def bernoulli(input: Tensor, p: float | None = None, *, generator: Generator | None = None) -> Tensor:  # noqa: A002
    """0/1 samples, each 1 with the probability in ``input`` (or ``p``), in input's dtype."""
    t = input if isinstance(input, Tensor) else Tensor(input)
    chance = t.array if p is None else t.xp.full(t.shape, p, dtype=t.dtype)
    uniform = rand(*t.shape, generator=generator, dtype=t.dtype, device=t.device).array
    return Tensor._wrap((uniform < chance).astype(t.dtype))


def _host_made(values: np.ndarray, dtype: Any, device: Any, requires_grad: bool) -> Tensor:
    values = values.astype(dtype, copy=False)
    xp = _module(device)
    return _made(values if xp is np else backend.to_module(values, xp), requires_grad)
