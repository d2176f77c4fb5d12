"""A CPU stand-in for a GPU array library, to test that nothing reaches for NumPy behind an array's back.

Without a GPU, the only way to check that every op and layer allocates, draws
and computes with the array library of its inputs is an array type that
fails loudly wherever code silently falls back to the host. `StandinArray`
is that type: a NumPy array in a box that NumPy cannot open, which behaves
like a CuPy array where it matters:

- it has its own namespace, `standin` (``zeros``, ``empty``, ``ones``,
  ``full``, ``arange``, ``eye``, ``asarray``, ufuncs with ``.at``, ``random``,
  ``special``, ...), which is NumPy's API returning stand-in arrays;
- NumPy ufuncs (``np.exp(x)``) and ``__array_function__`` functions
  (``np.where(x > 0, x, 0)``) dispatch to it and return stand-in arrays, for
  the names NumPy's top level has, as CuPy looks them up by name;
- implicit conversion to NumPy (``np.asarray(x)``, ``__array__``) raises
  TypeError, and so does handing it a host NumPy array where CuPy would
  refuse one (ufunc and function arguments, indices, assigned values);
  ``standin.asarray(host)`` is the explicit copy to the device and
  ``x.get()`` the explicit copy back;
- ``.item()``, ``.tolist()``, ``bool()``, ``int()`` and ``float()`` read the
  host as CuPy's do (a device synchronisation); `count_host_reads` records
  them, and every upload, so a test can see what a training step costs.

Why not array-api-strict: it is made for this kind of test, but for a
different contract. Its arrays have no NumPy methods (``x.sum()``,
``x.reshape()``, ``x.astype()``), no ``ufunc.at``, and NumPy ufuncs convert
them to host arrays silently instead of failing (``np.exp(x)`` returns an
``ndarray``). CuPy, the array library deltaprop targets, implements NumPy's
API and both dispatch protocols; so do the ops, for speed on NumPy. Testing
against array-api-strict would mean rewriting every op in the Array API's
functional style, and it would still not catch a host fallback in a ufunc.

Importing this module registers the type with `deltaprop.backend` (device
name ``'standin'``: ``Tensor.to('standin')``,
``backend.set_default_backend('standin')``) and a generator with
`deltaprop.random`.
"""

from __future__ import annotations

import math
import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from deltaprop import backend
from deltaprop import random as dp_random

_HOST_ARRAY = (
    "the stand-in refuses a host numpy.ndarray here, as CuPy does: implicit host-to-device "
    "conversion is not allowed; move it with standin.asarray(...) first"
)
_TO_HOST = (
    "Implicit conversion to a NumPy array is not allowed (as with CuPy); "
    "use .get() to construct a NumPy array explicitly"
)

_reads: list[str] | None = None  # the list `count_host_reads` is filling, if any


@contextmanager
def count_host_reads() -> Iterator[list[str]]:
    """Collect, in order, every host read (``'item'``, ``'bool'``, ``'get'``, ...) and ``'upload'``."""
    global _reads
    previous, _reads = _reads, []
    try:
        yield _reads
    finally:
        _reads = previous


def _note(kind: str) -> None:
    if _reads is not None:
        _reads.append(kind)


# --------------------------------------------------------------------------- boxing and unboxing


def _unwrap(value: Any) -> Any:
    """Stand-in arrays to their NumPy payload, recursively; host arrays refused, as CuPy refuses them."""
    if type(value) is StandinArray:
        return value._array
    if isinstance(value, np.ndarray):
        raise TypeError(_HOST_ARRAY)
    if type(value) in (tuple, list):
        return type(value)(_unwrap(v) for v in value)
    return value


def _wrap(value: Any) -> Any:
    """NumPy results back into the box; NumPy scalars become 0-d arrays, as CuPy returns them."""
    if isinstance(value, np.ndarray):
        return StandinArray(value)
    if isinstance(value, np.generic):
        return StandinArray(np.asarray(value))
    if type(value) in (tuple, list):
        return type(value)(_wrap(v) for v in value)
    return value


def _call_ufunc(ufunc: np.ufunc, inputs: tuple, kwargs: dict) -> Any:
    out = kwargs.get("out")
    if out is not None:
        outs = out if isinstance(out, tuple) else (out,)
        kwargs = {**kwargs, "out": tuple(_unwrap(o) for o in outs)}
    if "where" in kwargs:
        kwargs = {**kwargs, "where": _unwrap(kwargs["where"])}
    result = ufunc(*[_unwrap(x) for x in inputs], **kwargs)
    if out is not None:  # in place: hand back the boxes that were written to
        return outs[0] if len(outs) == 1 else outs
    return _wrap(result)


_OPERANDS = (np.ndarray, np.generic, int, float, bool, complex)


# --------------------------------------------------------------------------- the array


class StandinArray:
    """A NumPy array that only its own namespace, `standin`, may open (see the module docstring)."""

    __slots__ = ("_array",)
    __array_priority__ = 100  # CuPy's: below Tensor's, so ``array * tensor`` defers to the Tensor

    def __init__(self, array: np.ndarray) -> None:
        self._array = array

    # ------------------------------------------------------------------ facts (no data read)
    shape = property(lambda self: self._array.shape)
    ndim = property(lambda self: self._array.ndim)
    dtype = property(lambda self: self._array.dtype)
    size = property(lambda self: self._array.size)
    itemsize = property(lambda self: self._array.itemsize)
    nbytes = property(lambda self: self._array.nbytes)
    strides = property(lambda self: self._array.strides)
    T = property(lambda self: StandinArray(self._array.T))

    def __len__(self) -> int:
        return len(self._array)

    def __repr__(self) -> str:
        return f"standin({self._array!r})"

    # ------------------------------------------------------------------ to the host
    def get(self) -> np.ndarray:
        """A host copy (the explicit transfer, like ``cupy.ndarray.get``)."""
        _note("get")
        return self._array.copy()

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise TypeError(_TO_HOST)

    def item(self) -> Any:
        _note("item")
        return self._array.item()

    def tolist(self) -> Any:
        _note("tolist")
        return self._array.tolist()

    def __bool__(self) -> bool:
        _note("bool")
        return bool(self._array)

    def __int__(self) -> int:
        _note("int")
        return int(self._array)

    def __float__(self) -> float:
        _note("float")
        return float(self._array)

    # ------------------------------------------------------------------ protocols
    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        # Like CuPy: only calls (not .at/.reduce through the protocol), only ufuncs NumPy's top level has
        if method != "__call__" or getattr(np, ufunc.__name__, None) is not ufunc:
            return NotImplemented
        if not all(isinstance(x, (StandinArray, *_OPERANDS)) for x in inputs):
            return NotImplemented
        return _call_ufunc(ufunc, inputs, kwargs)

    def __array_function__(self, func: Any, types: tuple, args: tuple, kwargs: dict) -> Any:
        implementation = getattr(standin, func.__name__, None) if func.__module__ == "numpy" else None
        if implementation is None or not all(issubclass(t, (StandinArray, np.ndarray)) for t in types):
            return NotImplemented
        return implementation(*args, **kwargs)

    # ------------------------------------------------------------------ indexing
    def __getitem__(self, index: Any) -> Any:
        return _wrap(self._array[_unwrap(index)])

    def __setitem__(self, index: Any, value: Any) -> None:
        self._array[_unwrap(index)] = _unwrap(value)

    def __iter__(self) -> Iterator[StandinArray]:
        if self._array.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(len(self._array)))

    # ------------------------------------------------------------------ copying
    def __copy__(self) -> StandinArray:
        return StandinArray(self._array.copy())

    def __deepcopy__(self, memo: dict) -> StandinArray:
        return StandinArray(self._array.copy())

    def __reduce__(self) -> tuple:
        return (StandinArray, (self._array.copy(),))


def _method(name: str):
    def method(self, *args, **kwargs):
        return _wrap(getattr(self._array, name)(*_unwrap(args), **{k: _unwrap(v) for k, v in kwargs.items()}))

    method.__name__ = name
    return method


for _name in (
    "all", "any", "argmax", "argmin", "argsort", "astype", "clip", "copy", "cumsum", "dot", "fill",
    "flatten", "max", "mean", "min", "nonzero", "prod", "ravel", "repeat", "reshape", "round", "sort",
    "squeeze", "std", "sum", "swapaxes", "take", "transpose", "var", "view",
):  # fmt: skip
    setattr(StandinArray, _name, _method(_name))


def _defers_to(other: Any) -> bool:
    """Whether ``array <op> other`` should let ``other``'s reflected operator answer (CuPy's rule)."""
    if hasattr(other, "__array_ufunc__"):
        return other.__array_ufunc__ is None
    return getattr(other, "__array_priority__", 0) > StandinArray.__array_priority__


def _binary(ufunc: np.ufunc):
    def forward(self, other):
        return NotImplemented if _defers_to(other) else ufunc(self, other)

    def reflected(self, other):
        return NotImplemented if _defers_to(other) else ufunc(other, self)

    def in_place(self, other):
        return ufunc(self, other, out=(self,))

    return forward, reflected, in_place


for _name, _ufunc in {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "truediv": np.true_divide,
    "floordiv": np.floor_divide, "mod": np.remainder, "pow": np.power, "matmul": np.matmul,
    "and": np.bitwise_and, "or": np.bitwise_or, "xor": np.bitwise_xor,
}.items():  # fmt: skip
    _forward, _reflected, _in_place = _binary(_ufunc)
    setattr(StandinArray, f"__{_name}__", _forward)
    setattr(StandinArray, f"__r{_name}__", _reflected)
    setattr(StandinArray, f"__i{_name}__", _in_place)

for _name, _ufunc in {
    "lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal,
    "eq": np.equal, "ne": np.not_equal,
}.items():  # fmt: skip
    setattr(StandinArray, f"__{_name}__", _binary(_ufunc)[0])
StandinArray.__hash__ = None  # type: ignore[assignment] # comparing is elementwise, as for ndarray

_UNARY = {"neg": np.negative, "pos": np.positive, "abs": np.absolute, "invert": np.invert}
for _name, _ufunc in _UNARY.items():
    setattr(StandinArray, f"__{_name}__", lambda self, _u=_ufunc: _u(self))


# --------------------------------------------------------------------------- the namespace


class _Ufunc:
    """A NumPy ufunc of the stand-in namespace: called directly, or through ``.at`` / ``.reduce``."""

    def __init__(self, ufunc: np.ufunc) -> None:
        self._ufunc = ufunc
        self.__name__ = ufunc.__name__
        self.nin, self.nout = ufunc.nin, ufunc.nout

    def __call__(self, *inputs: Any, **kwargs: Any) -> Any:
        return _call_ufunc(self._ufunc, inputs, kwargs)

    def at(self, a: StandinArray, indices: Any, b: Any = None) -> None:
        self._ufunc.at(_unwrap(a), _unwrap(indices), _unwrap(b))

    def reduce(self, array: StandinArray, *args: Any, **kwargs: Any) -> Any:
        return _wrap(self._ufunc.reduce(_unwrap(array), *_unwrap(args), **kwargs))


def _function(func: Any):
    """A NumPy function of the stand-in namespace: stand-in arrays in and out, host arrays refused."""

    def call(*args, **kwargs):
        return _wrap(func(*_unwrap(args), **{k: _unwrap(v) for k, v in kwargs.items()}))

    call.__name__ = func.__name__
    return call


class RandomState:
    """The stand-in's device generator, with CuPy's ``RandomState`` methods (drawn directly in ``dtype``).

    Philox, like the generator deltaprop asks CuPy for; its values differ
    from both NumPy's PCG64 and cuRAND's, so tests compare repeatability and
    distributions, not numbers.
    """

    def __init__(self, seed: int) -> None:
        self._generator = np.random.Generator(np.random.Philox(int(seed)))

    def random_sample(self, size: Any = None, dtype: Any = float) -> StandinArray:
        return StandinArray(np.asarray(self._generator.random(size, dtype=dtype)))

    def standard_normal(self, size: Any = None, dtype: Any = float) -> StandinArray:
        return StandinArray(np.asarray(self._generator.standard_normal(size, dtype=dtype)))

    def uniform(self, low: float = 0.0, high: float = 1.0, size: Any = None, dtype: Any = float):
        values = self._generator.random(size, dtype=dtype)
        return StandinArray(np.asarray(values * values.dtype.type(high - low) + values.dtype.type(low)))

    def normal(self, loc: float = 0.0, scale: float = 1.0, size: Any = None, dtype: Any = float):
        values = self._generator.standard_normal(size, dtype=dtype)
        return StandinArray(np.asarray(values * values.dtype.type(scale) + values.dtype.type(loc)))


def _erf(x: StandinArray) -> StandinArray:
    try:
        from scipy.special import erf
    except ImportError:
        return StandinArray(np.frompyfunc(math.erf, 1, 1)(x._array).astype(x.dtype))
    return StandinArray(erf(x._array))


# Host-only NumPy helpers CuPy does not have: reaching for one is a host fallback.
_HOST_ONLY = frozenset({"frompyfunc", "vectorize", "piecewise", "apply_along_axis", "fromfunction"})
_MISSING = object()


class _Namespace(types.ModuleType):
    """``standin``: NumPy's API for stand-in arrays, built on first use of each name."""

    ndarray = StandinArray
    random = types.SimpleNamespace(RandomState=RandomState)
    special = types.SimpleNamespace(erf=_erf)
    # strided views (the image ops' sliding windows), as cupy.lib.stride_tricks has them
    lib = types.SimpleNamespace(stride_tricks=types.SimpleNamespace(
        as_strided=_function(np.lib.stride_tricks.as_strided)))

    def asarray(self, obj: Any, dtype: Any = None) -> StandinArray:
        """The array on the stand-in device: a stand-in array as it is, host data copied over."""
        if type(obj) is StandinArray:
            return obj if dtype is None else StandinArray(obj._array.astype(dtype, copy=False))
        _note("upload")
        return StandinArray(np.array(obj, dtype=dtype))

    def array(self, obj: Any, dtype: Any = None, copy: bool = True) -> StandinArray:
        """As ``cupy.array``: a copy unless ``copy=False`` and no conversion is needed (host data: always)."""
        if type(obj) is StandinArray:
            return StandinArray(obj._array.astype(dtype or obj.dtype, copy=copy))
        return self.asarray(obj, dtype)

    def asnumpy(self, x: StandinArray) -> np.ndarray:
        return x.get()

    def __getattr__(self, name: str) -> Any:
        value = getattr(np, name, _MISSING)
        hidden = name.startswith("_") or name in _HOST_ONLY or isinstance(value, types.ModuleType)
        if value is _MISSING or hidden:
            raise AttributeError(f"the stand-in array namespace has no {name!r}")
        if isinstance(value, np.ufunc):
            value = _Ufunc(value)
        elif callable(value) and not isinstance(value, type):
            value = _function(value)
        setattr(self, name, value)  # dtypes, constants and the wrappers, cached
        return value


standin = _Namespace("deltaprop.testing.standin")

backend.register_array_type(StandinArray, standin)
backend.register_device("standin", standin)
dp_random.register_generator(standin, RandomState)
