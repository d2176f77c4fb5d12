"""trace() against an independent autodiff (HIPS autograd) on random nets of every activation."""

import json

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad
from autograd.scipy.special import erf

import deltaprop as dp
from deltaprop import nn
from deltaprop.errors import GradcheckError
from deltaprop.inspect import trace


def _a_sigmoid(z):
    return 1 / (1 + anp.exp(-z))


AUTOGRAD_ACTIVATIONS = {
    "sigmoid": _a_sigmoid,
    "tanh": anp.tanh,
    "relu": lambda z: anp.maximum(z, 0),
    "leaky_relu": lambda z: anp.where(z > 0, z, 0.01 * z),
    "elu": lambda z: anp.where(z > 0, z, anp.exp(anp.minimum(z, 0)) - 1),
    "softplus": lambda z: anp.logaddexp(0, z),
    "silu": lambda z: z * _a_sigmoid(z),
    "mish": lambda z: z * anp.tanh(anp.logaddexp(0, z)),
    "gelu": lambda z: 0.5 * z * (1 + erf(z / np.sqrt(2))),
    "softmax": lambda z: (
        anp.exp(z - anp.max(z, 1, keepdims=True))
        / anp.sum(anp.exp(z - anp.max(z, 1, keepdims=True)), 1, keepdims=True)
    ),
    "log_softmax": lambda z: z - anp.log(anp.sum(anp.exp(z), 1, keepdims=True)),
}
MODULES = {"softmax": nn.Softmax, "log_softmax": nn.LogSoftmax}


def _module(name):
    return MODULES[name]() if name in MODULES else nn.activation(name)


def _net(sizes, act, seed):
    dp.manual_seed(seed)
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=False):
        layers += [nn.Linear(n_in, n_out, dtype=np.float64), _module(act)]
    return nn.Sequential(*layers)


def _autograd_grads(model, x, y, act):
    f = AUTOGRAD_ACTIVATIONS[act]
    params = [p.array.copy() for p in model.parameters()]

    def loss(ps):
        a = x
        for k in range(0, len(ps), 2):
            a = f(anp.dot(a, ps[k].T) + ps[k + 1])
        return anp.mean(0.5 * anp.sum((a - y) ** 2, axis=1))

    return grad(loss)(params)


@pytest.mark.parametrize("act", sorted(AUTOGRAD_ACTIVATIONS))
@pytest.mark.parametrize("batch", [None, 5])
def test_trace_equals_autograd(act, batch):
    rng = np.random.default_rng(1)
    model = _net([3, 4, 2], act, seed=7)
    x = rng.normal(size=(batch or 1, 3))
    y = rng.normal(size=(batch or 1, 2))
    tr = trace(model, x[0] if batch is None else x, y[0] if batch is None else y, "squared_error")
    expected = _autograd_grads(model, x, y, act)
    mine = [tr[1].grad_weight, tr[1].grad_bias, tr[2].grad_weight, tr[2].grad_bias]
    for got, want in zip(mine, expected, strict=False):
        np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-10)
    assert tr.single == (batch is None)
    assert tr[1].z.shape == ((4,) if batch is None else (batch, 4))
    assert tr.max_mismatch < 1e-10


def test_single_neuron_numbers_and_recursion():
    model = nn.Sequential(nn.Linear(2, 1, dtype=np.float64), nn.Sigmoid())
    model[0].weight.array[...] = [[0.5, 0.2]]
    model[0].bias.array[...] = 1.83
    tr = trace(model, [0.1, 0.3], 0.03)
    assert tr[1].z[0] == pytest.approx(1.94)
    assert tr.prediction[0] == pytest.approx(0.874352143, abs=1e-9)
    assert tr.loss == pytest.approx(0.356465271, abs=1e-9)
    np.testing.assert_allclose(tr[1].grad_weight, [[0.009276093, 0.027828278]], atol=1e-9)
    # delta^l = f'(z) * dC/da, and dW = delta a^T
    assert tr[1].delta[0] == pytest.approx(tr[1].fprime[0] * tr.output_grad[0])
    np.testing.assert_allclose(tr[1].grad_weight, np.outer(tr[1].delta, tr[1].a_prev))


def test_hidden_delta_follows_matrix_recursion():
    model = _net([2, 3, 2], "tanh", seed=3)
    tr = trace(model, np.array([0.5, -1.0]), np.array([0.2, 0.1]))
    expected = tr[1].fprime * (tr[2].weight.T @ tr[2].delta)
    np.testing.assert_allclose(tr[1].delta, expected)


def test_cross_entropy_and_float32_model():
    dp.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3))  # float32 parameters
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(6, 4)), rng.integers(0, 3, 6)
    tr = trace(model, x, y, nn.CrossEntropyLoss())
    twin = nn.Sequential(nn.Linear(4, 5, dtype=np.float64), nn.ReLU(), nn.Linear(5, 3, dtype=np.float64))
    twin.load_state_dict({k: v.astype(np.float64) for k, v in model.state_dict().items()})
    loss = nn.CrossEntropyLoss()(twin(dp.Tensor(x)), dp.Tensor(y))
    loss.backward()
    np.testing.assert_allclose(tr[1].grad_weight, twin[0].weight.grad, rtol=1e-9, atol=1e-12)
    assert tr.loss == pytest.approx(float(loss.array))
    assert model[0].weight.grad is None  # the model itself is untouched


def test_torch_agrees():
    torch = pytest.importorskip("torch")
    model = _net([3, 4, 2], "sigmoid", seed=5)
    x = np.random.default_rng(2).normal(size=(4, 3))
    y = np.random.default_rng(3).normal(size=(4, 2))
    tr = trace(model, x, y, "mse")
    ws = [torch.tensor(p.array, requires_grad=True) for p in model.parameters()]
    a = torch.tensor(x)
    for k in range(0, 4, 2):
        a = torch.sigmoid(a @ ws[k].T + ws[k + 1])
    torch.nn.functional.mse_loss(a, torch.tensor(y)).backward()
    np.testing.assert_allclose(tr[2].grad_weight, ws[2].grad.numpy(), rtol=1e-9)
    np.testing.assert_allclose(tr[1].grad_bias, ws[1].grad.numpy(), rtol=1e-9)


def test_str_dict_json(tmp_path):
    model = _net([2, 2, 1], "sigmoid", seed=1)
    tr = trace(model, [0.1, 0.2], 0.5)
    text = str(tr)
    assert "delta^2" in text and "dC/dW^1" in text and "layer 2: Linear(2 -> 1) + Sigmoid" in text
    d = tr.to_dict()
    assert isinstance(d["layers"][0]["delta"], np.ndarray) and d["loss"] == tr.loss
    path = tmp_path / "t.json"
    loaded = json.loads(tr.to_json(str(path)))
    assert json.loads(path.read_text()) == loaded
    np.testing.assert_allclose(loaded["layers"][1]["dW"], tr[2].grad_weight)


def test_mismatch_is_an_error(monkeypatch):
    import importlib

    trace_module = importlib.import_module("deltaprop.inspect.trace")

    monkeypatch.setitem(trace_module._DERIVATIVES, "Sigmoid", lambda m, z, a: a)  # wrong on purpose
    with pytest.raises(GradcheckError, match="differs from the engine"):
        trace(_net([2, 2, 1], "sigmoid", seed=1), [0.1, 0.2], 0.5)


def test_bad_inputs_raise_clearly():
    model = _net([3, 2], "tanh", seed=0)
    with pytest.raises(dp.ShapeError, match="expects 3 inputs"):
        trace(model, [1.0, 2.0], 0.0)
    with pytest.raises(TypeError, match="Sequential"):
        trace(nn.Tanh(), [1.0], 0.0)
    with pytest.raises(ValueError, match="comes before any Linear"):
        trace(nn.Sequential(nn.Tanh(), nn.Linear(1, 1)), [1.0], 0.0)
