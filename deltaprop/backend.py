"""Which array library holds the numbers: NumPy by default, CuPy on a GPU, or a registered stand-in.

Ops never import NumPy to make arrays of their own; they ask `array_module(x)`
for the namespace of the array they were given and allocate with it
(``xp.zeros``, ``xp.arange``), so one code path serves every array library.
NumPy ufuncs (``np.exp``) and ``__array_function__`` functions (``np.where``)
dispatch to CuPy by themselves and need no look-up.

An array library joins through one mechanism: `register_array_type` maps its
array class to its namespace, and `register_device` gives that namespace a
device name for ``Tensor.to(name)``, ``Module.to(name)`` and
`set_default_backend`. CuPy is registered the first time one of its arrays is
seen, so importing deltaprop never imports CuPy. The namespace must offer
NumPy's API (array methods such as ``.sum``, the ufunc and array-function
protocols), as CuPy does; an array's ``__array_namespace__`` is not consulted,
because a namespace that offers only the Array API standard (array-api-strict,
say) would half work and then fail inside an op.
"""

from __future__ import annotations

import types
from typing import Any

import numpy as np

# array class -> namespace, with NumPy's own types and Python's numbers up front
_NUMPY_TYPES = (np.ndarray, int, float, bool, complex, *np.sctypeDict.values())
_namespaces: dict[type, Any] = dict.fromkeys(_NUMPY_TYPES, np)
# device name -> namespace, or None for CuPy (imported only when asked for)
_devices: dict[str, Any] = {"cpu": np, "numpy": np, "cuda": None, "cuda:0": None, "cupy": None, "gpu": None}
_BUILT_IN_DEVICES = tuple(_devices)
_default_module: Any = np


def array_module(x: Any) -> Any:
    """Return the array namespace (``numpy``, ``cupy`` or a registered one) that holds ``x``.

    Anything that is not an array of a registered library (Python numbers,
    lists, NumPy scalars) belongs to NumPy.
    """
    # The hot path, for NumPy arrays and scalars alike: one dict look-up on the exact type.
    # (Measured faster than an `is np.ndarray` test in front of it, which cost ~10 ns more.)
    namespace = _namespaces.get(type(x))
    return namespace if namespace is not None else _unregistered_module(x)


def _unregistered_module(x: Any) -> Any:
    """CuPy arrays register themselves on first sight; NumPy subclasses are cached; the rest is NumPy."""
    if type(x).__module__.startswith("cupy"):
        cupy = _cupy()
        register_array_type(type(x), cupy)
        return cupy
    if isinstance(x, (np.ndarray, np.generic)):
        _namespaces[type(x)] = np
    return np


def register_array_type(array_type: type, namespace: Any) -> None:
    """Tell `array_module` that arrays of ``array_type`` live in ``namespace``.

    ``namespace`` must offer NumPy's API for the arrays it makes (creation
    functions, ``asarray``, ufuncs with ``.at``, ``random``), and its arrays
    NumPy's methods plus ``.get()`` to copy to the host, as CuPy's do.
    """
    if array_type is np.ndarray:
        raise ValueError("register_array_type: np.ndarray always belongs to numpy")
    _namespaces[array_type] = namespace


def register_device(name: str, namespace: Any) -> None:
    """Give ``namespace`` a device name for ``Tensor.to``, ``Module.to`` and `set_default_backend`."""
    if name in _BUILT_IN_DEVICES:
        raise ValueError(f"register_device: {name!r} is built in; choose another name")
    _devices[name] = namespace


def device_module(device: str) -> Any:
    """The namespace behind a device name: ``'cpu'``, ``'cuda'`` (CuPy) or a registered one."""
    if device not in _devices:
        raise ValueError(
            f"unknown device {device!r}; use 'cpu', 'cuda' or one registered with "
            f"deltaprop.backend.register_device (known: {sorted(_devices)})"
        )
    namespace = _devices[device]
    return _cupy() if namespace is None else namespace


def device_name(namespace: Any) -> str:
    """The device name of a namespace: ``'cpu'`` for NumPy, ``'cuda'`` for CuPy, else its registered one."""
    if namespace is np:
        return "cpu"
    if getattr(namespace, "__name__", "") == "cupy":
        return "cuda"
    for name, registered in _devices.items():
        if registered is namespace:
            return name
    raise ValueError(f"the array namespace {namespace!r} has no device name; use register_device")


def _cupy() -> types.ModuleType:
    try:
        import cupy
    except ImportError as exc:  # pragma: no cover - depends on the machine
        raise ImportError(
            "the GPU backend needs CuPy: pip install 'deltaprop[gpu]' "
            "(or the cupy-cudaXXx wheel that matches your CUDA)"
        ) from exc
    return cupy


def set_default_backend(name: str) -> None:
    """Choose where new tensors live: ``'numpy'`` (CPU), ``'cupy'`` (GPU) or a registered device."""
    global _default_module
    if name not in _devices:
        raise ValueError(
            f"set_default_backend: unknown backend {name!r}; use 'numpy', 'cupy' or a name "
            f"registered with deltaprop.backend.register_device (known: {sorted(_devices)})"
        )
    _default_module = device_module(name)


def default_module() -> Any:
    """The namespace that factory functions (zeros, randn, ...) allocate with."""
    return _default_module


def special_functions(xp: Any) -> Any:
    """The special functions (``erf``, ...) for device arrays of ``xp``: scipy.special's counterpart.

    CuPy keeps them in ``cupyx.scipy.special``; a registered namespace offers
    them as ``xp.special``.
    """
    if getattr(xp, "__name__", "") == "cupy":
        import cupyx.scipy.special

        return cupyx.scipy.special
    try:
        return xp.special
    except AttributeError:
        raise TypeError(
            f"the array namespace {xp!r} offers no special functions (erf, ...); give it a "
            "'special' attribute, as deltaprop.testing's stand-in does"
        ) from None


def gpu_available() -> bool:
    """True when CuPy imports and sees at least one CUDA device."""
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


def to_numpy(x: Any) -> np.ndarray:
    """Copy ``x`` to host memory as a NumPy array (no copy when it is already there)."""
    if isinstance(x, np.ndarray):
        return x
    if array_module(x) is not np:
        return x.get()
    return np.asarray(x)


def to_module(x: Any, xp: Any) -> Any:
    """Move an array into namespace ``xp`` (host to device, back, or between two devices)."""
    if xp is np:
        return to_numpy(x)
    source = array_module(x)
    if source is xp:
        return x
    if source is not np:  # from one device library to another: through the host
        x = x.get()
    return xp.asarray(x)
