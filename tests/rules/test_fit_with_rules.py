"""Rules inside fit: Backprop is plain fit, every rule resumes bit for bit, alignment is recorded."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn, optim, rules
from deltaprop.serialize import load_checkpoint
from deltaprop.train import Callback
from tests.train.test_resume_exact import assert_same_tree

ALL_RULES = list(rules.RULES)
EPOCHS = 4


def data(n=60, seed=3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5)).astype(np.float32)
    y = ((X[:, 0] - X[:, 1] * X[:, 2] > 0).astype(np.int64) + (X[:, 3] > 0.5)).astype(np.int64)
    return X, y


def model(dropout=0.0):
    layers = [nn.Linear(5, 8), nn.Tanh()] + ([nn.Dropout(dropout)] if dropout else [])
    return nn.Sequential(*layers, nn.Linear(8, 6), nn.Tanh(), nn.Linear(6, 3))


class Crash(Callback):
    def __init__(self, at):
        self.at = at

    def on_epoch_end(self, run):
        if run.epoch == self.at:
            raise RuntimeError("injected crash")


def train(name, *, seed=0, checkpoint=None, resume=None, crash=None, rule=None, **kwargs):
    dp.manual_seed(seed)
    net = model(dropout=0.2)
    optimizer = optim.Adam(net.parameters(), lr=0.01)
    rule = rules.by_name(name, alignment_every=1) if rule is None and name != "backprop" else rule
    rule = rules.Backprop() if rule is None else rule
    X, y = data()
    history = dp.fit(net, X, y, loss="cross_entropy", optimizer=optimizer, epochs=EPOCHS, batch_size=16,
                     validation_split=0.2, metrics=["accuracy"], seed=7, checkpoint=checkpoint,
                     resume_from=resume, callbacks=[crash] if crash else [], progress=False, rule=rule,
                     **kwargs)
    return net, optimizer, rule, history


def test_backprop_rule_is_plain_fit_bit_for_bit():
    X, y = data()
    runs = []
    for rule in (None, rules.Backprop()):
        dp.manual_seed(0)
        net = model(dropout=0.2)
        optimizer = optim.Adam(net.parameters(), lr=0.01)
        history = dp.fit(net, X, y, loss="cross_entropy", optimizer=optimizer, epochs=3, batch_size=16,
                         validation_split=0.2, metrics=["accuracy"], seed=7, progress=False, rule=rule)
        runs.append((net.state_dict(), optimizer.state_dict(), history.to_dict()))
    (w0, o0, h0), (w1, o1, h1) = runs
    for key in w0:
        assert np.array_equal(w0[key], w1[key]), key
    assert_same_tree(o0, o1)
    assert h0 == h1


@pytest.mark.parametrize("name", ALL_RULES)
def test_resume_with_every_rule_is_bit_identical(name, tmp_path):
    net, optimizer, rule, history = train(name)
    path = tmp_path / "run.npz"
    with pytest.raises(RuntimeError, match="injected crash"):
        train(name, checkpoint=path, crash=Crash(at=2))
    assert load_checkpoint(path)["epoch"] == 1
    resumed, resumed_optimizer, resumed_rule, resumed_history = train(
        name, seed=99, checkpoint=path, resume=path, crash=Crash(at=None))
    for key, value in net.state_dict().items():
        assert np.array_equal(value, resumed.state_dict()[key]), f"{name}: {key} differs"
    assert resumed_history.to_dict() == history.to_dict()
    assert_same_tree(optimizer.state_dict(), resumed_optimizer.state_dict(), name)
    assert_same_tree(rule.state_dict(), resumed_rule.state_dict(), f"{name} rule state")
    if rule.measures_alignment:
        assert {"angle/0", "angle/3", "angle/5"} <= set(history.history)


def test_resume_with_another_rule_is_refused(tmp_path):
    path = tmp_path / "run.npz"
    train("feedback-alignment", checkpoint=path)
    with pytest.raises(ValueError, match="rule=FeedbackAlignment.*rule=DirectFeedbackAlignment"):
        train("direct-feedback-alignment", checkpoint=path, resume=path)
    with pytest.raises(ValueError, match="rule=FeedbackAlignment"):
        dp.manual_seed(0)
        net = model(dropout=0.2)
        dp.fit(net, *data(), loss="cross_entropy", optimizer=optim.Adam(net.parameters(), lr=0.01),
               epochs=EPOCHS, batch_size=16, validation_split=0.2, seed=7, resume_from=path, progress=False)


def test_a_second_fit_call_keeps_the_rules_state():
    X, y = data()
    dp.manual_seed(0)
    net = model()
    rule = rules.FeedbackAlignment()
    optimizer = optim.Adam(net.parameters(), lr=0.01)
    dp.fit(net, X, y, loss="cross_entropy", optimizer=optimizer, epochs=1, progress=False, rule=rule)
    feedback = [b.copy() for b in rule.feedback[1:]]
    dp.fit(net, X, y, loss="cross_entropy", optimizer=optimizer, epochs=1, progress=False, rule=rule)
    assert all(np.array_equal(a, b) for a, b in zip(feedback, rule.feedback[1:], strict=True))


def test_fit_refuses_what_is_not_a_rule():
    X, y = data()
    net = model()
    with pytest.raises(TypeError, match="rule must be a learning rule"):
        dp.fit(net, X, y, loss="cross_entropy", optimizer=optim.Adam(net.parameters()),
               rule="feedback-alignment")


def test_second_order_optimizers_take_backprop_but_refuse_other_rules():
    X, y = data()
    net = model()
    history = dp.fit(net, X, y, loss="cross_entropy", optimizer=optim.LevenbergMarquardt(net.parameters()),
                     epochs=1, progress=False, rule=rules.Backprop())
    assert history.epochs_run == 1
    with pytest.raises(TypeError, match="first-order optimizer"):
        dp.fit(net, X, y, loss="cross_entropy", optimizer=optim.LevenbergMarquardt(net.parameters()),
               epochs=1, progress=False, rule=rules.FeedbackAlignment())
