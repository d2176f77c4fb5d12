"""How rules see a network: blocks found by asking layers, clear refusals for layers they cannot train."""

from __future__ import annotations

import copy
from collections import OrderedDict

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn, optim, rules
from deltaprop.rules.blocks import split_blocks
from tests.rules.helpers import batch, tiny_net

NON_BACKPROP = [name for name in rules.RULES if name != "backprop"]


class Scale(nn.Module):
    """A layer with a parameter that is not affine: no rule but backprop can assign it credit."""

    def __init__(self):
        super().__init__()
        self.gain = nn.Parameter(np.ones(3, dtype=np.float64))

    def forward(self, x):
        return x * self.gain


class Twice(nn.Module):
    """A model whose forward is not a chain of its layers."""

    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(4, 3, dtype=np.float64)

    def forward(self, x):
        return self.layer(x) + self.layer(x)


def test_blocks_are_affine_layers_with_the_parameter_free_modules_after_them():
    inner = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Dropout(0.1))
    model = nn.Sequential(OrderedDict([("flat", nn.Flatten()), ("body", inner), ("out", nn.Linear(5, 2)),
                                       ("act", nn.Sigmoid())]))
    network = split_blocks(model, "Test")
    assert [type(m).__name__ for m in network.head] == ["Flatten"]
    assert [b.name for b in network.blocks] == ["body.0", "out"]
    assert [type(m).__name__ for m in network.blocks[0].tail] == ["ReLU", "Dropout"]
    assert [type(m).__name__ for m in network.blocks[1].tail] == ["Sigmoid"]
    assert network.blocks[0].weight is inner[0].weight and network.output.width == 2


@pytest.mark.parametrize("name", NON_BACKPROP)
def test_a_non_affine_layer_with_parameters_is_refused_by_name(name):
    model = nn.Sequential(nn.Linear(4, 3, dtype=np.float64), Scale(), nn.Tanh(),
                          nn.Linear(3, 3, dtype=np.float64))
    rule = rules.by_name(name)
    with pytest.raises(ValueError, match=r"layer '1' \(Scale\) has parameters but is not affine.*Backprop"):
        rule.bind(model)


@pytest.mark.parametrize("name", NON_BACKPROP)
def test_a_model_that_is_not_a_chain_is_refused(name):
    with pytest.raises(ValueError, match=r"the model \(Twice\) is not a chain of layers"):
        rules.by_name(name).bind(Twice())


def test_backprop_trains_any_model():
    x, y = batch()
    model = nn.Sequential(nn.Linear(4, 3, dtype=np.float64), Scale(), nn.Tanh())
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    optimizer.train_step(model, nn.CrossEntropyLoss(), x, y, gradients=rules.Backprop())
    assert model[1].gain.grad_array is not None


def test_a_rule_is_a_gradients_function_of_the_step_protocol():
    """Without fit: optimizer.train_step(..., gradients=rule) binds the rule and applies its update."""
    model, (x, y) = tiny_net(), batch()
    before = model[0].weight.array.copy()
    rule = rules.DirectFeedbackAlignment()
    optim.SGD(model.parameters(), lr=0.1).train_step(model, nn.CrossEntropyLoss(), x, y, gradients=rule)
    assert rule.model is model and not np.array_equal(before, model[0].weight.array)


def test_by_name_and_settings_are_checked():
    assert type(rules.by_name("feedback_alignment")) is rules.FeedbackAlignment
    with pytest.raises(ValueError, match="unknown learning rule 'nope'; choose one of: backprop, feedback"):
        rules.by_name("nope")
    with pytest.raises(ValueError, match="DifferenceTargetPropagation: noise must be a finite number >= 0"):
        rules.DifferenceTargetPropagation(noise=-1)
    with pytest.raises(ValueError, match="alignment_every must be a whole number"):
        rules.FeedbackAlignment(alignment_every=-2)
    with pytest.raises(ValueError, match="code_steps must be a whole number >= 1"):
        rules.AlternatingMinimization(code_steps=0)


def test_state_goes_only_into_the_rule_that_wrote_it():
    model = tiny_net()
    fa, dfa = rules.FeedbackAlignment(), rules.DirectFeedbackAlignment()
    fa.bind(model)
    dfa.bind(model)
    with pytest.raises(ValueError, match="saved by FeedbackAlignment; load it into a FeedbackAlignment"):
        dfa.load_state_dict(fa.state_dict())
    other = rules.FeedbackAlignment()
    other.bind(tiny_net(hidden=(5,)))
    with pytest.raises(ValueError, match="saved for another architecture"):
        other.load_state_dict(fa.state_dict())
    with pytest.raises(RuntimeError, match="bind the rule to its model first"):
        rules.FeedbackAlignment().load_state_dict(fa.state_dict())


def test_rules_work_on_float32_networks():
    dp.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 3))
    x, y = batch()
    x = dp.Tensor(x.array.astype(np.float32))
    for name in NON_BACKPROP:
        optimizer = optim.Adam(model.parameters(), lr=1e-3)
        optimizer.train_step(model, nn.CrossEntropyLoss(), x, y, gradients=rules.by_name(name))
        assert all(p.array.dtype == np.float32 for p in model.parameters()), name


@pytest.mark.parametrize("name", NON_BACKPROP)
def test_rules_compute_on_the_array_module_of_the_model(name):
    """On the CPU stand-in for a GPU array library: the numbers of NumPy, and nothing falls back to the host.

    Random draws on a device come from that device's generator (see deltaprop.random), so the device
    rule is given the host rule's state (feedback matrices) and target propagation runs without noise.
    """
    from deltaprop import backend
    from deltaprop.testing import standin

    x, y = batch()
    settings = {"noise": 0.0} if name == "difference-target-propagation" else {}
    runs, start = [], None
    for device in ("cpu", "standin"):
        model = tiny_net(seed=2).to(device)
        rule = rules.by_name(name, **settings)
        rule.bind(model)
        if start is None:  # the host rule's state before its step (inverses, gradient models, ...)
            start = copy.deepcopy(rule.state_dict())
        else:
            rule.load_state_dict(start)
        xb = dp.Tensor(x.array).to(device)
        optim.SGD(model.parameters(), lr=0.1).train_step(model, nn.CrossEntropyLoss(), xb, y.to(device),
                                                         gradients=rule)
        runs.append((model, rule))
    (host, _), (device, _) = runs
    for a, b in zip(host.parameters(), device.parameters(), strict=True):
        assert isinstance(b.array, standin.ndarray) and isinstance(b.grad_array, standin.ndarray)
        np.testing.assert_allclose(backend.to_numpy(b.array), a.array, rtol=1e-10, atol=1e-13)
    sgd = optim.SGD(device.parameters(), lr=0.1)
    history = dp.fit(device, x.array, y.array, loss="cross_entropy", optimizer=sgd, epochs=1, batch_size=3,
                     progress=False, rule=rules.by_name(name, alignment_every=1))
    assert "angle/0" in history and all(isinstance(p.array, standin.ndarray) for p in device.parameters())
