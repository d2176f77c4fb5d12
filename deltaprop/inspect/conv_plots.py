"""Pictures of a convolutional net: its filters and its feature (or delta) maps.

`plot_filters` draws each output channel's kernel (the mean over its input
channels, or the RGB colour for 3 input channels), what the layer looks for;
`plot_feature_maps` draws the maps of one example, what it found (a layer's
output, or the delta maps of a `ConvTrace`: where the error flows back).
Both return the matplotlib Figure (saved as PNG when ``path`` is given);
matplotlib is the optional extra ``deltaprop[plot]``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from deltaprop.tensor import Tensor

__all__ = ["plot_feature_maps", "plot_filters"]


def _array(value: Any) -> np.ndarray:
    if isinstance(value, Tensor):
        value = value.array
    return np.asarray(getattr(value, "get", lambda: value)(), dtype=np.float64)


def _grid(count: int) -> tuple[int, int]:
    cols = math.ceil(math.sqrt(count))
    return math.ceil(count / cols), cols


def plot_filters(layer_or_weight: Any, path: str | None = None, max_filters: int = 64,
                 title: str | None = None):
    """The kernels of a Conv2d (or a weight array (out, in, kh, kw)), one tile per output channel."""
    from deltaprop.inspect.plots import _finish, _pyplot

    weight = getattr(layer_or_weight, "weight", layer_or_weight)
    w = _array(weight)
    if w.ndim != 4:
        raise ValueError(f"plot_filters: expected a Conv2d or a weight (out, in, kh, kw), got {w.shape}")
    w = w[:max_filters]
    rows, cols = _grid(len(w))
    plt = _pyplot()
    fig, axes = plt.subplots(rows, cols, figsize=(1.2 * cols, 1.2 * rows + 0.4), squeeze=False)
    limit = float(np.abs(w).max()) or 1.0
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k >= len(w):
            continue
        if w.shape[1] == 3:  # colour filters: scale each into [0, 1] around grey
            ax.imshow(np.clip(0.5 + 0.5 * w[k].transpose(1, 2, 0) / limit, 0, 1))
        else:
            ax.imshow(w[k].mean(axis=0), cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.set_title(str(k), fontsize=7)
    fig.suptitle(title or f"{len(w)} filters {w.shape[2]}x{w.shape[3]} (red +, blue -)", fontsize=9)
    return _finish(fig, path)


def plot_feature_maps(maps: Any, path: str | None = None, example: int = 0, max_maps: int = 64,
                      title: str | None = None, which: str = "output"):
    """Feature maps (C, H, W), a batch (N, C, H, W) (shows ``example``), or a `ConvTrace` layer record
    (its ``which``: 'output', 'input', 'delta' or 'input_delta')."""
    from deltaprop.inspect.plots import _finish, _pyplot

    label = title
    if hasattr(maps, "delta") and hasattr(maps, "kind"):  # a LayerRecord of deltaprop.inspect.trace_conv
        label = label or f"layer {maps.index} ({maps.kind}) {which}"
        maps = getattr(maps, which)
    a = _array(maps)
    if a.ndim == 4:
        a = a[example]
    if a.ndim != 3:
        raise ValueError(f"plot_feature_maps: expected maps (C, H, W) or (N, C, H, W), got shape {a.shape}")
    a = a[:max_maps]
    rows, cols = _grid(len(a))
    plt = _pyplot()
    fig, axes = plt.subplots(rows, cols, figsize=(1.3 * cols, 1.3 * rows + 0.4), squeeze=False)
    signed = a.min() < 0
    limit = float(np.abs(a).max()) or 1.0
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < len(a):
            if signed:
                ax.imshow(a[k], cmap="RdBu_r", vmin=-limit, vmax=limit)
            else:
                ax.imshow(a[k], cmap="viridis", vmin=0, vmax=limit)
            ax.set_title(str(k), fontsize=7)
    fig.suptitle(label or f"{len(a)} maps {a.shape[1]}x{a.shape[2]}", fontsize=9)
    return _finish(fig, path)
