"""The training-step protocol: every optimizer trains through ``train_step``, with unchanged results."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from optimizer_reference import FIRST, SECOND, run_all

import deltaprop as dp
from deltaprop import nn, optim

REFERENCE = Path(__file__).resolve().parents[1] / "fixtures" / "optimizer_reference_v0.1.0.npz"


def test_every_optimizer_gives_bit_identical_weights_to_release_0_1_0():
    """The fixture holds final weights written by deltaprop 0.1.0; speed work must not move a bit."""
    with np.load(REFERENCE) as saved:
        expected = {name: saved[name] for name in saved.files}
    got = run_all()
    assert sorted(got) == sorted(expected) == sorted([*FIRST, *SECOND])
    for name, weights in got.items():
        np.testing.assert_array_equal(weights, expected[name], err_msg=name)


@pytest.mark.parametrize("name", [*FIRST, *SECOND])
def test_fit_trains_every_optimizer_through_train_step(name, monkeypatch):
    make = {**FIRST, **SECOND}[name]
    model = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1)).double()
    optimizer = make(model.parameters())
    calls = []
    original = optimizer.train_step

    def spy(*args, **kwargs):
        calls.append(len(args[2]))
        return original(*args, **kwargs)

    monkeypatch.setattr(optimizer, "train_step", spy)
    X = np.linspace(-1, 1, 24).reshape(-1, 2)
    dp.fit(model, X, X[:, :1] ** 2, loss="mse", optimizer=optimizer, epochs=2, batch_size=4, progress=False)
    batches_per_epoch = 1 if optimizer.full_batch else 3
    assert calls == [12 if optimizer.full_batch else 4] * (2 * batches_per_epoch)


def test_second_order_optimizers_refuse_another_learning_rule():
    model = nn.Linear(2, 1)

    def other_rule(model, loss_fn, x, y):
        return 0.0, None

    for make in (optim.LevenbergMarquardt, optim.NaturalGradient):
        optimizer = make(model.parameters())
        with pytest.raises(TypeError, match="cannot apply the gradients of another learning rule"):
            optimizer.train_step(model, nn.MSELoss(), dp.ones(3, 2), dp.ones(3, 1), gradients=other_rule)


def test_a_non_finite_loss_leaves_the_model_untouched():
    model = nn.Linear(2, 1)
    before = model.weight.array.copy()
    value, _ = optim.SGD(model.parameters(), lr=1.0).train_step(
        model, nn.MSELoss(), dp.Tensor([[np.inf, 1.0]]), dp.ones(1, 1)
    )
    assert not np.isfinite(value)
    np.testing.assert_array_equal(model.weight.array, before)
    assert model.weight.grad is None  # no backward ran
