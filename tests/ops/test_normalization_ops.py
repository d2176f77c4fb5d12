"""Batch, layer and group normalization ops against PyTorch and finite differences (float64)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import deltaprop as dp
from deltaprop import gradcheck
from deltaprop.nn import functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def compare(dp_fn, torch_fn, arrays, seed=0):
    leaves = [dp.tensor(a, requires_grad=True) for a in arrays]
    out = dp_fn(*leaves)
    upstream = np.random.default_rng(seed).standard_normal(out.shape)
    out.backward(upstream)
    twins = [torch.tensor(a, requires_grad=True) for a in arrays]
    expected = torch_fn(*twins)
    expected.backward(torch.tensor(upstream))
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), atol=1e-10)
    for mine, theirs in zip(leaves, twins, strict=True):
        np.testing.assert_allclose(mine.grad.numpy(), theirs.grad.numpy(), atol=1e-10)


shapes = st.sampled_from([(4, 3), (2, 3, 5), (1, 3, 2), (2, 3, 4, 5), (1, 2, 3, 3)])


@settings(max_examples=30)
@given(shapes, st.booleans(), st.booleans(), st.booleans(), st.floats(0.0, 1.0))
def test_batch_norm_and_its_running_statistics_match_torch(shape, training, with_weight, with_bias, momentum):
    rng = np.random.default_rng(len(shape))
    c = shape[1]
    x, w, b = rng.standard_normal(shape), rng.standard_normal(c), rng.standard_normal(c)
    mean, var = rng.standard_normal(c), rng.random(c) + 0.5
    mine_stats = [dp.tensor(mean.copy()), dp.tensor(var.copy())]
    their_stats = [torch.tensor(mean.copy()), torch.tensor(var.copy())]
    arrays = [x] + ([w] if with_weight else []) + ([b] if with_bias else [])

    def pick(args, stats, fn):
        rest = list(args[1:])
        weight = rest.pop(0) if with_weight else None
        bias = rest.pop(0) if with_bias else None
        return fn(args[0], *stats, weight, bias, training=training, momentum=momentum, eps=1e-3)

    compare(lambda *a: pick(a, mine_stats, F.batch_norm), lambda *a: pick(a, their_stats, TF.batch_norm),
            arrays)
    for mine, theirs in zip(mine_stats, their_stats, strict=True):
        np.testing.assert_allclose(mine.numpy(), theirs.numpy(), atol=1e-12)


@settings(max_examples=20)
@given(st.sampled_from([((2, 3, 4), (4,)), ((2, 3, 4), (3, 4)), ((5, 6), (6,)), ((1, 2, 3, 3), (2, 3, 3))]),
       st.booleans(), st.booleans())
def test_layer_norm_matches_torch(shapes, with_weight, with_bias):
    shape, normalized = shapes
    rng = np.random.default_rng(len(shape))
    arrays = [rng.standard_normal(shape)]
    arrays += [rng.standard_normal(normalized) for _ in range(with_weight + with_bias)]

    def call(fn, args):
        rest = list(args[1:])
        weight = rest.pop(0) if with_weight else None
        bias = rest.pop(0) if with_bias else None
        return fn(args[0], normalized, weight, bias, 1e-4)

    compare(lambda *a: call(F.layer_norm, a), lambda *a: call(TF.layer_norm, a), arrays)


@settings(max_examples=20)
@given(st.sampled_from([((2, 4, 3), 2), ((1, 6, 2, 3), 3), ((3, 4), 4), ((2, 4, 3, 3), 1)]), st.booleans())
def test_group_norm_matches_torch(case, affine):
    shape, groups = case
    rng = np.random.default_rng(groups)
    arrays = [rng.standard_normal(shape)] + [rng.standard_normal(shape[1]) for _ in range(2 * affine)]
    compare(lambda x, *p: F.group_norm(x, groups, *p, eps=1e-4),
            lambda x, *p: TF.group_norm(x, groups, *p, eps=1e-4), arrays)


def test_normalization_gradients_match_finite_differences():
    rng = np.random.default_rng(4)
    x, w, b = rng.standard_normal((3, 4, 2, 3)), rng.standard_normal(4), rng.standard_normal(4)
    assert gradcheck(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), x, w, b, atol=1e-7)
    stats = (dp.tensor(rng.standard_normal(4)), dp.tensor(rng.random(4) + 1))
    assert gradcheck(lambda x, w, b: F.batch_norm(x, *stats, w, b, training=False), x, w, b, atol=1e-7)
    assert gradcheck(lambda x, w, b: F.group_norm(x, 2, w, b), x, w, b, atol=1e-7)
    assert gradcheck(lambda x, w, b: F.layer_norm(x, (3,), w[:3], b[:3]), x, w, b, atol=1e-7)


def test_training_batch_norm_needs_more_than_one_value_per_channel():
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        F.batch_norm(np.ones((1, 3)), None, None, training=True)
    with pytest.raises(ValueError, match="needs running_mean"):
        F.batch_norm(np.ones((2, 3)), None, None, training=False)
