"""Activation functions, each written stably, with its derivative beside it.

Where the derivative is cheapest from the output (sigmoid: s(1 - s),
tanh: 1 - t^2) the forward saves the output instead of the input.
"""

from __future__ import annotations

import math

import numpy as np

from deltaprop.backend import array_module, special_functions
from deltaprop.ops.arithmetic import as_float
from deltaprop.ops.dims import axis as one_axis
from deltaprop.tensor import Tensor, as_tensor, make_result


# ----------------------------------------------------------------- sigmoid
def _sigmoid(x):
    """1 / (1 + e^-x) without overflow: for x < 0 use e^x / (1 + e^x) instead."""
    xp = array_module(x)
    if xp is not np:  # CuPy: same maths without NumPy-only ufunc arguments (where=)
        e = xp.exp(-xp.abs(x))
        return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))
    x = np.asarray(x)
    if x.dtype.kind != "f":
        x = x.astype(np.float64)
    e = np.empty_like(x)  # an array even for 0-d input, so the in-place steps below can write to it
    np.abs(x, out=e)
    np.negative(e, out=e)
    np.exp(e, out=e)  # e^-|x| never overflows
    out = np.add(e, 1, out=np.empty_like(e))
    np.reciprocal(out, out=out)  # 1 / (1 + e^-|x|): the answer for x >= 0
    np.multiply(out, e, out=out, where=x < 0)  # e^x / (1 + e^x) for x < 0
    return out


def sigmoid(a) -> Tensor:
    a = as_float(as_tensor(a))
    out = _sigmoid(a.array)
    return make_result(out, (a,), _sigmoid_backward, (out,), "sigmoid")


def _sigmoid_backward(g, saved, parents):
    (s,) = saved
    grad = 1 - s  # sigmoid'(z) = s (1 - s), from the saved output: no exp in the backward
    grad *= s
    grad *= g
    return (grad,)


# ----------------------------------------------------------------- tanh
def tanh(a) -> Tensor:
    a = as_float(as_tensor(a))
    out = np.tanh(a.array)
    return make_result(out, (a,), _tanh_backward, (out,), "tanh")


def _tanh_backward(g, saved, parents):
    (t,) = saved
    return (g * (1 - t * t),)


# ----------------------------------------------------------------- ReLU family
def relu(a) -> Tensor:
    a = as_tensor(a)
    out = np.maximum(a.array, 0)
    return make_result(out, (a,), _relu_backward, (out,), "relu")


def _relu_backward(g, saved, parents):
    (out,) = saved
    return (g * (out > 0),)  # derivative 0 at 0, like PyTorch


def leaky_relu(a, negative_slope: float = 0.01) -> Tensor:
    a = as_tensor(a)
    positive = a.array > 0
    out = np.where(positive, a.array, a.array * negative_slope)
    return make_result(out, (a,), _leaky_relu_backward, (positive, negative_slope), "leaky_relu")


def _leaky_relu_backward(g, saved, parents):
    positive, slope = saved
    return (np.where(positive, g, g * slope),)


def elu(a, alpha: float = 1.0) -> Tensor:
    a = as_tensor(a)
    positive = a.array > 0
    exp_part = alpha * np.expm1(np.minimum(a.array, 0))
    out = np.where(positive, a.array, exp_part)
    return make_result(out, (a,), _elu_backward, (positive, exp_part, alpha), "elu")


def _elu_backward(g, saved, parents):
    positive, exp_part, alpha = saved
    return (np.where(positive, g, g * (exp_part + alpha)),)


# ----------------------------------------------------------------- smooth ones
def softplus(a) -> Tensor:
    """log(1 + e^x), computed as logaddexp(0, x) so large x does not overflow."""
    a = as_tensor(a)
    out = np.logaddexp(0, a.array)
    return make_result(out, (a,), _softplus_backward, (a.array,), "softplus")


def _softplus_backward(g, saved, parents):
    (x,) = saved
    return (g * _sigmoid(x),)


def silu(a) -> Tensor:
    """Swish: x * sigmoid(x)."""
    a = as_tensor(a)
    s = _sigmoid(a.array)
    return make_result(a.array * s, (a,), _silu_backward, (a.array, s), "silu")


def _silu_backward(g, saved, parents):
    x, s = saved
    return (g * (s + x * s * (1 - s)),)


swish = silu


def mish(a) -> Tensor:
    """x * tanh(softplus(x))."""
    a = as_tensor(a)
    t = np.tanh(np.logaddexp(0, a.array))
    return make_result(a.array * t, (a,), _mish_backward, (a.array, t), "mish")


def _mish_backward(g, saved, parents):
    x, t = saved
    # d/dx = tanh(sp) + x * (1 - tanh(sp)^2) * sigmoid(x), as d softplus/dx = sigmoid
    return (g * (t + x * (1 - t * t) * _sigmoid(x)),)


_SQRT_2 = math.sqrt(2.0)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _erf(x):
    """The error function: SciPy's when installed, else Python's math.erf per element.

    Arrays of another library (CuPy) use that library's own special functions, on its device.
    """
    xp = array_module(x)
    if xp is not np:
        return special_functions(xp).erf(x)
    try:
        from scipy.special import erf
    except ImportError:
        return np.frompyfunc(math.erf, 1, 1)(x).astype(x.dtype)
    return erf(x)


def gelu(a, approximate: str = "none") -> Tensor:
    """x * Phi(x), Phi the standard normal CDF; ``approximate='tanh'`` uses the tanh formula."""
    a = as_tensor(a)
    x = a.array
    if approximate == "tanh":
        inner = _SQRT_2_OVER_PI * (x + 0.044715 * x**3)
        t = np.tanh(inner)
        out = 0.5 * x * (1 + t)
        return make_result(out, (a,), _gelu_tanh_backward, (x, t), "gelu")
    if approximate != "none":
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    cdf = 0.5 * (1 + _erf(x / _SQRT_2))
    return make_result(x * cdf, (a,), _gelu_backward, (x, cdf), "gelu")


def _gelu_backward(g, saved, parents):
    x, cdf = saved
    pdf = _INV_SQRT_2PI * np.exp(-0.5 * x * x)
    return (g * (cdf + x * pdf),)


def _gelu_tanh_backward(g, saved, parents):
    x, t = saved
    d_inner = _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x)
    return (g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * d_inner),)


# ----------------------------------------------------------------- softmax
def _dim(a, dim, axis, dtype, op: str) -> int:
    """``dim`` (or NumPy's ``axis``) as a non-negative int, checked against the input's dims."""
    return one_axis(axis if axis is not None else dim, np.ndim(a.array if isinstance(a, Tensor) else a), op)


def softmax(a, dim: int = -1, *, axis: int | None = None, dtype=None) -> Tensor:
    """exp(a) / sum(exp(a)) along ``dim`` (NumPy's ``axis`` also accepted)."""
    axis = _dim(a, dim, axis, dtype, "softmax")
    a = as_tensor(a) if dtype is None else as_tensor(a).astype(dtype)
    shifted = np.exp(a.array - a.array.max(axis=axis, keepdims=True))
    out = shifted / shifted.sum(axis=axis, keepdims=True)
    return make_result(out, (a,), _softmax_backward, (out, axis), "softmax")


def _softmax_backward(g, saved, parents):
    s, axis = saved
    # Jacobian diag(s) - s s^T applied to g, without forming it
    return (s * (g - (g * s).sum(axis=axis, keepdims=True)),)


def log_softmax(a, dim: int = -1, *, axis: int | None = None, dtype=None) -> Tensor:
    axis = _dim(a, dim, axis, dtype, "log_softmax")
    a = as_tensor(a) if dtype is None else as_tensor(a).astype(dtype)
    shifted = a.array - a.array.max(axis=axis, keepdims=True)
    out = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
    return make_result(out, (a,), _log_softmax_backward, (out, axis), "log_softmax")


def _log_softmax_backward(g, saved, parents):
    log_s, axis = saved
    return (g - np.exp(log_s) * g.sum(axis=axis, keepdims=True),)
