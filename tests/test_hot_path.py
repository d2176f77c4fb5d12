"""The structure of the MLP training hot path (no timing: speed lives in benchmarks/).

A dense layer must be one graph node, softmax + cross-entropy one node, the
float32 path must stay float32, and the backward must skip work nobody needs
(the input gradient of the first layer). These are the properties that keep
deltaprop close to a hand-written NumPy step; the benchmark measures the rest.
"""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn, ops
from deltaprop.ops.linalg import _linear_backward
from deltaprop.ops.losses import cross_entropy


def _graph_nodes(root: dp.Tensor) -> list[dp.Tensor]:
    """Every non-leaf tensor reachable from root (each op recorded once)."""
    seen, stack, nodes = set(), [root], []
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen or node._backward is None:
            continue
        seen.add(id(node))
        nodes.append(node)
        stack.extend(node._parents)
    return nodes


def _mlp(seed: int = 0) -> nn.Sequential:
    dp.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 3))


def _batch(rng, n=6, dtype=np.float32):
    return rng.standard_normal((n, 5)).astype(dtype), rng.integers(0, 3, n)


def test_mlp_forward_records_one_node_per_layer():
    rng = np.random.default_rng(0)
    x, y = _batch(rng)
    loss = nn.CrossEntropyLoss()(_mlp()(dp.Tensor(x)), dp.Tensor(y))
    nodes = _graph_nodes(loss)
    assert len(nodes) == 4
    assert sorted(n.grad_fn for n in nodes) == ["cross_entropy", "linear", "linear", "relu"]


def test_first_layer_input_is_not_recorded_nor_given_a_gradient():
    rng = np.random.default_rng(1)
    x, y = _batch(rng)
    xt = dp.Tensor(x)
    model = _mlp()
    first = model[0](xt)
    assert first._parents[0] is None  # the data needs no gradient: nothing kept for it
    loss = nn.CrossEntropyLoss()(model[2](model[1](first)), dp.Tensor(y))
    loss.backward()
    assert xt.grad is None
    assert all(p.grad is not None for p in model.parameters())


def test_linear_backward_skips_input_gradient_when_not_needed():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 3)).astype(np.float32)
    w = rng.standard_normal((2, 3)).astype(np.float32)
    g = rng.standard_normal((4, 2)).astype(np.float32)
    leaf = dp.Tensor(w, requires_grad=True)
    gx, gw, gb = _linear_backward(g, (x, w), (None, leaf, leaf))
    assert gx is None
    np.testing.assert_allclose(gw, g.T @ x, rtol=1e-6)
    np.testing.assert_allclose(gb, g.sum(axis=0), rtol=1e-6)
    gx, gw, gb = _linear_backward(g, (x, w), (leaf, None, None))
    np.testing.assert_allclose(gx, g @ w, rtol=1e-6)
    assert gw is None and gb is None


@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_hand_written_numpy(bias):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 4))
    w = rng.standard_normal((3, 4))
    b = rng.standard_normal(3)
    g = rng.standard_normal((5, 3))
    xt = dp.Tensor(x, requires_grad=True)
    wt = dp.Tensor(w, requires_grad=True)
    bt = dp.Tensor(b, requires_grad=True) if bias else None
    out = ops.linear(xt, wt, bt)
    expected = x @ w.T + (b if bias else 0.0)
    np.testing.assert_allclose(out.array, expected, rtol=1e-12)
    out.backward(g)
    np.testing.assert_allclose(xt.grad, g @ w, rtol=1e-12)  # dx = delta W
    np.testing.assert_allclose(wt.grad, g.T @ x, rtol=1e-12)  # dW = delta^T x
    if bias:
        np.testing.assert_allclose(bt.grad, g.sum(axis=0), rtol=1e-12)  # db = sum of delta


def test_linear_gradcheck_with_leading_batch_axes():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 4))
    w = rng.standard_normal((5, 4))
    b = rng.standard_normal(5)
    assert dp.gradcheck(lambda x, w, b: ops.linear(x, w, b).sum(), x, w, b)


def test_float32_stays_float32_end_to_end():
    rng = np.random.default_rng(5)
    x, y = _batch(rng)
    model = _mlp()
    loss = nn.CrossEntropyLoss()(model(dp.Tensor(x)), dp.Tensor(y))
    assert loss.dtype == np.float32
    assert all(n.array.dtype == np.float32 for n in _graph_nodes(loss))
    loss.backward()
    for name, p in model.named_parameters():
        assert p.array.dtype == np.float32, name
        assert p.grad.dtype == np.float32, name


def test_fused_cross_entropy_gradient_is_softmax_minus_onehot_over_n():
    rng = np.random.default_rng(6)
    z = rng.standard_normal((8, 4)).astype(np.float32) * 3
    y = rng.integers(0, 4, 8)
    zt = dp.Tensor(z, requires_grad=True)
    loss = cross_entropy(zt, dp.Tensor(y))
    shifted = z.astype(np.float64) - z.max(axis=1, keepdims=True)
    p = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(loss.item(), -np.log(p[np.arange(8), y]).mean(), rtol=1e-5)
    loss.backward()
    onehot = np.eye(4)[y]
    np.testing.assert_allclose(zt.grad, (p - onehot) / 8, atol=1e-7)
    assert zt.grad.dtype == np.float32


def test_cross_entropy_sum_reduction_and_upstream_scale():
    rng = np.random.default_rng(7)
    z = rng.standard_normal((5, 3))
    y = rng.integers(0, 3, 5)
    zt = dp.Tensor(z, requires_grad=True)
    (cross_entropy(zt, dp.Tensor(y), reduction="sum") * 2.0).backward()
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(zt.grad, 2.0 * (p - np.eye(3)[y]), rtol=1e-10)


def test_training_step_matches_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(8)
    x, y = _batch(rng, n=16)
    model = _mlp(seed=3)
    loss = nn.CrossEntropyLoss()(model(dp.Tensor(x)), dp.Tensor(y))
    loss.backward()
    tmodel = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.ReLU(), torch.nn.Linear(7, 3))
    with torch.no_grad():
        for tp, p in zip(tmodel.parameters(), model.parameters(), strict=True):
            tp.copy_(torch.from_numpy(p.array))
    tloss = torch.nn.functional.cross_entropy(tmodel(torch.from_numpy(x)), torch.from_numpy(y))
    tloss.backward()
    np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-5)
    for tp, p in zip(tmodel.parameters(), model.parameters(), strict=True):
        np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("bad", [-1, 3])
def test_cross_entropy_rejects_labels_out_of_range(bad):
    z = dp.Tensor(np.zeros((2, 3), dtype=np.float32), requires_grad=True)
    with pytest.raises(ValueError, match=r"labels must lie in 0\.\.2 for 3 classes"):
        cross_entropy(z, dp.Tensor(np.array([0, bad])))
    with pytest.raises(ValueError, match="labels must lie"):
        cross_entropy(z, dp.Tensor(np.array([0, bad], dtype=np.int32)))


def test_linear_accepts_plain_array_operands():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((3, 4)).astype(np.float32)
    w = dp.Tensor(rng.standard_normal((2, 4)).astype(np.float32), requires_grad=True)
    b = rng.standard_normal(2).astype(np.float32)
    out = ops.linear(x, w, b)
    np.testing.assert_allclose(out.array, x @ w.array.T + b, rtol=1e-6)
    out.sum().backward()
    np.testing.assert_allclose(w.grad, np.ones((3, 2), np.float32).T @ x, rtol=1e-6)


def test_labels_marked_as_checked_skip_the_scan_but_any_other_array_is_checked():
    from deltaprop.ops.losses import mark_labels_checked

    logits = dp.Tensor(np.zeros((2, 3)))
    labels = np.array([0, 2])
    mark_labels_checked(labels, 0, 2)
    assert cross_entropy(logits, dp.Tensor(labels)).item() == pytest.approx(np.log(3))
    with pytest.raises(ValueError, match="labels must lie in 0..2"):
        cross_entropy(logits, dp.Tensor(np.array([0, 5])))  # another array: scanned in full
    mark_labels_checked(labels, 0, 7)  # a marked range that does not fit the scores is not trusted
    with pytest.raises(ValueError, match="labels must lie in 0..1"):
        cross_entropy(dp.Tensor(np.zeros((2, 2))), dp.Tensor(labels))


def test_fit_checks_labels_once_and_still_names_bad_ones():
    model = nn.Linear(4, 3)
    X, y = np.zeros((6, 4), np.float32), np.array([0, 1, 2, 0, 1, 3])
    with pytest.raises(ValueError, match="labels must lie in 0..2 for 3 classes"):
        dp.fit(model, X, y, loss="cross_entropy", optimizer=dp.optim.SGD(model.parameters(), lr=0.1),
               epochs=1, batch_size=3, progress=False)
