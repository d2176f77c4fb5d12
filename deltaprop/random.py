"""The one random generator behind every random number deltaprop draws, on any array library.

Initialisers, dropout, shuffling and the dataset generators all draw from the
package generator, so ``deltaprop.manual_seed(0)`` makes a whole run
repeatable, and `get_rng_state` / `set_rng_state` let a checkpoint resume it
exactly.

Draws for NumPy arrays come from that generator itself (a PCG64 ``Generator``),
exactly as they always have. Draws for another array library (CuPy on a GPU)
are made by that library, on its device, by a generator that is seeded afresh
for each draw with 64 bits taken from the package generator. So the package
generator's state alone decides every device draw too: `manual_seed` makes GPU
runs repeatable, and the checkpoint state stays the small JSON-serialisable
PCG64 state, with no device state to save. (Seeding per draw is the
"split the key" idea of counter-based generators; CuPy uses Philox, whose
seeding is cheap.) Nothing is drawn on the host and copied to the device.

The helpers `random`, `uniform`, `normal` and `standard_normal` take the
target namespace as ``xp`` and return an array of that namespace.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

_generator = np.random.default_rng(0)

# namespace -> factory(seed) giving a device generator with CuPy's RandomState methods
_device_generators: dict[Any, Callable[[int], Any]] = {}


def manual_seed(seed: int | np.random.SeedSequence) -> np.random.Generator:
    """Reseed the package generator (a NumPy PCG64 ``Generator``) and return it."""
    global _generator
    _generator = np.random.default_rng(seed)
    return _generator


def generator() -> np.random.Generator:
    """The package-wide NumPy ``Generator``; draw from it, never from ``np.random``."""
    return _generator


def get_rng_state() -> dict[str, Any]:
    """A JSON-serialisable snapshot of the generator (for checkpoints; covers device draws too)."""
    return dict(_generator.bit_generator.state)


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore a snapshot taken by `get_rng_state`."""
    _generator.bit_generator.state = state


# --------------------------------------------------------------------------- other array libraries


def register_generator(namespace: Any, factory: Callable[[int], Any]) -> None:
    """Let the package generator draw on ``namespace``'s arrays.

    ``factory(seed)`` returns a generator of that namespace seeded with the
    64-bit integer ``seed``, offering CuPy's ``RandomState`` methods with a
    ``dtype`` argument: ``random_sample(size, dtype)``, ``uniform(low, high,
    size, dtype)``, ``normal(loc, scale, size, dtype)`` and
    ``standard_normal(size, dtype)``. It is called once per draw.
    """
    _device_generators[namespace] = factory


def generator_for(xp: Any) -> Any:
    """The generator that draws arrays of namespace ``xp``.

    For NumPy it is the package ``Generator`` itself. For another namespace it
    is a generator of that namespace (CuPy's ``RandomState`` methods, with
    ``dtype``), freshly seeded from the package generator: ask for a new one
    for every draw, so that the package state decides the next draw.
    """
    if xp is np:
        return _generator
    factory = _device_generators.get(xp)
    if factory is None:
        factory = _builtin_factory(xp)
    return factory(_generator.bit_generator.random_raw())


def random(shape: tuple[int, ...], dtype: Any = np.float64, xp: Any = np) -> Any:
    """Uniform samples on [0, 1) as an array of ``xp``.

    On NumPy they are drawn in float64 and then rounded to ``dtype``, so the
    values are the ones deltaprop has always drawn for the same seed; the
    other helpers below do the same.
    """
    return _draw("random", (), shape, dtype, xp)


def uniform(
    shape: tuple[int, ...], low: float = 0.0, high: float = 1.0, dtype: Any = np.float64, xp: Any = np
) -> Any:
    """Uniform samples on [low, high) as an array of ``xp``."""
    return _draw("uniform", (low, high), shape, dtype, xp)


def normal(
    shape: tuple[int, ...], mean: float = 0.0, std: float = 1.0, dtype: Any = np.float64, xp: Any = np
) -> Any:
    """Normal samples N(mean, std^2) as an array of ``xp``."""
    return _draw("normal", (mean, std), shape, dtype, xp)


def standard_normal(shape: tuple[int, ...], dtype: Any = np.float64, xp: Any = np) -> Any:
    """Standard normal samples as an array of ``xp``."""
    return _draw("standard_normal", (), shape, dtype, xp)


def _draw(method: str, params: tuple, shape: tuple[int, ...], dtype: Any, xp: Any) -> Any:
    """NumPy: the package Generator's ``method`` in float64, rounded; elsewhere the device's, in dtype."""
    if xp is np:
        values = getattr(_generator, method)(*params, shape)
        return values if dtype is np.float64 else values.astype(dtype, copy=False)
    device_method = "random_sample" if method == "random" else method  # CuPy RandomState's name
    return getattr(generator_for(xp), device_method)(*params, shape, dtype)


def _builtin_factory(xp: Any) -> Callable[[int], Any]:
    if getattr(xp, "__name__", "") == "cupy":
        register_generator(xp, _cupy_generator)
        return _cupy_generator
    raise TypeError(
        f"deltaprop.random cannot draw arrays of {xp!r}: register a generator for it with "
        "deltaprop.random.register_generator(namespace, factory)"
    )


_cupy_states: dict[int, Any] = {}


def _cupy_generator(seed: int) -> Any:
    """CuPy's cuRAND Philox generator of the current device, reseeded (seeding Philox is cheap)."""
    import cupy
    from cupy.cuda import curand

    device = cupy.cuda.runtime.getDevice()
    state = _cupy_states.get(device)
    if state is None:
        state = cupy.random.RandomState(np.uint64(seed), method=curand.CURAND_RNG_PSEUDO_PHILOX4_32_10)
        _cupy_states[device] = state
    else:
        state.seed(np.uint64(seed))
    return state
