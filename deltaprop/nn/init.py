"""Weight initialisers, drawing from the package generator (``deltaprop.manual_seed``).

Each one draws with the array library that holds the tensor, on its device.

Why they matter: with weights too large, sigmoid and tanh units saturate and
their derivatives vanish; too small, and the signal dies out layer by layer.
Glorot/Xavier keeps the variance of activations and gradients roughly
constant for tanh/sigmoid layers; He/Kaiming does so for ReLU.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from collections.abc import Iterator

from deltaprop import random
from deltaprop.tensor import Tensor

_GAINS = {
    "linear": 1.0,
    "identity": 1.0,
    "sigmoid": 1.0,
    "tanh": 5.0 / 3.0,
    "relu": math.sqrt(2.0),
    "selu": 3.0 / 4.0,
}


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """PyTorch's recommended gain for a nonlinearity (relu: sqrt 2, tanh: 5/3, ...)."""
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity not in _GAINS:
        raise ValueError(
            f"calculate_gain: unknown nonlinearity {nonlinearity!r}; "
            f"known: {sorted(_GAINS) + ['leaky_relu']}"
        )
    return _GAINS[nonlinearity]


def _fan_in_out(tensor: Tensor) -> tuple[int, int]:
    if tensor.ndim < 2:
        raise ValueError(f"fan in/out needs a weight with at least 2 axes, got shape {tensor.shape}")
    receptive = 1
    for n in tensor.shape[2:]:
        receptive *= n
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


_SKIPPING: contextvars.ContextVar[bool] = contextvars.ContextVar("deltaprop_skip_init", default=False)


@contextlib.contextmanager
def no_initialisation() -> Iterator[None]:
    """Inside this block the initialisers leave tensors as allocated, drawing nothing.

    For building a layer whose weights are about to be overwritten:
    `deltaprop.load` builds the saved architecture inside it. An untouched
    ``np.empty`` costs address space but no memory, so a file that declares a
    huge layer is refused before a byte of it is filled, and loading does
    not consume the random generator.
    """
    token = _SKIPPING.set(True)
    try:
        yield
    finally:
        _SKIPPING.reset(token)


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0) -> Tensor:
    if not _SKIPPING.get():
        tensor.array[...] = random.uniform(tensor.shape, a, b, dtype=tensor.dtype, xp=tensor.xp)
    return tensor


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0) -> Tensor:
    if not _SKIPPING.get():
        tensor.array[...] = random.normal(tensor.shape, mean, std, dtype=tensor.dtype, xp=tensor.xp)
    return tensor


def constant_(tensor: Tensor, value: float) -> Tensor:
    if not _SKIPPING.get():
        tensor.array[...] = value
    return tensor


def zeros_(tensor: Tensor) -> Tensor:
    return constant_(tensor, 0.0)


def ones_(tensor: Tensor) -> Tensor:
    return constant_(tensor, 1.0)


def xavier_uniform_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """Glorot & Bengio (2010): U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _fan_in_out(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound)


def xavier_normal_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    fan_in, fan_out = _fan_in_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def kaiming_uniform_(
    tensor: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu"
) -> Tensor:
    """He et al. (2015): U(-b, b) with b = gain * sqrt(3 / fan)."""
    fan = _fan_in_out(tensor)[0 if mode == "fan_in" else 1]
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / fan)
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(
    tensor: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu"
) -> Tensor:
    fan = _fan_in_out(tensor)[0 if mode == "fan_in" else 1]
    return normal_(tensor, 0.0, calculate_gain(nonlinearity, a) / math.sqrt(fan))


# friendlier aliases
glorot_uniform_ = xavier_uniform_
glorot_normal_ = xavier_normal_
he_uniform_ = kaiming_uniform_
he_normal_ = kaiming_normal_
