"""Small layers that move or mask values: `Dropout`, `Flatten`, `Identity`."""

from __future__ import annotations

from typing import Any

from deltaprop import ops
from deltaprop.nn import functional as F
from deltaprop.nn.module import Module
from deltaprop.tensor import Tensor


class Identity(Module):
    elementwise = True

    def forward(self, x: Tensor) -> Tensor:
        return x


class Flatten(Module):
    """Merge the axes from ``start_dim`` to ``end_dim`` (keeps the batch axis by default)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, x: Tensor) -> Tensor:
        return ops.flatten(x, self.start_dim, self.end_dim)


class Dropout(Module):
    """Zero each value with probability p while training, scaling the rest by 1/(1-p)."""

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"Dropout: p must be in [0, 1), got {p}")
        self.p = p
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, self.training, self.inplace)

    def get_config(self) -> dict[str, Any]:
        return {"p": self.p, **({"inplace": True} if self.inplace else {})}

    def extra_repr(self) -> str:
        return f"p={self.p}"
