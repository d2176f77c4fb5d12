"""Folding input and output scaling into the first and last Linear layers.

Training wants standardized inputs (and, for regression, standardized
targets); a saved model should take raw data and answer in real units. Since
W (a*x + c) + b = (W * a) x + (W c + b), the scaling can be moved into the
weights after training, and the model file needs no scaler beside it.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def affine_of(scaler: Any, width: int) -> tuple[np.ndarray, np.ndarray]:
    """A fitted per-column scaler as t(x) = a * x + c (read off its transform, whatever its fields)."""
    zeros = np.zeros((1, width), np.float64)
    c = np.asarray(scaler.transform(zeros), np.float64)[0]
    a = np.asarray(scaler.transform(zeros + 1.0), np.float64)[0] - c
    return a, c


def _end_linear(model: Any, end: str) -> Any:
    """The first or last layer holding weights, which must be a Linear for the fold to be exact."""
    from deltaprop.nn import Linear

    leaves = [m for m in model.modules() if next(m.children(), None) is None]
    weighted = [m for m in leaves if next(m.parameters(), None) is not None]
    if not weighted:
        raise TypeError("fold_scaling: the model has no layer with weights to fold the scaling into")
    layer = weighted[0] if end == "first" else weighted[-1]
    if not isinstance(layer, Linear):
        raise TypeError(
            f"fold_scaling: the {end} layer with weights is a {type(layer).__name__}, not a Linear, so a "
            "per-feature scaling cannot be folded into it; keep the scaler beside the model instead"
        )
    return layer


def fold_input_scaling(model: Any, a: np.ndarray, c: np.ndarray) -> None:
    """Make the model take raw x where it was trained on a * x + c (in place, float64 arithmetic)."""
    first = _end_linear(model, "first")
    W = first.weight.array.astype(np.float64)
    if first.bias is not None:
        first.bias.array[...] = first.bias.array.astype(np.float64) + W @ c
    elif np.any(c):
        raise TypeError("fold_scaling: the first Linear has no bias, so the input shift cannot be folded in")
    first.weight.array[...] = W * a[None, :]


def fold_output_scaling(model: Any, a: np.ndarray, c: np.ndarray) -> None:
    """Make the model answer y where it was trained on targets t = a * y + c (in place)."""
    last = _end_linear(model, "last")
    W = last.weight.array.astype(np.float64)
    last.weight.array[...] = W / a[:, None]
    if last.bias is not None:
        last.bias.array[...] = (last.bias.array.astype(np.float64) - c) / a
    elif np.any(c):
        raise TypeError("fold_scaling: the last Linear has no bias, so the target shift cannot be folded in")


def fold_scaling(model: Any, x_affine: tuple[np.ndarray, np.ndarray], y_affine=None) -> None:
    """Fold t(x) = a*x + c into the first Linear and y = (t - c)/a into the last, in place."""
    fold_input_scaling(model, *x_affine)
    if y_affine is not None:
        fold_output_scaling(model, *y_affine)
