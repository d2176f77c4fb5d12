"""Loss functions as single fused ops, each with its gradient beside it.

Fusing matters twice: softmax followed by cross-entropy has the famously
simple gradient ``softmax(z) - y`` (no division by tiny probabilities), and a
whole loss costs one graph node instead of five.

``reduction`` is ``'mean'`` (average over every element, or over examples for
the class losses, as PyTorch does), ``'sum'`` or ``'none'`` (one loss per
element / example).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from deltaprop.backend import array_module
from deltaprop.errors import ShapeError
from deltaprop.ops.activations import _sigmoid
from deltaprop.tensor import Tensor, as_tensor, make_result

_REDUCTIONS = ("mean", "sum", "none")


def _reduce(per, reduction: str, op: str):
    if reduction == "mean":
        _check_not_empty(per.size, op)
        return per.mean(), per.size
    if reduction == "sum":
        return per.sum(), 1
    if reduction == "none":
        return per, None
    raise ValueError(f"{op}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _check_not_empty(count: int, op: str) -> None:
    """The mean over no examples is 0/0: refuse it, rather than return NaN with a RuntimeWarning."""
    if count == 0:
        raise ValueError(
            f"{op}: the batch is empty (0 examples), so its mean loss is undefined; "
            "check how the batch was sliced (or use reduction='sum', which is 0 for no examples)"
        )


def _class_labels(target: Tensor) -> Tensor:
    """Bool labels are class indices 0/1, as int labels are (NumPy would read them as a mask)."""
    if target.array.dtype.kind == "b":
        return Tensor._wrap(target.array.astype(np.int64))
    return target


def _spread(g, count):
    """dC/d(per-element loss): the incoming g, spread over the elements a reduction combined."""
    return g if count is None else g / count


def _same_shape(prediction: Tensor, target: Tensor, op: str) -> None:
    if prediction.shape != target.shape:
        raise ShapeError(
            f"{op}: prediction has shape {prediction.shape} but target has shape {target.shape}; "
            "they must match (reshape the target, e.g. y.reshape(-1, 1) for one output)"
        )


# ----------------------------------------------------------------- regression
def mse_loss(prediction, target, reduction: str = "mean") -> Tensor:
    """(prediction - target)^2, averaged over every element by default."""
    prediction = as_tensor(prediction)
    target = as_tensor(target, like=prediction)
    _same_shape(prediction, target, "mse_loss")
    diff = prediction.array - target.array
    out, count = _reduce(diff * diff, reduction, "mse_loss")
    return make_result(
        prediction.xp.asarray(out), (prediction, target), _mse_backward, (diff, count), "mse_loss"
    )


def _mse_backward(g, saved, parents):
    diff, count = saved
    d = 2 * diff * _spread(g, count)
    return d, (None if parents[1] is None else -d)


def squared_error_loss(prediction, target, reduction: str = "mean") -> Tensor:
    """The textbook E = 1/2 ||target - prediction||^2 per example, averaged over examples.

    Differs from `mse_loss` by the 1/2 (which makes dE/dprediction = prediction - target)
    and by summing, not averaging, over a network's several outputs.
    """
    prediction = as_tensor(prediction)
    target = as_tensor(target, like=prediction)
    _same_shape(prediction, target, "squared_error_loss")
    diff = prediction.array - target.array
    per = 0.5 * diff * diff
    if per.ndim > 1:
        per = per.reshape(per.shape[0], -1).sum(axis=1)
    out, count = _reduce(per, reduction, "squared_error_loss")
    return make_result(
        prediction.xp.asarray(out),
        (prediction, target),
        _squared_error_backward,
        (diff, count),
        "squared_error_loss",
    )


def _squared_error_backward(g, saved, parents):
    diff, count = saved
    g = _spread(g, count)
    if diff.ndim > 1 and g.ndim == 1:
        g = g.reshape((-1,) + (1,) * (diff.ndim - 1))
    d = diff * g
    return d, (None if parents[1] is None else -d)


def l1_loss(prediction, target, reduction: str = "mean") -> Tensor:
    prediction = as_tensor(prediction)
    target = as_tensor(target, like=prediction)
    _same_shape(prediction, target, "l1_loss")
    diff = prediction.array - target.array
    out, count = _reduce(np.abs(diff), reduction, "l1_loss")
    return make_result(
        prediction.xp.asarray(out), (prediction, target), _l1_backward, (diff, count), "l1_loss"
    )


def _l1_backward(g, saved, parents):
    diff, count = saved
    d = np.sign(diff) * _spread(g, count)
    return d, (None if parents[1] is None else -d)


def huber_loss(prediction, target, reduction: str = "mean", delta: float = 1.0) -> Tensor:
    """Quadratic within ``delta`` of the target, linear beyond (PyTorch's HuberLoss)."""
    prediction = as_tensor(prediction)
    target = as_tensor(target, like=prediction)
    _same_shape(prediction, target, "huber_loss")
    diff = prediction.array - target.array
    size = np.abs(diff)
    per = np.where(size <= delta, 0.5 * diff * diff, delta * (size - 0.5 * delta))
    out, count = _reduce(per, reduction, "huber_loss")
    return make_result(
        prediction.xp.asarray(out),
        (prediction, target),
        _huber_backward,
        (diff, delta, count),
        "huber_loss",
    )


def _huber_backward(g, saved, parents):
    diff, delta, count = saved
    d = np.clip(diff, -delta, delta) * _spread(g, count)
    return d, (None if parents[1] is None else -d)


# ----------------------------------------------------------------- classification
def _as_target(target, scores: Tensor) -> Tensor:
    """Labels or probabilities given as plain data follow the scores to their array library.

    (Float targets of the regression losses do the same through ``as_tensor(..., like=)``.)
    """
    if isinstance(target, Tensor):
        return target
    xp = scores.xp
    return as_tensor(target) if xp is np else Tensor._wrap(xp.asarray(target))


# (labels array, lowest, highest) of the batch a caller has already range-checked; see mark_labels_checked
_checked_labels: tuple[Any, int, int] | None = None


def mark_labels_checked(labels: Any, low: int, high: int) -> None:
    """Tell the class losses that ``labels`` (this very array) holds values in [low, high].

    `fit` checks all labels once before training and marks each batch as it
    hands it out, so a training step compares two numbers instead of
    scanning the labels again. Any other array is still checked in full.
    """
    global _checked_labels
    _checked_labels = (labels, int(low), int(high))


def _check_logits(logits: Tensor, target: Tensor, op: str) -> bool:
    """Validate shapes; True when the target holds class indices, False for probabilities.

    Runs on every training step, so it reads ``.data`` once and checks the
    label range with a single reduction.
    """
    shape, labels = logits.array.shape, target.array
    if len(shape) != 2:
        raise ShapeError(
            f"{op}: expected scores of shape (batch, classes), got {shape}; "
            "flatten extra axes first"
        )
    if labels.dtype.kind in "iu":
        if labels.shape != (shape[0],):
            raise ShapeError(
                f"{op}: integer class labels must have shape ({shape[0]},), got {labels.shape}"
            )
        classes = shape[1]
        checked = _checked_labels
        if checked is not None and checked[0] is labels and checked[1] >= 0 and checked[2] < classes:
            return True  # the caller (fit) checked every label once, before training
        as_unsigned = labels
        if labels.dtype.kind == "i":  # negative labels become huge when read as unsigned
            as_unsigned = labels.view(labels.dtype.str.replace("i", "u"))
        if labels.size and int(as_unsigned.max()) >= classes:  # one pass checks both ends
            raise ValueError(
                f"{op}: labels must lie in 0..{classes - 1} for {classes} classes, got values "
                f"from {int(labels.min())} to {int(labels.max())}; give the last "
                "layer one output per class"
            )
        return True
    if labels.shape != shape:
        raise ShapeError(
            f"{op}: class-probability targets must match the scores' shape {shape}, "
            f"got {labels.shape} (or pass integer labels of shape ({shape[0]},))"
        )
    return False


def cross_entropy(
    logits, target, reduction: str = "mean", label_smoothing: float = 0.0
) -> Tensor:
    """Softmax + cross-entropy in one stable op, from raw scores (logits).

    ``target`` is integer class labels of shape (N,) or class probabilities
    of shape (N, C). The gradient with respect to the logits is
    ``softmax(logits) - target_distribution``, divided by N for 'mean'.
    """
    logits = as_tensor(logits)
    target = _class_labels(_as_target(target, logits))
    labels = _check_logits(logits, target, "cross_entropy")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    z = logits.array
    n, classes = z.shape
    on_numpy = type(z) is np.ndarray  # NumPy's ufunc reductions skip its Python-level wrappers
    xp = np if on_numpy else logits.xp
    # softmax once, in place: `probs` is what the backward needs (softmax - target)
    shifted = z - (np.maximum.reduce(z, axis=1, keepdims=True) if on_numpy else z.max(axis=1, keepdims=True))
    if labels and not label_smoothing:  # the training hot path: pick z[y] before exp overwrites
        rows = xp.arange(n)
        picked = shifted[rows, target.array]
        probs = np.exp(shifted, out=shifted)
        total = np.add.reduce(probs, axis=1, keepdims=True) if on_numpy else probs.sum(axis=1, keepdims=True)
        probs /= total
        # -log p[y] = log(sum e^shifted) - shifted[y]: no log-probability array needed
        per = np.log(total[:, 0])
        per -= picked
        distribution = (target.array, 0.0, rows)
    else:
        probs = np.exp(shifted)
        total = probs.sum(axis=1, keepdims=True)
        probs /= total
        log_probs = shifted - np.log(total)
        if labels:
            rows = xp.arange(n)
            per = (1 - label_smoothing) * -log_probs[rows, target.array]
            per -= label_smoothing * log_probs.mean(axis=1)
            distribution = (target.array, label_smoothing, rows)
        else:
            distribution = target.array.astype(z.dtype, copy=False)
            if label_smoothing:
                distribution = (1 - label_smoothing) * distribution + label_smoothing / classes
            per = -(distribution * log_probs).sum(axis=1)
    if reduction == "mean":  # the common case, without np.mean's Python-level overhead
        _check_not_empty(n, "cross_entropy")
        out, count = (np.add.reduce(per) if on_numpy else per.sum()) / n, n
    else:
        out, count = _reduce(per, reduction, "cross_entropy")
    return make_result(
        xp.asarray(out, dtype=z.dtype),
        (logits,),
        _cross_entropy_backward,
        (probs, distribution, count),
        "cross_entropy",
    )


def _cross_entropy_backward(g, saved, parents):
    """(softmax - target) * g / count; ``probs`` is left intact so retain_graph still works."""
    probs, distribution, count = saved
    scale = g if count is None else g / count
    if scale.ndim != 0:  # reduction='none': one upstream value per example
        scale = scale[:, None]
    grad = probs * scale  # one pass: copy and scale together
    if isinstance(distribution, tuple):  # integer labels, maybe smoothed
        labels, smoothing, rows = distribution
        hit = scale if scale.ndim == 0 else scale[:, 0]
        grad[rows, labels] -= hit if not smoothing else (1 - smoothing) * hit
        if smoothing:
            grad -= smoothing / probs.shape[1] * scale
    else:
        grad -= distribution * scale
    return (grad,)


def nll_loss(log_probs, target, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of integer labels given log-probabilities (after log_softmax)."""
    log_probs = as_tensor(log_probs)
    target = _class_labels(_as_target(target, log_probs))
    if target.dtype.kind not in "iu":
        raise TypeError(f"nll_loss: target must hold integer class labels, got {target.dtype}")
    _check_logits(log_probs, target, "nll_loss")
    rows = log_probs.xp.arange(log_probs.shape[0])
    per = -log_probs.array[rows, target.array]
    out, count = _reduce(per, reduction, "nll_loss")
    return make_result(
        log_probs.xp.asarray(out),
        (log_probs,),
        _nll_backward,
        (target.array, rows, log_probs.shape, log_probs.dtype, count),
        "nll_loss",
    )


def _nll_backward(g, saved, parents):
    labels, rows, shape, dtype, count = saved
    grad = array_module(labels).zeros(shape, dtype=dtype)
    grad[rows, labels] = -_spread(g, count)
    return (grad,)


def binary_cross_entropy(probability, target, reduction: str = "mean") -> Tensor:
    """-(y log p + (1-y) log(1-p)) from probabilities; logs clamped at -100 like PyTorch."""
    probability = as_tensor(probability)
    target = as_tensor(target, like=probability)
    _same_shape(probability, target, "binary_cross_entropy")
    p, y = probability.array, target.array
    if p.size and bool((p.min() < 0) | (p.max() > 1)):  # one host read, not two, on a GPU
        raise ValueError(
            "binary_cross_entropy: inputs must be probabilities in [0, 1]; apply sigmoid first, "
            "or use binary_cross_entropy_with_logits on raw scores (more stable)"
        )
    log_p = np.maximum(np.log(p), -100)
    log_q = np.maximum(np.log1p(-p), -100)
    per = -(y * log_p + (1 - y) * log_q)
    out, count = _reduce(per, reduction, "binary_cross_entropy")
    return make_result(
        probability.xp.asarray(out),
        (probability, target),
        _bce_backward,
        (p, y, log_p, log_q, count),
        "binary_cross_entropy",
    )


def _bce_backward(g, saved, parents):
    p, y, log_p, log_q, count = saved
    g = _spread(g, count)
    eps = 1e-12
    dp = g * ((1 - y) / np.maximum(1 - p, eps) - y / np.maximum(p, eps))
    dy = None if parents[1] is None else g * (log_q - log_p)
    return dp, dy


def binary_cross_entropy_with_logits(logits, target, reduction: str = "mean") -> Tensor:
    """Sigmoid + binary cross-entropy in one stable op: gradient ``sigmoid(z) - y``."""
    logits = as_tensor(logits)
    target = as_tensor(target, like=logits)
    _same_shape(logits, target, "binary_cross_entropy_with_logits")
    z, y = logits.array, target.array
    # log(1 + e^z) - y z, with log(1 + e^z) = max(z, 0) + log1p(e^-|z|)
    per = np.maximum(z, 0) - y * z + np.log1p(np.exp(-np.abs(z)))
    out, count = _reduce(per, reduction, "binary_cross_entropy_with_logits")
    return make_result(
        logits.xp.asarray(out),
        (logits, target),
        _bce_logits_backward,
        (z, y, count),
        "binary_cross_entropy_with_logits",
    )


def _bce_logits_backward(g, saved, parents):
    z, y, count = saved
    g = _spread(g, count)
    dz = g * (_sigmoid(z) - y)
    dy = None if parents[1] is None else -g * z
    return dz, dy
