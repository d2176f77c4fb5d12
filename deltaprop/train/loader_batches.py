"""`LoaderBatches`: a `DataLoader` as fit's batch source, the same interface as `ArrayBatches`.

``fit(model, loader, loss=..., optimizer=...)`` trains on whatever the
loader yields, each batch an ``(x, y)`` pair (a tuple, a list, or anything
indexable with two entries), moved to the model's array module and, like
fit's arrays, in the model's float dtype (integer features become floats;
integer labels stay integers). The loader decides order and batch size;
``fit``'s ``batch_size``, ``shuffle`` and ``validation_split`` do not apply
(validation data may be arrays or another loader). Full-batch optimizers
(L-BFGS, Levenberg-Marquardt, ...) need the whole set at once: give them
arrays.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType
from typing import Any

import numpy as np

from deltaprop import backend
from deltaprop.tensor import Tensor
from deltaprop.train.validation import as_array


def is_loader(data: Any) -> bool:
    """Whether ``data`` is a DataLoader (anything iterable with a ``dataset`` and a ``batch_sampler``)."""
    return hasattr(data, "dataset") and hasattr(data, "batch_sampler") and hasattr(data, "__iter__")


class LoaderBatches:
    """The loader's batches as ``(x, y, size)`` Tensors on ``xp`` in ``dtype``; ``n`` examples per epoch."""

    def __init__(self, loader: Any, xp: ModuleType, dtype: Any) -> None:
        self.loader, self.xp, self.dtype = loader, xp, dtype
        self.full_batch = False
        size = getattr(loader, "batch_size", None)
        count = len(loader.dataset)
        self.n = len(loader) * size if getattr(loader, "drop_last", False) and size else count

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor, int]]:
        for batch in self.loader:
            try:
                x, y = batch[0], batch[1]
            except (TypeError, IndexError, KeyError):
                raise TypeError(
                    f"fit: each batch of the DataLoader must be a pair (x, y), got {type(batch).__name__}; "
                    "return (features, targets) from the dataset, or pass collate_fn"
                ) from None
            xb, yb = self._array(x, "X"), self._array(y, "y")
            if len(xb) != len(yb):
                raise ValueError(f"fit: a DataLoader batch has {len(xb)} inputs but {len(yb)} targets")
            yield Tensor._wrap(xb), Tensor._wrap(yb), len(xb)

    def _array(self, value: Any, name: str) -> Any:
        array = value.array if isinstance(value, Tensor) else value
        array = as_array(array, self.dtype, name)
        return array if backend.array_module(array) is self.xp else backend.to_module(array, self.xp)


def loader_arrays(loader: Any) -> tuple[np.ndarray, np.ndarray]:
    """Every batch of a loader joined into (X, y) host arrays (for validation data given as a loader)."""
    xs, ys = [], []
    for batch in loader:
        x, y = batch[0], batch[1]
        xs.append(backend.to_numpy(x.array if isinstance(x, Tensor) else np.asarray(x)))
        ys.append(backend.to_numpy(y.array if isinstance(y, Tensor) else np.asarray(y)))
    if not xs:
        raise ValueError("fit: the validation DataLoader yields no batches")
    return np.concatenate(xs), np.concatenate(ys)


def loader_source(X: Any, y: Any, model_xp: ModuleType, dtype: Any, validation_split: float,
                  optimizer: Any) -> LoaderBatches | None:  # fmt: skip
    """fit's dispatch: a `LoaderBatches` when X is a DataLoader (checking what does not apply), else None."""
    if not is_loader(X):
        return None
    if y is not None:
        raise TypeError("fit: with a DataLoader as X, leave y out (the loader yields the targets)")
    if validation_split:
        raise ValueError(
            "fit: validation_split needs arrays; with a DataLoader pass validation_data (arrays or a "
            "loader), e.g. from deltaprop.utils.data.random_split"
        )
    if getattr(optimizer, "full_batch", False):
        raise ValueError(
            f"fit: {type(optimizer).__name__} trains on the whole set at every step; pass arrays (X, y) "
            "instead of a DataLoader"
        )
    return LoaderBatches(X, model_xp, dtype)
