"""deltaprop: neural networks trained by backpropagation, with every delta on show.

The engine is `Tensor` plus the ops in `deltaprop.ops`; `deltaprop.nn`,
`deltaprop.optim` and `deltaprop.fit` build networks and train them, and
`deltaprop.inspect` shows the work.
"""

from deltaprop.creation import (
    arange,
    eye,
    full,
    ones,
    ones_like,
    rand,
    randn,
    tensor,
    zeros,
    zeros_like,
)
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
    clip,
    concatenate,
    elu,
    exp,
    expand_dims,
    flatten,
    gelu,
    leaky_relu,
    log,
    log_softmax,
    logsumexp,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    mish,
    pad,
    relu,
    reshape,
    sigmoid,
    silu,
    softmax,
    softplus,
    sqrt,
    squeeze,
    stack,
    sum,
    swapaxes,
    swish,
    tanh,
    transpose,
    var,
    where,
)
from deltaprop.random import generator, get_rng_state, manual_seed, set_rng_state
from deltaprop.serialize import load, save
from deltaprop.tensor import (
    Tensor,
    detect_anomaly,
    enable_grad,
    is_grad_enabled,
    no_grad,
)
from deltaprop.train import History, fit

float32 = "float32"
float64 = "float64"

__version__ = "0.1.0"

# Sub-packages load on first use (`dp.data.load_digits()`), so `import deltaprop` stays light.
_SUBMODULES = ("backend", "compat", "data", "inspect", "nn", "optim", "serialize", "train", "sklearn")


def __getattr__(name: str):
    if name in _SUBMODULES:
        import importlib

        return importlib.import_module(f"deltaprop.{name}")
    raise AttributeError(f"module 'deltaprop' has no attribute {name!r}")
