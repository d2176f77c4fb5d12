"""Recurrent layers with PyTorch's names, signatures and parameter names: `RNN`, `LSTM`, `GRU`, cells.

A recurrent layer applies the same weights at every time step, carrying a
hidden state h_t (and, for the LSTM, a cell state c_t) from one step to the
next; its gradient is backpropagation through time (BPTT): the chain rule
over the unrolled steps, dC/dh_{t-1} = dC/dh_t dh_t/dh_{t-1}, summed into one
dC/dW over every step. Each layer (and direction) runs as one fused op,
`deltaprop.ops.recurrent.recurrent`, whose docstring explains how.

State dicts move to and from PyTorch by converting arrays: the parameters are
``weight_ih_l{k}``, ``weight_hh_l{k}``, ``bias_ih_l{k}``, ``bias_hh_l{k}``
(and ``weight_hr_l{k}`` for an LSTM with ``proj_size``), with ``_reverse``
for the second direction, gates in PyTorch's order (LSTM i, f, g, o; GRU r,
z, n, the GRU's reset gate applied after the hidden matmul as PyTorch does).

Inputs are (T, N, features), or (N, T, features) with ``batch_first=True``,
or (T, features) for one unbatched sequence, or a `PackedSequence` from
`deltaprop.nn.utils.rnn.pack_padded_sequence` for sequences of different
lengths.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from deltaprop import ops
from deltaprop.errors import ShapeError
from deltaprop.nn import functional as F
from deltaprop.nn import init
from deltaprop.nn.module import Module
from deltaprop.nn.parameter import Parameter, float_dtype
from deltaprop.nn.utils.rnn import PackedSequence, packed_as_padded, padded_as_packed
from deltaprop.ops.recurrent import GATES, recurrent
from deltaprop.tensor import Tensor, as_tensor

_MODES = {"RNN_TANH": "rnn_tanh", "RNN_RELU": "rnn_relu", "LSTM": "lstm", "GRU": "gru"}


class _RNNBase(Module):
    """What `RNN`, `LSTM` and `GRU` share: the stack of layers and directions, and the checks.

    ``mode`` is 'RNN_TANH', 'RNN_RELU', 'LSTM' or 'GRU', as in PyTorch.
    """

    #: fit clips the gradients of models holding recurrent layers by default (deltaprop.train.sequences)
    recurrent = True

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        if mode not in _MODES:
            raise ValueError(f"{name}: mode must be one of {', '.join(_MODES)}, got {mode!r}")
        for what, value, least in (("input_size", input_size, 1), ("hidden_size", hidden_size, 1),
                                   ("num_layers", num_layers, 1), ("proj_size", proj_size, 0)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
                raise ValueError(f"{name}: {what} must be a whole number >= {least}, got {value!r}")
        if not (isinstance(dropout, (int, float)) and 0 <= dropout <= 1) or isinstance(dropout, bool):
            raise ValueError(f"{name}: dropout must be a probability in [0, 1], got {dropout!r}")
        if proj_size and mode != "LSTM":
            raise ValueError(f"{name}: proj_size is an LSTM option (mode {mode})")
        if proj_size >= hidden_size:
            raise ValueError(f"{name}: proj_size ({proj_size}) must be below hidden_size ({hidden_size})")
        self.mode = mode
        self.input_size, self.hidden_size = int(input_size), int(hidden_size)
        self.num_layers = int(num_layers)
        self.bias, self.batch_first, self.bidirectional = bool(bias), bool(batch_first), bool(bidirectional)
        self.dropout, self.proj_size = float(dropout), int(proj_size)
        self.dtype = float_dtype(dtype, type(self).__name__)
        self._make_parameters(dtype)
        self.reset_parameters()

    # ------------------------------------------------------------------ parameters
    @property
    def _directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def _output_size(self) -> int:
        return self.proj_size or self.hidden_size

    def _names(self, layer: int, direction: int) -> list[str]:
        suffix = f"_l{layer}" + ("_reverse" if direction else "")
        names = [f"weight_ih{suffix}", f"weight_hh{suffix}"]
        if self.bias:
            names += [f"bias_ih{suffix}", f"bias_hh{suffix}"]
        if self.proj_size:
            names.append(f"weight_hr{suffix}")
        return names

    def _make_parameters(self, dtype: Any) -> None:
        rows = GATES[_MODES[self.mode]] * self.hidden_size
        for layer in range(self.num_layers):
            width = self.input_size if layer == 0 else self._output_size * self._directions
            for direction in range(self._directions):
                shapes: list[tuple[int, ...]] = [(rows, width), (rows, self._output_size)]
                if self.bias:
                    shapes += [(rows,), (rows,)]
                if self.proj_size:
                    shapes.append((self.proj_size, self.hidden_size))
                for name, shape in zip(self._names(layer, direction), shapes, strict=True):
                    setattr(self, name, Parameter(np.empty(shape, dtype=dtype)))

    def reset_parameters(self) -> None:
        """PyTorch's initialisation: every weight and bias uniform in +-1/sqrt(hidden_size)."""
        _uniform_reset(self, self.hidden_size)

    @property
    def all_weights(self) -> list[list[Parameter]]:
        """The parameters per layer and direction, in PyTorch's order (w_ih, w_hh, b_ih, b_hh, w_hr)."""
        return [[getattr(self, n) for n in self._names(layer, d)]
                for layer in range(self.num_layers) for d in range(self._directions)]

    def _weights(self, layer: int, direction: int) -> tuple[Any, ...]:
        """(w_ih, w_hh, b_ih, b_hh, w_hr) of one layer and direction, None where absent."""
        params = [getattr(self, name) for name in self._names(layer, direction)]
        biases = params[2:4] if self.bias else [None, None]
        return (params[0], params[1], *biases, params[-1] if self.proj_size else None)

    # ------------------------------------------------------------------ forward
    def forward(self, input: Any, hx: Any = None) -> tuple[Any, Any]:  # noqa: A002 - PyTorch's name
        x, sizes, packed, unbatched = self._time_major(input)
        N = x.shape[1]
        h0, c0 = self._initial_states(hx, N, x, unbatched, packed)
        layer_input, finals_h, finals_c = x, [], []
        mode = _MODES[self.mode]
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(self._directions):
                k = layer * self._directions + direction
                y, h, c = recurrent(mode, layer_input, h0[k], None if c0 is None else c0[k],
                                    *self._weights(layer, direction), reverse=bool(direction),
                                    batch_sizes=sizes)
                assert y is not None  # recurrent returns the output sequence unless sequence=False
                outputs.append(y)
                finals_h.append(h)
                if c is not None:  # LSTM only
                    finals_c.append(c)
            layer_input = outputs[0] if len(outputs) == 1 else ops.concatenate(outputs, axis=2)
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, True)
        h_n = _stack(finals_h)
        c_n = None if c0 is None else _stack(finals_c)
        return self._finish(layer_input, h_n, c_n, packed, unbatched)

    def _time_major(self, input: Any) -> tuple[Tensor, Any, PackedSequence | None, bool]:
        """(input as (T, N, F), batch sizes or None, the PackedSequence or None, unbatched?)."""
        name = type(self).__name__
        if isinstance(input, PackedSequence):
            return packed_as_padded(input), input.batch_sizes, input, False
        x = as_tensor(input)
        if x.ndim not in (2, 3):
            raise ShapeError(
                f"{name}: input must be (T, N, {self.input_size}) (or (N, T, {self.input_size}) with "
                f"batch_first=True, or (T, {self.input_size}) unbatched), got shape {x.shape}"
            )
        unbatched = x.ndim == 2
        if unbatched:
            x = ops.expand_dims(x, 1)
        elif self.batch_first:
            x = ops.swapaxes(x, 0, 1)
        if x.shape[2] != self.input_size:
            raise ShapeError(
                f"{name}: expected {self.input_size} input features (input_size) on the last axis, got "
                f"input of shape {as_tensor(input).shape}; fix input_size or the data"
            )
        return x, None, None, unbatched

    def _initial_states(self, hx: Any, N: int, x: Tensor, unbatched: bool, packed) -> tuple[Any, Any]:
        """Per layer and direction: h0 (and c0 for the LSTM), zeros when not given."""
        count, lstm = self.num_layers * self._directions, self.mode == "LSTM"
        widths = [self._output_size, self.hidden_size]
        if hx is None:
            zeros = [x.xp.zeros((N, w), dtype=x.dtype) for w in widths]
            return [zeros[0]] * count, ([zeros[1]] * count if lstm else None)
        states = list(hx) if lstm else [hx]
        if lstm and len(states) != 2:
            raise ValueError(f"{type(self).__name__}: hx must be a tuple (h_0, c_0), got {len(states)} items")
        out = []
        for state, width, what in zip(states, widths, ("h_0", "c_0"), strict=False):
            state = as_tensor(state, like=x)
            if unbatched:
                state = ops.expand_dims(state, 1)
            if state.shape != (count, N, width):
                raise ShapeError(
                    f"{type(self).__name__}: {what} must have shape (num_layers * num_directions, batch, "
                    f"{width}) = {(count, N, width)}{' (unbatched: no batch axis)' if unbatched else ''}, "
                    f"got {tuple(state.shape)}"
                )
            if packed is not None and packed.sorted_indices is not None:
                state = ops.getitem(state, (slice(None), packed.sorted_indices))
            out.append([ops.getitem(state, k) for k in range(count)])
        return out[0], (out[1] if lstm else None)

    def _finish(self, output: Tensor, h_n: Tensor, c_n: Tensor | None, packed, unbatched: bool):
        if packed is not None:
            if packed.unsorted_indices is not None:
                h_n = ops.getitem(h_n, (slice(None), packed.unsorted_indices))
                c_n = None if c_n is None else ops.getitem(c_n, (slice(None), packed.unsorted_indices))
            return padded_as_packed(output, packed), (h_n if c_n is None else (h_n, c_n))
        if unbatched:
            output, h_n = ops.squeeze(output, 1), ops.squeeze(h_n, 1)
            c_n = None if c_n is None else ops.squeeze(c_n, 1)
        elif self.batch_first:
            output = ops.swapaxes(output, 0, 1)
        return output, (h_n if c_n is None else (h_n, c_n))

    # ------------------------------------------------------------------ description
    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        for name, default in (("num_layers", 1), ("bias", True), ("batch_first", False), ("dropout", 0.0),
                              ("bidirectional", False), ("proj_size", 0)):
            if getattr(self, name) != default:
                text += f", {name}={getattr(self, name)}"
        return text

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments; ``dtype`` is the weights' own (after ``double()``, float64)."""
        config = super().get_config()
        config["dtype"] = next(iter(self.parameters())).dtype
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Module:
        return _checked_dtype(cls, config)


def _checked_dtype(cls: type, config: dict[str, Any]) -> Module:
    """``cls(**config)``, refusing dtypes a saved recurrent layer cannot have."""
    return cls(**{**config, "dtype": float_dtype(config.get("dtype", np.float32), cls.__name__)})


#: PyTorch's name for the shared base (isinstance checks); not a layer to build or save on its own
RNNBase = _RNNBase


def _uniform_reset(module: Module, hidden_size: int) -> None:
    """PyTorch's initialisation of recurrent layers and cells: all uniform in +-1/sqrt(hidden_size)."""
    bound = 1.0 / math.sqrt(hidden_size)
    for param in module.parameters():
        init.uniform_(param, -bound, bound)


def _stack(states: list[Tensor]) -> Tensor:
    return ops.expand_dims(states[0], 0) if len(states) == 1 else ops.stack(states, axis=0)


class RNN(_RNNBase):
    """Elman network: h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh) (or ReLU)."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, dtype: Any = np.float32) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(f"RNN_{nonlinearity.upper()}", input_size, hidden_size, num_layers, bias,
                         batch_first, dropout, bidirectional, 0, dtype)
        self.nonlinearity = nonlinearity


class LSTM(_RNNBase):
    """Long short-term memory: gates i, f, g, o; c_t = f c_{t-1} + i g, h_t = o tanh(c_t) (then W_hr)."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 proj_size: int = 0, dtype: Any = np.float32) -> None:
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, proj_size, dtype)


class GRU(_RNNBase):
    """Gated recurrent unit: r, z gates; n = tanh(W_in x + b_in + r (W_hn h + b_hn)); h' = (1-z) n + z h."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 dtype: Any = np.float32) -> None:
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, 0, dtype)


# --------------------------------------------------------------------------- cells


class _CellBase(Module):
    """One time step: the fused op run over a sequence of length 1."""

    _mode = "rnn_tanh"
    recurrent = True

    def __init__(self, input_size: int, hidden_size: int, bias: bool, dtype: Any) -> None:
        super().__init__()
        name = type(self).__name__
        for what, value in (("input_size", input_size), ("hidden_size", hidden_size)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name}: {what} must be a whole number >= 1, got {value!r}")
        self.input_size, self.hidden_size, self.bias = int(input_size), int(hidden_size), bool(bias)
        dtype = float_dtype(dtype, name)
        rows = GATES[self._mode] * hidden_size
        self.weight_ih = Parameter(np.empty((rows, input_size), dtype=dtype))
        self.weight_hh = Parameter(np.empty((rows, hidden_size), dtype=dtype))
        if bias:
            self.bias_ih = Parameter(np.empty(rows, dtype=dtype))
            self.bias_hh = Parameter(np.empty(rows, dtype=dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's initialisation: every weight and bias uniform in +-1/sqrt(hidden_size)."""
        _uniform_reset(self, self.hidden_size)

    def _step(self, input: Any, hx: Any, cx: Any = None) -> tuple[Tensor, Tensor | None, bool]:
        name = type(self).__name__
        x = as_tensor(input, like=self.weight_ih)
        if x.ndim not in (1, 2) or x.shape[-1] != self.input_size:
            raise ShapeError(f"{name}: input must be (N, {self.input_size}) or ({self.input_size},), "
                             f"got shape {x.shape}")
        unbatched = x.ndim == 1
        x = ops.expand_dims(x, 0) if unbatched else x
        states = []
        for state in (hx, cx):
            if state is None:
                states.append(x.xp.zeros((x.shape[0], self.hidden_size), dtype=x.dtype))
                continue
            state = as_tensor(state, like=x)
            state = ops.expand_dims(state, 0) if unbatched else state
            if state.shape != (x.shape[0], self.hidden_size):
                raise ShapeError(f"{name}: the state must have shape {(x.shape[0], self.hidden_size)}, "
                                 f"got {as_tensor(hx).shape}")
            states.append(state)
        _, h, c = recurrent(self._mode, ops.expand_dims(x, 0), states[0],
                            states[1] if self._mode == "lstm" else None, self.weight_ih, self.weight_hh,
                            self.bias_ih, self.bias_hh, sequence=False)
        if unbatched:
            h, c = ops.squeeze(h, 0), None if c is None else ops.squeeze(c, 0)
        return h, c, unbatched

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["dtype"] = self.weight_ih.dtype
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Module:
        return _checked_dtype(cls, config)


class RNNCell(_CellBase):
    """h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (or ReLU), one step."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh",
                 dtype: Any = np.float32) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, bias, dtype)
        self._mode, self.nonlinearity, self.dtype = f"rnn_{nonlinearity}", nonlinearity, np.dtype(dtype)

    def forward(self, input: Any, hx: Any = None) -> Tensor:  # noqa: A002
        return self._step(input, hx)[0]


class LSTMCell(_CellBase):
    """One LSTM step: returns (h', c')."""

    _mode = "lstm"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, dtype: Any = np.float32) -> None:
        super().__init__(input_size, hidden_size, bias, dtype)
        self.dtype = np.dtype(dtype)

    def forward(self, input: Any, hx: Any = None) -> tuple[Tensor, Tensor]:  # noqa: A002
        if hx is not None and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
            raise ValueError("LSTMCell: hx must be a tuple (h, c)")
        h, c, _ = self._step(input, *(hx if hx is not None else (None, None)))
        assert c is not None  # an LSTM step always has a cell state
        return h, c


class GRUCell(_CellBase):
    """One GRU step (reset gate after the hidden matmul, as PyTorch)."""

    _mode = "gru"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, dtype: Any = np.float32) -> None:
        super().__init__(input_size, hidden_size, bias, dtype)
        self.dtype = np.dtype(dtype)

    def forward(self, input: Any, hx: Any = None) -> Tensor:  # noqa: A002
        return self._step(input, hx)[0]
