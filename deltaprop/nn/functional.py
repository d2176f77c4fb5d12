"""The functional forms of layers and losses (``import deltaprop.nn.functional as F``), PyTorch's signatures.

Each is the op of the same name (`deltaprop.ops`), so the derivative lives
with the op. ``inplace=True`` arguments are accepted: the result is computed
out of place (deltaprop records no in-place ops in a graph) and, outside a
graph, written back into the input, so the values are PyTorch's either way.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from deltaprop import backend, ops, random
from deltaprop.ops.activations import elu as _elu
from deltaprop.ops.activations import gelu, mish, sigmoid, silu, swish, tanh
from deltaprop.ops.activations import leaky_relu as _leaky_relu
from deltaprop.ops.activations import log_softmax as _log_softmax
from deltaprop.ops.activations import relu as _relu
from deltaprop.ops.activations import softmax as _softmax
from deltaprop.ops.activations import softplus as _softplus
from deltaprop.ops.linalg import linear
from deltaprop.ops.losses import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    huber_loss,
    l1_loss,
    legacy_reduction,
    mse_loss,
    nll_loss,
    smooth_l1_loss,
    squared_error_loss,
)
from deltaprop.tensor import Tensor, as_tensor, is_grad_enabled

__all__ = [
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "cosine_similarity", "cross_entropy",
    "dropout", "elu", "gelu", "hardtanh", "huber_loss", "kl_div", "l1_loss", "leaky_relu", "linear",
    "log_softmax", "logsigmoid", "margin_ranking_loss", "mish", "mse_loss", "nll_loss", "normalize",
    "one_hot", "relu", "relu6", "sigmoid", "silu", "smooth_l1_loss", "softmax", "softplus",
    "squared_error_loss", "swish", "tanh",
]  # fmt: skip


def _maybe_in_place(x: Any, out: Tensor, inplace: bool) -> Tensor:
    """``inplace=True``: write ``out`` into ``x`` where that is allowed (outside a graph), as PyTorch does."""
    if not inplace or not isinstance(x, Tensor) or (is_grad_enabled() and out.requires_grad):
        return out
    x.copy_(out)
    return x


# ----------------------------------------------------------------- activations
def relu(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    return _maybe_in_place(input, _relu(input), inplace)


def relu6(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    return hardtanh(input, 0.0, 6.0, inplace)


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> Tensor:  # noqa: A002
    return _maybe_in_place(input, ops.clip(input, min_val, max_val), inplace)


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:  # noqa: A002
    return _maybe_in_place(input, _leaky_relu(input, negative_slope), inplace)


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:  # noqa: A002
    return _maybe_in_place(input, _elu(input, alpha), inplace)


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:  # noqa: A002
    """log(1 + e^(beta x)) / beta (PyTorch switches to x above ``threshold``; the values agree there)."""
    if beta == 1.0:
        return _softplus(input)
    return _softplus(as_tensor(input) * beta) / beta


def logsigmoid(input: Tensor) -> Tensor:  # noqa: A002
    """log(sigmoid(x)) = -softplus(-x), computed stably."""
    return -_softplus(-as_tensor(input))


def _implicit_dim(input: Any, op: str) -> int:
    """PyTorch's deprecated choice when ``dim`` is omitted: 0 for 0-, 1- and 3-d inputs, else 1 (it warns)."""
    ndim = np.ndim(input.array if isinstance(input, Tensor) else input)
    warnings.warn(
        f"Implicit dimension choice for {op} has been deprecated (in PyTorch too); pass dim= explicitly",
        UserWarning,
        stacklevel=3,
    )
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None) -> Tensor:  # noqa: A002
    """exp / sum(exp) along ``dim`` (positional or keyword); else PyTorch's implicit (deprecated) choice."""
    return _softmax(input, _implicit_dim(input, "softmax") if dim is None else dim, dtype=dtype)


def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None) -> Tensor:  # noqa: A002
    return _log_softmax(input, _implicit_dim(input, "log_softmax") if dim is None else dim, dtype=dtype)


# ----------------------------------------------------------------- regularisation and layout
def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:  # noqa: A002
    """Inverted dropout: the mask comes from the package generator, so runs repeat.

    The mask is drawn by the array library that holds ``x`` (on its device), never on the host.
    """
    x = as_tensor(input)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p must be a probability in [0, 1], got {p}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return _maybe_in_place(input, x * 0.0, inplace)
    keep = random.random(x.shape, xp=x.xp) >= p
    mask = (keep / (1.0 - p)).astype(x.dtype)
    return _maybe_in_place(input, ops.mul(x, mask), inplace)


def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12, out: Any = None) -> Tensor:  # noqa: A002
    """``x / max(||x||_p, eps)`` along ``dim``."""
    x = as_tensor(input)
    return x / ops.clip(ops.norm(x, p, dim, keepdim=True), eps, None)


def one_hot(tensor: Any, num_classes: int = -1) -> Tensor:
    """Integer labels of any shape -> int64 one-hot vectors on a new last dim, in the labels' array library.

    As in PyTorch the result is int64 (call ``.float()`` for a float target);
    ``num_classes=-1`` takes the largest label plus one.
    """
    values = tensor.array if isinstance(tensor, Tensor) else tensor
    xp = backend.array_module(values)
    values = xp.asarray(values)
    if values.dtype.kind not in "iu":
        raise TypeError(
            f"one_hot: expects an integer (int64) tensor of class labels, got dtype {values.dtype}"
        )
    if values.size and int(values.min()) < 0:
        raise ValueError("one_hot: class labels must be non-negative")
    classes = (int(values.max()) + 1 if values.size else 0) if num_classes in (-1, None) else int(num_classes)
    if values.size and int(values.max()) >= classes:
        raise ValueError(f"one_hot: class values must be smaller than num_classes={classes}")
    flat = values.reshape(-1)
    out = xp.zeros((flat.size, classes), dtype=np.int64)
    out[xp.arange(flat.size), flat] = 1
    return Tensor._wrap(out.reshape(values.shape + (classes,)))


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """x1 . x2 / max(||x1|| ||x2||, eps) along ``dim``."""
    a, b = as_tensor(x1), as_tensor(x2)
    norms = ops.norm(a, 2, dim) * ops.norm(b, 2, dim)
    return (a * b).sum(dim) / ops.clip(norms, eps, None)


# ----------------------------------------------------------------- other losses
def margin_ranking_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0.0,
                        size_average: Any = None, reduce: Any = None,
                        reduction: str = "mean") -> Tensor:  # fmt: skip
    """max(0, -target (input1 - input2) + margin), averaged."""
    reduction = legacy_reduction(size_average, reduce, reduction, "margin_ranking_loss")
    per = _relu(-as_tensor(target) * (as_tensor(input1) - input2) + margin)
    return _reduced(per, reduction, "margin_ranking_loss")


def kl_div(input: Tensor, target: Tensor, size_average: Any = None, reduce: Any = None,  # noqa: A002
           reduction: str = "mean", log_target: bool = False) -> Tensor:  # fmt: skip
    """target (log target - input) summed as ``reduction`` says; 'batchmean' divides by the batch size."""
    reduction = legacy_reduction(size_average, reduce, reduction, "kl_div")
    x, t = as_tensor(input), as_tensor(target, like=as_tensor(input))
    if log_target:
        per = ops.exp(t) * (t - x)
    else:
        positive = t.array > 0
        safe = ops.where(positive, t, 1.0)
        per = ops.where(positive, t * (ops.log(safe) - x), 0.0)
    if reduction == "batchmean":
        return per.sum() / (x.shape[0] if x.ndim else 1)
    return _reduced(per, reduction, "kl_div")


def _reduced(per: Tensor, reduction: str, op: str) -> Tensor:
    if reduction == "mean":
        return per.mean()
    if reduction == "sum":
        return per.sum()
    if reduction == "none":
        return per
    raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


# Convolution, pooling, normalization, padding and resizing (deltaprop.nn.functional_conv).
from deltaprop.nn.functional_conv import *  # noqa: E402, F403
from deltaprop.nn.functional_conv import __all__ as _conv_names  # noqa: E402

__all__ += _conv_names
