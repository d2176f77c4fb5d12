"""The functional forms of the layers and losses (``deltaprop.nn.functional as F``)."""

from __future__ import annotations

import numpy as np

from deltaprop import backend, ops, random
from deltaprop.ops.activations import (
    elu,
    gelu,
    leaky_relu,
    log_softmax,
    mish,
    relu,
    sigmoid,
    silu,
    softmax,
    softplus,
    swish,
    tanh,
)
from deltaprop.ops.linalg import linear
from deltaprop.ops.losses import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    huber_loss,
    l1_loss,
    mse_loss,
    nll_loss,
    squared_error_loss,
)
from deltaprop.tensor import Tensor, as_tensor

__all__ = [
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy", "dropout",
    "elu", "gelu", "huber_loss", "l1_loss", "leaky_relu", "linear", "log_softmax", "mish",
    "mse_loss", "nll_loss", "one_hot", "relu", "sigmoid", "silu", "softmax", "softplus",
    "squared_error_loss", "swish", "tanh",
]


def dropout(x: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Inverted dropout: the mask comes from the package generator, so runs repeat.

    The mask is drawn by the array library that holds ``x`` (on its device), never on the host.
    """
    x = as_tensor(x)
    if not training or p == 0.0:
        return x
    keep = random.random(x.shape, xp=x.xp) >= p
    mask = (keep / (1.0 - p)).astype(x.dtype)
    return ops.mul(x, mask)


def one_hot(labels, num_classes: int | None = None) -> Tensor:
    """Integer labels (N,) -> float32 one-hot rows (N, num_classes), in the labels' array library."""
    values = labels.array if isinstance(labels, Tensor) else labels
    xp = backend.array_module(values)
    values = xp.asarray(values).astype(int)
    classes = int(values.max()) + 1 if num_classes is None else num_classes
    out = xp.zeros((values.size, classes), dtype=np.float32)
    out[xp.arange(values.size), values.reshape(-1)] = 1.0
    return Tensor(out)


# Convolution, pooling, normalization, padding and resizing (deltaprop.nn.functional_conv).
from deltaprop.nn.functional_conv import *  # noqa: E402, F403
from deltaprop.nn.functional_conv import __all__ as _conv_names  # noqa: E402

__all__ += _conv_names
