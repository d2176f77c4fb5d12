"""Feature scaling: put every input column on a comparable scale.

Gradient descent converges slowly when one input spans thousands and another
spans fractions (the loss surface becomes a long narrow valley), so inputs are
usually standardized first. Each scaler learns its statistics on the training
set only (`fit`) and applies them unchanged to validation/test data
(`transform`), so no information leaks from held-out data.
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np


def _as_2d(X: Any, who: str) -> np.ndarray:
    arr = np.asarray(getattr(X, "data", X))
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2:
        raise ValueError(f"{who}: expected a 2-D array (examples, features), got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"{who}: expected numeric data, got dtype {arr.dtype}")
    return arr


def _usable_scale(spread: np.ndarray, magnitude: np.ndarray) -> np.ndarray:
    """True where a column's spread is large enough to divide by.

    A spread below the smallest normal float, or at the rounding-noise level of
    the column's magnitude, would turn the division into inf or amplified noise;
    such columns are treated as constant.
    """
    floor = np.maximum(np.finfo(np.float64).tiny, 10 * np.finfo(np.float64).eps * magnitude)
    return spread > floor


class _Scaler:
    """Shared fit/transform plumbing; subclasses define the statistics."""

    _stats: tuple[str, ...] = ()

    def _fitted(self, who: str) -> tuple[np.ndarray, ...]:
        """The learned statistics, in ``_stats`` order; a clear error before the first fit."""
        stats = tuple(getattr(self, name) for name in self._stats)
        if any(stat is None for stat in stats):
            raise RuntimeError(f"{type(self).__name__}.{who}: call fit(X) on the training data first")
        return stats

    def _check_width(self, X: np.ndarray, who: str) -> None:
        width = getattr(self, self._stats[0]).shape[0]
        if X.shape[1] != width:
            raise ValueError(
                f"{type(self).__name__}.{who}: X has {X.shape[1]} features "
                f"but the scaler was fitted on {width}"
            )

    def fit(self, X: Any) -> Self:
        raise NotImplementedError

    def transform(self, X: Any) -> np.ndarray:
        raise NotImplementedError

    def fit_transform(self, X: Any) -> np.ndarray:
        return self.fit(X).transform(X)

    def state_dict(self) -> dict[str, Any]:
        """The learned statistics as plain arrays (stored alongside a model)."""
        return {name: getattr(self, name) for name in self._stats}

    def load_state_dict(self, state: dict[str, Any]) -> _Scaler:
        for name in self._stats:
            if name not in state:
                raise KeyError(f"{type(self).__name__}.load_state_dict: missing entry {name!r}")
            setattr(self, name, np.asarray(state[name]))
        return self


class Standardizer(_Scaler):
    """Scale each column to mean 0 and standard deviation 1: ``(x - mean) / std``.

    Constant columns (std 0) are left centred but unscaled (divided by 1) so
    they do not become NaN. ``std`` is the population standard deviation
    (``ddof=0``), as in scikit-learn's StandardScaler.
    """

    _stats = ("mean", "std")

    def __init__(self) -> None:
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None

    def fit(self, X: Any) -> Standardizer:
        arr = _as_2d(X, "Standardizer.fit")
        # Accumulate in float64 (float32 sums over 60,000 rows lose digits) without copying X.
        self.mean = arr.mean(axis=0, dtype=np.float64)
        std = arr.std(axis=0, dtype=np.float64)
        self.std = np.where(_usable_scale(std, np.abs(self.mean)), std, 1.0)
        return self

    def transform(self, X: Any) -> np.ndarray:
        mean, std = self._fitted("transform")
        arr = _as_2d(X, "Standardizer.transform")
        self._check_width(arr, "transform")
        dtype = arr.dtype if np.issubdtype(arr.dtype, np.floating) else np.float32
        # Work in the data's own precision: one output array, no float64 temporaries for float32 data.
        out = np.subtract(arr, mean.astype(dtype), dtype=dtype)
        out /= std.astype(dtype)
        return out

    def inverse_transform(self, X: Any) -> np.ndarray:
        mean, std = self._fitted("inverse_transform")
        arr = _as_2d(X, "Standardizer.inverse_transform")
        self._check_width(arr, "inverse_transform")
        return (arr * std + mean).astype(arr.dtype, copy=False)


class MinMaxScaler(_Scaler):
    """Scale each column linearly onto ``feature_range`` (default [0, 1]).

    Useful before sigmoid outputs or when inputs must stay non-negative.
    Constant columns map to the low end of the range.
    """

    _stats = ("data_min", "data_max")

    def __init__(self, feature_range: tuple[float, float] = (0.0, 1.0)) -> None:
        lo, hi = feature_range
        if not lo < hi:
            raise ValueError(
                f"MinMaxScaler: feature_range must be (low, high) with low < high, got {feature_range}"
            )
        self.feature_range = (float(lo), float(hi))
        self.data_min: np.ndarray | None = None
        self.data_max: np.ndarray | None = None

    def fit(self, X: Any) -> MinMaxScaler:
        arr = _as_2d(X, "MinMaxScaler.fit")
        self.data_min = arr.min(axis=0).astype(np.float64)
        self.data_max = arr.max(axis=0).astype(np.float64)
        return self

    def _scale(self, data_min: np.ndarray, data_max: np.ndarray) -> np.ndarray:
        span = data_max - data_min
        lo, hi = self.feature_range
        magnitude = np.maximum(np.abs(data_min), np.abs(data_max))
        return (hi - lo) / np.where(_usable_scale(span, magnitude), span, 1.0)

    def transform(self, X: Any) -> np.ndarray:
        data_min, data_max = self._fitted("transform")
        arr = _as_2d(X, "MinMaxScaler.transform")
        self._check_width(arr, "transform")
        dtype = arr.dtype if np.issubdtype(arr.dtype, np.floating) else np.float32
        out = (arr - data_min) * self._scale(data_min, data_max) + self.feature_range[0]
        return out.astype(dtype, copy=False)

    def inverse_transform(self, X: Any) -> np.ndarray:
        data_min, data_max = self._fitted("inverse_transform")
        arr = _as_2d(X, "MinMaxScaler.inverse_transform")
        self._check_width(arr, "inverse_transform")
        out = (arr - self.feature_range[0]) / self._scale(data_min, data_max) + data_min
        return out.astype(arr.dtype, copy=False)

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["feature_range"] = np.asarray(self.feature_range)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> MinMaxScaler:
        super().load_state_dict(state)
        if "feature_range" in state:
            lo, hi = np.asarray(state["feature_range"]).tolist()
            self.feature_range = (float(lo), float(hi))
        return self
