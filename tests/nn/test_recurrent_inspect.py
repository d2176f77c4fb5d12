"""Showing the work of backpropagation through time: explain --bptt, ||dL/dh_t||, GradientFlow on RNNs."""

from __future__ import annotations

import io

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn
from deltaprop.inspect import GradientFlow
from deltaprop.inspect.explain import main as explain_main
from deltaprop.inspect.explain_bptt import bptt_walk, print_bptt
from deltaprop.inspect.through_time import adding_problem_gradients, hidden_gradient_norms


@pytest.mark.parametrize("steps", [3, 4])
def test_bptt_walk_sums_step_contributions_to_the_engine_gradient(steps) -> None:
    w = bptt_walk(steps, seed=1)
    assert w.contributions.shape == (steps, 2, 2) and not w.contributions[0].any()  # h_0 = 0
    np.testing.assert_allclose(w.contributions.sum(axis=0), w.engine_grad_w_hh, atol=1e-14)
    # the deltas obey the recursion, checked here independently of the walk's own loop
    for t in range(steps - 1, 0, -1):
        expected = (w.W_hh.T @ w.delta[t]) * (1 - w.h[t] ** 2)
        np.testing.assert_allclose(w.delta[t - 1], expected, rtol=1e-12)
    text = io.StringIO()
    print_bptt(steps, seed=1, out=text)
    printed = text.getvalue()
    assert f"over {steps} time steps" in printed and "they agree" in printed
    assert all(f"t={t}:" in printed for t in range(1, steps + 1))


def test_explain_bptt_command_runs(capsys) -> None:
    assert explain_main(["--bptt", "--time-steps", "3"]) == 0
    assert "sum = dL/dW_hh" in capsys.readouterr().out
    assert explain_main(["--bptt", "--time-steps", "40"]) == 2


def test_hidden_gradient_norms_match_the_fused_layer_gradient() -> None:
    """dL/dh_t from the unrolled cells equals dL/d(initial state) of the fused layer started at h_t."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((3, 6, 2)), rng.standard_normal((3, 1))
    dp.manual_seed(0)
    model = nn.RecurrentNet(2, 4, 1, cell="gru", dtype=np.float64)
    norms = hidden_gradient_norms(model, X, y)
    assert norms.shape == (6,) and np.all(norms > 0)
    states, _ = model.rnn(X)
    for t in range(1, 6):  # run steps t+1..T from h_t: the gradient of that start is dL/dh_t
        start = dp.tensor(states.numpy()[None, :, t - 1], requires_grad=True)
        out, _ = model.rnn(X[:, t:], start)
        dp.nn.functional.mse_loss(model.head(out[:, -1]), dp.tensor(y)).backward()
        assert norms[t - 1] == pytest.approx(np.linalg.norm(start.grad.numpy()), rel=1e-10)


def test_tanh_rnn_gradients_vanish_through_time_on_the_adding_problem() -> None:
    norms = adding_problem_gradients(seq_len=30, hidden=16, n=16)
    assert set(norms) == {"tanh RNN", "LSTM", "GRU"}
    for values in norms.values():
        assert values[0] < 1e-3 * values[-1]  # far from the loss, the gradient has all but vanished


def test_gradient_flow_reports_recurrent_weights() -> None:
    from deltaprop.data.sequences import make_adding

    data = make_adding(64, 10, seed=0)
    dp.manual_seed(0)
    model = nn.RecurrentNet(2, 8, 1, num_layers=2)
    flow = GradientFlow(warn=False)
    history = dp.fit(model, data.X, data.y, loss="mse", optimizer=dp.optim.Adam(model.parameters()), epochs=1,
                     callbacks=[flow], progress=False)
    for key in ("grad_norm/rnn.weight_hh_l0", "grad_norm/rnn.weight_hh_l1", "update_ratio/rnn.weight_hh_l1",
                "grad_norm/head"):
        assert key in history.history and np.isfinite(history.history[key][0])
