"""The multilayer perceptron: Linear -> activation (-> Dropout) -> ... -> Linear."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def build_mlp(
    n_in: int,
    n_out: int,
    hidden: Sequence[int] = (),
    activation: str = "relu",
    dropout: float = 0.0,
    dtype: Any = np.float32,
):
    """A fully connected network as a flat `nn.Sequential`; no output activation (see `output_layer`).

    ``hidden=()`` gives a single Linear layer (linear or logistic regression).
    ``activation='identity'`` puts no activation between the layers (a
    linear bottleneck). Layers are created in order, so the same seed gives
    the same weights as any other code that builds the same layers.
    """
    from deltaprop import nn

    if not 0 <= dropout < 1:
        raise ValueError(f"build_mlp: dropout must be in [0, 1), got {dropout!r}")
    layers: list[nn.Module] = []
    width = n_in
    for size in hidden:
        layers.append(nn.Linear(width, size, dtype=dtype))
        if activation != "identity":
            layers.append(nn.activation(activation))
        if dropout:
            layers.append(nn.Dropout(dropout))
        width = size
    layers.append(nn.Linear(width, n_out, dtype=dtype))
    return nn.Sequential(*layers)


def describe_mlp(n_in: int, n_out: int, hidden: Sequence[int] = (), **_: Any) -> str:
    """'64-256-10': the layer widths, as the CLI prints and summary.json records them."""
    return "-".join(str(width) for width in [n_in, *hidden, n_out])
