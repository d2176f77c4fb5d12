"""One module per activation of the engine, so networks can be written as a `Sequential`."""

from __future__ import annotations

from deltaprop import ops
from deltaprop.nn.module import Module
from deltaprop.tensor import Tensor


class Sigmoid(Module):
    """1 / (1 + e^-z); derivative s(1 - s), at most 1/4 (why deep sigmoid nets vanish)."""

    def forward(self, x: Tensor) -> Tensor:
        return ops.sigmoid(x)


class Tanh(Module):
    def forward(self, x: Tensor) -> Tensor:
        return ops.tanh(x)


class ReLU(Module):
    def forward(self, x: Tensor) -> Tensor:
        return ops.relu(x)


class LeakyReLU(Module):
    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x: Tensor) -> Tensor:
        return ops.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class ELU(Module):
    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = alpha

    def forward(self, x: Tensor) -> Tensor:
        return ops.elu(x, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


class Softplus(Module):
    def forward(self, x: Tensor) -> Tensor:
        return ops.softplus(x)


class SiLU(Module):
    """x * sigmoid(x), also called Swish."""

    def forward(self, x: Tensor) -> Tensor:
        return ops.silu(x)


Swish = SiLU


class Mish(Module):
    def forward(self, x: Tensor) -> Tensor:
        return ops.mish(x)


class GELU(Module):
    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        self.approximate = approximate

    def forward(self, x: Tensor) -> Tensor:
        return ops.gelu(x, self.approximate)

    def extra_repr(self) -> str:
        return "" if self.approximate == "none" else f"approximate={self.approximate!r}"


class Softmax(Module):
    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        return ops.softmax(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    def forward(self, x: Tensor) -> Tensor:
        return ops.log_softmax(x, self.dim)


ACTIVATIONS: dict[str, type[Module]] = {
    "sigmoid": Sigmoid,
    "tanh": Tanh,
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "elu": ELU,
    "softplus": Softplus,
    "silu": SiLU,
    "swish": SiLU,
    "mish": Mish,
    "gelu": GELU,
}


def activation(name: str) -> Module:
    """The activation module for a name such as 'relu' (for configs and the CLI)."""
    key = name.lower().replace("-", "_")
    if key not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[key]()


# Every activation in the table maps each element on its own (Softmax does not): curvature code
# (the Jacobian's matrix-form route, K-FAC) reads this flag instead of checking classes.
for _cls in ACTIVATIONS.values():
    _cls.elementwise = True
