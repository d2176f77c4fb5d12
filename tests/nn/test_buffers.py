"""Buffers: registered state that is not trained, kept through reassignment, saved and checkpointed."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn, optim
from deltaprop.serialize import register_module


@register_module
class RunningMean(nn.Module):
    """Passes x through and keeps a running mean of it, reassigning the buffer in forward."""

    def __init__(self, features: int, momentum: float = 0.5) -> None:
        super().__init__()
        self.features, self.momentum = features, momentum
        self.register_buffer("running_mean", np.zeros(features))
        self.register_buffer("steps", np.array(0))
        self.register_buffer("scratch", np.zeros(features), persistent=False)

    def forward(self, x):
        if self.training:
            batch_mean = x.array.mean(axis=0)
            self.running_mean = (1 - self.momentum) * self.running_mean.array + self.momentum * batch_mean
            self.steps = self.steps.array + 1
        return x


def test_a_buffer_reassigned_in_forward_stays_registered():
    layer = RunningMean(2)
    layer(dp.Tensor([[1.0, 2.0], [3.0, 4.0]]))
    layer(dp.Tensor([[1.0, 2.0], [3.0, 4.0]]))
    state = layer.state_dict()
    np.testing.assert_allclose(state["running_mean"], [1.5, 2.25])
    assert state["steps"] == 2
    assert "scratch" not in state  # persistent=False
    assert [name for name, _ in layer.named_buffers()] == ["running_mean", "steps", "scratch"]
    assert isinstance(layer.running_mean, dp.Tensor) and not layer.running_mean.requires_grad


def test_buffers_are_saved_loaded_and_checkpointed(tmp_path):
    model = nn.Sequential(nn.Linear(2, 3), RunningMean(3), nn.Linear(3, 1))
    X = np.random.default_rng(0).standard_normal((16, 2))
    y = X[:, :1] * 2.0
    dp.fit(model, X, y, loss="mse", optimizer=optim.SGD(model.parameters(), lr=0.05), epochs=3,
           batch_size=4, checkpoint=tmp_path / "ckpt.npz", progress=False, seed=0)
    steps = int(model[1].steps.item())
    assert steps == 12  # 3 epochs x 4 batches
    dp.save(model, tmp_path / "model.npz")
    loaded = dp.load(tmp_path / "model.npz")
    np.testing.assert_array_equal(loaded[1].running_mean.array, model[1].running_mean.array)
    assert int(loaded[1].steps.item()) == steps

    fresh = nn.Sequential(nn.Linear(2, 3), RunningMean(3), nn.Linear(3, 1))
    history = dp.fit(fresh, X, y, loss="mse", optimizer=optim.SGD(fresh.parameters(), lr=0.05), epochs=4,
                     batch_size=4, resume_from=tmp_path / "ckpt.npz", progress=False, seed=0)
    assert history.epochs_run == 4
    assert int(fresh[1].steps.item()) == steps + 4  # resumed from the checkpointed count


def test_assignments_keep_their_kind_as_in_pytorch():
    layer = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="cannot assign a Tensor to parameter 'weight'"):
        layer.weight = dp.ones(2, 2)
    layer.bias = None
    assert "bias" in layer._parameters and layer.bias is None
    holder = nn.Sequential(nn.Linear(1, 1))
    with pytest.raises(TypeError, match="sub-module '0'"):
        holder.__setattr__("0", 3)
    with pytest.raises(TypeError, match="buffer 'running_mean'"):
        RunningMean(2).running_mean = "text"
    with pytest.raises(KeyError, match="without '.'"):
        nn.Module().register_buffer("a.b", np.zeros(1))


def test_buffers_follow_dtype_changes_and_load_state_dict():
    layer = RunningMean(2)
    layer.double()
    assert layer.running_mean.dtype == np.float64 and layer.steps.dtype.kind == "i"
    other = RunningMean(2)
    other.load_state_dict({"running_mean": np.array([5.0, 6.0]), "steps": np.array(7)})
    np.testing.assert_array_equal(other.running_mean.array, [5.0, 6.0])
    with pytest.raises(KeyError, match="missing keys \\['steps'\\]"):
        other.load_state_dict({"running_mean": np.array([5.0, 6.0])})
