"""The residual Jacobian d output / d params against central finite differences (float64)."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn
from deltaprop.optim import jacobian, residual_jacobian
from deltaprop.optim.jacobian import (
    _jacobian_by_output_unit,
    _jacobian_by_row,
    assign_params,
    flatten_params,
    model_output,
)


def finite_difference_jacobian(model, X, eps=1e-6):
    params = list(model.parameters())
    w = flatten_params(params)
    columns = []
    for i in range(w.size):
        step = np.zeros_like(w)
        step[i] = eps
        assign_params(params, w + step)
        up = model_output(model, X).ravel()
        assign_params(params, w - step)
        down = model_output(model, X).ravel()
        columns.append((up - down) / (2 * eps))
    assign_params(params, w)
    return np.stack(columns, axis=1)


def small_net(activation: str, seed: int = 0) -> nn.Module:
    dp.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(3, 4),
        nn.activation(activation),
        nn.Linear(4, 3),
        nn.activation(activation),
        nn.Linear(3, 2),
    ).double()


@pytest.mark.parametrize("name", sorted(nn.ACTIVATIONS))
def test_dense_sequential_jacobian_matches_finite_differences(name):
    model = small_net(name, seed=1)
    X = np.random.default_rng(2).normal(size=(6, 3))
    output, J = residual_jacobian(model, X)
    assert output.shape == (6, 2)
    assert J.shape == (12, sum(p.array.size for p in model.parameters()))
    np.testing.assert_allclose(J, finite_difference_jacobian(model, X), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(output, model_output(model, X), rtol=1e-12)


@pytest.mark.parametrize("name", ["tanh", "sigmoid", "gelu"])
def test_other_routes_agree_with_the_matrix_form(name):
    model = small_net(name, seed=3)
    X = np.random.default_rng(4).normal(size=(5, 3))
    params = list(model.parameters())
    _, J = residual_jacobian(model, X)
    np.testing.assert_allclose(_jacobian_by_output_unit(model, X, params)[1], J, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(_jacobian_by_row(model, X, params)[1], J, rtol=1e-10, atol=1e-12)


class SkipNet(nn.Module):
    """Not a Sequential: a skip connection, so the per-output-unit route is used."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(2, 3)
        self.b = nn.Linear(3, 2)

    def forward(self, x):
        return self.b(dp.ops.tanh(self.a(x))) + x


class ScaledNet(nn.Module):
    """A parameter outside any Linear, so the one-backward-per-row route is used."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(2, 2)
        self.scale = nn.Parameter(np.array([1.5, -0.5]))

    def forward(self, x):
        return dp.ops.sigmoid(self.a(x)) * self.scale


@pytest.mark.parametrize("cls", [SkipNet, ScaledNet])
def test_general_models_match_finite_differences(cls):
    dp.manual_seed(5)
    model = cls().double()
    X = np.random.default_rng(6).normal(size=(4, 2))
    J = jacobian(model, X)
    np.testing.assert_allclose(J, finite_difference_jacobian(model, X), rtol=1e-6, atol=1e-8)


def test_jacobian_leaves_parameter_gradients_alone():
    model = SkipNet().double()
    for p in model.parameters():
        p.grad = np.full(p.shape, 7.0)
    jacobian(model, np.ones((3, 2)))
    assert all(np.all(p.grad == 7.0) for p in model.parameters())


def test_jacobian_matches_autograd():
    autograd = pytest.importorskip("autograd")
    anp = autograd.numpy
    model = small_net("tanh", seed=7)
    X = np.random.default_rng(8).normal(size=(4, 3))
    params = list(model.parameters())
    shapes = [p.shape for p in params]

    def forward(w):
        out, offset, a = None, 0, X
        values = []
        for shape in shapes:
            size = int(np.prod(shape))
            values.append(anp.reshape(w[offset : offset + size], shape))
            offset += size
        W1, b1, W2, b2, W3, b3 = values
        a = anp.tanh(anp.dot(X, W1.T) + b1)
        a = anp.tanh(anp.dot(a, W2.T) + b2)
        out = anp.dot(a, W3.T) + b3
        return anp.reshape(out, (-1,))

    expected = autograd.jacobian(forward)(flatten_params(params))
    np.testing.assert_allclose(jacobian(model, X), expected, rtol=1e-10, atol=1e-12)


def test_one_dimensional_input_is_rejected_with_the_fix():
    with pytest.raises(ValueError, match=r"reshape\(-1, 1\)"):
        jacobian(nn.Sequential(nn.Linear(1, 1)), np.ones(4))
