"""Matrix products: ``matmul`` with NumPy's semantics, and the fused ``linear`` of a dense layer."""

from __future__ import annotations

import numpy as np

from deltaprop.errors import ShapeError
from deltaprop.ops.broadcast import unbroadcast
from deltaprop.tensor import Tensor, as_tensor, gradient_buffer, make_result


def matmul(a, b) -> Tensor:
    """``a @ b`` for 1-D, 2-D and batched operands (NumPy rules, broadcast batch axes)."""
    if isinstance(a, Tensor):
        b = as_tensor(b, like=a)
    else:
        b = as_tensor(b)
        a = as_tensor(a, like=b)
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(f"matmul: operands must be at least 1-D, got shapes {a.shape} and {b.shape}")
    inner_a = a.shape[-1]
    inner_b = b.shape[-2] if b.ndim > 1 else b.shape[0]
    if inner_a != inner_b:
        raise ShapeError(
            f"matmul: shapes {a.shape} @ {b.shape} do not fit: the last axis of the left operand "
            f"({inner_a}) must equal the {'first' if b.ndim == 1 else 'second-to-last'} axis of "
            f"the right one ({inner_b}); transpose one of them or check the layer sizes"
        )
    return make_result(a.array @ b.array, (a, b), _matmul_backward, (a.array, b.array), "matmul")


def _matmul_backward(g, saved, parents):
    a, b = saved
    if a.ndim == 1 and b.ndim == 1:  # inner product: g is a scalar
        return (g * b if parents[0] is not None else None), (g * a if parents[1] is not None else None)
    # Promote 1-D operands to matrices so one rule serves every case:
    # dA = dC @ B^T, dB = A^T @ dC, then sum out broadcast batch axes.
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    g2 = g
    if a.ndim == 1:
        g2 = np.expand_dims(g2, -2)
    if b.ndim == 1:
        g2 = np.expand_dims(g2, -1)
    ga = gb = None
    if parents[0] is not None:
        ga = g2 @ np.swapaxes(b2, -1, -2)
        ga = unbroadcast(ga, a2.shape).reshape(a.shape)
    if parents[1] is not None:
        gb = np.swapaxes(a2, -1, -2) @ g2
        gb = unbroadcast(gb, b2.shape).reshape(b.shape)
    return ga, gb


def linear(x, weight, bias=None) -> Tensor:
    """``x @ weight.T + bias``: a dense layer as one op (weight has shape (out, in)).

    One node instead of three keeps the per-layer Python cost constant, and
    its backward is the textbook one: dC/dW = delta^T x, dC/db = sum of delta,
    dC/dx = delta W (computed only when x needs a gradient: never for the data
    entering the first layer). ``weight.T`` is a view, so BLAS reads W transposed
    in place instead of copying it.
    """
    if not isinstance(weight, Tensor):
        weight = as_tensor(weight)
    if not isinstance(x, Tensor):
        x = as_tensor(x, like=weight)  # data takes the layer's precision: float64 arrays don't upcast it
    xd, wd = x.array, weight.array
    if xd.shape[-1] != wd.shape[1]:
        raise ShapeError(
            f"linear: input has {xd.shape[-1]} features (shape {xd.shape}) but the weight expects "
            f"{wd.shape[1]} (weight shape {wd.shape}, i.e. out={wd.shape[0]}, "
            f"in={wd.shape[1]}); give the layer in_features={xd.shape[-1]} or fix the data"
        )
    if xd.dtype != wd.dtype and (xd.dtype.kind != "f" or not x.requires_grad):
        # Data (no gradient wanted) is cast to the layer's dtype, so a float32 layer fed float64
        # data stays float32; a float64 tensor that needs its gradient promotes, as in NumPy.
        xd = xd.astype(wd.dtype)
    out = xd @ wd.T
    if bias is None:
        return make_result(out, (x, weight), _linear_backward, (xd, wd), "linear")
    if not isinstance(bias, Tensor):
        bias = as_tensor(bias, like=weight)
    out += bias.array  # in place: no second (N, out) array
    return make_result(out, (x, weight, bias), _linear_backward, (xd, wd), "linear")


def _linear_backward(g, saved, parents):
    x, weight = saved
    gx = None if parents[0] is None else g @ weight
    bias = parents[2] if len(parents) == 3 else None
    if x.ndim != 2:  # any leading batch axes: fold them into one
        g = g.reshape(-1, g.shape[-1])
        x = x.reshape(-1, x.shape[-1])
    # dC/dW and dC/db go straight into the optimizer's gradient buffers when it keeps them
    gw = None if parents[1] is None else np.matmul(g.T, x, out=gradient_buffer(parents[1]))
    gb = None if bias is None else g.sum(axis=0, out=gradient_buffer(bias))
    return gx, gw, gb
