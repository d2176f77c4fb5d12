"""Pick the random generator for a data function: an explicit seed, or the package one.

Every random draw in deltaprop goes through `deltaprop.random.generator()` so
``deltaprop.manual_seed`` makes a run repeatable; a function given its own
``seed`` uses a private generator instead, so it does not disturb that stream.
"""

from __future__ import annotations

import numpy as np

from deltaprop.random import generator


def rng_from(seed: int | np.random.Generator | None) -> np.random.Generator:
    if seed is None:
        return generator()
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)
