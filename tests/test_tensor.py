"""The Tensor itself: attributes, dtype rules, gradient bookkeeping and the graph's memory."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import GraphError


# ----------------------------------------------------------------- attributes
def test_attributes_of_a_tensor() -> None:
    t = dp.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
    assert t.shape == (2, 3)
    assert t.ndim == 2
    assert t.dtype == np.float32
    assert t.numel() == 6 and t.size() == (2, 3) and t.size(-1) == 3  # PyTorch's size(), not NumPy's
    assert t.grad is None
    assert t.requires_grad is True
    assert t.is_leaf
    assert isinstance(t.array, np.ndarray)
    np.testing.assert_array_equal(t.numpy(), [[1, 2, 3], [4, 5, 6]])
    assert dp.tensor(3.5).item() == 3.5
    with pytest.raises(ValueError, match="6 elements"):
        t.item()


def test_requires_grad_needs_a_float_dtype() -> None:
    with pytest.raises(TypeError, match="floating-point"):
        dp.tensor([1, 2], requires_grad=True)


def test_factories_make_float32_and_respect_requires_grad() -> None:
    for t in (dp.zeros(2, 3), dp.ones((2, 3)), dp.randn(2, 3), dp.rand(2, 3), dp.eye(3)):
        assert t.dtype == np.float32 and not t.requires_grad
    z = dp.zeros(2, requires_grad=True)
    assert z.requires_grad and z.is_leaf
    np.testing.assert_array_equal(dp.arange(3).numpy(), [0, 1, 2])
    assert dp.arange(0.0, 1.0, 0.5).dtype == np.float32
    assert dp.zeros(2, dtype=np.float64).dtype == np.float64


def test_manual_seed_makes_randn_repeatable() -> None:
    dp.manual_seed(123)
    first = dp.randn(4).numpy().copy()
    dp.manual_seed(123)
    np.testing.assert_array_equal(dp.randn(4).numpy(), first)


# ----------------------------------------------------------------- dtype rules
def test_python_floats_default_to_float32_and_float64_is_kept() -> None:
    assert dp.tensor([1.0, 2.0]).dtype == np.float32
    assert dp.tensor(np.array([1.0, 2.0])).dtype == np.float64
    assert dp.tensor([1.0], dtype=np.float64).dtype == np.float64
    assert dp.tensor(np.array([1, 2])).dtype == np.int64
    assert dp.tensor(np.array([1.0], dtype=np.float16)).dtype == np.float32


@pytest.mark.parametrize(
    "other",
    [2.5, 3, np.float64(2.5), np.array(2.5), np.array([2.5, 1.0]), dp.tensor(np.array(2.5))],
    ids=["py-float", "py-int", "np.float64", "0-d float64 array", "float64 array", "0-d float64 tensor"],
)
def test_float32_is_not_upcast_by_scalars_or_float64_operands(other) -> None:
    x = dp.tensor([1.0, 2.0], requires_grad=True)
    for result in (
        x + other,
        other + x,
        x * other,
        other * x,
        x - other,
        x / other,
        other / x,
        dp.maximum(x, other),
        x**2.0,
    ):
        assert result.dtype == np.float32, result
    (x * other).sum().backward()
    assert x.grad.dtype == np.float32


def test_gradient_of_a_0d_float64_tensor_used_with_float32_keeps_its_dtype() -> None:
    x = dp.tensor([1.0, 2.0], requires_grad=True)
    scale = dp.tensor(np.array(3.0), requires_grad=True)
    out = x * scale
    assert out.dtype == np.float32
    out.sum().backward()
    assert scale.grad.dtype == np.float64 and scale.grad.shape == ()
    assert scale.grad == pytest.approx(3.0)
    np.testing.assert_allclose(x.grad, [3.0, 3.0])


def test_float64_work_stays_float64() -> None:
    x = dp.tensor(np.array([0.5, -1.0]), requires_grad=True)
    y = dp.sigmoid(x * 2.0 + 1).sum()
    assert y.dtype == np.float64
    y.backward()
    assert x.grad.dtype == np.float64


def test_float32_with_float64_arrays_of_rank_one_or_more_promotes_like_numpy() -> None:
    a = dp.tensor(np.ones(2, dtype=np.float32))
    b = dp.tensor(np.ones(2, dtype=np.float64))
    assert (a + b).dtype == np.float64


def test_int_tensor_meeting_a_float32_tensor_becomes_float32() -> None:
    x = dp.tensor([1.0, 2.0], requires_grad=True)
    n = dp.tensor(np.array([2, 3]))
    y = x * n
    assert y.dtype == np.float32
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 3.0])


def test_astype_sends_the_gradient_back_in_the_input_dtype() -> None:
    x = dp.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = x.astype(np.float32)
    assert y.dtype == np.float32
    (y * y).sum().backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_allclose(x.grad, [2.0, 4.0])


# ----------------------------------------------------------------- backward bookkeeping
def test_gradients_accumulate_across_backward_calls_until_cleared() -> None:
    x = dp.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad, [3 + 2, 3 + 4])
    x.zero_grad()
    assert x.grad is None
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad, [3, 3])
    x.grad = None
    (x * 5).sum().backward()
    np.testing.assert_allclose(x.grad, [5, 5])


def test_first_gradient_is_a_copy_not_the_seed_array() -> None:
    x = dp.tensor([1.0, 2.0], requires_grad=True)
    seed = np.array([1.0, 1.0], dtype=np.float32)
    (x + 0).backward(seed)
    (x + 0).backward(seed)
    np.testing.assert_array_equal(seed, [1.0, 1.0])
    np.testing.assert_array_equal(x.grad, [2.0, 2.0])


def test_backward_on_a_non_scalar_without_grad_says_what_to_do() -> None:
    x = dp.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(GraphError, match=r"shape \(2,\).*\.sum\(\).*grad="):
        (x * 2).backward()


def test_backward_with_a_grad_of_the_wrong_shape() -> None:
    x = dp.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(GraphError, match=r"grad has shape \(3,\) but the tensor has shape \(2,\)"):
        (x * 2).backward(np.ones(3))


def test_backward_on_a_tensor_that_needs_no_grad() -> None:
    with pytest.raises(GraphError, match="does not require grad"):
        dp.tensor([1.0]).sum().backward()


def test_second_backward_through_a_freed_graph_says_retain_graph() -> None:
    x = dp.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(GraphError, match="retain_graph=True"):
        y.backward()


def test_retain_graph_allows_a_second_backward() -> None:
    x = dp.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad, 2 * 2 * np.array([1.0, 2.0]))


def test_backward_on_a_leaf_sets_its_grad() -> None:
    x = dp.tensor(2.0, requires_grad=True)
    x.backward()
    assert x.grad == 1.0


def test_retain_grad_keeps_an_intermediate_gradient() -> None:
    x = dp.tensor([1.0, -2.0], requires_grad=True)
    h = (x * 3).retain_grad()
    (h * h).sum().backward()
    np.testing.assert_allclose(h.grad, 2 * h.array)
    assert (x * 3).grad is None


def test_no_grad_records_nothing_and_restores_itself() -> None:
    x = dp.tensor([1.0, 2.0], requires_grad=True)
    with dp.no_grad():
        assert not dp.is_grad_enabled()
        y = x * 2
        with dp.enable_grad():
            z = x * 2
    assert dp.is_grad_enabled()
    assert not y.requires_grad and y.is_leaf
    assert z.requires_grad and not z.is_leaf


def test_detach_cuts_the_graph_but_shares_the_values() -> None:
    x = dp.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    d = y.detach()
    assert d.is_leaf and not d.requires_grad
    assert np.shares_memory(d.array, y.array)
    out = (d * x).sum()
    out.backward()
    np.testing.assert_allclose(x.grad, [2.0, 4.0])  # d counted as a constant


def test_is_leaf_and_grad_fn() -> None:
    x = dp.tensor([1.0], requires_grad=True)
    c = dp.tensor([1.0])
    y = x * 2
    assert x.is_leaf and c.is_leaf and not y.is_leaf
    assert y.grad_fn == "mul" and x.grad_fn is None
    assert (c * 2).is_leaf  # no input needs a gradient, so nothing is recorded


def test_requires_grad_flows_only_from_inputs_that_need_it() -> None:
    x = dp.tensor([1.0], requires_grad=True)
    c = dp.tensor([5.0])
    (x * c).sum().backward()
    assert c.grad is None
    np.testing.assert_allclose(x.grad, [5.0])


def test_numpy_asarray_of_a_tensor_and_of_its_grad() -> None:
    x = dp.tensor([[1.0, 2.0]], requires_grad=True)
    (x * x).sum().backward()
    np.testing.assert_array_equal(np.asarray(x), [[1.0, 2.0]])
    np.testing.assert_array_equal(np.asarray(x.grad), [[2.0, 4.0]])
    assert np.asarray(x, dtype=np.float64).dtype == np.float64


def test_comparisons_give_boolean_tensors_without_gradient() -> None:
    x = dp.tensor([1.0, 2.0, 3.0], requires_grad=True)
    for result, expected in [
        (x < 2, [True, False, False]),
        (x <= 2, [True, True, False]),
        (x > 2, [False, False, True]),
        (x >= 2, [False, True, True]),
        (x.eq(2), [False, True, False]),
        (x.ne(2), [True, False, True]),
        (x > dp.tensor([0.0, 5.0, 0.0]), [True, False, True]),
    ]:
        assert result.dtype == bool and not result.requires_grad and result.is_leaf
        np.testing.assert_array_equal(result.array, expected)


def test_repr_names_grad_fn_and_dtype() -> None:
    assert "requires_grad=True" in repr(dp.tensor([1.0], requires_grad=True))
    assert "grad_fn=mul" in repr(dp.tensor([1.0], requires_grad=True) * 2)
    assert "float64" in repr(dp.tensor(np.array([1.0])))


def test_a_deep_chain_backpropagates_without_recursion_limits() -> None:
    x = dp.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(5000):
        y = y * 1.0001
    y.backward()
    assert x.grad == pytest.approx(1.0001**5000, rel=1e-3)


# ----------------------------------------------------------------- memory: no reference cycles
def test_graph_is_freed_by_reference_counting_alone() -> None:
    """With the cycle collector off, dropping the loss frees every node and saved array."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        w = dp.tensor(np.ones((3, 2)), requires_grad=True)
        x = dp.tensor(np.ones((4, 3)))
        h = dp.sigmoid(x @ w)
        loss = dp.log_softmax(h).sum()
        refs = [weakref.ref(h), weakref.ref(loss)]
        loss.backward()
        del h, loss
        assert all(r() is None for r in refs)
        assert w.grad is not None
    finally:
        if was_enabled:
            gc.enable()


def test_a_training_step_leaves_nothing_for_the_cycle_collector() -> None:
    import deltaprop.nn as nn

    dp.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 2))
    loss_fn = nn.CrossEntropyLoss()
    x = dp.randn(16, 3)
    y = dp.tensor(np.arange(16) % 2)
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(3):
            model.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            with dp.no_grad():
                for p in model.parameters():
                    p.array -= 0.1 * p.grad
        del loss
        assert gc.collect() == 0
    finally:
        if was_enabled:
            gc.enable()
