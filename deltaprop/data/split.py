"""Hold out part of the data to measure how well a model generalises."""

from __future__ import annotations

from typing import Any

import numpy as np

from deltaprop.data._rng import rng_from


def _n_test(n: int, test_size: float | int) -> int:
    if isinstance(test_size, (int, np.integer)) and not isinstance(test_size, bool):
        n_test = int(test_size)
    elif isinstance(test_size, float) and 0.0 < test_size < 1.0:
        n_test = int(np.ceil(test_size * n))
    else:
        raise ValueError(
            f"train_test_split: test_size must be a fraction in (0, 1) or a count, got {test_size!r}"
        )
    if not 0 < n_test < n:
        raise ValueError(
            f"train_test_split: test_size={test_size!r} leaves {n_test} test and {n - n_test} training "
            f"examples out of {n}; both must be at least 1"
        )
    return n_test


def _stratified_test_rows(labels: np.ndarray, n_test: int, rng: np.random.Generator) -> np.ndarray:
    """Pick test rows so each class keeps its share (largest-remainder rounding)."""
    classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    exact = counts * n_test / len(labels)
    take = np.floor(exact).astype(np.int64)
    shortfall = n_test - int(take.sum())
    if shortfall > 0:
        order = np.argsort(-(exact - take), kind="stable")
        take[order[:shortfall]] += 1
    rows = []
    for k in range(len(classes)):
        members = np.flatnonzero(inverse == k)
        rows.append(rng.permutation(members)[: take[k]])
    return np.concatenate(rows)


def train_test_split(
    X: Any,
    y: Any,
    test_size: float | int = 0.2,
    seed: int | np.random.Generator | None = None,
    stratify: Any = None,
    shuffle: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split into ``X_train, X_test, y_train, y_test`` (scikit-learn's order).

    ``test_size`` is a fraction (rounded up) or a number of rows. ``stratify``
    is an array of class labels (or ``True`` to use ``y``) whose proportions
    the two parts keep, which matters for small or imbalanced classes. The
    shuffle draws from ``seed`` if given, else from the package generator.
    ``shuffle=False`` takes the last rows as the test set (time series).
    """
    X = np.asarray(getattr(X, "data", X))
    y = np.asarray(getattr(y, "data", y))
    if len(X) != len(y):
        raise ValueError(f"train_test_split: X has {len(X)} rows but y has {len(y)}; they must match")
    n = len(X)
    n_test = _n_test(n, test_size)
    rng = rng_from(seed)
    stratified = stratify is not None and stratify is not False
    if stratified:
        if not shuffle:
            raise ValueError("train_test_split: stratify needs shuffle=True")
        labels = y if stratify is True else np.asarray(stratify)
        if len(labels) != n:
            raise ValueError(f"train_test_split: stratify has {len(labels)} labels for {n} rows")
        test_rows = _stratified_test_rows(labels, n_test, rng)
    elif shuffle:
        test_rows = rng.permutation(n)[:n_test]
    else:
        test_rows = np.arange(n - n_test, n)
    is_test = np.zeros(n, dtype=bool)
    is_test[test_rows] = True
    if shuffle:
        # Keep a random order inside each part too, so the training rows are not grouped by class.
        test_rows = rng.permutation(test_rows) if stratified else test_rows
        train_rows = rng.permutation(np.flatnonzero(~is_test))
    else:
        train_rows = np.flatnonzero(~is_test)
    return X[train_rows], X[test_rows], y[train_rows], y[test_rows]
