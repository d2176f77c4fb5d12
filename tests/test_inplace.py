"""In-place changes, .data and .grad as PyTorch code uses them, and the version check that keeps them safe."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp

torch = pytest.importorskip("torch")


def test_augmented_assignment_changes_the_tensor_so_aliases_see_it():
    w = dp.tensor([1.0, 2.0])
    alias = w
    alias -= 0.5 * dp.tensor([2.0, 2.0])
    alias *= 2
    assert alias is w
    np.testing.assert_array_equal(w.numpy(), [0.0, 2.0])


def test_from_scratch_sgd_with_data_and_grad_trains_like_pytorch():
    """d2l's hand-written step: p.data -= lr * p.grad, then p.grad.zero_()."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((20, 3)), rng.standard_normal((20, 1))
    w0 = rng.standard_normal((3, 1))
    ours, theirs = dp.tensor(w0.copy(), requires_grad=True), torch.tensor(w0.copy(), requires_grad=True)
    for lib, w in ((dp, ours), (torch, theirs)):
        for _ in range(5):
            loss = ((lib.tensor(X) @ w - lib.tensor(y)) ** 2).mean()
            loss.backward()
            w.data -= 0.1 * w.grad
            w.grad.zero_()
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-12)
    assert ours.grad is not None and float(ours.grad.abs().sum()) == 0.0


def test_grad_is_a_tensor_that_stays_the_same_object():
    w = dp.tensor([1.0, 2.0], requires_grad=True)
    assert w.grad is None
    (w * 3).sum().backward()
    g = w.grad
    assert isinstance(g, dp.Tensor) and g is w.grad
    g.zero_()
    np.testing.assert_array_equal(w.grad_array, [0.0, 0.0])
    with pytest.raises(dp.ShapeError, match=r"assigned grad has shape \(3,\)"):
        w.grad = np.ones(3)


def test_a_parameter_cannot_be_changed_in_place_while_grads_are_recorded_but_can_under_no_grad():
    w = dp.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(dp.GraphError, match="leaf tensor that requires grad.*no_grad"):
        w += 1
    with dp.no_grad():
        w += 1
        w.normal_(0, 0.01)  # as initialisation code does
    w.data.uniform_(-1, 1)  # through .data: always allowed
    assert w.requires_grad and w.is_leaf


def test_in_place_on_a_graph_tensor_is_refused_with_the_out_of_place_spelling():
    x = dp.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2
    with pytest.raises(dp.GraphError, match=r"made by 'mul'.*x = x \+ y"):
        h += 1
    buffer = dp.zeros(2)
    with pytest.raises(dp.GraphError, match="value written in place requires grad"):
        buffer += x


def test_changing_a_saved_input_after_use_is_caught_at_backward():
    w = dp.tensor([1.0, 2.0], requires_grad=True)
    x = dp.tensor([3.0, 4.0])
    y = (w * x).sum()
    x[0] = 100.0  # mul saved x's values for w's gradient
    with pytest.raises(dp.GraphError, match="input of 'mul'.*changed in place after 'mul' used it"):
        y.backward()
    z = (w * x).sum()  # used after the change: fine
    z.backward()
    np.testing.assert_array_equal(w.grad_array, [100.0, 4.0])


def test_item_and_mask_assignment():
    x = dp.tensor([[1.0, -2.0], [-3.0, 4.0]])
    x[x < 0] = 0
    x[0, 1] = 5
    np.testing.assert_array_equal(x.numpy(), [[1.0, 5.0], [0.0, 4.0]])
    x.fill_(2).add_(dp.ones(2, 2), alpha=3).clamp_(max=4.0)
    np.testing.assert_array_equal(x.numpy(), np.full((2, 2), 4.0))
    x.copy_(np.arange(4.0).reshape(2, 2))
    np.testing.assert_array_equal(x.numpy(), [[0.0, 1.0], [2.0, 3.0]])


def test_comparisons_are_elementwise_and_tensors_still_hash_by_identity():
    a, b = dp.tensor([1.0, 2.0, 3.0]), dp.tensor([1.0, 0.0, 3.0])
    assert (a == b).tolist() == [True, False, True] and (a != b).tolist() == [False, True, False]
    accuracy = float((a == b).numpy().mean())
    assert accuracy == pytest.approx(2 / 3)
    assert {a: 1, b: 2}[a] == 1 and len({a, b, a}) == 2
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(a == b)


def test_numpy_functions_and_in_place_numpy_updates():
    w = dp.tensor([1.0, 2.0], requires_grad=True)
    e = np.exp(w)  # the op exp, so it is differentiable
    e.sum().backward()
    np.testing.assert_allclose(w.grad_array, np.exp([1.0, 2.0]))
    array = np.zeros(2, dtype=np.float32)
    array -= dp.tensor([1.0, 2.0])  # ndarray updated in place, stays an ndarray
    assert isinstance(array, np.ndarray) and array.tolist() == [-1.0, -2.0]
    assert f"{dp.tensor(0.123456):.3f}" == "0.123"
