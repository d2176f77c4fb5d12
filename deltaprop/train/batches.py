"""Batch sources: where `fit` gets each epoch's batches from.

A batch source is anything with ``len(source)`` (batches per epoch),
``source.n`` (examples per epoch, for the epoch's mean loss) and iteration
yielding ``(x_batch, y_batch, size)`` as Tensors on the model's array
module. `fit` builds an `ArrayBatches` from arrays; a distributed run swaps in
a source that gives each process its slice of every global batch, and a
``DataLoader`` (``deltaprop.utils.data``) can be wrapped the same way, without
touching the epoch loop.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType
from typing import Any

import numpy as np

from deltaprop import backend
from deltaprop.ops.losses import mark_labels_checked
from deltaprop.random import generator
from deltaprop.tensor import Tensor


class ArrayBatches:
    """Consecutive mini-batches of in-memory (X, y), reshuffled every epoch when ``shuffle``.

    ``batch_size=None`` gives the whole set as one batch (full-batch methods),
    always in its original order. Each epoch's permutation is drawn from the
    package generator when iteration starts, so a seeded run (and a resumed
    one, whose generator state comes from the checkpoint) sees the same
    batches.
    """

    def __init__(
        self, X: np.ndarray, y: np.ndarray, batch_size: int | None, shuffle: bool, xp: ModuleType = np
    ) -> None:
        self.X, self.y, self.n = X, y, len(X)
        # Class labels are range-checked here once; each batch is then marked as checked, so the
        # loss compares two numbers per step instead of scanning the labels again.
        self.label_range = (int(y.min()), int(y.max())) if y.dtype.kind in "iu" and y.size else None
        self.full_batch = batch_size is None
        size = self.n if batch_size is None else int(batch_size)
        self.bounds = [(start, min(start + size, self.n)) for start in range(0, self.n, size)]
        self.shuffle = shuffle and not self.full_batch
        self.xp = xp

    def __len__(self) -> int:
        return len(self.bounds)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor, int]]:
        X, y, wrap = self.X, self.y, Tensor._wrap
        move = None if self.xp is np else self._move
        checked = self.label_range
        if self.full_batch:
            xb, yb = (X, y) if move is None else (move(X), move(y))
            if checked is not None:
                mark_labels_checked(yb, *checked)
            yield wrap(xb), wrap(yb), self.n
            return
        order = generator().permutation(self.n) if self.shuffle else None
        for start, stop in self.bounds:
            if order is not None:
                index = order[start:stop]
                xb, yb = X[index], y[index]
            else:
                xb, yb = X[start:stop], y[start:stop]
            if move is not None:
                xb, yb = move(xb), move(yb)
            if checked is not None:
                mark_labels_checked(yb, *checked)
            yield wrap(xb), wrap(yb), stop - start

    def _move(self, array: Any) -> Any:
        return backend.to_module(array, self.xp)
