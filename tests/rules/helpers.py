"""A tiny float64 network and batch, and the textbook pieces the hand computations of the rules share."""

from __future__ import annotations

import numpy as np

import deltaprop as dp
from deltaprop import nn

N_IN, HIDDEN, N_OUT, BATCH = 4, (5, 3), 3, 6


def tiny_net(hidden=HIDDEN, activation="tanh", seed=0):
    """Linear -> tanh -> ... -> Linear in float64, seeded."""
    dp.manual_seed(seed)
    layers, width = [], N_IN
    for size in hidden:
        layers += [nn.Linear(width, size, dtype=np.float64), nn.activation(activation)]
        width = size
    layers.append(nn.Linear(width, N_OUT, dtype=np.float64))
    return nn.Sequential(*layers)


def batch(seed=1):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(BATCH, N_IN))
    y = np.array([0, 1, 2, 1, 0, 2])
    return dp.Tensor(x), dp.Tensor(y)


def weights(net):
    """[(W, b), ...] of the affine layers, as NumPy copies."""
    return [(m.weight.array.copy(), m.bias.array.copy()) for m in net if m.affine_parameters() is not None]


def grads(net):
    affine = [m for m in net if m.affine_parameters() is not None]
    return [(m.weight.grad_array.copy(), m.bias.grad_array.copy()) for m in affine]


def one_hot(y, k=N_OUT):
    return np.eye(k)[y]


def softmax(a):
    e = np.exp(a - a.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def forward(params, x):
    """Pre-activations a_l and outputs h_l (tanh on hidden layers, identity on the last)."""
    hs, pre = [x], []
    for index, (w, b) in enumerate(params):
        a = hs[-1] @ w.T + b
        pre.append(a)
        hs.append(np.tanh(a) if index < len(params) - 1 else a)
    return pre, hs


def output_error(logits, y):
    """dL/da of the output for the batch-mean cross-entropy: (softmax - one-hot) / m."""
    return (softmax(logits) - one_hot(y)) / len(y)


def layer_grads(delta, h_in):
    return delta.T @ h_in, delta.sum(axis=0)


def assert_grads(net, expected, rtol=1e-10, atol=1e-13):
    for (gw, gb), (ew, eb) in zip(grads(net), expected, strict=True):
        np.testing.assert_allclose(gw, ew, rtol=rtol, atol=atol)
        np.testing.assert_allclose(gb, eb, rtol=rtol, atol=atol)
