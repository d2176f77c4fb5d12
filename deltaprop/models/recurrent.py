"""Recurrent architectures by name: 'rnn', 'lstm' and 'gru' in `MODELS` (``--model lstm``).

Each builds a `deltaprop.nn.RecurrentNet` from the shape of one example:
(T, features) for sequences of feature vectors, or (T,) for token ids
together with ``vocab_size`` (an embedding of ``embedding_dim`` comes first).
``hidden`` lists the layers' sizes, which must be equal (a stacked RNN
passes each layer's full hidden state to the next): ``hidden=[64, 64]`` is
two layers of 64 units.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from deltaprop.models.registry import register_model

OPTIONS = ("hidden", "activation", "dropout", "bidirectional", "many_to_many", "vocab_size", "embedding_dim")


def _sizes(hidden: Sequence[int] | int | None) -> list[int]:
    sizes = [64] if hidden is None else ([int(hidden)] if isinstance(hidden, (int, np.integer)) else
                                         [int(h) for h in hidden])
    if not sizes:
        sizes = [64]
    if len(set(sizes)) != 1:
        raise ValueError(f"recurrent models stack layers of one size; got hidden sizes {sizes} (e.g. 64,64)")
    return sizes


def _builder(cell: str):
    def build(input_shape: Sequence[int], n_out: int, hidden: Sequence[int] | int | None = None,
              activation: str = "tanh", dropout: float = 0.0, bidirectional: bool = False,
              many_to_many: bool = False, vocab_size: int | None = None, embedding_dim: int | None = None,
              dtype: Any = np.float32):
        from deltaprop.nn import RecurrentNet

        sizes = _sizes(hidden)
        if vocab_size is None and len(input_shape) != 2:
            raise ValueError(f"{cell}: examples must be sequences of shape (T, features), got "
                             f"{tuple(input_shape)}; pass vocab_size for sequences of token ids")
        width = (embedding_dim or 32) if vocab_size is not None else int(input_shape[-1])
        return RecurrentNet(width, sizes[0], n_out, cell=cell, num_layers=len(sizes),
                            many_to_many=many_to_many, vocab_size=vocab_size, dropout=dropout,
                            bidirectional=bidirectional,
                            nonlinearity=activation if cell == "rnn" else "tanh", dtype=dtype)

    return build


def _describer(cell: str):
    def describe(input_shape: Sequence[int], n_out: int, hidden=None, vocab_size=None, bidirectional=False,
                 many_to_many=False, **_: Any) -> str:
        sizes = _sizes(hidden)
        source = f"embedding({vocab_size})" if vocab_size is not None else f"{input_shape[-1]} features"
        layers = f"{len(sizes)}x{sizes[0]}" + (" bidirectional" if bidirectional else "")
        reads = "every step" if many_to_many else "the last step"
        return f"{cell.upper()} {source} -> {layers} -> {n_out} outputs from {reads}"

    return describe


_HELP = {"rnn": "Elman RNN (tanh, or --activation relu)", "lstm": "LSTM", "gru": "GRU"}
for _cell in ("rnn", "lstm", "gru"):
    register_model(_cell, _builder(_cell), OPTIONS, _describer(_cell),
                   f"{_HELP[_cell]} over sequences: --hidden 64 (64,64 for two layers), --seq-len, --tbptt")
