"""Every rule learns the digits; feedback alignment shows its signature: the angle to the gradient falls."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn, optim, rules
from deltaprop.data import load_dataset
from deltaprop.rules.alignment import angle_degrees, measured_gradients


@pytest.fixture(scope="module")
def digits():
    ds = load_dataset("digits")
    X, y = np.asarray(ds.X, np.float32), np.asarray(ds.y)
    X = (X - X[:1000].mean(axis=0)) / (X[:1000].std(axis=0) + 1e-6)
    return X[:1000], y[:1000], X[1000:], y[1000:]


def net(seed):
    dp.manual_seed(seed)
    return nn.Sequential(nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 10))


@pytest.mark.parametrize("name", list(rules.RULES))
def test_every_rule_learns_the_digits_well_above_chance(name, digits):
    X, y, X_test, y_test = digits
    model = net(seed=0)
    rule = rules.by_name(name) if name == "backprop" else rules.by_name(name, alignment_every=0)
    dp.fit(model, X, y, loss="cross_entropy", optimizer=optim.Adam(model.parameters(), lr=1e-3), epochs=8,
           batch_size=32, seed=0, progress=False, rule=rule)
    model.eval()
    accuracy = float(np.mean(model(dp.Tensor(X_test)).array.argmax(axis=1) == y_test))
    assert accuracy > 0.8, f"{name}: held-out accuracy {accuracy:.3f} (chance is 0.1)"


def test_feedback_alignment_comes_to_point_within_90_degrees_of_the_gradient(digits):
    """Lillicrap et al.'s finding: updates start at ~90 degrees from backprop's and align during training."""
    X, y, _, _ = digits
    model = net(seed=0)
    rule = rules.FeedbackAlignment(alignment_every=1)
    rule.bind(model)
    first = dp.Tensor(X[:64]), dp.Tensor(y[:64])
    _, _, before = measured_gradients(rule, model, nn.CrossEntropyLoss(), *first)
    history = dp.fit(model, X, y, loss="cross_entropy", optimizer=optim.Adam(model.parameters(), lr=1e-3),
                     epochs=4, batch_size=32, seed=0, progress=False, rule=rule)
    for layer in ("0", "2"):  # the hidden layers; the output layer's update is the true gradient
        series = history[f"angle/{layer}"]
        assert before[layer] > 80, before
        assert series[-1] < 75, series
        assert all(later < earlier for earlier, later in zip(series, series[1:], strict=False)), series
    assert history["angle/4"] == pytest.approx([0.0] * 4, abs=1e-3)


def test_angle_degrees():
    assert angle_degrees(np.array([1.0, 0.0]), np.array([2.0, 0.0])) == 0.0
    assert angle_degrees(np.array([1.0, 0.0]), np.array([0.0, 3.0])) == pytest.approx(90.0)
    assert angle_degrees(np.array([1.0, 1.0]), np.array([-1.0, -1.0])) == pytest.approx(180.0)
    assert angle_degrees(np.array([1.0, 0.0]), np.array([1.0, 1.0])) == pytest.approx(45.0)
    assert angle_degrees(np.zeros(2), np.array([1.0, 1.0])) == 90.0  # no update: no direction
