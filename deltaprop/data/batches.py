"""Mini-batch iteration: the loop mini-batch gradient descent runs over each epoch."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from deltaprop.data._rng import rng_from


def batches(
    X: Any,
    y: Any = None,
    batch_size: int | None = 32,
    shuffle: bool = True,
    rng: int | np.random.Generator | None = None,
    drop_last: bool = False,
) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """Yield ``(X_batch, y_batch)`` pairs covering every row once.

    ``batch_size=None`` yields the whole set as one batch (full-batch gradient
    descent). With ``shuffle`` the order is a fresh permutation drawn from
    ``rng`` (a seed or Generator), else from the package generator. The last
    batch is smaller when the rows do not divide evenly, unless ``drop_last``.
    ``y`` may be None (prediction), in which case ``y_batch`` is None.
    """
    X = np.asarray(getattr(X, "data", X))
    if y is not None:
        y = np.asarray(getattr(y, "data", y))
        if len(y) != len(X):
            raise ValueError(f"batches: X has {len(X)} rows but y has {len(y)}; they must match")
    n = len(X)
    size = n if batch_size is None else int(batch_size)
    if size < 1:
        raise ValueError(f"batches: batch_size must be a positive integer or None, got {batch_size!r}")
    order = rng_from(rng).permutation(n) if shuffle else None
    stop = n - n % size if drop_last else n
    for start in range(0, stop, size):
        if order is None:
            index: Any = slice(start, min(start + size, n))
        else:
            index = order[start : start + size]
        yield X[index], (None if y is None else y[index])
