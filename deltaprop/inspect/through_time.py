"""How the gradient travels back through time: ||dL/dh_t|| for every step t of a recurrent network.

For a loss on the last step only, dL/dh_t is what reaches step t after
T - t multiplications by the recurrent Jacobian. In a tanh RNN each factor
is W_hh^T diag(1 - h^2), usually shrinking the gradient geometrically, so
the first steps barely learn (vanishing gradients). The LSTM's cell state
and the GRU's update gate offer a path whose factors are the forget (or
update) gate itself, which training can hold near 1; at PyTorch's default
initialisation those gates sit near 0.5, so all three curves start out
falling, the gated ones less steeply.

`hidden_gradient_norms` unrolls a network's first recurrent layer into its
cell (the same weights, float64) so that each h_t is a tensor whose gradient
can be kept; `adding_problem_gradients` does that for a tanh RNN, an LSTM and
a GRU on the adding problem, and `plot_gradient_through_time` draws the curves.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from deltaprop import nn
from deltaprop.tensor import Tensor

__all__ = ["adding_problem_gradients", "hidden_gradient_norms", "plot_gradient_through_time"]

_CELLS = {"RNN_TANH": (nn.RNNCell, {}), "RNN_RELU": (nn.RNNCell, {"nonlinearity": "relu"}),
          "LSTM": (nn.LSTMCell, {}), "GRU": (nn.GRUCell, {})}


def _cell_of(layer: nn.RNNBase) -> nn.Module:
    if layer.bidirectional or layer.proj_size:
        raise ValueError("hidden_gradient_norms: needs a one-directional recurrent layer without projection")
    kind, extra = _CELLS[layer.mode]
    cell = kind(layer.input_size, layer.hidden_size, bias=layer.bias, dtype=np.float64, **extra)
    state = {name.removesuffix("_l0"): value for name, value in layer.state_dict().items()
             if name.endswith("_l0")}
    cell.load_state_dict(state)
    return cell


def hidden_gradient_norms(model: nn.RecurrentNet, X: Any, y: Any, loss: str = "mse") -> np.ndarray:
    """||dL/dh_t|| for t = 1..T (Frobenius norm over the batch) of a one-layer many-to-one `RecurrentNet`."""
    if not isinstance(model, nn.RecurrentNet) or model.num_layers != 1 or model.many_to_many:
        raise ValueError("hidden_gradient_norms: needs a one-layer many-to-one deltaprop.nn.RecurrentNet")
    cell = _cell_of(model.rnn)
    head = nn.Linear(model.head.in_features, model.head.out_features, dtype=np.float64)
    head.load_state_dict(model.head.state_dict())
    x = np.asarray(X, dtype=np.float64)
    if model.vocab_size is not None:
        x = model.embedding.weight.numpy().astype(np.float64)[np.asarray(X, dtype=np.int64)]
    states, h, c = [], None, None
    for t in range(x.shape[1]):
        if model.cell == "lstm":
            h, c = cell(x[:, t], None if h is None else (h, c))
        else:
            h = cell(x[:, t], h)
        h.retain_grad()
        states.append(h)
    out = head(h)
    nn.loss_by_name(loss)(out, Tensor(np.asarray(y, dtype=np.float64))).backward()
    return np.array([float(np.linalg.norm(s.grad.numpy())) for s in states])


def adding_problem_gradients(seq_len: int = 50, hidden: int = 32, n: int = 64, seed: int = 0) -> dict:
    """{'tanh RNN' | 'LSTM' | 'GRU': ||dL/dh_t||} at initialisation on a batch of the adding problem."""
    import deltaprop as dp
    from deltaprop.data.sequences import make_adding

    data = make_adding(n, seq_len, seed=seed)
    norms = {}
    for label, cell in (("tanh RNN", "rnn"), ("LSTM", "lstm"), ("GRU", "gru")):
        dp.manual_seed(seed)
        model = nn.RecurrentNet(2, hidden, 1, cell=cell, dtype=np.float64)
        norms[label] = hidden_gradient_norms(model, data.X, data.y)
    return norms


def plot_gradient_through_time(norms: dict, path: str | None = None, title: str | None = None):
    """||dL/dh_t|| against t, one curve per network, on a log scale; returns the matplotlib Figure."""
    from deltaprop.inspect.plots import _finish, _pyplot

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for label, values in norms.items():
        ax.semilogy(np.arange(1, len(values) + 1), values, label=label)
    ax.set_xlabel("time step t (the loss looks at the last one)")
    ax.set_ylabel("||dL/dh_t||")
    ax.set_title(title or "Gradient reaching step t (adding problem, initial weights)")
    ax.legend()
    ax.grid(alpha=0.3, which="both")
    return _finish(fig, path)


