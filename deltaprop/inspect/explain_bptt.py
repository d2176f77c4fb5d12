"""``deltaprop explain --bptt``: backpropagation through time worked through with real numbers.

A 2-unit tanh RNN, h_t = tanh(W_xh x_t + W_hh h_{t-1} + b) from h_0 = 0, runs
over a few time steps; the loss L = 1/2 ||h_T - target||^2 looks at the last
state only. The walk prints every h_t, then the error terms going backwards
in time,

    delta_T = (h_T - target) * (1 - h_T^2),    delta_{t-1} = (W_hh^T delta_t) * (1 - h_{t-1}^2),

(delta_t = dL/dz_t, z_t the pre-activation), and the contribution of each
time step to the gradient of the shared recurrent weight, delta_t h_{t-1}^T,
whose sum over t is dL/dW_hh. The same network is then run as a
`deltaprop.nn.RNN` and differentiated by the engine, and the two gradients
compared. Watching |delta_t| shrink step by step backwards is the vanishing
gradient problem in miniature.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

__all__ = ["BPTTWalk", "bptt_walk", "print_bptt"]


@dataclass
class BPTTWalk:
    """Every number of the walk: states h (T+1, 2) with h[0] = 0, deltas (T, 2) for t = 1..T, per-step
    contributions (T, 2, 2) to dL/dW_hh, their sum, and the engine's dL/dW_hh."""

    W_xh: np.ndarray
    W_hh: np.ndarray
    b: np.ndarray
    x: np.ndarray
    target: np.ndarray
    h: np.ndarray
    z: np.ndarray
    loss: float
    grad_h: np.ndarray
    delta: np.ndarray
    contributions: np.ndarray
    grad_w_hh: np.ndarray
    engine_grad_w_hh: np.ndarray


def bptt_walk(steps: int = 4, seed: int = 0) -> BPTTWalk:
    """Run the walk-through's numbers (no printing): the hand recursion and the engine's gradient."""
    if not 1 <= steps <= 12:
        raise ValueError(f"explain --bptt: --time-steps must be between 1 and 12, got {steps}")
    rng = np.random.default_rng(seed)
    W_xh = np.round(rng.uniform(-1, 1, (2, 1)), 2)
    W_hh = np.round(rng.uniform(-1, 1, (2, 2)), 2)
    b = np.round(rng.uniform(-0.5, 0.5, 2), 2)
    x = np.round(rng.uniform(-1, 1, steps), 2)
    target = np.array([0.5, -0.5])
    h, z = np.zeros((steps + 1, 2)), np.zeros((steps + 1, 2))
    for t in range(1, steps + 1):  # forward
        z[t] = W_xh[:, 0] * x[t - 1] + W_hh @ h[t - 1] + b
        h[t] = np.tanh(z[t])
    loss = 0.5 * float(np.sum((h[steps] - target) ** 2))
    grad_h, delta = np.zeros((steps + 1, 2)), np.zeros((steps + 1, 2))
    grad_h[steps] = h[steps] - target
    for t in range(steps, 0, -1):  # backward through time
        delta[t] = grad_h[t] * (1 - h[t] ** 2)
        grad_h[t - 1] = W_hh.T @ delta[t]
    contributions = np.stack([np.outer(delta[t], h[t - 1]) for t in range(1, steps + 1)])
    return BPTTWalk(W_xh, W_hh, b, x, target, h, z[1:], loss, grad_h, delta[1:], contributions,
                    contributions.sum(axis=0), _engine_gradient(W_xh, W_hh, b, x, target))


def _engine_gradient(W_xh, W_hh, b, x, target) -> np.ndarray:
    """dL/dW_hh by deltaprop's own backward through `nn.RNN` (the fused op), for the check."""
    import deltaprop as dp

    rnn = dp.nn.RNN(1, 2, dtype=np.float64)
    rnn.load_state_dict({"weight_ih_l0": W_xh, "weight_hh_l0": W_hh, "bias_ih_l0": b,
                         "bias_hh_l0": np.zeros(2)})
    _, h_n = rnn(x.reshape(-1, 1, 1))
    (0.5 * ((h_n[0, 0] - dp.tensor(target)) ** 2).sum()).backward()
    weight_hh = dict(rnn.named_parameters())["weight_hh_l0"]  # a name RNN makes at run time
    grad = weight_hh.grad
    assert grad is not None  # h_n depends on W_hh, so the backward pass reached it
    return grad.numpy().copy()


def _v(values: np.ndarray) -> str:
    return "[" + ", ".join(f"{v: .6f}" for v in np.ravel(values)) + "]"


def _g(values: np.ndarray) -> str:
    return "[" + ", ".join(f"{v:g}" for v in np.ravel(values)) + "]"


def _m(matrix: np.ndarray) -> str:
    return "[" + "; ".join(_v(row) for row in matrix) + "]"


def print_bptt(steps: int = 4, seed: int = 0, out=None) -> BPTTWalk:
    """Print the walk-through; returns its numbers."""
    out = out or sys.stdout
    w = bptt_walk(steps, seed)
    say = lambda text="": print(text, file=out)  # noqa: E731
    T = steps
    say(f"Backpropagation through time: a 2-unit tanh RNN over {T} time steps")
    say("=" * 64)
    say("h_t = tanh(z_t), z_t = W_xh x_t + W_hh h_(t-1) + b, h_0 = 0; loss L = 1/2 ||h_T - target||^2")
    say(f"W_xh = {_g(w.W_xh)}   W_hh = [{_g(w.W_hh[0])}; {_g(w.W_hh[1])}]   b = {_g(w.b)}")
    say(f"inputs x_1..x_{T} = {_g(w.x)}   target = {_g(w.target)}")
    say()
    say("1. forward, step by step (the same weights at every step)")
    for t in range(1, T + 1):
        say(f"   t={t}: z_{t} = {_v(w.z[t - 1])}   h_{t} = tanh(z_{t}) = {_v(w.h[t])}")
    say(f"   L = 1/2 ||h_{T} - target||^2 = {w.loss:.9f}")
    say()
    say("2. backward through time: delta_t = dL/dz_t = dL/dh_t * (1 - h_t^2)")
    say(f"   dL/dh_{T} = h_{T} - target = {_v(w.grad_h[T])}")
    for t in range(T, 0, -1):
        reach = f"dL/dh_{t} = W_hh^T delta_{t + 1} = {_v(w.grad_h[t])}; " if t < T else ""
        say(f"   t={t}: {reach}delta_{t} = {_v(w.delta[t - 1])}   |delta_{t}| = "
            f"{np.linalg.norm(w.delta[t - 1]):.3g}")
    say()
    say("3. the shared weight's gradient: each step adds delta_t h_(t-1)^T")
    for t in range(1, T + 1):
        note = "   (h_0 = 0: nothing)" if t == 1 else ""
        say(f"   t={t}: {_m(w.contributions[t - 1])}{note}")
    say(f"   sum = dL/dW_hh = {_m(w.grad_w_hh)}")
    difference = float(np.max(np.abs(w.grad_w_hh - w.engine_grad_w_hh)))
    verdict = "agree" if difference < 1e-10 else "DISAGREE"
    say(f"   engine (deltaprop.nn.RNN, fused backward through time): {_m(w.engine_grad_w_hh)}")
    say(f"   largest difference {difference:.2e}: they {verdict}")
    say()
    norms = [np.linalg.norm(d) for d in w.delta]
    say("|delta_t| from t=1 to t=" + str(T) + ": " + ", ".join(f"{n:.3g}" for n in norms))
    say("Each step back multiplies the error by W_hh^T and by tanh' <= 1, so early steps usually get")
    say("smaller deltas: the vanishing gradient through time that LSTM and GRU gates were built to avoid")
    say("(deltaprop.inspect.through_time plots it for real networks).")
    return w
