"""Every differentiable op, gathered in one namespace (``deltaprop.ops.add`` and so on).

``__all__`` lists the ops that record a node (each has a backward and is
tested on every array library); ``CONSTANT_OPS`` lists those whose answers
have no derivative (comparisons, indices, counts) and so record nothing.
"""

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
    clamp,
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
from deltaprop.ops.convert import cast, to_module
from deltaprop.ops.einsum import bmm, dot, einsum, mm, outer
from deltaprop.ops.elementwise import (
    atan,
    ceil,
    cos,
    erf,
    expm1,
    floor,
    floor_divide,
    log1p,
    log2,
    log10,
    reciprocal,
    remainder,
    round,
    rsqrt,
    sign,
    sin,
    square,
    tan,
    trunc,
)
from deltaprop.ops.extrema import argmax, argmin, argsort, max, min, sort, topk
from deltaprop.ops.indexing import gather, index_select, masked_fill, scatter, scatter_add, take_along_dim
from deltaprop.ops.layout import (
    broadcast_to,
    chunk,
    expand,
    expand_as,
    flip,
    meshgrid,
    movedim,
    narrow,
    permute,
    repeat,
    repeat_interleave,
    split,
    tensor_split,
    tile,
    unbind,
    unflatten,
)
from deltaprop.ops.linalg import linear, matmul
from deltaprop.ops.logic import (
    all,
    allclose,
    any,
    argwhere,
    count_nonzero,
    eq,
    equal,
    ge,
    gt,
    isclose,
    isfinite,
    isinf,
    isnan,
    le,
    logical_and,
    logical_not,
    logical_or,
    logical_xor,
    lt,
    ne,
    nonzero,
    unique,
)
from deltaprop.ops.norms import norm
from deltaprop.ops.penalty import l2_penalty
from deltaprop.ops.products import cumsum, prod
from deltaprop.ops.reduce import amax, amin, logsumexp, mean, std, sum, var
from deltaprop.ops.shape import (
    cat,
    concat,
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
    unsqueeze,
)

__all__ = [
    "abs", "add", "amax", "amin", "astype", "atan", "bmm", "cast", "ceil", "chunk", "clip", "concatenate",
    "cos", "cumsum", "div", "dot", "einsum", "elu", "erf", "exp", "expand", "expand_dims", "expm1",
    "flatten", "flip", "floor", "floor_divide", "gather", "gelu", "getitem", "index_select", "leaky_relu",
    "linear", "log", "log10", "log1p", "log2", "log_softmax", "logsumexp", "masked_fill", "matmul", "max",
    "maximum", "mean", "min", "minimum", "mish", "mm", "mul", "neg", "norm", "outer", "pad", "permute",
    "pow", "prod", "reciprocal", "relu", "remainder", "repeat", "reshape", "round", "rsqrt", "scatter",
    "scatter_add", "sigmoid", "sign", "silu", "sin", "softmax", "softplus", "sort", "split", "sqrt",
    "square", "squeeze", "stack", "std", "sub", "sum", "swapaxes", "swish", "tan", "tanh", "to_module",
    "topk", "transpose", "trunc", "unflatten", "var", "where", "l2_penalty",
]  # fmt: skip

# ops whose answers are constants (no derivative, no node); aliases and compositions of the ops above
CONSTANT_OPS = [
    "all", "allclose", "any", "argmax", "argmin", "argsort", "argwhere", "count_nonzero", "eq", "equal",
    "ge", "gt", "isclose", "isfinite", "isinf", "isnan", "le", "logical_and", "logical_not", "logical_or",
    "logical_xor", "lt", "ne", "nonzero", "unique",
]  # fmt: skip
ALIASES = ["broadcast_to", "cat", "clamp", "concat", "expand_as", "meshgrid", "movedim", "narrow",
           "repeat_interleave", "take_along_dim", "tensor_split", "tile", "unbind", "unsqueeze"]  # fmt: skip
