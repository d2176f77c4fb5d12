"""Synthetic gradients unlock the layers: each updates before the layers above have run their backward."""

from __future__ import annotations

import numpy as np

from deltaprop import nn, optim
from deltaprop.rules import SyntheticGradients
from tests.rules.helpers import batch, tiny_net

LOSS = nn.CrossEntropyLoss()


def order(trace, event, layer):
    return trace.index((event, layer))


def test_each_layer_steps_before_any_layer_above_runs_its_backward():
    model, (x, y) = tiny_net(), batch()
    rule = SyntheticGradients()
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    rule.unlocked_step(model, LOSS, x, y, optimizer)
    trace = rule.trace
    layers = [b.name for b in rule.network.blocks]
    assert layers == ["0", "2", "4"]
    for i, lower in enumerate(layers):
        for upper in layers[i + 1:]:
            assert order(trace, "step", lower) < order(trace, "forward", upper)
            assert order(trace, "step", lower) < order(trace, "backward", upper)
    assert trace[:4] == [("forward", "0"), ("backward", "0"), ("gradient", "0"), ("step", "0")]
    assert ("loss", "4") in trace and trace[-1] == ("train-sg", "2")  # the top model learns from the loss


def test_unlocked_steps_give_the_weights_of_ordinary_steps():
    x, y = batch()
    results = []
    for unlocked in (False, True):
        model = tiny_net(seed=4)
        rule = SyntheticGradients(lr=0.01)
        optimizer = optim.Adam(model.parameters(), lr=0.01)
        for step in range(5):
            xb, yb = x.array[step % 3:], y.array[step % 3:]
            if unlocked:
                rule.unlocked_step(model, LOSS, xb, yb, optimizer)
            else:
                optimizer.train_step(model, LOSS, xb, yb, gradients=rule)
        assert ("step", "0") in rule.trace if unlocked else ("step", "0") not in rule.trace
        results.append((model.state_dict(), rule.models.state_dict()))
    (weights, models), (unlocked_weights, unlocked_models) = results
    for key in weights:
        np.testing.assert_array_equal(weights[key], unlocked_weights[key], err_msg=key)
    for key in models:
        np.testing.assert_array_equal(models[key], unlocked_models[key], err_msg=key)
    assert any(np.any(v != 0) for v in models.values())  # the gradient models did learn


def test_the_ordinary_step_also_computes_each_update_before_the_layers_above_run():
    model, (x, y) = tiny_net(), batch()
    rule = SyntheticGradients()
    optim.SGD(model.parameters(), lr=0.1).train_step(model, LOSS, x, y, gradients=rule)
    assert order(rule.trace, "gradient", "0") < order(rule.trace, "forward", "2")
    assert order(rule.trace, "gradient", "2") < order(rule.trace, "forward", "4")
