"""`PinedaRNN`: a recurrent network relaxed to its fixed point, trained by recurrent backpropagation.

Pineda (1987) and Almeida (1987): the state s of a fully connected recurrent
network is fed around, s <- f(s W_hh^T + x W_ih^T + b), until it stops
changing; the network's answer is that fixed point s*. Its gradient comes
from `deltaprop.fixed_point`: by default from the adjoint fixed point
(recurrent backpropagation, memory independent of the number of relaxation
steps), or by backpropagating through every recorded step
(``backward='unroll'``). The weights start small enough (spectral norm of
W_hh about 0.5) for the relaxation to converge; `last_info` holds the
iterations and residuals of the latest call.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from deltaprop import ops
from deltaprop.errors import ShapeError
from deltaprop.fixed_point import FixedPointInfo, fixed_point
from deltaprop.nn import init
from deltaprop.nn.module import Module
from deltaprop.nn.parameter import Parameter
from deltaprop.tensor import Tensor, as_tensor

_ACTIVATIONS = {"tanh": ops.tanh, "sigmoid": ops.sigmoid}


class PinedaRNN(Module):
    """(N, input_size) -> the relaxed state s* (N, hidden_size), s* = f(s* W_hh^T + x W_ih^T + b)."""

    recurrent = True

    def __init__(self, input_size: int, hidden_size: int, nonlinearity: str = "tanh", bias: bool = True,
                 tol: float = 1e-6, max_iter: int = 200, solver: str = "iterate", backward: str = "implicit",
                 dtype: Any = np.float32) -> None:
        super().__init__()
        if nonlinearity not in _ACTIVATIONS:
            raise ValueError(f"PinedaRNN: nonlinearity must be one of {sorted(_ACTIVATIONS)}, "
                             f"got {nonlinearity!r}")
        for what, value in (("input_size", input_size), ("hidden_size", hidden_size)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"PinedaRNN: {what} must be a whole number >= 1, got {value!r}")
        self.input_size, self.hidden_size, self.nonlinearity = int(input_size), int(hidden_size), nonlinearity
        if solver not in ("iterate", "anderson") or backward not in ("implicit", "unroll"):
            raise ValueError(f"PinedaRNN: solver must be 'iterate' or 'anderson' and backward 'implicit' or "
                             f"'unroll', got {solver!r} and {backward!r}")
        self.tol, self.max_iter, self.solver, self.backward = float(tol), int(max_iter), solver, backward
        self.weight_ih = Parameter(np.empty((hidden_size, input_size), dtype=dtype))
        self.weight_hh = Parameter(np.empty((hidden_size, hidden_size), dtype=dtype))
        if bias:
            self.bias = Parameter(np.empty(hidden_size, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.last_info: FixedPointInfo | None = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """W_ih and b uniform in +-1/sqrt(hidden); W_hh normal, spectral norm about 0.5 (a contraction)."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        init.uniform_(self.weight_ih, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)
        # a random n x n Gaussian matrix of standard deviation sigma has spectral norm about 2 sigma sqrt(n)
        init.normal_(self.weight_hh, 0.0, 0.25 / math.sqrt(self.hidden_size))

    def forward(self, x: Any) -> Tensor:
        x = as_tensor(x, like=self.weight_ih)
        if x.ndim != 2 or x.shape[1] != self.input_size:
            raise ShapeError(f"PinedaRNN: input must be (N, {self.input_size}), got shape {x.shape}")
        drive = ops.linear(x, self.weight_ih, self.bias)  # x W_ih^T + b: computed once, outside the loop
        act, w_hh = _ACTIVATIONS[self.nonlinearity], self.weight_hh

        def relax(s: Tensor) -> Tensor:
            return act(ops.linear(s, w_hh) + drive)

        start = x.xp.zeros((x.shape[0], self.hidden_size), dtype=x.dtype)
        state, info = fixed_point(relax, start, tol=self.tol, max_iter=self.max_iter, solver=self.solver,
                                  backward=self.backward, return_info=True)
        self.last_info = info
        return state

    def extra_repr(self) -> str:
        return (f"{self.input_size}, {self.hidden_size}, nonlinearity={self.nonlinearity!r}, "
                f"backward={self.backward!r}")

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments (``bias`` as the bool given; the weights' own dtype)."""
        return {"input_size": self.input_size, "hidden_size": self.hidden_size,
                "nonlinearity": self.nonlinearity, "bias": self.bias is not None, "tol": self.tol,
                "max_iter": self.max_iter, "solver": self.solver, "backward": self.backward,
                "dtype": self.weight_hh.dtype}
