"""fit on sequences: truncated BPTT, carried state, default clipping, per-step losses, and learning.

Truncated BPTT must equal full BPTT when the truncation covers the sequence,
and otherwise equal, update for update, the documented computation written
out by hand (chunks with the state detached between them; for a many-to-one
target, a graph-free warm-up then the last k steps).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn, optim
from deltaprop.data.sequences import load_text, make_adding, make_char_sequences
from deltaprop.train import Callback
from deltaprop.train.sequences import DEFAULT_CLIP, SequenceLoss, stateful_order

T, N = 12, 4


def _net(cell="gru", many=False, seed=0, vocab=None, out=1):
    dp.manual_seed(seed)
    return nn.RecurrentNet(3, 5, out, cell=cell, many_to_many=many, vocab_size=vocab, dtype=np.float64)


def _data(many: bool, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N, T, 3))
    y = rng.standard_normal((N, T, 1)) if many else rng.standard_normal((N, 1))
    return X, y


def _fit(model, X, y, **kwargs):
    kwargs.setdefault("clip_grad_norm", None)
    kwargs.setdefault("shuffle", False)
    kwargs.setdefault("batch_size", N)
    return dp.fit(model, X, y, loss="mse", optimizer=optim.SGD(model.parameters(), lr=0.1), epochs=1,
                  progress=False, **kwargs)


def _weights(model):
    return [p.numpy().copy() for p in model.parameters()]


@pytest.mark.parametrize("many", [False, True])
def test_truncation_covering_the_sequence_is_full_bptt(many) -> None:
    X, y = _data(many)
    full, truncated = _net(many=many), _net(many=many)
    _fit(full, X, y)
    _fit(truncated, X, y, tbptt=T)
    for a, b in zip(_weights(full), _weights(truncated), strict=True):
        np.testing.assert_array_equal(a, b)


def test_many_to_many_truncation_updates_per_chunk_with_the_state_detached() -> None:
    X, y = _data(True)
    k = 5
    model, by_hand = _net(many=True), _net(many=True)
    _fit(model, X, y, tbptt=k)
    sgd, state = optim.SGD(by_hand.parameters(), lr=0.1), None
    for start in range(0, T, k):  # what tbptt=5 documents: chunks 0-4, 5-9, 10-11
        sgd.zero_grad()
        out, state = by_hand.forward_with_state(X[:, start : start + k], state)
        dp.nn.functional.mse_loss(out, dp.tensor(y[:, start : start + k])).backward()
        sgd.step()
        state = state.detach()
    for a, b in zip(_weights(model), _weights(by_hand), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    full = _net(many=True)
    _fit(full, X, y)
    assert not np.allclose(_weights(full)[1], _weights(model)[1])


def test_many_to_one_truncation_backpropagates_only_the_last_k_steps() -> None:
    X, y = _data(False)
    k = 4
    model = _net()
    history = _fit(model, X, y, tbptt=k)
    by_hand = _net()
    with dp.no_grad():
        _, state = by_hand.forward_with_state(X[:, : T - k])
    out, _ = by_hand.forward_with_state(X[:, T - k :], state)
    loss = dp.nn.functional.mse_loss(out, dp.tensor(y))
    loss.backward()
    assert history.history["loss"][0] == pytest.approx(loss.item(), rel=1e-12)  # the same forward value
    full = _net()
    full_out = full(X)
    dp.nn.functional.mse_loss(full_out, dp.tensor(y)).backward()
    for after, p in zip(_weights(model), by_hand.parameters(), strict=True):  # one SGD step from by_hand
        np.testing.assert_allclose(after, p.numpy() - 0.1 * p.grad.numpy(), rtol=1e-12, atol=1e-14)
    truncated_grad = by_hand.rnn.weight_hh_l0.grad.numpy()
    assert not np.allclose(truncated_grad, full.rnn.weight_hh_l0.grad.numpy(), atol=1e-8)


def test_stateful_training_carries_each_row_into_the_next_batch() -> None:
    X, y = _data(True)
    model, by_hand = _net(many=True), _net(many=True)
    _fit(model, np.concatenate([X[:, :6], X[:, 6:]]), np.concatenate([y[:, :6], y[:, 6:]]), stateful=True,
         batch_size=N)
    sgd, state = optim.SGD(by_hand.parameters(), lr=0.1), None
    for part in (slice(0, 6), slice(6, T)):
        sgd.zero_grad()
        out, state = by_hand.forward_with_state(X[:, part], state)
        dp.nn.functional.mse_loss(out, dp.tensor(y[:, part])).backward()
        sgd.step()
        state = state.detach()
    for a, b in zip(_weights(model), _weights(by_hand), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_stateful_order_interleaves_parallel_streams() -> None:
    order = stateful_order(10, 3)  # 3 streams of 3 windows; the 10th window is dropped
    assert order.tolist() == [0, 3, 6, 1, 4, 7, 2, 5, 8]
    with pytest.raises(ValueError, match="shuffle=False"):
        _fit(_net(many=True), *_data(True), stateful=True, shuffle=True)


def test_recurrent_models_are_clipped_by_default_and_others_are_not() -> None:
    class Norms(Callback):
        def __init__(self):
            self.norms = []

        def on_after_backward(self, run):
            squares = sum(float((p.grad_array ** 2).sum()) for p in run.model.parameters())
            self.norms.append(math.sqrt(squares))

    X, y = _data(False)
    y = y * 1e3  # a huge loss: raw gradient norms far above the clip
    for clip, expected in (("auto", DEFAULT_CLIP), (None, None), (0.5, 0.5)):
        watch = Norms()
        _fit(_net(), X, y, clip_grad_norm=clip, callbacks=[watch])
        if expected is None:
            assert watch.norms[0] > 100
        else:
            assert watch.norms[0] == pytest.approx(expected, rel=1e-5)
    mlp = nn.Sequential(nn.Linear(3, 1))
    watch = Norms()
    dp.fit(mlp, X[:, 0], y, loss="mse", optimizer=optim.SGD(mlp.parameters(), lr=1e-9), epochs=1,
           progress=False, callbacks=[watch])
    assert watch.norms[0] > 100  # 'auto' leaves a model without recurrent layers alone


def test_cross_entropy_over_every_step_of_n_t_c_logits() -> None:
    rng = np.random.default_rng(0)
    logits, labels = rng.standard_normal((2, 3, 4)), rng.integers(0, 4, (2, 3))
    loss = SequenceLoss(nn.CrossEntropyLoss())(dp.tensor(logits), dp.tensor(labels))
    flat = nn.CrossEntropyLoss()(dp.tensor(logits.reshape(6, 4)), dp.tensor(labels.reshape(6)))
    assert loss.item() == pytest.approx(flat.item(), rel=1e-12)


def test_bad_sequence_settings_raise() -> None:
    X, y = _data(False)
    with pytest.raises(ValueError, match="tbptt must be"):
        _fit(_net(), X, y, tbptt=0)
    with pytest.raises(ValueError, match="clip_grad_norm"):
        _fit(_net(), X, y, clip_grad_norm=-1.0)
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(3 * T, 1))
    with pytest.raises(TypeError, match="forward_with_state"):
        dp.fit(mlp, X, y, loss="mse", optimizer=optim.SGD(mlp.parameters(), lr=0.1), tbptt=3, progress=False)


# --------------------------------------------------------------------------- learning (seconds)


@pytest.mark.slow
def test_a_small_gru_solves_the_adding_problem_far_below_the_baseline() -> None:
    train, held_out = make_adding(1000, 20, seed=0), make_adding(300, 20, seed=1)
    dp.manual_seed(0)
    model = nn.RecurrentNet(2, 24, 1, cell="gru")
    dp.fit(model, train.X, train.y, loss="mse", optimizer=optim.Adam(model.parameters(), lr=0.02), epochs=5,
           batch_size=32, progress=False)
    mse = float(np.mean((dp.train.predict(model, held_out.X) - held_out.y) ** 2))
    assert mse < 0.05  # predicting 1 scores 1/6 ~ 0.167


@pytest.mark.slow
def test_the_character_model_s_loss_falls() -> None:
    X, y, vocabulary = make_char_sequences(load_text()[:8000], seq_len=32)
    dp.manual_seed(0)
    model = nn.RecurrentNet(16, 64, len(vocabulary), many_to_many=True, vocab_size=len(vocabulary))
    history = dp.fit(model, X, y, loss="cross_entropy", optimizer=optim.Adam(model.parameters(), lr=0.01),
                     epochs=4, batch_size=32, tbptt=16, progress=False)
    losses = history.history["loss"]
    assert losses[0] < math.log(len(vocabulary))  # better than uniform guessing within the first epoch
    assert losses[-1] < 0.8 * losses[0]
