"""Every differentiable op, gathered in one namespace (``deltaprop.ops.add`` and so on)."""

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
from deltaprop.ops.arithmetic import (
    abs,
    add,
    astype,
    clip,
    div,
    exp,
    log,
    maximum,
    minimum,
    mul,
    neg,
    pow,
    sqrt,
    sub,
    where,
)
from deltaprop.ops.linalg import linear, matmul
from deltaprop.ops.penalty import l2_penalty
from deltaprop.ops.reduce import logsumexp, max, mean, min, sum, var
from deltaprop.ops.shape import (
    concatenate,
    expand_dims,
    flatten,
    getitem,
    pad,
    reshape,
    squeeze,
    stack,
    swapaxes,
    transpose,
)

__all__ = [
    "abs", "add", "astype", "clip", "concatenate", "div", "elu", "exp", "expand_dims",
    "flatten", "gelu", "getitem", "leaky_relu", "linear", "log", "log_softmax", "logsumexp",
    "matmul", "max", "maximum", "mean", "min", "minimum", "mish", "mul", "neg", "pad", "pow",
    "relu", "reshape", "sigmoid", "silu", "softmax", "softplus", "sqrt", "squeeze", "stack",
    "sub", "sum", "swapaxes", "swish", "tanh", "transpose", "var", "where",
    "l2_penalty",
]
