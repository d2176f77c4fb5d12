"""Which array library holds the numbers: NumPy by default, CuPy on a GPU.

Ops never import NumPy to make arrays of their own; they ask `array_module(x)`
for the namespace of the array they were given, so one code path serves both.
NumPy ufuncs such as ``np.exp`` also dispatch to CuPy through
``__array_ufunc__``, which keeps the hot paths free of look-ups.
"""

from __future__ import annotations

import types
from typing import Any

import numpy as np

_default_name = "numpy"


def array_module(x: Any) -> types.ModuleType:
    """Return the array namespace (``numpy`` or ``cupy``) that holds ``x``."""
    if type(x) is np.ndarray or isinstance(x, (np.ndarray, np.generic, int, float, bool)):
        return np
    if type(x).__module__.startswith("cupy"):
        return _cupy()
    return np


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
    """Choose where new tensors live: ``'numpy'`` (CPU) or ``'cupy'`` (GPU)."""
    global _default_name
    if name not in ("numpy", "cupy"):
        raise ValueError(f"set_default_backend: unknown backend {name!r}; use 'numpy' or 'cupy'")
    if name == "cupy":
        _cupy()
    _default_name = name


def default_module() -> types.ModuleType:
    """The namespace that factory functions (zeros, randn, ...) allocate with."""
    return np if _default_name == "numpy" else _cupy()


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
    if type(x).__module__.startswith("cupy"):
        return x.get()
    return np.asarray(x)


def to_module(x: Any, xp: types.ModuleType) -> Any:
    """Move an array into namespace ``xp`` (host to device or back)."""
    if xp is np:
        return to_numpy(x)
    return xp.asarray(x)
