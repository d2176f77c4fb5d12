"""One-hot encoding of integer class labels.

Cross-entropy in deltaprop takes integer labels directly, but MSE-trained
classifiers (the textbook setup) and class-probability targets need each label
``k`` turned into a row with a 1 in column ``k``.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def one_hot(y: Any, num_classes: int | None = None, dtype: Any = np.float32) -> np.ndarray:
    """Rows of zeros with a 1 at each label: shape ``(len(y), num_classes)``.

    ``num_classes`` defaults to ``max(y) + 1``. Labels must be integers in
    ``[0, num_classes)``; anything else is an error rather than a silent wrap.
    """
    labels = np.asarray(getattr(y, "data", y))
    if labels.ndim != 1:
        raise ValueError(f"one_hot: expected a 1-D array of labels, got shape {labels.shape}")
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        if not np.issubdtype(labels.dtype, np.floating) or not np.all(labels == np.round(labels)):
            raise TypeError(f"one_hot: labels must be integers, got dtype {labels.dtype}")
        labels = labels.astype(np.int64)
    labels = labels.astype(np.int64, copy=False)
    if num_classes is None:
        num_classes = int(labels.max()) + 1 if labels.size else 0
    if num_classes < 0:
        raise ValueError(f"one_hot: num_classes must be >= 0, got {num_classes}")
    bad = (labels < 0) | (labels >= num_classes)
    if np.any(bad):
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"one_hot: label {int(labels[first])} at index {first} is outside [0, {num_classes}); "
            f"pass num_classes > {int(labels.max())} or fix the labels"
        )
    out = np.zeros((labels.shape[0], num_classes), dtype=dtype)
    out[np.arange(labels.shape[0]), labels] = 1
    return out
