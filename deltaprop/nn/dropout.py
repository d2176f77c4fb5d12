"""Channel dropout: `Dropout1d` and `Dropout2d` zero whole feature maps while training.

Neighbouring pixels of a feature map are strongly correlated, so zeroing
single pixels (`Dropout`) hardly regularizes a convolutional layer: the
neighbours carry the same signal. Zeroing a whole channel with probability
p (and scaling the kept ones by 1/(1-p), so the expected activation is
unchanged) does. The mask comes from the package generator, so runs repeat.
"""

from __future__ import annotations

from deltaprop.nn.functional_conv import dropout1d, dropout2d
from deltaprop.nn.module import Module
from deltaprop.tensor import Tensor

__all__ = ["Dropout1d", "Dropout2d"]


class _ChannelDropout(Module):
    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{type(self).__name__}: p must be in [0, 1], got {p}")
        self.p = p

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Dropout2d(_ChannelDropout):
    """Zero each channel of (N, C, H, W) with probability p while training.

    A 3-D input is refused: PyTorch reads it as (N, C, L) while documenting
    (C, H, W), so either reading would surprise someone; use Dropout1d.
    """

    def forward(self, x: Tensor) -> Tensor:
        return dropout2d(x, self.p, self.training)


class Dropout1d(_ChannelDropout):
    """Zero each channel of (N, C, L) (or (C, L)) with probability p while training."""

    def forward(self, x: Tensor) -> Tensor:
        return dropout1d(x, self.p, self.training)
