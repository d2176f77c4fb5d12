"""Metrics reported per epoch: plain functions f(y_pred, y_true) -> float on NumPy arrays."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial

import numpy as np

Metric = Callable[[np.ndarray, np.ndarray], float]


def accuracy(y_pred: np.ndarray, y_true: np.ndarray, threshold: float = 0.5) -> float:
    """Fraction of correct predictions.

    Several output columns: the predicted class is the arg-max (targets may be
    labels or one-hot rows). One output: a binary prediction, positive when
    above ``threshold`` (0.5 for probabilities; fit uses 0 for logits).
    """
    y_pred = np.asarray(y_pred)
    y_true = np.asarray(y_true)
    if y_pred.ndim == 2 and y_pred.shape[1] > 1:
        predicted = y_pred.argmax(axis=1)
        labels = y_true.argmax(axis=1) if y_true.ndim == 2 and y_true.shape[1] > 1 else y_true.reshape(-1)
        return float(np.mean(predicted == labels))
    predicted = (y_pred.reshape(-1) > threshold).astype(np.int64)
    return float(np.mean(predicted == (y_true.reshape(-1) > 0.5)))


def mae(y_pred: np.ndarray, y_true: np.ndarray) -> float:
    """Mean absolute error over every element."""
    return float(np.mean(np.abs(np.asarray(y_pred, dtype=np.float64) - _like(y_true, y_pred))))


def mse(y_pred: np.ndarray, y_true: np.ndarray) -> float:
    """Mean squared error over every element."""
    diff = np.asarray(y_pred, dtype=np.float64) - _like(y_true, y_pred)
    return float(np.mean(diff * diff))


def rmse(y_pred: np.ndarray, y_true: np.ndarray) -> float:
    return float(np.sqrt(mse(y_pred, y_true)))


def r2(y_pred: np.ndarray, y_true: np.ndarray) -> float:
    """Coefficient of determination, 1 - SS_res / SS_tot (1 is perfect)."""
    truth = _like(y_true, y_pred)
    residual = np.sum((np.asarray(y_pred, dtype=np.float64) - truth) ** 2)
    total = np.sum((truth - truth.mean(axis=0)) ** 2)
    return float(1.0 - residual / total) if total > 0 else float("nan")


def _like(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    return np.asarray(y_true, dtype=np.float64).reshape(np.shape(y_pred))


METRICS: dict[str, Metric] = {"accuracy": accuracy, "acc": accuracy, "mae": mae, "mse": mse, "rmse": rmse,
                              "r2": r2}


def resolve_metrics(
    metrics: Iterable[str | Metric] | str, loss_fn: object = None
) -> list[tuple[str, Metric]]:
    """(name, function) pairs for fit's ``metrics=``; names are checked here, before training starts."""
    if isinstance(metrics, str) or callable(metrics):
        metrics = [metrics]
    resolved: list[tuple[str, Metric]] = []
    for metric in metrics:
        if callable(metric):
            resolved.append((getattr(metric, "__name__", type(metric).__name__), metric))
            continue
        key = str(metric).lower()
        if key not in METRICS:
            raise ValueError(f"fit: unknown metric {metric!r}; choose from {sorted(METRICS)} or pass a "
                             "function f(y_pred, y_true) -> float")
        function = METRICS[key]
        if function is accuracy and type(loss_fn).__name__ == "BCEWithLogitsLoss":
            function = partial(accuracy, threshold=0.0)  # the model outputs logits: positive means > 0
        resolved.append(("accuracy" if key == "acc" else key, function))
    return resolved
