"""What `fit` checks before it trains: arguments, data, validation data, and a resume's data.

Why up front: a NaN in the validation set, or a checkpoint resumed on other
data, does not fail where it is caused; it shows up epochs later as a NaN
loss, an early stop "at epoch None", or NumPy's "need at least one array to
concatenate". Checked here, each gets one message naming the argument, the
row and column, and the fix.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from deltaprop import backend
from deltaprop.errors import ShapeError
from deltaprop.tensor import Tensor

# rows hashed for a data fingerprint: enough to tell data sets apart, cheap for any size
_FINGERPRINT_ROWS = 256


def check_arguments(epochs, batch_size, validation_split, checkpoint_every, check_finite) -> None:
    if not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ValueError(f"fit: epochs must be a non-negative integer, got {epochs!r}")
    if batch_size is not None and (not isinstance(batch_size, (int, np.integer)) or batch_size <= 0):
        raise ValueError(
            f"fit: batch_size must be a positive integer or None (full batch), got {batch_size!r}"
        )
    if not 0.0 <= validation_split < 1.0:
        raise ValueError(f"fit: validation_split must be in [0, 1), got {validation_split!r}")
    if checkpoint_every < 1:
        raise ValueError(f"fit: checkpoint_every must be >= 1, got {checkpoint_every!r}")
    if check_finite not in (True, False, "grads"):
        raise ValueError(f"fit: check_finite must be True, False or 'grads', got {check_finite!r}")


def as_array(data: Any, dtype: Any, name: str) -> np.ndarray:
    """Arrays in the model's float dtype, converted once here rather than in every batch."""
    array = data.array if isinstance(data, Tensor) else data
    if not hasattr(array, "dtype"):
        array = np.asarray(array)
    if array.ndim == 0:
        raise ShapeError(f"fit: {name} must have one row per example, got a scalar")
    if array.dtype.kind == "c":
        raise TypeError(
            f"fit: {name} is complex ({array.dtype}) and deltaprop trains on real numbers; pass "
            f"{name}.real, np.abs({name}), or the real and imaginary parts as separate features"
        )
    convert = array.dtype.kind == "f" and array.dtype != dtype
    if convert or (array.dtype.kind in "biu" and name.endswith("X")):  # integer features become floats
        array = array.astype(dtype)
    elif array.dtype.kind not in "biuf":
        raise TypeError(f"fit: {name} must be numeric, got dtype {array.dtype}")
    return array


def check_data_finite(array: np.ndarray, name: str) -> None:
    """Bad data is caught once, up front, rather than as a mysterious NaN loss later.

    Checked a slab of rows at a time into one small reused mask, so a 60000 x 784
    set costs one read of the data, not a second array of its size.
    """
    if array.dtype.kind == "f" and not _all_finite(array):
        bad = ~np.isfinite(array)
        position = np.argwhere(bad)[0]
        value = array[tuple(position)]
        where = f"row {position[0]}" + (f", column {position[1]}" if len(position) > 1 else "")
        raise ValueError(
            f"fit: {name} contains {value} at {where} (and {int(bad.sum())} non-finite "
            "values in all); remove or impute them before training"
        )


def _all_finite(array: np.ndarray, chunk_bytes: int = 1 << 20) -> bool:
    if array.ndim == 0 or array.size * array.itemsize <= chunk_bytes:
        return bool(np.isfinite(array).all())
    rows = max(1, chunk_bytes // max(1, array[0].size * array.itemsize))
    mask = np.empty((rows,) + array.shape[1:], dtype=bool)
    for start in range(0, len(array), rows):
        part = array[start : start + rows]
        view = mask[: len(part)]
        np.isfinite(part, out=view)
        if not view.all():
            return False
    return True


def check_lengths(X: Any, y: Any, x_name: str, y_name: str) -> None:
    if len(X) != len(y):
        raise ShapeError(
            f"fit: {x_name} has {len(X)} rows but {y_name} has {len(y)}; they need one target per example"
        )
    if len(X) == 0:
        raise ValueError(f"fit: {x_name} is empty")


def validation_arrays(validation_data: Any, dtype: Any, check_finite: bool | str) -> tuple[Any, Any]:
    """``validation_data`` as arrays, held to the same checks as X and y.

    A NaN here would make every val_loss NaN, so early stopping would never see
    an improvement and report "best inf at epoch None".
    """
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
        raise TypeError(
            f"fit: validation_data must be a pair (X_val, y_val), got {type(validation_data).__name__}"
        )
    X_val = as_array(validation_data[0], dtype, "validation X")
    y_val = as_array(validation_data[1], dtype, "validation y")
    check_lengths(X_val, y_val, "validation X", "validation y")
    if check_finite:
        check_data_finite(X_val, "validation X")
        check_data_finite(y_val, "validation y")
    return X_val, y_val


def check_resume_split(saved_order: Any, n: int) -> None:
    """A checkpointed validation split applies only to data with as many rows as the run it came from."""
    if saved_order is not None and len(saved_order) != n:
        raise ValueError(
            f"fit(resume_from=...): the checkpointed run split {len(saved_order)} examples into training "
            f"and validation, but this run has {n}; resume with the same X and y as the checkpointed run, "
            "or start a new run without resume_from"
        )


def data_fingerprint(X: np.ndarray, y: np.ndarray) -> str:
    """A short digest of the training data: shapes, dtypes and up to 256 evenly spaced rows.

    Cheap for any size; two data sets that agree in shape and in every sampled
    row are taken to be the same.
    """
    digest = hashlib.blake2b(digest_size=12)
    for array in (np.asarray(X), np.asarray(y)):
        digest.update(f"{array.shape}{array.dtype.str}".encode())
        if len(array):
            digest.update(np.ascontiguousarray(array[_sampled_rows(len(array))]).tobytes())
    return digest.hexdigest()


def _sampled_rows(n: int) -> np.ndarray:
    """Up to 256 evenly spaced row indices of n rows (n >= 1), first and last included."""
    return np.unique(np.linspace(0, n - 1, min(n, _FINGERPRINT_ROWS)).astype(int))


def loader_fingerprint(loader: Any) -> str:
    """`data_fingerprint` of a DataLoader's dataset, read item by item (the loader's shuffle is not drawn).

    Up to 256 evenly spaced items (x, y, ...) are read with ``dataset[i]``; a
    dataset without ``len`` or indexing (an iterable one) is known by its type alone.
    """
    dataset: Any = getattr(loader, "dataset", None)
    try:
        n = len(dataset)
        items = [dataset[int(i)] for i in _sampled_rows(n)] if n else []
    except TypeError:  # nothing to sample without consuming it
        return type(dataset).__name__
    digest = hashlib.blake2b(digest_size=12)
    digest.update(f"{type(dataset).__name__}:{n}".encode())
    for k in range(len(items[0]) if items else 0):
        column = np.stack([_host(item[k]) for item in items])
        digest.update(f"{column.shape}{column.dtype.str}".encode())
        digest.update(np.ascontiguousarray(column).tobytes())
    return digest.hexdigest()


def _host(value: Any) -> np.ndarray:
    return backend.to_numpy(value.array if isinstance(value, Tensor) else np.asarray(value))


def check_resume_data(saved_fit_args: dict[str, Any], fit_args: dict[str, Any], path: str) -> None:
    """Resuming on other data continues some other run: refuse it, naming both data sets' sizes."""
    before, now = saved_fit_args.get("data"), fit_args.get("data")
    if before is not None and now is not None and before != now:
        raise ValueError(
            f"fit(resume_from={path!r}): this run's X and y differ from the checkpointed run's "
            "(another file, order or size); resume with the same data, or start a new run without resume_from"
        )
