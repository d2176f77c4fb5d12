"""Elementwise arithmetic: each forward with its vector-Jacobian product beside it.

A backward function receives ``g`` (dC/d output), the arrays the forward
saved, and the parents (None where an input needs no gradient), and returns
dC/d input for each input.
"""

from __future__ import annotations

import numpy as np

from deltaprop.ops.broadcast import unbroadcast
from deltaprop.tensor import Tensor, as_tensor, make_result


def _pair(a, b) -> tuple[Tensor, Tensor]:
    if isinstance(a, Tensor):
        return a, as_tensor(b, like=a)
    b = as_tensor(b)
    return as_tensor(a, like=b), b


# ----------------------------------------------------------------- a + b
def add(a, b) -> Tensor:
    a, b = _pair(a, b)
    return make_result(a.data + b.data, (a, b), _add_backward, (a.shape, b.shape), "add")


def _add_backward(g, saved, parents):
    shape_a, shape_b = saved
    return unbroadcast(g, shape_a), unbroadcast(g, shape_b)


# ----------------------------------------------------------------- a - b
def sub(a, b) -> Tensor:
    a, b = _pair(a, b)
    return make_result(a.data - b.data, (a, b), _sub_backward, (a.shape, b.shape), "sub")


def _sub_backward(g, saved, parents):
    shape_a, shape_b = saved
    return unbroadcast(g, shape_a), (None if parents[1] is None else unbroadcast(-g, shape_b))


# ----------------------------------------------------------------- a * b
def mul(a, b) -> Tensor:
    a, b = _pair(a, b)
    return make_result(a.data * b.data, (a, b), _mul_backward, (a.data, b.data), "mul")


def _mul_backward(g, saved, parents):
    a, b = saved
    ga = None if parents[0] is None else unbroadcast(g * b, a.shape)
    gb = None if parents[1] is None else unbroadcast(g * a, b.shape)
    return ga, gb


# ----------------------------------------------------------------- a / b
def div(a, b) -> Tensor:
    a, b = _pair(a, b)
    return make_result(a.data / b.data, (a, b), _div_backward, (a.data, b.data), "div")


def _div_backward(g, saved, parents):
    a, b = saved
    ga = None if parents[0] is None else unbroadcast(g / b, a.shape)
    gb = None if parents[1] is None else unbroadcast(-g * a / (b * b), b.shape)
    return ga, gb


# ----------------------------------------------------------------- a ** b
def pow(a, b) -> Tensor:  # noqa: A001 - the operator's name
    if isinstance(a, Tensor) and not isinstance(b, Tensor) and np.ndim(b) == 0:
        # the common case x ** 2: a constant exponent, d/da = b a^(b-1)
        return make_result(a.data**b, (a,), _pow_scalar_backward, (a.data, b), "pow")
    a, b = _pair(a, b)
    out = a.data**b.data
    return make_result(out, (a, b), _pow_backward, (a.data, b.data, out), "pow")


def _pow_scalar_backward(g, saved, parents):
    a, exponent = saved
    if exponent == 2:
        return (g * 2 * a,)
    return (g * exponent * a ** (exponent - 1),)


def _pow_backward(g, saved, parents):
    a, b, out = saved
    ga = None if parents[0] is None else unbroadcast(g * b * a ** (b - 1), a.shape)
    gb = None
    if parents[1] is not None:
        # d(a^b)/db = a^b log a, defined for a > 0 (0 where a == 0, as 0^b is flat in b)
        safe_log = np.log(np.where(a > 0, a, 1))
        gb = unbroadcast(g * out * safe_log, b.shape)
    return ga, gb


# ----------------------------------------------------------------- unary
def neg(a) -> Tensor:
    a = as_tensor(a)
    return make_result(-a.data, (a,), _neg_backward, (), "neg")


def _neg_backward(g, saved, parents):
    return (-g,)


def abs(a) -> Tensor:  # noqa: A001
    a = as_tensor(a)
    return make_result(np.abs(a.data), (a,), _abs_backward, (a.data,), "abs")


def _abs_backward(g, saved, parents):
    (a,) = saved
    return (g * np.sign(a),)  # subgradient 0 at 0, like PyTorch


def exp(a) -> Tensor:
    a = as_tensor(a)
    out = np.exp(a.data)
    return make_result(out, (a,), _exp_backward, (out,), "exp")


def _exp_backward(g, saved, parents):
    (out,) = saved
    return (g * out,)


def log(a) -> Tensor:
    a = as_tensor(a)
    return make_result(np.log(a.data), (a,), _log_backward, (a.data,), "log")


def _log_backward(g, saved, parents):
    (a,) = saved
    return (g / a,)


def sqrt(a) -> Tensor:
    a = as_tensor(a)
    out = np.sqrt(a.data)
    return make_result(out, (a,), _sqrt_backward, (out,), "sqrt")


def _sqrt_backward(g, saved, parents):
    (out,) = saved
    return (g / (2 * out),)


def astype(a, dtype) -> Tensor:
    a = as_tensor(a)
    return make_result(a.data.astype(dtype), (a,), _astype_backward, (a.dtype,), "astype")


def _astype_backward(g, saved, parents):
    (dtype,) = saved
    return (g.astype(dtype),)


# ----------------------------------------------------------------- choosing ops
def maximum(a, b) -> Tensor:
    a, b = _pair(a, b)
    take_a = a.data >= b.data  # ties send the gradient to a, like np.maximum's choice
    return make_result(
        np.maximum(a.data, b.data), (a, b), _select_backward, (take_a, a.shape, b.shape), "maximum"
    )


def minimum(a, b) -> Tensor:
    a, b = _pair(a, b)
    take_a = a.data <= b.data
    return make_result(
        np.minimum(a.data, b.data), (a, b), _select_backward, (take_a, a.shape, b.shape), "minimum"
    )


def where(condition, a, b) -> Tensor:
    """``a`` where ``condition`` holds, else ``b`` (the condition gets no gradient)."""
    a, b = _pair(a, b)
    take_a = condition.data if isinstance(condition, Tensor) else condition
    take_a = a.xp.asarray(take_a, dtype=bool)
    out = np.where(take_a, a.data, b.data)
    return make_result(out, (a, b), _select_backward, (take_a, a.shape, b.shape), "where")


def _select_backward(g, saved, parents):
    take_a, shape_a, shape_b = saved
    ga = None if parents[0] is None else unbroadcast(np.where(take_a, g, 0), shape_a)
    gb = None if parents[1] is None else unbroadcast(np.where(take_a, 0, g), shape_b)
    return ga, gb


def clip(a, min=None, max=None) -> Tensor:  # noqa: A002 - NumPy's names
    """Clamp to [min, max]; the gradient passes only where the value was inside."""
    a = as_tensor(a)
    if min is None and max is None:
        raise ValueError("clip: give min, max or both")
    out = np.clip(a.data, min, max)
    inside = out == a.data
    return make_result(out, (a,), _clip_backward, (inside,), "clip")


def _clip_backward(g, saved, parents):
    (inside,) = saved
    return (g * inside,)
