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
def _elementwise_weight(weight: Any, prediction: Tensor, op: str) -> Any:
    """PyTorch's ``weight=`` of the regression losses: one factor per element, of the input's shape."""
    if weight is None:
        return None
    w = weight.array if isinstance(weight, Tensor) else prediction.xp.asarray(weight)
    if tuple(w.shape) != prediction.shape:
        raise ShapeError(f"{op}: weight has shape {tuple(w.shape)} but the input has {prediction.shape}")
    return w.astype(prediction.dtype, copy=False)


def _weighted(per: Any, weight: Any) -> Any:
    return per if weight is None else per * weight


def _reduce_weighted(per: Any, weight: Any, reduction: str, op: str):
    """PyTorch's weighted mse/l1: the 'mean' is over the weights (sum(w * loss) / sum(w)), not the count."""
    if weight is None or reduction != "mean":
        return _reduce(_weighted(per, weight), reduction, op)
    total = weight.sum()
    if float(total) == 0:
        raise ValueError(f"{op}: the weights sum to 0, so the weighted mean is 0/0; use reduction='sum'")
    return (per * weight).sum() / total, total


def mse_loss(input, target, size_average=None, reduce=None, reduction: str = "mean",  # noqa: A002
             weight=None) -> Tensor:  # fmt: skip
    """(prediction - target)^2, averaged over every element by default."""
    reduction = legacy_reduction(size_average, reduce, reduction, "mse_loss")
    prediction = as_tensor(input)
    target = as_tensor(target, like=prediction)
    _same_shape(prediction, target, "mse_loss")
    w = _elementwise_weight(weight, prediction, "mse_loss")
    diff = prediction.array - target.array
    out, count = _reduce_weighted(diff * diff, w, reduction, "mse_loss")
    return make_result(
        prediction.xp.asarray(out), (prediction, target), _mse_backward, (diff, count, w), "mse_loss"
    )


def _mse_backward(g, saved, parents):
    diff, count, w = saved
    d = 2 * _weighted(diff, w) * _spread(g, count)
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


def l1_loss(input, target, size_average=None, reduce=None, reduction: str = "mean",  # noqa: A002
            weight=None) -> Tensor:  # fmt: skip
    reduction = legacy_reduction(size_average, reduce, reduction, "l1_loss")
    prediction = as_tensor(input)
    target = as_tensor(target, like=prediction)
    _same_shape(prediction, target, "l1_loss")
    w = _elementwise_weight(weight, prediction, "l1_loss")
    diff = prediction.array - target.array
    out, count = _reduce_weighted(np.abs(diff), w, reduction, "l1_loss")
    return make_result(
        prediction.xp.asarray(out), (prediction, target), _l1_backward, (diff, count, w), "l1_loss"
    )


def _l1_backward(g, saved, parents):
    diff, count, w = saved
    d = _weighted(np.sign(diff), w) * _spread(g, count)
    return d, (None if parents[1] is None else -d)


def huber_loss(input, target, reduction: str = "mean", delta: float = 1.0, weight=None) -> Tensor:  # noqa: A002
    """Quadratic within ``delta`` of the target, linear beyond (PyTorch's HuberLoss)."""
    return _huber("huber_loss", input, target, reduction, float(delta), 1.0, weight)


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction: str = "mean",  # noqa: A002
                   beta: float = 1.0) -> Tensor:  # fmt: skip
    """Huber's loss divided by ``beta``: 0.5 d^2 / beta within beta, |d| - 0.5 beta beyond (beta=0: L1)."""
    reduction = legacy_reduction(size_average, reduce, reduction, "smooth_l1_loss")
    beta = float(beta)
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be >= 0, got {beta}")
    if beta == 0:
        return l1_loss(input, target, reduction=reduction)
    return _huber("smooth_l1_loss", input, target, reduction, beta, 1.0 / beta, None)


def _huber(op, input, target, reduction, delta, factor, weight) -> Tensor:  # noqa: A002
    prediction = as_tensor(input)
    target = as_tensor(target, like=prediction)
    _same_shape(prediction, target, op)
    w = _elementwise_weight(weight, prediction, op)
    diff = prediction.array - target.array
    size = np.abs(diff)
    per = np.where(size < delta, 0.5 * diff * diff, delta * (size - 0.5 * delta)) * factor
    out, count = _reduce(_weighted(per, w), reduction, op)
    return make_result(
        prediction.xp.asarray(out), (prediction, target), _huber_backward, (diff, delta, factor, count, w), op
    )


def _huber_backward(g, saved, parents):
    diff, delta, factor, count, w = saved
    d = _weighted(np.clip(diff, -delta, delta) * factor, w) * _spread(g, count)
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


def _check_logits(logits: Tensor, target: Tensor, op: str, ignore_index: int = -100) -> tuple[bool, Any]:
    """Validate shapes: (True, ignored) when the target holds class indices, (False, None) for probabilities.

    ``ignored`` is None when no label equals ``ignore_index``, else a bool
    mask of the ignored examples. Runs on every training step, so in the
    common case (no label ignored) it reads the labels once, with a single
    reduction that checks both ends of their range.
    """
    shape, labels = logits.array.shape, target.array
    if len(shape) != 2:
        raise ShapeError(f"{op}: expected scores of shape (batch, classes), got {shape}")
    if labels.dtype.kind in "iu":
        if labels.shape != (shape[0],):
            raise ShapeError(f"{op}: integer class labels must have shape ({shape[0]},), got {labels.shape}")
        classes = shape[1]
        may_ignore = 0 <= ignore_index < classes  # a real class: its examples must be found
        checked = _checked_labels
        if (checked is not None and checked[0] is labels and checked[1] >= 0 and checked[2] < classes
                and not may_ignore):  # fmt: skip
            return True, None  # the caller (fit) checked every label once, before training
        as_unsigned = labels
        if labels.dtype.kind == "i":  # negative labels become huge when read as unsigned
            as_unsigned = labels.view(labels.dtype.str.replace("i", "u"))
        if labels.size and int(as_unsigned.max()) >= classes:  # one pass checks both ends
            ignored = labels == ignore_index
            kept = labels[~ignored]
            if kept.size and (int(kept.min()) < 0 or int(kept.max()) >= classes):
                low, high = int(kept.min()), int(kept.max())
                raise ValueError(
                    f"{op}: labels must lie in 0..{classes - 1} for {classes} classes (or equal ignore_index="
                    f"{ignore_index}), got values from {low} to {high}; give the last layer one output per "
                    "class"
                )
            return True, ignored
        if may_ignore:
            ignored = labels == ignore_index
            return True, (ignored if bool(ignored.any()) else None)
        return True, None
    if labels.shape != shape:
        raise ShapeError(
            f"{op}: class-probability targets must match the scores' shape {shape}, "
            f"got {labels.shape} (or pass integer labels of shape ({shape[0]},))"
        )
    return False, None


def legacy_reduction(size_average: Any, reduce: Any, reduction: str, op: str) -> str:
    """PyTorch's deprecated ``size_average``/``reduce`` flags as a ``reduction``, mapped as PyTorch maps them.

    A string in ``size_average`` is a ``reduction`` passed by position (as
    ``MSELoss('sum')``); PyTorch would quietly read it as size_average=True,
    so it is refused.
    """
    if size_average is None and reduce is None:
        return reduction
    if isinstance(size_average, str) or isinstance(reduce, str):
        raise ValueError(
            f"{op}: reduction must be passed by keyword (reduction={size_average or reduce!r}); the first "
            "positional argument of PyTorch's losses is the deprecated size_average"
        )
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    return "mean" if size_average and reduce else "sum" if reduce else "none"


def _with_classes(op: str, logits: Tensor, target: Tensor, compute) -> Tensor:
    """PyTorch's other shapes for class losses: (C,) with a 0-d label, (N, C, d1, ...) with (N, d1, ...)."""
    if logits.ndim == 1:  # one example: its per-example loss ('none') is 0-d, as in PyTorch
        out = compute(logits.reshape(1, -1), target.reshape(1) if target.ndim == 0 else target.reshape(1, -1))
        return out.reshape(()) if out.ndim else out
    if logits.ndim <= 2:
        return compute(logits, target)
    classes = logits.shape[1]
    flat = logits.movedim(1, -1).reshape(-1, classes)
    labels = (
        target.reshape(-1) if target.ndim == logits.ndim - 1 else target.movedim(1, -1).reshape(-1, classes)
    )
    out = compute(flat, labels)
    return out.reshape((logits.shape[0],) + logits.shape[2:]) if out.ndim else out


def _class_weights(weight: Any, logits: Tensor, op: str) -> Any:
    if weight is None:
        return None
    w = weight.array if isinstance(weight, Tensor) else logits.xp.asarray(weight)
    if w.shape != (logits.shape[1],):
        raise ShapeError(
            f"{op}: weight must hold one value per class, shape ({logits.shape[1]},), got {tuple(w.shape)}"
        )
    return w.astype(logits.dtype, copy=False)


def cross_entropy(
    input, target, weight=None, size_average=None, ignore_index: int = -100,  # noqa: A002
    reduce=None, reduction: str = "mean", label_smoothing: float = 0.0,
) -> Tensor:  # fmt: skip
    """Softmax + cross-entropy in one stable op, from raw scores (logits), with PyTorch's signature.

    ``target`` is integer class labels of shape (N,) or class probabilities
    of shape (N, C); (N, C, d1, ...) scores with (N, d1, ...) labels work too.
    ``weight`` rescales each class; labels equal to ``ignore_index`` count
    for nothing (and the mean is over the others, weighted, as in PyTorch).
    The gradient with respect to the logits is ``softmax(logits) -
    target_distribution``, divided by N for 'mean'.
    """
    if size_average is not None or reduce is not None:
        reduction = legacy_reduction(size_average, reduce, reduction, "cross_entropy")
    logits = input if isinstance(input, Tensor) else as_tensor(input)
    target = _class_labels(_as_target(target, logits))
    if logits.array.ndim != 2:
        return _with_classes("cross_entropy", logits, target, lambda z, t: cross_entropy(
            z, t, weight, None, ignore_index, None, reduction, label_smoothing))  # fmt: skip
    labels, ignored = _check_logits(logits, target, "cross_entropy", ignore_index)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    if labels and not label_smoothing and weight is None and ignored is None:
        return _cross_entropy_of_labels(logits, target, reduction)
    weights = _class_weights(weight, logits, "cross_entropy")
    return _cross_entropy_weighted(logits, target, labels, ignored, weights,
                                   label_smoothing, reduction)  # fmt: skip


def _cross_entropy_of_labels(logits: Tensor, target: Tensor, reduction: str) -> Tensor:
    """The training hot path: integer labels, no weights, nothing ignored, no smoothing."""
    z = logits.array
    n = z.shape[0]
    on_numpy = type(z) is np.ndarray  # NumPy's ufunc reductions skip its Python-level wrappers
    xp = np if on_numpy else logits.xp
    # softmax once, in place: `probs` is what the backward needs (softmax - target)
    shifted = z - (np.maximum.reduce(z, axis=1, keepdims=True) if on_numpy else z.max(axis=1, keepdims=True))
    rows = xp.arange(n)
    picked = shifted[rows, target.array]  # z[y], picked before exp overwrites it
    probs = np.exp(shifted, out=shifted)
    total = np.add.reduce(probs, axis=1, keepdims=True) if on_numpy else probs.sum(axis=1, keepdims=True)
    probs /= total
    # -log p[y] = log(sum e^shifted) - shifted[y]: no log-probability array needed
    per = np.log(total[:, 0])
    per -= picked
    if reduction == "mean":  # the common case, without np.mean's Python-level overhead
        _check_not_empty(n, "cross_entropy")
        out, count = (np.add.reduce(per) if on_numpy else per.sum()) / n, n
    else:
        out, count = _reduce(per, reduction, "cross_entropy")
    return make_result(
        xp.asarray(out, dtype=z.dtype),
        (logits,),
        _cross_entropy_backward,
        (probs, (target.array, rows), count),
        "cross_entropy",
    )


def _cross_entropy_weighted(logits, target, labels, ignored, weight, smoothing, reduction) -> Tensor:
    """Every other case, as one target matrix Q: loss_n = -sum_c Q_nc log p_nc, gradient p_n sum(Q_n) - Q_n.

    For labels Q_nc = (1 - eps) w_y [c = y] + eps / C w_c (zero rows for
    ignored examples) and 'mean' divides by the summed weight of the kept
    examples; for probabilities Q = w (q (1 - eps) + eps / C) and 'mean'
    divides by N. Both are PyTorch's definitions.
    """
    z = logits.array
    n, classes = z.shape
    xp = logits.xp
    shifted = z - z.max(axis=1, keepdims=True)
    probs = np.exp(shifted)
    total = probs.sum(axis=1, keepdims=True)
    probs /= total
    log_probs = shifted - np.log(total)
    w = xp.ones(classes, dtype=z.dtype) if weight is None else weight
    if labels:
        y = target.array if ignored is None else xp.where(ignored, 0, target.array)
        rows = xp.arange(n)
        q = xp.zeros((n, classes), dtype=z.dtype)
        q[rows, y] = (1 - smoothing) * w[y]
        if smoothing:
            q += (smoothing / classes) * w
        if ignored is not None:
            q[ignored] = 0
        denominator = w[y].sum() if ignored is None else w[y][~ignored].sum()
    else:
        q = target.array.astype(z.dtype, copy=False)
        if smoothing:
            q = (1 - smoothing) * q + smoothing / classes
        q = q * w
        denominator = n
    per = -(q * log_probs).sum(axis=1)
    if reduction == "mean":
        _check_not_empty(n, "cross_entropy")
        if labels and float(denominator) == 0:
            raise ValueError(
                "cross_entropy: every example of the batch is ignored (or weighs 0), so the mean loss is "
                "0/0 (PyTorch returns nan); use reduction='sum', or a batch with a kept label"
            )
        out, count = per.sum() / denominator, denominator
    else:
        out, count = _reduce(per, reduction, "cross_entropy")
    return make_result(xp.asarray(out, dtype=z.dtype), (logits,), _cross_entropy_backward, (probs, q, count),
                       "cross_entropy")  # fmt: skip


def _cross_entropy_backward(g, saved, parents):
    """(softmax * sum(Q) - Q) * g / count; ``probs`` is left intact so retain_graph still works."""
    probs, distribution, count = saved
    scale = g if count is None else g / count
    if scale.ndim != 0:  # reduction='none': one upstream value per example
        scale = scale[:, None]
    if isinstance(distribution, tuple):  # the hot path: integer labels
        labels, rows = distribution
        grad = probs * scale  # one pass: copy and scale together
        grad[rows, labels] -= scale if scale.ndim == 0 else scale[:, 0]
        return (grad,)
    q = distribution
    return ((probs * q.sum(axis=1, keepdims=True) - q) * scale,)


def nll_loss(
    input, target, weight=None, size_average=None, ignore_index: int = -100,  # noqa: A002
    reduce=None, reduction: str = "mean",
) -> Tensor:  # fmt: skip
    """Negative log-likelihood of integer labels given log-probabilities (after log_softmax).

    ``weight`` and ``ignore_index`` as in `cross_entropy` ('mean' divides by
    the summed weight of the kept examples).
    """
    reduction = legacy_reduction(size_average, reduce, reduction, "nll_loss")
    log_probs = as_tensor(input)
    target = _class_labels(_as_target(target, log_probs))
    if target.dtype.kind not in "iu":
        raise TypeError(f"nll_loss: target must hold integer class labels, got {target.dtype}")
    if log_probs.ndim != 2:
        return _with_classes("nll_loss", log_probs, target, lambda z, t: nll_loss(
            z, t, weight, None, ignore_index, None, reduction))  # fmt: skip
    _, ignored = _check_logits(log_probs, target, "nll_loss", ignore_index)
    xp = log_probs.xp
    rows = xp.arange(log_probs.shape[0])
    y = target.array if ignored is None else xp.where(ignored, 0, target.array)
    w = _class_weights(weight, log_probs, "nll_loss")
    scale = xp.ones(len(y), dtype=log_probs.dtype) if w is None else w[y]
    if ignored is not None:
        scale = xp.where(ignored, 0, scale).astype(log_probs.dtype)
    per = -log_probs.array[rows, y] * scale
    if reduction == "mean":
        _check_not_empty(per.size, "nll_loss")
        denominator = scale.sum()
        if float(denominator) == 0:
            raise ValueError(
                "nll_loss: every example is ignored (or weighs 0), so the mean is 0/0; use reduction='sum'"
            )
        out, count = per.sum() / denominator, denominator
    else:
        out, count = _reduce(per, reduction, "nll_loss")
    return make_result(
        xp.asarray(out, dtype=log_probs.dtype),
        (log_probs,),
        _nll_backward,
        (y, rows, scale, log_probs.shape, log_probs.dtype, count),
        "nll_loss",
    )


def _nll_backward(g, saved, parents):
    labels, rows, scale, shape, dtype, count = saved
    grad = array_module(labels).zeros(shape, dtype=dtype)
    grad[rows, labels] = -_spread(g, count) * scale
    return (grad,)


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None,  # noqa: A002
                         reduction: str = "mean") -> Tensor:  # fmt: skip
    """-(y log p + (1-y) log(1-p)) from probabilities; logs clamped at -100 like PyTorch.

    ``weight`` multiplies each element's loss (it broadcasts to the input).
    """
    reduction = legacy_reduction(size_average, reduce, reduction, "binary_cross_entropy")
    probability = as_tensor(input)
    target = as_tensor(target, like=probability)
    _same_shape(probability, target, "binary_cross_entropy")
    p, y = probability.array, target.array
    if p.size and bool((p.min() < 0) | (p.max() > 1)):  # one host read, not two, on a GPU
        raise ValueError(
            "binary_cross_entropy: inputs must be probabilities in [0, 1]; apply sigmoid first, "
            "or use binary_cross_entropy_with_logits on raw scores (more stable)"
        )
    w = _broadcast_weight(weight, probability, "binary_cross_entropy")
    log_p = np.maximum(np.log(p), -100)
    log_q = np.maximum(np.log1p(-p), -100)
    per = _weighted(-(y * log_p + (1 - y) * log_q), w)
    out, count = _reduce(per, reduction, "binary_cross_entropy")
    return make_result(
        probability.xp.asarray(out),
        (probability, target),
        _bce_backward,
        (p, y, log_p, log_q, count, w),
        "binary_cross_entropy",
    )


def _broadcast_weight(weight: Any, prediction: Tensor, op: str) -> Any:
    if weight is None:
        return None
    w = weight.array if isinstance(weight, Tensor) else prediction.xp.asarray(weight)
    try:
        np.broadcast_shapes(tuple(w.shape), prediction.shape)
    except ValueError:
        raise ShapeError(
            f"{op}: weight of shape {tuple(w.shape)} does not broadcast to {prediction.shape}"
        ) from None
    if np.broadcast_shapes(tuple(w.shape), prediction.shape) != prediction.shape:
        raise ShapeError(f"{op}: weight of shape {tuple(w.shape)} would grow the input {prediction.shape}")
    return w.astype(prediction.dtype, copy=False)


def _bce_backward(g, saved, parents):
    p, y, log_p, log_q, count, w = saved
    g = _weighted(_spread(g, count), w)
    eps = 1e-12
    dp = g * ((1 - y) / np.maximum(1 - p, eps) - y / np.maximum(p, eps))
    dy = None if parents[1] is None else g * (log_q - log_p)
    return dp, dy


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,  # noqa: A002
                                     reduction: str = "mean", pos_weight=None) -> Tensor:  # fmt: skip
    """Sigmoid + binary cross-entropy in one stable op: gradient ``sigmoid(z) - y``.

    ``weight`` multiplies each element's loss; ``pos_weight`` (one per output,
    broadcast over the last dim) multiplies the positive term, as in PyTorch:
    ``-(pos_weight y log s(z) + (1 - y) log(1 - s(z)))``.
    """
    reduction = legacy_reduction(size_average, reduce, reduction, "binary_cross_entropy_with_logits")
    logits = as_tensor(input)
    target = as_tensor(target, like=logits)
    _same_shape(logits, target, "binary_cross_entropy_with_logits")
    z, y = logits.array, target.array
    w = _broadcast_weight(weight, logits, "binary_cross_entropy_with_logits")
    pw = _broadcast_weight(pos_weight, logits, "binary_cross_entropy_with_logits")
    # softplus(-z) = -log s(z), softplus(z) = -log(1 - s(z)), each as max(., 0) + log1p(e^-|z|)
    tail = np.log1p(np.exp(-np.abs(z)))
    if pw is None:
        per = np.maximum(z, 0) - y * z + tail
    else:
        per = pw * y * (np.maximum(-z, 0) + tail) + (1 - y) * (np.maximum(z, 0) + tail)
    out, count = _reduce(_weighted(per, w), reduction, "binary_cross_entropy_with_logits")
    return make_result(
        logits.xp.asarray(out),
        (logits, target),
        _bce_logits_backward,
        (z, y, count, w, pw),
        "binary_cross_entropy_with_logits",
    )


def _bce_logits_backward(g, saved, parents):
    z, y, count, w, pw = saved
    g = _weighted(_spread(g, count), w)
    s = _sigmoid(z)
    if pw is None:
        dz = g * (s - y)
        dy = None if parents[1] is None else -g * z
    else:
        # d/dz [pw y softplus(-z) + (1 - y) softplus(z)] = -pw y (1 - s) + (1 - y) s
        dz = g * ((1 - y) * s - pw * y * (1 - s))
        tail = np.log1p(np.exp(-np.abs(z)))
        dy = None if parents[1] is None else g * (pw * (np.maximum(-z, 0) + tail) - (np.maximum(z, 0) + tail))
    return dz, dy
