"""Prediction and evaluation without recording a graph (validation, train metrics, users)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from deltaprop import backend
from deltaprop.tensor import Tensor, no_grad

CHUNK = 8192  # rows per forward: bounds memory on big sets, one forward on small ones


def predict(model: Any, X: Any, batch_size: int = CHUNK) -> np.ndarray:
    """The model's outputs for X as a NumPy array, in eval mode (dropout off), chunk by chunk."""
    data = X.array if isinstance(X, Tensor) else np.asarray(X)
    xp = next((backend.array_module(p.array) for p in model.parameters()), np)
    was_training = model.training
    model.eval()
    try:
        with no_grad():  # each chunk goes to the model's array module, each result back to the host
            parts = [_forward_on(model, data[start:start + batch_size], xp)
                     for start in range(0, len(data), batch_size)]
    finally:
        model.train(was_training)
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _forward_on(model: Any, chunk: np.ndarray, xp: Any) -> np.ndarray:
    return backend.to_numpy(model(Tensor._wrap(backend.to_module(chunk, xp))).array)


def evaluate(
    model: Any,
    loss_fn: Any,
    X: np.ndarray,
    y: np.ndarray,
    metrics: Sequence[tuple[str, Any]] = (),
    prefix: str = "",
) -> dict[str, float]:
    """Loss and metrics of the model on (X, y), keyed ``prefix + name`` (e.g. 'val_loss')."""
    outputs = predict(model, X)
    with no_grad():
        loss = float(loss_fn(Tensor._wrap(outputs), Tensor._wrap(y)).item())
    logs = {prefix + "loss": loss}
    for name, function in metrics:
        logs[prefix + name] = float(function(outputs, y))
    return logs
