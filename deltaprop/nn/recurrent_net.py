"""`RecurrentNet`: a ready-made sequence model, (embedding ->) RNN/LSTM/GRU -> Linear, for fit, the CLI and
the model registry.

Many-to-one (``many_to_many=False``): the output layer reads the last step's
hidden state, one prediction per sequence (N, output_size) - the adding
problem, forecasting, sequence classification. Many-to-many: it reads every
step, (N, T, output_size) - a character model predicting the next character
at each position. Inputs are batch-first (N, T, input_size), or token ids
(N, T) when ``vocab_size`` is given (an `Embedding` of ``input_size``
dimensions comes first).

``forward_with_state(x, state)`` also returns the final state, which is what
truncated BPTT, stateful training and text generation carry from call to call.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from deltaprop import ops
from deltaprop.nn.embedding import Embedding
from deltaprop.nn.linear import Linear
from deltaprop.nn.module import Module
from deltaprop.nn.recurrent import GRU, LSTM, RNN
from deltaprop.tensor import Tensor, as_tensor

_CELLS = {"rnn": RNN, "lstm": LSTM, "gru": GRU}


class RecurrentNet(Module):
    """(Embedding ->) a recurrent stack (batch-first) -> Linear on the last step or on every step.

    ``cell`` is 'rnn', 'lstm' or 'gru': ``RecurrentNet(2, 64, 1, cell="gru")``.
    """

    def __init__(self, input_size: int, hidden_size: int, output_size: int, cell: str = "lstm",
                 num_layers: int = 1, many_to_many: bool = False, vocab_size: int | None = None,
                 dropout: float = 0.0, bidirectional: bool = False, nonlinearity: str = "tanh",
                 dtype: Any = np.float32) -> None:
        super().__init__()
        if cell not in _CELLS:
            raise ValueError(f"RecurrentNet: cell must be one of {', '.join(_CELLS)}, got {cell!r}")
        if cell != "rnn" and nonlinearity != "tanh":
            raise ValueError(f"RecurrentNet: nonlinearity applies to cell='rnn' only, not {cell!r}")
        self.cell, self.input_size, self.hidden_size = cell, input_size, hidden_size
        self.output_size = output_size
        self.num_layers, self.many_to_many, self.vocab_size = num_layers, bool(many_to_many), vocab_size
        self.dropout, self.bidirectional, self.nonlinearity = dropout, bool(bidirectional), nonlinearity
        self.dtype = np.dtype(dtype)
        if vocab_size is not None:
            self.embedding = Embedding(vocab_size, input_size, dtype=dtype)
        extra = {"nonlinearity": nonlinearity} if cell == "rnn" else {}
        self.rnn = _CELLS[cell](input_size, hidden_size, num_layers, batch_first=True, dropout=dropout,
                                bidirectional=bidirectional, dtype=dtype, **extra)
        self.head = Linear(hidden_size * (2 if bidirectional else 1), output_size, dtype=dtype)

    def forward(self, x: Any) -> Tensor:
        return self.forward_with_state(x)[0]

    def forward_with_state(self, x: Any, state: Any = None) -> tuple[Tensor, Any]:
        """(outputs, final state): state is h_n, or (h_n, c_n) for the LSTM, as the layer returns it."""
        if self.vocab_size is not None:
            x = self.embedding(x)
        else:
            x = as_tensor(x)
            if x.ndim == 2:  # one feature per step, given as (N, T)
                x = ops.expand_dims(x, 2)
        y, state = self.rnn(x, state)
        return self.head(y if self.many_to_many else y[:, -1]), state

    def extra_repr(self) -> str:
        kind = "many-to-many" if self.many_to_many else "many-to-one"
        return f"{self.cell}, {kind}"

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["dtype"] = self.head.weight.dtype
        return config
