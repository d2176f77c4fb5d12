"""One module per activation of the engine, so networks can be written as a `Sequential`."""

from __future__ import annotations

from typing import Any

from deltaprop import ops
from deltaprop.nn import functional as F
from deltaprop.nn.module import Module
from deltaprop.tensor import Tensor


class Sigmoid(Module):
    """1 / (1 + e^-z); derivative s(1 - s), at most 1/4 (why deep sigmoid nets vanish)."""

    def forward(self, x: Tensor) -> Tensor:
        return ops.sigmoid(x)


class Tanh(Module):
    def forward(self, x: Tensor) -> Tensor:
        return ops.tanh(x)


class _InPlaceOption(Module):
    """PyTorch's ``inplace=True``: the result is written into x where no graph needs x (see F.relu)."""

    inplace = False

    def get_config(self) -> dict[str, Any]:
        """``inplace`` only when set, so files of layers without it stay as they were."""
        config = super().get_config()
        if not config.get("inplace"):
            config.pop("inplace", None)
        return config


class ReLU(_InPlaceOption):
    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x, True) if self.inplace else ops.relu(x)


class LeakyReLU(_InPlaceOption):
    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return F.leaky_relu(x, self.negative_slope, self.inplace)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class ELU(_InPlaceOption):
    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha = alpha
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return F.elu(x, self.alpha, self.inplace)

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
    """Softmax along ``dim``; without one, PyTorch's implicit (deprecated, warned) choice of dim."""

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        return F.softmax(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    def forward(self, x: Tensor) -> Tensor:
        return F.log_softmax(x, self.dim)


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
