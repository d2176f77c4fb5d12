"""`l2_penalty` (scale/2 * sum of squares, one op): gradients vs finite differences, autograd, PyTorch."""

from __future__ import annotations

import autograd
import autograd.numpy as anp
import numpy as np
import pytest

import deltaprop as dp
from deltaprop import ops


def _tensors(seed: int, dtype=np.float64):
    rng = np.random.default_rng(seed)
    shapes = [(3, 4), (5,), (2, 3, 2)]
    return [dp.tensor(rng.normal(size=s).astype(dtype), requires_grad=True) for s in shapes]


def test_value_is_half_the_scaled_sum_of_squares():
    a, b, c = _tensors(0)
    expected = 0.5 * 0.3 * sum(float(np.sum(t.array**2)) for t in (a, b, c))
    assert ops.l2_penalty(a, b, c, scale=0.3).item() == pytest.approx(expected, rel=1e-12)


def test_gradient_matches_finite_differences_and_autograd():
    tensors = _tensors(1)
    assert dp.gradcheck(lambda *ts: ops.l2_penalty(*ts, scale=0.7), *tensors)
    out = ops.l2_penalty(*tensors, scale=0.7) * 3.0  # an upstream gradient other than 1
    out.backward()

    def reference(a, b, c):
        return 3.0 * 0.5 * 0.7 * (anp.sum(a**2) + anp.sum(b**2) + anp.sum(c**2))

    for i, t in enumerate(tensors):
        expected = autograd.grad(reference, i)(*[u.array for u in tensors])
        np.testing.assert_allclose(t.grad_array, expected, rtol=1e-12)


def test_gradient_matches_torch_in_float32():
    torch = pytest.importorskip("torch")
    tensors = _tensors(2, np.float32)
    ops.l2_penalty(*tensors, scale=1e-3).backward()
    twins = [torch.tensor(t.array, requires_grad=True) for t in tensors]
    (1e-3 * 0.5 * sum((u * u).sum() for u in twins)).backward()
    for t, u in zip(tensors, twins, strict=True):
        assert t.grad_array.dtype == np.float32
        np.testing.assert_allclose(t.grad_array, u.grad.numpy(), rtol=1e-6)


def test_only_tensors_that_need_a_gradient_get_one():
    a, b, _ = _tensors(3)
    frozen = dp.tensor(np.ones(4))
    ops.l2_penalty(a, frozen, b).backward()
    assert frozen.grad_array is None
    np.testing.assert_allclose(a.grad_array, a.array)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="at least one tensor"):
        ops.l2_penalty()
    with pytest.raises(TypeError, match="must be a Tensor"):
        ops.l2_penalty(np.ones(3))
