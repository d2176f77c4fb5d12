"""The one random generator behind every random number deltaprop draws.

Initialisers, dropout, shuffling and the dataset generators all draw from
`generator()`, so ``deltaprop.manual_seed(0)`` makes a whole run repeatable,
and `get_rng_state` / `set_rng_state` let a checkpoint resume it exactly.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_generator = np.random.default_rng(0)


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed the package generator (a NumPy PCG64 ``Generator``) and return it."""
    global _generator
    _generator = np.random.default_rng(seed)
    return _generator


def generator() -> np.random.Generator:
    """The package-wide NumPy ``Generator``; draw from it, never from ``np.random``."""
    return _generator


def get_rng_state() -> dict[str, Any]:
    """A JSON-serialisable snapshot of the generator (for checkpoints)."""
    return _generator.bit_generator.state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore a snapshot taken by `get_rng_state`."""
    _generator.bit_generator.state = state
