"""Small layers that move or mask values: `Dropout`, `Flatten`, `Identity`."""

from __future__ import annotations

from deltaprop import ops
from deltaprop.nn import functional as F
from deltaprop.nn.module import Module
from deltaprop.tensor import Tensor


class Identity(Module):
    elementwise = True

    def forward(self, x: Tensor) -> Tensor:
        return x


class Flatten(Module):
    """Merge every axis from ``start_dim`` on (keeps the batch axis by default)."""

    def __init__(self, start_dim: int = 1) -> None:
        super().__init__()
        self.start_dim = start_dim

    def forward(self, x: Tensor) -> Tensor:
        return ops.flatten(x, self.start_dim)


class Dropout(Module):
    """Zero each value with probability p while training, scaling the rest by 1/(1-p)."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"Dropout: p must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"
