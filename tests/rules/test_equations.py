"""Each rule's update on a tiny float64 net equals one computed by hand from its paper's equations.

The references below are written out with NumPy from the equations in each
rule's docstring (and paper), independently of the engine: forward values,
error terms, targets, codes, and the resulting dC/dW and dC/db.
"""

from __future__ import annotations

import numpy as np
import pytest

from deltaprop import nn
from deltaprop import random as dprandom
from deltaprop.random import get_rng_state, set_rng_state
from deltaprop.rules import (
    AlternatingMinimization,
    Backprop,
    DifferenceTargetPropagation,
    DirectFeedbackAlignment,
    FeedbackAlignment,
    HSICBottleneck,
    SyntheticGradients,
)
from tests.rules.helpers import (
    assert_grads,
    batch,
    forward,
    layer_grads,
    one_hot,
    output_error,
    softmax,
    tiny_net,
    weights,
)

LOSS = nn.CrossEntropyLoss()


def run(rule, net, x, y):
    rule.bind(net)
    return rule(net, LOSS, x, y)


def test_backprop_is_the_chain_rule():
    net, (x, y) = tiny_net(), batch()
    params = weights(net)
    run(Backprop(), net, x, y)
    pre, hs = forward(params, x.array)
    d3 = output_error(pre[2], y.array)
    d2 = (d3 @ params[2][0]) * (1 - hs[2] ** 2)
    d1 = (d2 @ params[1][0]) * (1 - hs[1] ** 2)
    assert_grads(net, [layer_grads(d1, hs[0]), layer_grads(d2, hs[1]), layer_grads(d3, hs[2])])


def test_feedback_alignment_sends_errors_through_fixed_random_matrices():
    net, (x, y) = tiny_net(), batch()
    params = weights(net)
    rule = FeedbackAlignment()
    value, _ = run(rule, net, x, y)
    B = rule.feedback
    assert B[0] is None and B[1].shape == params[1][0].shape and B[2].shape == params[2][0].shape
    pre, hs = forward(params, x.array)
    d3 = output_error(pre[2], y.array)
    d2 = (d3 @ B[2]) * (1 - hs[2] ** 2)  # backprop would use W3 here
    d1 = (d2 @ B[1]) * (1 - hs[1] ** 2)
    assert_grads(net, [layer_grads(d1, hs[0]), layer_grads(d2, hs[1]), layer_grads(d3, hs[2])])
    logits = pre[2]
    assert value == pytest.approx(-np.mean(np.log(softmax(logits))[np.arange(6), y.array]), rel=1e-12)
    # the default scale: uniform in +-1/sqrt(fan_in), like a fresh Linear layer
    assert np.abs(B[1]).max() <= 1 / np.sqrt(5) and np.abs(B[2]).max() <= 1 / np.sqrt(3)


def test_direct_feedback_alignment_projects_the_output_error_to_every_layer():
    net, (x, y) = tiny_net(), batch()
    params = weights(net)
    rule = DirectFeedbackAlignment()
    run(rule, net, x, y)
    B1, B2 = rule.feedback
    assert B1.shape == (3, 5) and B2.shape == (3, 3)
    pre, hs = forward(params, x.array)
    e = output_error(pre[2], y.array)
    d1 = (e @ B1) * (1 - hs[1] ** 2)
    d2 = (e @ B2) * (1 - hs[2] ** 2)
    assert_grads(net, [layer_grads(d1, hs[0]), layer_grads(d2, hs[1]), layer_grads(e, hs[2])])


def test_difference_target_propagation_targets_local_losses_and_inverse():
    net, (x, y) = tiny_net(), batch()
    params = weights(net)
    rule = DifferenceTargetPropagation(target_lr=0.4, noise=0.3)
    rule.bind(net)
    inverse = rule.inverses[0].linear  # g_2: layer 2's units back to layer 1's, through tanh
    V, c = inverse.weight.array.copy(), inverse.bias.array.copy()
    state = get_rng_state()
    rule(net, LOSS, x, y)
    m = len(y.array)
    pre, hs = forward(params, x.array)
    d3 = output_error(pre[2], y.array)
    g = lambda h: np.tanh(h @ V.T + c)  # noqa: E731
    t2 = hs[2] - 0.4 * (d3 @ params[2][0])  # first target: a gradient step on h_2
    t1 = hs[1] + g(t2) - g(hs[2])  # difference correction
    d2 = 2 * (hs[2] - t2) / m * (1 - hs[2] ** 2)  # d/dW of ||f(h_1) - t_2||^2 / m
    d1 = 2 * (hs[1] - t1) / m * (1 - hs[1] ** 2)
    assert_grads(net, [layer_grads(d1, hs[0]), layer_grads(d2, hs[1]), layer_grads(d3, hs[2])])
    # the inverse's gradient: || g(f(h_1 + e)) - (h_1 + e) ||^2 / m with e ~ N(0, 0.3^2)
    set_rng_state(state)
    corrupted = hs[1] + dprandom.normal(hs[1].shape, 0.0, 0.3, dtype=np.float64)
    lifted = np.tanh(corrupted @ params[1][0].T + params[1][1])
    r = g(lifted)
    dr = 2 * (r - corrupted) / m * (1 - r**2)
    np.testing.assert_allclose(inverse.weight.grad_array, dr.T @ lifted, rtol=1e-10)
    np.testing.assert_allclose(inverse.bias.grad_array, dr.sum(axis=0), rtol=1e-10)
    assert not np.array_equal(inverse.weight.array, V)  # and its optimizer stepped


def _torch_hsic(a, b, sigma, normalized, torch):
    """The paper's estimator with the centring matrix written out: tr(K_a H K_b H) / (m-1)^2."""

    def gram(z):
        d2 = ((z[:, None, :] - z[None, :, :]) ** 2).sum(-1)
        return torch.exp(-d2 / (2 * sigma**2 * z.shape[1]))

    def plain(ka, kb):
        m = ka.shape[0]
        H = torch.eye(m, dtype=ka.dtype) - 1.0 / m
        return torch.trace(ka @ H @ kb @ H) / (m - 1) ** 2

    ka, kb = gram(a), gram(b)
    if not normalized:
        return plain(ka, kb)
    return plain(ka, kb) / torch.sqrt(plain(ka, ka) * plain(kb, kb))


@pytest.mark.parametrize("normalized", [True, False])
def test_hsic_bottleneck_objective_per_layer_matches_torch_autograd(normalized):
    torch = pytest.importorskip("torch")
    net, (x, y) = tiny_net(), batch()
    params = weights(net)
    beta, sigma = 3.0, 2.0
    run(HSICBottleneck(beta=beta, sigma=sigma, normalized=normalized), net, x, y)
    X, Y = torch.tensor(x.array), torch.tensor(one_hot(y.array))
    h = X
    expected = []
    for w, b in params[:-1]:  # each hidden layer on its own objective, from the detached layer below
        W, B = torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True)
        z = torch.tanh(h.detach() @ W.T + B)
        hsic = lambda a, b: _torch_hsic(a, b, sigma, normalized, torch)  # noqa: E731
        objective = hsic(z, X) - beta * hsic(z, Y)
        objective.backward()
        expected.append((W.grad.numpy(), B.grad.numpy()))
        h = z
    pre, hs = forward(params, x.array)  # the output layer: the loss, from the last hidden layer
    expected.append(layer_grads(output_error(pre[2], y.array), hs[2]))
    assert_grads(net, expected, rtol=1e-9, atol=1e-12)


def test_synthetic_gradients_updates_and_bootstrapped_targets():
    net, (x, y) = tiny_net(), batch()
    params = weights(net)
    rule = SyntheticGradients(lr=1e-3)
    rule.bind(net)
    rng = np.random.default_rng(5)
    models = []
    for model in rule.models:  # give the (zero-initialised) gradient models something to say
        last = model.net[-1]
        last.weight.array[...] = rng.normal(size=last.weight.shape)
        last.bias.array[...] = rng.normal(size=last.bias.shape)
        models.append((last.weight.array.copy(), last.bias.array.copy()))
    rule(net, LOSS, x, y)
    m, Y = len(y.array), one_hot(y.array)
    pre, hs = forward(params, x.array)
    inputs = [np.concatenate([hs[1], Y], axis=1), np.concatenate([hs[2], Y], axis=1)]
    s1, s2 = (inputs[i] @ models[i][0].T + models[i][1] for i in range(2))  # s_i ~ m dL/dh_i
    d1 = s1 / m * (1 - hs[1] ** 2)
    d2 = s2 / m * (1 - hs[2] ** 2)
    d3 = output_error(pre[2], y.array)
    assert_grads(net, [layer_grads(d1, hs[0]), layer_grads(d2, hs[1]), layer_grads(d3, hs[2])])
    # M_1 learns s_2 carried back through layer 2; M_2 learns the loss's gradient
    targets = [m * d2 @ params[1][0], m * d3 @ params[2][0]]
    for i, model in enumerate(rule.models):
        s = (s1, s2)[i]
        ds = 2 * (s - targets[i]) / s.size  # d/ds of mean((s - target)^2)
        np.testing.assert_allclose(model.net[-1].weight.grad_array, ds.T @ inputs[i], rtol=1e-10)
        np.testing.assert_allclose(model.net[-1].bias.grad_array, ds.sum(axis=0), rtol=1e-10)


def _nesterov(code, grad_fn, lr, momentum, steps):
    """PyTorch's SGD with Nesterov momentum (dampening 0) on one array."""
    buf = None
    for _ in range(steps):
        g = grad_fn(code)
        buf = g.copy() if buf is None else momentum * buf + g
        code = code - lr * (g + momentum * buf)
    return code


def test_alternating_minimization_codes_then_local_weight_fits():
    net, (x, y) = tiny_net(), batch()
    params = weights(net)
    mu, lr, steps = 0.05, 0.2, 3
    rule = AlternatingMinimization(mu=mu, code_lr=lr, code_steps=steps, code_momentum=0.9)
    run(rule, net, x, y)
    (W1, b1), (W2, b2), (W3, b3) = params
    pre, _ = forward(params, x.array)
    m, Y, n1, n2 = len(y.array), one_hot(y.array), 5, 3

    def top(c):  # d/dc of (1/mu) CE(W3 tanh(c) + b3) + mean((c - c2_0)^2)
        e = (softmax(np.tanh(c) @ W3.T + b3) - Y) / m
        return (e @ W3) * (1 - np.tanh(c) ** 2) / mu + 2 * (c - pre[1]) / (m * n2)

    c2 = _nesterov(pre[1], top, lr, 0.9, steps)

    def lower(c):  # d/dc of mean((W2 tanh(c) + b2 - c2)^2) + mean((c - c1_0)^2)
        r = np.tanh(c) @ W2.T + b2 - c2
        return (2 * r / (m * n2)) @ W2 * (1 - np.tanh(c) ** 2) + 2 * (c - pre[0]) / (m * n1)

    c1 = _nesterov(pre[0], lower, lr, 0.9, steps)
    r1 = x.array @ W1.T + b1 - c1
    r2 = np.tanh(c1) @ W2.T + b2 - c2
    e3 = (softmax(np.tanh(c2) @ W3.T + b3) - Y) / m
    expected = [layer_grads(2 * r1 / (m * n1), x.array), layer_grads(2 * r2 / (m * n2), np.tanh(c1)),
                layer_grads(e3, np.tanh(c2))]
    assert_grads(net, expected)


def test_rules_leave_no_gradient_on_a_non_finite_loss():
    net, (x, y) = tiny_net(), batch()
    x = x.array.copy()
    x[0, 0] = np.nan
    for rule in (FeedbackAlignment(), DirectFeedbackAlignment(), DifferenceTargetPropagation(),
                 HSICBottleneck(), SyntheticGradients(), AlternatingMinimization()):
        value, _ = run(rule, net, x, y)
        assert value != value
        assert all(p.grad_array is None for p in net.parameters()), type(rule).__name__
