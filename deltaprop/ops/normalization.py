"""Batch, layer and group normalization, each one op with its own backward.

All three standardize groups of numbers, x_hat = (x - mean) / sqrt(var + eps),
then scale and shift, y = x_hat * weight + bias; they differ only in which
numbers form a group: one channel across the batch and the pixels (batch
norm), all features of one example (layer norm), a block of channels of one
example (group norm). The backward is the same for all, per group of m numbers:

    dC/dx = (1 / sqrt(var + eps)) * (d - mean(d) - x_hat * mean(d * x_hat)),   d = dC/dx_hat

The two subtracted means are the mean and the variance reaching back: moving
one input moves its group's mean and variance, and through them every x_hat
of the group. So the gradient of a normalized layer sums to zero over each
group and is orthogonal to x_hat, and one op with this closed form replaces
the dozen nodes (mean, subtract, square, mean, sqrt, divide, ...) autodiff
would otherwise record. ``dC/dweight = sum(g * x_hat)``, ``dC/dbias = sum(g)``.

Batch norm in evaluation mode uses the running statistics instead, so it is
an affine map of x and its backward is ``g * weight / sqrt(running_var + eps)``.
In training mode the running statistics are updated in place, as PyTorch
does: ``running = (1 - momentum) * running + momentum * batch statistic``,
with the unbiased variance (divided by m - 1).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from deltaprop.backend import array_module
from deltaprop.errors import ShapeError
from deltaprop.tensor import Tensor, as_tensor, gradient_buffer, make_result

__all__ = ["batch_norm", "group_norm", "layer_norm"]


# ----------------------------------------------------------------- the shared core
def _standardize(rows: Any, axis: int, eps: float) -> tuple[Any, Any, Any, Any]:
    """(x_hat, 1/sqrt(var + eps), mean, var) of ``rows`` along ``axis`` (biased variance, two passes).

    Along axis 0 (batch norm: a column per channel) the sums are a matrix-vector
    product and an einsum: one pass each, 3x and 2x faster than NumPy's
    column reductions, and no (x - mean)^2 temporary.
    """
    m = rows.shape[axis]
    if axis == 0:
        mean = _column_sums(rows)[None] / m
        centered = rows - mean
        var = _column_dots(centered, centered)[None] / m
    else:
        mean = rows.mean(axis=axis, keepdims=True)
        centered = rows - mean
        var = (centered * centered).sum(axis=axis, keepdims=True) / m
    inv_std = 1.0 / np.sqrt(var + eps)
    centered *= inv_std
    return centered, inv_std, mean, var


def _column_sums(rows: Any) -> Any:
    return array_module(rows).ones(rows.shape[0], dtype=rows.dtype) @ rows


def _column_dots(a: Any, b: Any) -> Any:
    """sum over rows of a * b, per column, without the product as a temporary."""
    return np.einsum("ij,ij->j", a, b)


def _standardize_backward(d: Any, x_hat: Any, inv_std: Any, axis: int) -> Any:
    """dC/dx from d = dC/dx_hat: inv_std * (d - mean(d) - x_hat * mean(d * x_hat)) along ``axis``."""
    m = d.shape[axis]
    mean_d = d.sum(axis=axis, keepdims=True) / m
    mean_dx = (d * x_hat).sum(axis=axis, keepdims=True) / m
    out = x_hat * mean_dx
    out += mean_d
    np.subtract(d, out, out=out)
    out *= inv_std
    return out


def _channel_rows(a: Any) -> Any:
    """(N, C, *S) -> (N * prod(S), C): channels last, a view when the memory is channels-last."""
    if a.ndim == 2:
        return a
    return np.moveaxis(a, 1, -1).reshape(-1, a.shape[1])


def _from_channel_rows(rows: Any, shape: tuple) -> Any:
    if len(shape) == 2:
        return rows
    return np.moveaxis(rows.reshape(shape[0], *shape[2:], shape[1]), -1, 1)


def _params(weight: Any, bias: Any, like: Tensor, shape: tuple, op: str) -> tuple:
    out = []
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None:
            p = p if isinstance(p, Tensor) else as_tensor(p, like=like)
            if tuple(p.shape) != shape:
                raise ShapeError(f"{op}: {name} must have shape {shape}, got {tuple(p.shape)}")
        out.append(p)
    return tuple(out)


def _float_input(x: Any, op: str) -> Tensor:
    x = as_tensor(x)
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: needs a floating-point input, got {x.dtype}; cast it with x.float()")
    return x


# ----------------------------------------------------------------- batch norm
def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1,
               eps=1e-5) -> Tensor:
    """PyTorch's F.batch_norm on (N, C), (N, C, L) or (N, C, H, W): statistics per channel.

    ``training=True`` normalizes with the batch's statistics and, when the
    running buffers (Tensors) are given, updates them in place with
    ``momentum``; ``training=False`` uses the running statistics.
    """
    op = "batch_norm"
    x = _float_input(x, op)
    if x.ndim < 2:
        raise ShapeError(f"{op}: expected (N, C), (N, C, L) or (N, C, H, W), got shape {x.shape}")
    c = x.shape[1]
    weight, bias = _params(weight, bias, x, (c,), op)
    rows = _channel_rows(x.array)
    if training:
        return _batch_norm_train(x, rows, running_mean, running_var, weight, bias, momentum, eps, op)
    if running_mean is None or running_var is None:
        raise ValueError(f"{op}: evaluation mode (training=False) needs running_mean and running_var")
    mean, var = _raw(running_mean), _raw(running_var)
    inv_std = 1.0 / np.sqrt(var + eps)
    scale = inv_std if weight is None else weight.array * inv_std
    out = rows * scale
    out += (-mean * scale) if bias is None else bias.array - mean * scale
    saved = (scale, inv_std, rows if weight is not None and weight.requires_grad else None, mean, x.shape,
             _present(weight, bias))
    return make_result(_from_channel_rows(out, x.shape), _parents(x, weight, bias), _bn_eval_backward,
                       saved, op)


def _raw(t: Any) -> Any:
    return t.array if isinstance(t, Tensor) else t


def _parents(x: Tensor, weight: Tensor | None, bias: Tensor | None) -> tuple:
    """(x, weight, bias) without the missing ones (`_affine_grads` is told which are there)."""
    return (x, *[p for p in (weight, bias) if p is not None])


def _present(weight: Any, bias: Any) -> tuple[bool, bool]:
    return weight is not None, bias is not None


def _batch_norm_train(x, rows, running_mean, running_var, weight, bias, momentum, eps, op) -> Tensor:
    m = rows.shape[0]
    if m <= 1:
        raise ValueError(f"{op}: expected more than 1 value per channel when training, got input of shape "
                         f"{x.shape}; use a batch of 2 or more, or call model.eval()")
    x_hat, inv_std, mean, var = _standardize(rows, 0, eps)
    if running_mean is not None:
        _update_running(running_mean, mean[0], momentum)
    if running_var is not None:
        _update_running(running_var, var[0] * (m / (m - 1)), momentum)
    if weight is None:
        out = x_hat if bias is None else x_hat + bias.array
    else:
        out = x_hat * weight.array
        if bias is not None:
            out += bias.array
    saved = (x_hat, inv_std[0], None if weight is None else weight.array, x.shape, _present(weight, bias))
    return make_result(_from_channel_rows(out, x.shape), _parents(x, weight, bias), _bn_train_backward,
                       saved, op)


def _update_running(buffer: Any, value: Any, momentum: float) -> None:
    array = _raw(buffer)
    array *= 1.0 - momentum
    array += (momentum * value).astype(array.dtype)


def _bn_train_backward(g, saved, parents):
    x_hat, inv_std, weight, shape, present = saved
    rows = _channel_rows(g)
    m = rows.shape[0]
    db = _column_sums(rows)
    dw = _column_dots(rows, x_hat)
    gx = None
    if parents[0] is not None:  # d = g * weight: mean(d) = weight db / m, mean(d x_hat) = weight dw / m
        gain = inv_std if weight is None else inv_std * weight
        out = x_hat * (dw / m)
        out += db / m
        np.subtract(rows, out, out=out)
        out *= gain
        gx = _from_channel_rows(out, shape)
    return gx, *_affine_grads(parents, present, dw, db)


def _affine_grads(parents: tuple, present: tuple[bool, bool], dw: Any, db: Any) -> tuple:
    """The weight and bias gradients for whichever of the two the op was given (and need one)."""
    grads, position = [], 1
    for there, value in zip(present, (dw, db), strict=True):
        if there:
            parameter = parents[position]
            grads.append(None if parameter is None else _into(parameter, value))
            position += 1
    return tuple(grads)


def _wants(parents: tuple, present: tuple[bool, bool], which: int) -> bool:
    """Whether the weight (0) or bias (1) was given and needs a gradient."""
    if not present[which]:
        return False
    return parents[1 + (which == 1 and present[0])] is not None


def _into(parameter: Tensor, value: Any) -> Any:
    buffer = gradient_buffer(parameter)
    if buffer is None:
        return value
    buffer[...] = value
    return buffer


def _bn_eval_backward(g, saved, parents):
    scale, inv_std, rows, mean, shape, present = saved
    grows = _channel_rows(g)
    gx = None if parents[0] is None else _from_channel_rows(grows * scale, shape)
    db = grows.sum(axis=0) if _wants(parents, present, 1) else None
    dw = (grows * ((rows - mean) * inv_std)).sum(axis=0) if _wants(parents, present, 0) else None
    return gx, *_affine_grads(parents, present, dw, db)


# ----------------------------------------------------------------- layer norm
def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5) -> Tensor:
    """PyTorch's F.layer_norm: standardize each example over its last len(normalized_shape) axes."""
    op = "layer_norm"
    x = _float_input(x, op)
    single = isinstance(normalized_shape, (int, np.integer))
    shape = (normalized_shape,) if single else tuple(normalized_shape)
    k = len(shape)
    if tuple(x.shape[x.ndim - k:]) != shape or k == 0:
        raise ShapeError(f"{op}: normalized_shape {shape} must be the last axes of the input, got input "
                         f"of shape {x.shape}")
    weight, bias = _params(weight, bias, x, shape, op)
    rows = x.array.reshape(-1, math.prod(shape))
    x_hat, inv_std, _, _ = _standardize(rows, 1, eps)
    flat_w = None if weight is None else weight.array.reshape(-1)
    out = x_hat if flat_w is None else x_hat * flat_w
    if bias is not None:
        out = out + bias.array.reshape(-1)
    saved = (x_hat, inv_std, flat_w, x.shape, shape, _present(weight, bias))
    return make_result(out.reshape(x.shape), _parents(x, weight, bias), _layer_norm_backward, saved, op)


def _layer_norm_backward(g, saved, parents):
    x_hat, inv_std, flat_w, x_shape, shape, present = saved
    rows = g.reshape(x_hat.shape)
    gx = None
    if parents[0] is not None:
        d = rows if flat_w is None else rows * flat_w
        gx = _standardize_backward(d, x_hat, inv_std, 1).reshape(x_shape)
    dw = (rows * x_hat).sum(axis=0).reshape(shape) if _wants(parents, present, 0) else None
    db = rows.sum(axis=0).reshape(shape) if _wants(parents, present, 1) else None
    return gx, *_affine_grads(parents, present, dw, db)


# ----------------------------------------------------------------- group norm
def group_norm(x, num_groups: int, weight=None, bias=None, eps=1e-5) -> Tensor:
    """PyTorch's F.group_norm: standardize each example's channels in ``num_groups`` blocks."""
    op = "group_norm"
    x = _float_input(x, op)
    if x.ndim < 2:
        raise ShapeError(f"{op}: expected (N, C, *), got shape {x.shape}")
    n, c = x.shape[:2]
    if num_groups < 1 or c % num_groups:
        raise ShapeError(f"{op}: {c} channels do not split into num_groups={num_groups}")
    weight, bias = _params(weight, bias, x, (c,), op)
    grouped = x.array.reshape(n * num_groups, -1)
    x_hat, inv_std, _, _ = _standardize(grouped, 1, eps)
    per_channel = x_hat.reshape(n, c, -1)
    out = per_channel if weight is None else per_channel * weight.array[:, None]
    if bias is not None:
        out = out + bias.array[:, None]
    saved = (x_hat, inv_std, None if weight is None else weight.array, x.shape, _present(weight, bias))
    return make_result(out.reshape(x.shape), _parents(x, weight, bias), _group_norm_backward, saved, op)


def _group_norm_backward(g, saved, parents):
    x_hat, inv_std, w, x_shape, present = saved
    n, c = x_shape[:2]
    per_channel = g.reshape(n, c, -1)
    gx = None
    if parents[0] is not None:
        d = per_channel if w is None else per_channel * w[:, None]
        gx = _standardize_backward(d.reshape(x_hat.shape), x_hat, inv_std, 1).reshape(x_shape)
    x_hat_c = x_hat.reshape(n, c, -1)
    dw = (per_channel * x_hat_c).sum(axis=(0, 2)) if _wants(parents, present, 0) else None
    db = per_channel.sum(axis=(0, 2)) if _wants(parents, present, 1) else None
    return gx, *_affine_grads(parents, present, dw, db)
