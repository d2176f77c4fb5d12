"""More elementwise maths with PyTorch's names, each derivative beside its forward.

Trigonometry, logs and powers, rounding (whose derivative is zero wherever it
exists, as PyTorch takes it), and Python's ``//`` and ``%``: ``%`` is
differentiable (d(a % b)/da = 1, d/db = -floor(a / b)); ``//`` has no
derivative in PyTorch either, so its backward raises.
"""

from __future__ import annotations

import math

import numpy as np

from deltaprop.errors import GraphError
from deltaprop.ops.activations import _erf
from deltaprop.ops.arithmetic import _pair, as_float
from deltaprop.ops.broadcast import unbroadcast
from deltaprop.tensor import Tensor, as_tensor, make_result


# ----------------------------------------------------------------- trigonometry
def sin(input) -> Tensor:  # noqa: A002
    a = as_float(as_tensor(input))
    return make_result(np.sin(a.array), (a,), _sin_backward, (a.array,), "sin")


def _sin_backward(g, saved, parents):
    (x,) = saved
    return (g * np.cos(x),)


def cos(input) -> Tensor:  # noqa: A002
    a = as_float(as_tensor(input))
    return make_result(np.cos(a.array), (a,), _cos_backward, (a.array,), "cos")


def _cos_backward(g, saved, parents):
    (x,) = saved
    return (-g * np.sin(x),)


def tan(input) -> Tensor:  # noqa: A002
    a = as_float(as_tensor(input))
    out = np.tan(a.array)
    return make_result(out, (a,), _tan_backward, (out,), "tan")


def _tan_backward(g, saved, parents):
    (t,) = saved
    return (g * (1 + t * t),)


def atan(input) -> Tensor:  # noqa: A002
    a = as_float(as_tensor(input))
    return make_result(np.arctan(a.array), (a,), _atan_backward, (a.array,), "atan")


def _atan_backward(g, saved, parents):
    (x,) = saved
    return (g / (1 + x * x),)


# ----------------------------------------------------------------- logs and powers
def log1p(input) -> Tensor:  # noqa: A002
    """log(1 + x), accurate for small x."""
    a = as_float(as_tensor(input))
    return make_result(np.log1p(a.array), (a,), _log1p_backward, (a.array,), "log1p")


def _log1p_backward(g, saved, parents):
    (x,) = saved
    return (g / (1 + x),)


def expm1(input) -> Tensor:  # noqa: A002
    """e^x - 1, accurate for small x."""
    a = as_float(as_tensor(input))
    out = np.expm1(a.array)
    return make_result(out, (a,), _expm1_backward, (out,), "expm1")


def _expm1_backward(g, saved, parents):
    (out,) = saved
    return (g * (out + 1),)


def log2(input) -> Tensor:  # noqa: A002
    a = as_float(as_tensor(input))
    return make_result(np.log2(a.array), (a,), _log_base_backward, (a.array, math.log(2.0)), "log2")


def log10(input) -> Tensor:  # noqa: A002
    a = as_float(as_tensor(input))
    return make_result(np.log10(a.array), (a,), _log_base_backward, (a.array, math.log(10.0)), "log10")


def _log_base_backward(g, saved, parents):
    x, ln_base = saved
    return (g / (x * ln_base),)


def reciprocal(input) -> Tensor:  # noqa: A002
    a = as_float(as_tensor(input))
    out = 1 / a.array
    return make_result(out, (a,), _reciprocal_backward, (out,), "reciprocal")


def _reciprocal_backward(g, saved, parents):
    (out,) = saved
    return (-g * out * out,)


def rsqrt(input) -> Tensor:  # noqa: A002
    """1 / sqrt(x)."""
    a = as_float(as_tensor(input))
    out = 1 / np.sqrt(a.array)
    return make_result(out, (a,), _rsqrt_backward, (out,), "rsqrt")


def _rsqrt_backward(g, saved, parents):
    (out,) = saved
    return (-0.5 * g * out * out * out,)


def square(input) -> Tensor:  # noqa: A002
    a = as_tensor(input)
    return make_result(a.array * a.array, (a,), _square_backward, (a.array,), "square")


def _square_backward(g, saved, parents):
    (x,) = saved
    return (2 * g * x,)


def erf(input) -> Tensor:  # noqa: A002
    a = as_float(as_tensor(input))
    return make_result(_erf(a.array), (a,), _erf_backward, (a.array,), "erf")


def _erf_backward(g, saved, parents):
    (x,) = saved
    return (g * (2 / math.sqrt(math.pi)) * np.exp(-x * x),)


# ----------------------------------------------------------------- rounding: flat almost everywhere
def _flat(a, values, op: str) -> Tensor:
    if a.array.dtype.kind in "biu" and values.dtype != a.array.dtype:  # integers keep their dtype (PyTorch)
        values = values.astype(a.array.dtype)
    return make_result(values, (a,), _zero_backward, (), op)


def _zero_backward(g, saved, parents):
    return (np.zeros_like(g),)  # the derivative wherever there is one, as PyTorch takes it


def sign(input) -> Tensor:  # noqa: A002
    a = as_tensor(input)
    return _flat(a, np.sign(a.array), "sign")


def floor(input) -> Tensor:  # noqa: A002
    a = as_tensor(input)
    return _flat(a, np.floor(a.array), "floor")


def ceil(input) -> Tensor:  # noqa: A002
    a = as_tensor(input)
    return _flat(a, np.ceil(a.array), "ceil")


def trunc(input) -> Tensor:  # noqa: A002
    a = as_tensor(input)
    return _flat(a, np.trunc(a.array), "trunc")


def round(input, decimals: int = 0) -> Tensor:  # noqa: A001, A002
    """Round half to even (2.5 -> 2), as PyTorch and NumPy do; ``decimals`` places after the point."""
    a = as_tensor(input)
    return _flat(a, np.round(a.array, decimals), "round")


# ----------------------------------------------------------------- // and %
def floor_divide(input, other) -> Tensor:  # noqa: A002
    """``a // b``, rounding down; like PyTorch, it has no derivative (its backward raises)."""
    a, b = _pair(input, other)
    return make_result(np.floor_divide(a.array, b.array), (a, b), _floor_divide_backward, (), "floor_divide")


def _floor_divide_backward(g, saved, parents):
    raise GraphError(
        "backward(): floor_divide (//) has no derivative (PyTorch: 'derivative for aten::floor_divide is "
        "not implemented'); detach() its inputs, or use a / b with floor() (derivative zero)"
    )


def remainder(input, other) -> Tensor:  # noqa: A002
    """``a % b`` with the sign of b (Python's and PyTorch's rule, NumPy's ``remainder``)."""
    a, b = _pair(input, other)
    out = np.remainder(a.array, b.array)
    return make_result(out, (a, b), _remainder_backward, (a.array, b.array), "remainder")


def _remainder_backward(g, saved, parents):
    a, b = saved
    ga = None if parents[0] is None else unbroadcast(g, a.shape)
    gb = None if parents[1] is None else unbroadcast(-g * np.floor_divide(a, b), b.shape)
    return ga, gb
