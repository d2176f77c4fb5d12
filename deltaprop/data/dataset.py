"""`Dataset`: a data set's arrays plus what a reader needs to use them well.

A bare ``(X, y)`` pair loses the task, the column names and where the data came
from; a `Dataset` keeps them together, and still unpacks like a pair
(``X, y = load_digits()``) because that is what most code wants.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

TASKS = ("classify", "regress")


@dataclass
class Dataset:
    """Features ``X`` (float32, one row per example) and targets ``y``.

    ``y`` holds int64 class labels when ``task == 'classify'`` and float32
    targets when ``task == 'regress'``. ``X_test`` / ``y_test`` are set when the
    source ships its own held-out split (Fashion-MNIST, MNIST).
    """

    X: np.ndarray
    y: np.ndarray
    task: str = "classify"
    feature_names: list[str] = field(default_factory=list)
    target_names: list[str] | None = None
    description: str = ""
    X_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    name: str = ""

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"Dataset: task must be one of {TASKS}, got {self.task!r}")
        if len(self.X) != len(self.y):
            raise ValueError(
                f"Dataset: X has {len(self.X)} rows but y has {len(self.y)}; they must match one to one"
            )
        if not self.feature_names and self.X.ndim == 2:
            self.feature_names = [f"x{i}" for i in range(self.X.shape[1])]

    def __iter__(self) -> Iterator[np.ndarray]:
        """Yield ``X`` then ``y`` so ``X, y = dataset`` works."""
        yield self.X
        yield self.y

    def __len__(self) -> int:
        return len(self.X)

    @property
    def n_features(self) -> int:
        return int(np.prod(self.X.shape[1:]))

    @property
    def n_classes(self) -> int | None:
        """Number of classes for a classification set, else None."""
        if self.task != "classify":
            return None
        if self.target_names is not None:
            return len(self.target_names)
        return int(self.y.max()) + 1 if len(self.y) else 0

    def __repr__(self) -> str:
        test = "" if self.X_test is None else f", X_test={self.X_test.shape}"
        label = f"{self.name!r}, " if self.name else ""
        return f"Dataset({label}X={self.X.shape}, y={self.y.shape}, task={self.task!r}{test})"
