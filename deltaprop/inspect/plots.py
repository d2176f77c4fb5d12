"""Plots of training and of backprop's workings (matplotlib, the optional extra ``deltaprop[plot]``).

Every function returns the matplotlib ``Figure`` and, when ``path`` is
given, saves it there as PNG. matplotlib is imported lazily with the Agg
backend, so the functions work on machines without a display and the rest of
deltaprop works without matplotlib.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from deltaprop.errors import optional_import
from deltaprop.tensor import Tensor, no_grad

__all__ = [
    "plot_decision_boundary",
    "plot_error_by_iteration",
    "plot_error_surface",
    "plot_gradient_norms",
    "plot_history",
    "plot_prediction_by_iteration",
]


def _pyplot():
    matplotlib = optional_import("matplotlib", "plot", "deltaprop.inspect.plots")
    matplotlib.use("Agg", force=False)
    return optional_import("matplotlib.pyplot", "plot", "deltaprop.inspect.plots")


def _finish(fig, path: str | None):
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, format="png", dpi=80)
    return fig


def _series(values: Any) -> np.ndarray:
    if hasattr(values, "iteration_loss"):  # a History
        values = values.iteration_loss
    return np.asarray(values, dtype=np.float64).reshape(len(values), -1)


def plot_error_by_iteration(errors: Any, path: str | None = None, title: str = "Error by iteration"):
    """The network error after each update (a list, an array, or a History's iteration_loss)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    values = _series(errors)
    ax.plot(np.arange(1, len(values) + 1), values[:, 0], color="tab:red")
    ax.set_xlabel("iteration")
    ax.set_ylabel("error")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return _finish(fig, path)


def plot_prediction_by_iteration(
    predictions: Any, target: Any = None, path: str | None = None, title: str = "Prediction by iteration"
):
    """Each output's prediction after each update, with the target as a dashed line."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    values = _series(predictions)
    steps = np.arange(1, len(values) + 1)
    for k in range(values.shape[1]):
        ax.plot(steps, values[:, k], label=f"output {k + 1}" if values.shape[1] > 1 else "prediction")
    if target is not None:
        for t in np.atleast_1d(np.asarray(target, dtype=np.float64)).reshape(-1)[: values.shape[1]]:
            ax.axhline(t, linestyle="--", color="gray", label=f"target {t:g}")
    ax.set_xlabel("iteration")
    ax.set_ylabel("prediction")
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _finish(fig, path)


def _history_dict(history: Any) -> dict[str, list[float]]:
    return dict(history.history) if hasattr(history, "history") else dict(history)


def plot_history(history: Any, metrics: Sequence[str] | None = None, path: str | None = None):
    """Training and validation curves per epoch: loss plus each metric, train solid, val dashed."""
    plt = _pyplot()
    data = _history_dict(history)
    if metrics is None:
        metrics = [k for k in data if not k.startswith("val_") and "/" not in k and k != "gradient_warnings"]
    metrics = [m for m in metrics if m in data] or list(data)[:1]
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.5 * len(metrics), 3.2), squeeze=False)
    for ax, name in zip(axes[0], metrics, strict=False):
        epochs = np.arange(1, len(data[name]) + 1)
        ax.plot(epochs, data[name], label=f"train {name}")
        if f"val_{name}" in data:
            ax.plot(
                np.arange(1, len(data[f"val_{name}"]) + 1), data[f"val_{name}"], "--", label=f"val {name}"
            )
        ax.set_xlabel("epoch")
        ax.set_title(name)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    return _finish(fig, path)


def plot_gradient_norms(history: Any, path: str | None = None, log: bool = True):
    """Per-layer ||dC/dW|| per epoch, from the ``grad_norm/<layer>`` series `GradientFlow` records."""
    plt = _pyplot()
    data = _history_dict(history)
    series = {k.split("/", 1)[1]: v for k, v in data.items() if k.startswith("grad_norm/")}
    if not series:
        raise ValueError(
            "plot_gradient_norms: the history has no 'grad_norm/<layer>' series; train with "
            "callbacks=[deltaprop.inspect.GradientFlow()]"
        )
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for name, values in series.items():
        ax.plot(np.arange(1, len(values) + 1), values, marker="o", markersize=3, label=f"module {name}")
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("||dC/dW||")
    ax.set_title("Gradient norm per layer")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _finish(fig, path)


def plot_decision_boundary(model: Any, X: Any, y: Any, path: str | None = None, resolution: int = 150):
    """Class regions of a 2-D classifier over the data's range, with the points on top.

    The model's output is read as class scores (argmax) when it has several
    columns, or as one score thresholded at 0.5 when it has one.
    """
    plt = _pyplot()
    X = np.asarray(X.array if isinstance(X, Tensor) else X, dtype=np.float64)
    y = np.asarray(y.array if isinstance(y, Tensor) else y).reshape(-1)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"plot_decision_boundary: needs 2-D inputs of shape (N, 2), got {X.shape}")
    pad = 0.1 * (X.max(axis=0) - X.min(axis=0) + 1e-9)
    lo, hi = X.min(axis=0) - pad, X.max(axis=0) + pad
    g0, g1 = np.meshgrid(np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution))
    grid = np.column_stack([g0.ravel(), g1.ravel()])
    dtype = next(iter(model.parameters())).array.dtype if hasattr(model, "parameters") else np.float64
    with no_grad():
        scores = np.asarray(model(Tensor(grid.astype(dtype))).array, dtype=np.float64)
    scores = scores.reshape(len(grid), -1)
    labels = scores.argmax(axis=1) if scores.shape[1] > 1 else (scores[:, 0] > 0.5).astype(int)
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.contourf(g0, g1, labels.reshape(g0.shape), alpha=0.3, cmap="coolwarm")
    ax.scatter(X[:, 0], X[:, 1], c=y, cmap="coolwarm", edgecolors="k", s=20)
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")
    ax.set_title("Decision boundary")
    return _finish(fig, path)


def plot_error_surface(
    case: tuple[float, float, float] = (1.0, 1.0, 0.0),
    path: str | None = None,
    span: float = 2.0,
    resolution: int = 41,
):
    """E(w1, w2) = (t - (w1 x1 + w2 x2))^2 of a linear neuron on one training case (x1, x2, t).

    For the case (1, 1, 0) this is E = (w1 + w2)^2, a parabolic cylinder:
    a trough along w1 = -w2 where every weight pair is a minimum, and the
    gradient (2(w1 + w2), 2(w1 + w2)) always points across the trough, never along it.
    """
    plt = _pyplot()
    x1, x2, t = case
    w = np.linspace(-span, span, resolution)
    w1, w2 = np.meshgrid(w, w)
    error = (t - (w1 * x1 + w2 * x2)) ** 2
    fig = plt.figure(figsize=(8, 3.6))
    ax3d = fig.add_subplot(1, 2, 1, projection="3d")
    ax3d.plot_surface(w1, w2, error, cmap="viridis", linewidth=0, antialiased=True)
    ax3d.set_xlabel("w1")
    ax3d.set_ylabel("w2")
    ax3d.set_zlabel("E")
    ax3d.set_title(f"E = ({t:g} - ({x1:g} w1 + {x2:g} w2))^2")
    ax = fig.add_subplot(1, 2, 2)
    contour = ax.contour(w1, w2, error, levels=12, cmap="viridis")
    ax.clabel(contour, fontsize=7)
    ax.set_xlabel("w1")
    ax.set_ylabel("w2")
    ax.set_title("contours: a trough, not a bowl")
    ax.set_aspect("equal")
    return _finish(fig, path)


# Convolutional nets: filters and feature maps (deltaprop.inspect.conv_plots).
from deltaprop.inspect.conv_plots import plot_feature_maps, plot_filters  # noqa: E402

__all__ += ["plot_feature_maps", "plot_filters"]
