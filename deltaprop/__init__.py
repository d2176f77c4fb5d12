"""deltaprop: neural networks trained by backpropagation, with every delta on show.

The engine is `Tensor` plus the ops in `deltaprop.ops`; `deltaprop.nn`,
`deltaprop.optim` and `deltaprop.fit` build networks and train them, and
`deltaprop.inspect` shows the work.
"""

from __future__ import annotations

# --------------------------------------------------------------------------- PyTorch's names
# (`import deltaprop as torch` code: see the README's "Coming from PyTorch")
from deltaprop import autograd, backends, cuda
from deltaprop.creation import (
    arange,
    as_tensor,
    bernoulli,
    empty,
    empty_like,
    eye,
    from_numpy,
    full,
    full_like,
    linspace,
    multinomial,
    normal,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randn,
    randn_like,
    randperm,
    tensor,
    zeros,
    zeros_like,
)
from deltaprop.device import device
from deltaprop.dtypes import bool_ as bool  # noqa: A004 - PyTorch's names for the dtypes
from deltaprop.dtypes import float32, float64, int8, int16, int32, int64, uint8
from deltaprop.dtypes import float32 as float  # noqa: A004
from deltaprop.dtypes import float64 as double
from deltaprop.dtypes import int16 as short
from deltaprop.dtypes import int32 as int  # noqa: A004
from deltaprop.dtypes import int64 as long
from deltaprop.errors import (
    DeltapropError,
    GradcheckError,
    GraphError,
    ModelFileError,
    NonFiniteError,
    ShapeError,
)
from deltaprop.fixed_point import FixedPointError, FixedPointInfo, fixed_point
from deltaprop.gradcheck import gradcheck
from deltaprop.ops import (
    abs,
    add,
    all,
    allclose,
    amax,
    amin,
    any,
    argmax,
    argmin,
    argsort,
    argwhere,
    atan,
    bmm,
    broadcast_to,
    cat,
    ceil,
    chunk,
    clamp,
    clip,
    concat,
    concatenate,
    cos,
    count_nonzero,
    cumsum,
    div,
    dot,
    einsum,
    elu,
    eq,
    equal,
    erf,
    exp,
    expand_dims,
    expm1,
    flatten,
    flip,
    floor,
    floor_divide,
    gather,
    ge,
    gelu,
    gt,
    index_select,
    isclose,
    isfinite,
    isinf,
    isnan,
    le,
    leaky_relu,
    log,
    log1p,
    log2,
    log10,
    log_softmax,
    logical_and,
    logical_not,
    logical_or,
    logical_xor,
    logsumexp,
    lt,
    masked_fill,
    matmul,
    max,
    maximum,
    mean,
    meshgrid,
    min,
    minimum,
    mish,
    mm,
    movedim,
    mul,
    narrow,
    ne,
    neg,
    nonzero,
    norm,
    outer,
    pad,
    permute,
    pow,
    prod,
    reciprocal,
    relu,
    remainder,
    repeat_interleave,
    reshape,
    round,
    rsqrt,
    scatter,
    scatter_add,
    sigmoid,
    sign,
    silu,
    sin,
    softmax,
    softplus,
    sort,
    split,
    sqrt,
    square,
    squeeze,
    stack,
    std,
    sub,
    sum,
    swapaxes,
    swish,
    take_along_dim,
    tan,
    tanh,
    tensor_split,
    tile,
    topk,
    transpose,
    trunc,
    unbind,
    unflatten,
    unique,
    unsqueeze,
    var,
    where,
)
from deltaprop.random import generator, get_rng_state, manual_seed, set_rng_state
from deltaprop.rng import Generator
from deltaprop.serialize import load, save
from deltaprop.tensor import (
    Tensor,
    detect_anomaly,
    enable_grad,
    inference_mode,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
)
from deltaprop.tensor_methods import Size
from deltaprop.train import History, fit

__version__ = "0.2.0.dev0"

# Sub-packages load on first use (`dp.data.load_digits()`), so `import deltaprop` stays light.
_SUBMODULES = (
    "backend", "compat", "data", "inspect", "nn", "optim", "serialize", "train", "utils", "sklearn",
)


import builtins  # noqa: E402 - (bool, int and float above are dtypes)


def is_tensor(obj: object) -> builtins.bool:
    return isinstance(obj, Tensor)


def numel(input: Tensor) -> builtins.int:  # noqa: A002
    return input.numel()


def get_default_dtype():
    """float32: what Python floats and float factories make (fixed; there is no set_default_dtype)."""
    return float32


def is_floating_point(input: Tensor) -> builtins.bool:  # noqa: A002
    return input.is_floating_point()


def set_default_dtype(d: object) -> None:
    """Refused: layers and factories make float32 unless told otherwise (pass dtype=, or model.double())."""
    raise NotImplementedError(
        "set_default_dtype is not supported: deltaprop's default float dtype is fixed at float32; pass "
        "dtype=deltaprop.float64 to factories and layers, or call model.double() and x.double()"
    )


def __getattr__(name: str):
    if name in _SUBMODULES:
        import importlib

        return importlib.import_module(f"deltaprop.{name}")
    raise AttributeError(f"module 'deltaprop' has no attribute {name!r}")
