"""Backpropagation as the textbooks write it, reproduced by the engine.

The matrix form (Nielsen, ch. 2): with z^l = W^l a^{l-1} + b^l and a^l = f(z^l),
  delta^L = dC/da^L * f'(z^L),
  delta^l = f'(z^l) * (W^{l+1})^T delta^{l+1},
  dC/dW^l = delta^l (a^{l-1})^T,   dC/db^l = delta^l.
Here it is written out by hand in NumPy for a 3-layer sigmoid network and
compared with what `backward()` puts in ``.grad``.
"""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


def test_matrix_form_recursion_equals_the_engine_for_a_3_layer_sigmoid_net() -> None:
    rng = np.random.default_rng(0)
    sizes = [4, 5, 3, 2]  # input, two hidden layers, output: three weight layers
    Ws = [rng.standard_normal((n_out, n_in)) for n_in, n_out in zip(sizes, sizes[1:], strict=False)]
    bs = [rng.standard_normal((n_out, 1)) for n_out in sizes[1:]]
    x = rng.standard_normal((4, 1))  # one example as a column vector, as in the textbook
    y = np.array([[0.0], [1.0]])

    # ---- by hand: forward keeping z^l and a^l, then the delta recursion
    activations, zs = [x], []
    for W, b in zip(Ws, bs, strict=True):
        zs.append(W @ activations[-1] + b)
        activations.append(_sigmoid(zs[-1]))
    cost = 0.5 * np.sum((activations[-1] - y) ** 2)

    def sigmoid_prime(z):
        return _sigmoid(z) * (1 - _sigmoid(z))

    delta = (activations[-1] - y) * sigmoid_prime(zs[-1])
    grads_W, grads_b = [None] * 3, [None] * 3
    grads_W[-1], grads_b[-1] = delta @ activations[-2].T, delta
    for layer in (2, 1):  # 1-based layer l = 2, 1 -> index l - 1
        delta = sigmoid_prime(zs[layer - 1]) * (Ws[layer].T @ delta)
        grads_W[layer - 1] = delta @ activations[layer - 1].T
        grads_b[layer - 1] = delta

    # ---- the engine
    W_t = [dp.tensor(W, requires_grad=True) for W in Ws]
    b_t = [dp.tensor(b, requires_grad=True) for b in bs]
    a = dp.tensor(x)
    for W, b in zip(W_t, b_t, strict=True):
        a = dp.sigmoid(W @ a + b)
    loss = 0.5 * ((a - y) ** 2).sum()
    loss.backward()

    assert loss.item() == pytest.approx(cost, rel=1e-12)
    for layer in range(3):
        np.testing.assert_allclose(W_t[layer].grad, grads_W[layer], rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(b_t[layer].grad, grads_b[layer], rtol=1e-10, atol=1e-14)


def test_matrix_form_for_a_batch_with_the_fused_linear_op() -> None:
    """The same recursion for a batch (rows are examples): dC/dW^l = delta^T a^{l-1}."""
    rng = np.random.default_rng(1)
    sizes = [3, 4, 4, 2]
    Ws = [rng.standard_normal((n_out, n_in)) for n_in, n_out in zip(sizes, sizes[1:], strict=False)]
    bs = [rng.standard_normal(n_out) for n_out in sizes[1:]]
    X = rng.standard_normal((6, 3))
    Y = rng.uniform(size=(6, 2))

    acts, zs = [X], []
    for W, b in zip(Ws, bs, strict=True):
        zs.append(acts[-1] @ W.T + b)
        acts.append(_sigmoid(zs[-1]))
    delta = (acts[-1] - Y) * acts[-1] * (1 - acts[-1])  # C = 1/2 sum over batch and outputs
    expected = []
    for layer in (2, 1, 0):
        expected.append((delta.T @ acts[layer], delta.sum(axis=0)))
        if layer:
            delta = (delta @ Ws[layer]) * acts[layer] * (1 - acts[layer])
    expected.reverse()

    W_t = [dp.tensor(W, requires_grad=True) for W in Ws]
    b_t = [dp.tensor(b, requires_grad=True) for b in bs]
    a = dp.tensor(X)
    for W, b in zip(W_t, b_t, strict=True):
        a = dp.sigmoid(dp.ops.linear(a, W, b))
    (0.5 * ((a - Y) ** 2).sum()).backward()
    for layer in range(3):
        np.testing.assert_allclose(W_t[layer].grad, expected[layer][0], rtol=1e-10)
        np.testing.assert_allclose(b_t[layer].grad, expected[layer][1], rtol=1e-10)


def test_single_neuron_worked_example() -> None:
    """x = (0.1, 0.3), w = (0.5, 0.2), b = 1.83, sigmoid, target 0.03, E = 1/2 (t - o)^2."""
    x = dp.tensor(np.array([0.1, 0.3]))
    w = dp.tensor(np.array([0.5, 0.2]), requires_grad=True)
    b = dp.tensor(np.array(1.83), requires_grad=True)
    output = dp.sigmoid((w * x).sum() + b)
    loss = 0.5 * (0.03 - output) ** 2
    loss.backward()
    assert output.item() == pytest.approx(0.874352143, abs=1e-9)
    assert loss.item() == pytest.approx(0.356465271, abs=1e-9)
    assert w.grad[0] == pytest.approx(0.009276093, abs=1e-9)
    assert w.grad[1] == pytest.approx(0.027828278, abs=1e-9)
    assert b.grad.item() == pytest.approx(0.0927609, abs=1e-7)
    # the chain of local derivatives, by hand: dE/do * do/dz * dz/dw
    o = output.item()
    assert b.grad.item() == pytest.approx((o - 0.03) * o * (1 - o), rel=1e-12)
