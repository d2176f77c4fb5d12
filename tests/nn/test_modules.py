"""Module registration, state_dict round trips, repr, train/eval, and the initialisers' statistics."""

from __future__ import annotations

import math

import numpy as np
import pytest

import deltaprop as dp
import deltaprop.nn as nn
from deltaprop import ShapeError


class TwoLayer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(3, 4)
        self.act = nn.Tanh()
        self.fc2 = nn.Linear(4, 2)
        self.scale = nn.Parameter(np.ones(1, dtype=np.float32))
        self.not_a_param = np.zeros(3)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x))) * self.scale


def test_parameters_and_modules_register_themselves() -> None:
    model = TwoLayer()
    names = [n for n, _ in model.named_parameters()]
    assert names == ["scale", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    assert model.num_parameters() == 1 + 3 * 4 + 4 + 4 * 2 + 2
    assert [n for n, _ in model.named_modules()] == ["", "fc1", "act", "fc2"]
    assert all(p.requires_grad and p.is_leaf for p in model.parameters())
    assert model.fc1.weight.shape == (4, 3) and model.fc1.weight.dtype == np.float32
    del model.fc2
    assert "fc2.weight" not in dict(model.named_parameters())


def test_shared_parameter_is_listed_once() -> None:
    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    model[1].weight = model[0].weight
    assert len(list(model.parameters())) == 3


def test_module_without_super_init_gets_a_clear_error() -> None:
    class Broken(nn.Module):
        def __init__(self) -> None:
            self.fc = nn.Linear(1, 1)

    with pytest.raises(AttributeError, match="super\\(\\).__init__"):
        Broken()


def test_state_dict_round_trip_restores_outputs() -> None:
    dp.manual_seed(0)
    a, b = TwoLayer(), TwoLayer()
    x = dp.randn(5, 3)
    assert not np.allclose(a(x).array, b(x).array)
    state = a.state_dict()
    assert set(state) == {n for n, _ in a.named_parameters()}
    state["fc1.weight"][0, 0] += 100  # state_dict holds copies
    assert a.fc1.weight.array[0, 0] != state["fc1.weight"][0, 0]
    b.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(a(x).array, b(x).array)


def test_load_state_dict_strict_errors_name_missing_and_unexpected_keys() -> None:
    model = TwoLayer()
    state = model.state_dict()
    del state["fc2.bias"]
    state["extra.weight"] = np.zeros(2)
    with pytest.raises(KeyError, match=r"missing keys \['fc2.bias'\].*unexpected keys \['extra.weight'\]"):
        model.load_state_dict(state)
    model.load_state_dict(state, strict=False)  # loads the overlap
    bad = model.state_dict()
    bad["fc1.weight"] = np.zeros((3, 4))
    with pytest.raises(ShapeError, match=r"fc1.weight.*\(3, 4\).*\(4, 3\)"):
        model.load_state_dict(bad)


def test_repr_lists_children_with_their_settings() -> None:
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1, bias=False))
    text = repr(model)
    assert text.startswith("Sequential(")
    assert "(0): Linear(in_features=3, out_features=4, bias=True)" in text
    assert "(2): Linear(in_features=4, out_features=1, bias=False)" in text
    assert "ReLU" in text


def test_train_and_eval_switch_every_submodule_and_dropout_obeys() -> None:
    dp.manual_seed(1)
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
    assert all(m.training for m in model.modules())
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    x = dp.ones(50, 4)
    np.testing.assert_array_equal(model(x).array, model(x).array)  # no dropout in eval
    model.train()
    out = nn.Dropout(0.5)(dp.ones(1000))
    dropped = np.mean(out.array == 0)
    assert 0.4 < dropped < 0.6
    np.testing.assert_allclose(out.array[out.array != 0], 2.0)  # inverted dropout keeps the mean


def test_zero_grad_clears_every_parameter() -> None:
    model = TwoLayer()
    model(dp.randn(2, 3)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_linear_rejects_the_wrong_number_of_features() -> None:
    with pytest.raises(ShapeError, match="linear: input has 5 features"):
        nn.Linear(3, 2)(dp.zeros(4, 5))
    with pytest.raises(ValueError, match="sizes must be positive"):
        nn.Linear(0, 2)


def test_linear_matches_torch_with_the_same_weights() -> None:
    torch = pytest.importorskip("torch")
    layer = nn.Linear(3, 2)
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    t_layer = torch.nn.Linear(3, 2)
    with torch.no_grad():
        t_layer.weight.copy_(torch.tensor(layer.weight.array))
        t_layer.bias.copy_(torch.tensor(layer.bias.array))
    xt, xd = torch.tensor(x, requires_grad=True), dp.tensor(x, requires_grad=True)
    t_layer(xt).pow(2).sum().backward()
    (layer(xd) ** 2).sum().backward()
    np.testing.assert_allclose(layer.weight.grad, t_layer.weight.grad.numpy(), rtol=1e-5)
    np.testing.assert_allclose(layer.bias.grad, t_layer.bias.grad.numpy(), rtol=1e-5)
    np.testing.assert_allclose(xd.grad, xt.grad.numpy(), rtol=1e-5)


# ----------------------------------------------------------------- init
def _param(shape) -> nn.Parameter:
    return nn.Parameter(np.empty(shape, dtype=np.float64))


def test_init_functions_have_the_right_statistics() -> None:
    dp.manual_seed(0)
    fan_in, fan_out = 400, 300
    w = _param((fan_out, fan_in))  # (out, in) like Linear
    nn.init.xavier_uniform_(w)
    bound = math.sqrt(6 / (fan_in + fan_out))
    assert np.abs(w.array).max() <= bound
    assert w.array.std() == pytest.approx(bound / math.sqrt(3), rel=0.02)
    nn.init.xavier_normal_(w)
    assert w.array.std() == pytest.approx(math.sqrt(2 / (fan_in + fan_out)), rel=0.02)
    nn.init.kaiming_normal_(w)
    assert w.array.std() == pytest.approx(math.sqrt(2 / fan_in), rel=0.02)
    nn.init.kaiming_uniform_(w)
    assert np.abs(w.array).max() <= math.sqrt(6 / fan_in)
    assert w.array.std() == pytest.approx(math.sqrt(2 / fan_in), rel=0.02)
    nn.init.normal_(w, 1.0, 0.5)
    assert w.array.mean() == pytest.approx(1.0, abs=0.01) and w.array.std() == pytest.approx(0.5, rel=0.02)
    nn.init.uniform_(w, -2, 3)
    assert w.array.min() >= -2 and w.array.max() < 3 and w.array.mean() == pytest.approx(0.5, abs=0.02)
    nn.init.constant_(w, 0.25)
    assert np.all(w.array == 0.25)
    nn.init.zeros_(w)
    assert not w.array.any()
    assert nn.init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert nn.init.calculate_gain("relu") == pytest.approx(math.sqrt(2))


def test_init_is_repeatable_with_a_seed_and_keeps_dtype() -> None:
    dp.manual_seed(42)
    first = nn.Linear(5, 3).weight.array.copy()
    dp.manual_seed(42)
    again = nn.Linear(5, 3)
    np.testing.assert_array_equal(again.weight.array, first)
    assert again.weight.dtype == np.float32
    assert np.abs(first).max() <= 1 / math.sqrt(5)


def test_float32_layer_fed_float64_data_stays_float32():
    """No silent upcast: data (arrays, or tensors without requires_grad) takes the layer's dtype."""
    layer = nn.Linear(3, 2)
    x64 = np.random.default_rng(0).normal(size=(4, 3))
    for x in (x64, dp.tensor(x64)):
        out = layer(x)
        assert out.dtype == np.float32
        out.sum().backward()
        assert layer.weight.grad.dtype == np.float32
        np.testing.assert_allclose(layer.weight.grad, np.ones((2, 4)) @ x64, rtol=1e-5)
        layer.zero_grad()


@pytest.mark.parametrize("make", [
    lambda dtype: nn.Linear(2, 3, dtype=dtype), lambda dtype: nn.Conv2d(1, 2, 3, dtype=dtype),
    lambda dtype: nn.LSTM(2, 3, dtype=dtype), lambda dtype: nn.BatchNorm1d(2, dtype=dtype),
    lambda dtype: nn.Embedding(3, 2, dtype=dtype), lambda dtype: nn.LSTMCell(2, 3, dtype=dtype),
], ids=["Linear", "Conv2d", "LSTM", "BatchNorm1d", "Embedding", "LSTMCell"])
def test_layers_refuse_half_precision_weights_instead_of_building_float32_ones(make):
    with pytest.raises(ValueError, match="dtype must be float32 or float64, got float16"):
        make(np.float16)
    assert next(make(np.float64).parameters()).dtype == np.float64
