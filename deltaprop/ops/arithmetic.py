"""Elementwise arithmetic: each forward with its vector-Jacobian product beside it.

A backward function receives ``g`` (dC/d output), the arrays the forward
saved, and the parents (None where an input needs no gradient), and returns
dC/d input for each input.
"""

from __future__ import annotations

import numpy as np

from deltaprop.errors import ShapeError
from deltaprop.ops.broadcast import unbroadcast
from deltaprop.tensor import DEFAULT_DTYPE, Tensor, as_tensor, make_result


def _pair(a, b) -> tuple[Tensor, Tensor]:
    """Both operands as tensors of one float dtype, without upcasting float32 work.

    Python numbers, arrays and 0-d tensors take the dtype of the other operand
    (so ``x32 * np.float64(2)`` stays float32, as in PyTorch); integer or bool
    tensors meeting a float one are cast to its dtype.
    """
    if isinstance(a, Tensor):
        if isinstance(b, Tensor):
            if a.array.dtype is b.array.dtype or a.array.dtype == b.array.dtype:
                return a, b
            return _match_dtypes(a, b)
        return a, as_tensor(b, like=a)
    b = as_tensor(b)
    return as_tensor(a, like=b), b


def as_float(a: Tensor) -> Tensor:
    """Integer and bool tensors as float32 (a constant: they carry no gradient), as PyTorch's float ops do.

    ``torch.tensor([1, 2]) / 2``, ``.exp()``, ``.sqrt()`` give float32 in
    PyTorch; NumPy would give float64.
    """
    if a.array.dtype.kind in "biu":
        return Tensor._wrap(a.array.astype(DEFAULT_DTYPE))
    return a


def _match_dtypes(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    fa, fb = a.array.dtype.kind == "f", b.array.dtype.kind == "f"
    if fa and fb:
        # float32 with float64: a 0-d operand (a scalar) follows the other one, else NumPy's rule
        if b.array.ndim == 0 and a.array.ndim > 0:
            return a, astype(b, a.array.dtype)
        if a.array.ndim == 0 and b.array.ndim > 0:
            return astype(a, b.array.dtype), b
        return a, b
    if fa:
        return a, astype(b, a.array.dtype)
    if fb:
        return astype(a, b.array.dtype), b
    return a, b


def _broadcast_error(op: str, a: Tensor, b: Tensor) -> ShapeError:
    return ShapeError(
        f"{op}: shapes {a.shape} and {b.shape} do not broadcast (NumPy rules: compared from the "
        "right, each pair of sizes must be equal or one of them 1); reshape one operand, e.g. "
        "x.reshape(-1, 1) to make a column"
    )


# ----------------------------------------------------------------- a + b
def add(a, b) -> Tensor:
    a, b = _pair(a, b)
    try:
        out = a.array + b.array
    except ValueError:
        raise _broadcast_error("add", a, b) from None
    return make_result(out, (a, b), _add_backward, (), "add")


def _add_backward(g, saved, parents):
    # a parent that needs a gradient is there to tell its own shape; the sum undoes broadcasting
    a, b = parents
    return (
        None if a is None else unbroadcast(g, a.array.shape),
        None if b is None else unbroadcast(g, b.array.shape),
    )


# ----------------------------------------------------------------- a - b
def sub(a, b) -> Tensor:
    a, b = _pair(a, b)
    try:
        out = a.array - b.array
    except ValueError:
        raise _broadcast_error("sub", a, b) from None
    return make_result(out, (a, b), _sub_backward, (), "sub")


def _sub_backward(g, saved, parents):
    a, b = parents
    return (
        None if a is None else unbroadcast(g, a.array.shape),
        None if b is None else unbroadcast(-g, b.array.shape),
    )


# ----------------------------------------------------------------- a * b
def mul(a, b) -> Tensor:
    a, b = _pair(a, b)
    try:
        out = a.array * b.array
    except ValueError:
        raise _broadcast_error("mul", a, b) from None
    return make_result(out, (a, b), _mul_backward, (a.array, b.array), "mul")


def _mul_backward(g, saved, parents):
    a, b = saved
    ga = None if parents[0] is None else unbroadcast(g * b, a.shape)
    gb = None if parents[1] is None else unbroadcast(g * a, b.shape)
    return ga, gb


# ----------------------------------------------------------------- a / b
def div(a, b) -> Tensor:
    a, b = _pair(a, b)
    if a.array.dtype.kind in "biu" and b.array.dtype.kind in "biu":  # true division of integers: float32
        a, b = as_float(a), as_float(b)
    try:
        out = a.array / b.array
    except ValueError:
        raise _broadcast_error("div", a, b) from None
    return make_result(out, (a, b), _div_backward, (a.array, b.array), "div")


def _div_backward(g, saved, parents):
    a, b = saved
    ga = None if parents[0] is None else unbroadcast(g / b, a.shape)
    gb = None if parents[1] is None else unbroadcast(-g * a / (b * b), b.shape)
    return ga, gb


# ----------------------------------------------------------------- a ** b
def pow(a, b) -> Tensor:  # noqa: A001 - the operator's name
    if isinstance(a, Tensor) and not isinstance(b, Tensor) and np.ndim(b) == 0:
        # the common case x ** 2: a constant exponent, d/da = b a^(b-1)
        if a.array.dtype.kind in "biu" and not float(b).is_integer():  # int ** 0.5 is float32 in PyTorch
            a = as_float(a)
        return make_result(a.array**b, (a,), _pow_scalar_backward, (a.array, b), "pow")
    a, b = _pair(a, b)
    try:
        out = a.array**b.array
    except ValueError:
        raise _broadcast_error("pow", a, b) from None
    return make_result(out, (a, b), _pow_backward, (a.array, b.array, out), "pow")


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
    return make_result(-a.array, (a,), _neg_backward, (), "neg")


def _neg_backward(g, saved, parents):
    return (-g,)


def abs(a) -> Tensor:  # noqa: A001
    a = as_tensor(a)
    return make_result(np.abs(a.array), (a,), _abs_backward, (a.array,), "abs")


def _abs_backward(g, saved, parents):
    (a,) = saved
    return (g * np.sign(a),)  # subgradient 0 at 0, like PyTorch


def exp(a) -> Tensor:
    a = as_float(as_tensor(a))
    out = np.exp(a.array)
    return make_result(out, (a,), _exp_backward, (out,), "exp")


def _exp_backward(g, saved, parents):
    (out,) = saved
    return (g * out,)


def log(a) -> Tensor:
    a = as_float(as_tensor(a))
    return make_result(np.log(a.array), (a,), _log_backward, (a.array,), "log")


def _log_backward(g, saved, parents):
    (a,) = saved
    return (g / a,)


def sqrt(a) -> Tensor:
    a = as_float(as_tensor(a))
    out = np.sqrt(a.array)
    return make_result(out, (a,), _sqrt_backward, (out,), "sqrt")


def _sqrt_backward(g, saved, parents):
    (out,) = saved
    return (g / (2 * out),)


def astype(a, dtype) -> Tensor:
    a = as_tensor(a)
    return make_result(a.array.astype(dtype), (a,), _astype_backward, (a.dtype,), "astype")


def _astype_backward(g, saved, parents):
    (dtype,) = saved
    return (g.astype(dtype),)


# ----------------------------------------------------------------- choosing ops
def maximum(a, b) -> Tensor:
    a, b = _pair(a, b)
    try:
        take_a = a.array >= b.array  # ties send the gradient to a, like np.maximum's choice
    except ValueError:
        raise _broadcast_error("maximum", a, b) from None
    return make_result(
        np.maximum(a.array, b.array), (a, b), _select_backward, (take_a, a.shape, b.shape), "maximum"
    )


def minimum(a, b) -> Tensor:
    a, b = _pair(a, b)
    try:
        take_a = a.array <= b.array
    except ValueError:
        raise _broadcast_error("minimum", a, b) from None
    return make_result(
        np.minimum(a.array, b.array), (a, b), _select_backward, (take_a, a.shape, b.shape), "minimum"
    )


def where(condition, a=None, b=None) -> Tensor:
    """``a`` where ``condition`` holds, else ``b`` (the condition gets no gradient).

    ``where(condition)`` alone is ``nonzero(condition, as_tuple=True)``, as in PyTorch and NumPy.
    """
    if a is None and b is None:
        from deltaprop.ops.logic import nonzero

        return nonzero(condition, as_tuple=True)
    a, b = _pair(a, b)
    take_a = condition.array if isinstance(condition, Tensor) else condition
    take_a = a.xp.asarray(take_a, dtype=bool)
    try:
        out = np.where(take_a, a.array, b.array)
    except ValueError:
        raise ShapeError(
            f"where: condition {take_a.shape}, a {a.shape} and b {b.shape} do not broadcast together"
        ) from None
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
    min, max = _bound(min, a, "min"), _bound(max, a, "max")
    out = np.clip(a.array, min, max)
    inside = out == a.array
    return make_result(out, (a,), _clip_backward, (inside,), "clip")


def _bound(value, a: Tensor, name: str):
    """A clamp bound as a number or an array of ``a``'s library (tensor bounds get no gradient here)."""
    if isinstance(value, Tensor):
        if value.requires_grad:
            raise NotImplementedError(
                f"clamp: a {name} bound that requires grad is not differentiated here; use "
                "maximum()/minimum(), which send the gradient to both sides"
            )
        return value.array.astype(a.dtype, copy=False)
    return value


clamp = clip


def _clip_backward(g, saved, parents):
    (inside,) = saved
    return (g * inside,)
