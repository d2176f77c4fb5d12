"""Pooling and upsampling ops against PyTorch (hypothesis-drawn configurations) and finite differences."""

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


def compare(dp_fn, torch_fn, x, seed=0):
    mine = dp.tensor(x, requires_grad=True)
    out = dp_fn(mine)
    upstream = np.random.default_rng(seed).standard_normal(out.shape)
    out.backward(upstream)
    theirs = torch.tensor(x, requires_grad=True)
    expected = torch_fn(theirs)
    expected.backward(torch.tensor(upstream))
    assert out.shape == tuple(expected.shape)
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(mine.grad.numpy(), theirs.grad.numpy(), atol=1e-12)


@st.composite
def pool_configs(draw, dims=2, dilation=True):
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    stride = draw(st.one_of(st.none(), st.tuples(*[st.integers(1, 3)] * dims)))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    dil = tuple(draw(st.integers(1, 2)) for _ in range(dims)) if dilation else (1,) * dims
    size = tuple(d * (k - 1) + 1 + draw(st.integers(0, 4)) for k, d in zip(kernel, dil, strict=True))
    return dict(kernel=kernel, stride=stride, padding=padding, dilation=dil, size=size,
                batch=draw(st.integers(1, 2)), ceil_mode=draw(st.booleans()))


def _max_args(cfg):
    return dict(stride=cfg["stride"], padding=cfg["padding"], dilation=cfg["dilation"],
                ceil_mode=cfg["ceil_mode"])


def _x(cfg, channels=3):
    return np.random.default_rng(sum(cfg["size"])).standard_normal((cfg["batch"], channels, *cfg["size"]))


@settings(max_examples=30)
@given(pool_configs())
def test_max_pool2d_and_its_indices_match_torch(cfg):
    kw = _max_args(cfg)
    x = _x(cfg)
    compare(lambda t: F.max_pool2d(t, cfg["kernel"], **kw), lambda t: TF.max_pool2d(t, cfg["kernel"], **kw),
            x)
    _, mine = F.max_pool2d(dp.tensor(x), cfg["kernel"], return_indices=True, **kw)
    _, theirs = TF.max_pool2d(torch.tensor(x), cfg["kernel"], return_indices=True, **kw)
    np.testing.assert_array_equal(mine.numpy(), theirs.numpy())


@settings(max_examples=15)
@given(pool_configs(dims=1))
def test_max_pool1d_matches_torch(cfg):
    kw = _max_args(cfg)
    compare(lambda t: F.max_pool1d(t, cfg["kernel"], **kw), lambda t: TF.max_pool1d(t, cfg["kernel"], **kw),
            _x(cfg))


def test_max_pool_ties_send_the_gradient_to_the_first_maximum_as_torch():
    """After a ReLU whole windows are 0: the gradient must go to one input, the first, not to all."""
    x = np.zeros((1, 2, 4, 6))
    x[0, 1, 1:3, 2:5] = 1.0  # ties of 1s too
    for kernel, stride in ((2, 2), (3, 1), (2, 1)):
        compare(lambda t, k=kernel, s=stride: F.max_pool2d(t, k, s),
                lambda t, k=kernel, s=stride: TF.max_pool2d(t, k, s), x)


@settings(max_examples=30)
@given(pool_configs(dilation=False), st.booleans(), st.sampled_from([None, 1, 5]))
def test_avg_pool2d_matches_torch(cfg, count_include_pad, divisor):
    kw = dict(stride=cfg["stride"], padding=cfg["padding"], ceil_mode=cfg["ceil_mode"],
              count_include_pad=count_include_pad, divisor_override=divisor)
    compare(lambda t: F.avg_pool2d(t, cfg["kernel"], **kw), lambda t: TF.avg_pool2d(t, cfg["kernel"], **kw),
            _x(cfg))


@settings(max_examples=15)
@given(pool_configs(dims=1, dilation=False), st.booleans())
def test_avg_pool1d_matches_torch(cfg, count_include_pad):
    kw = dict(stride=cfg["stride"], padding=cfg["padding"], ceil_mode=cfg["ceil_mode"],
              count_include_pad=count_include_pad)
    compare(lambda t: F.avg_pool1d(t, cfg["kernel"], **kw), lambda t: TF.avg_pool1d(t, cfg["kernel"], **kw),
            _x(cfg))


sizes = st.tuples(st.integers(1, 9), st.integers(1, 9))


@settings(max_examples=30)
@given(sizes, st.tuples(st.one_of(st.none(), st.integers(1, 5)), st.integers(1, 5)), st.booleans())
def test_adaptive_pools_match_torch(size, out, use_max):
    x = np.random.default_rng(size[0]).standard_normal((2, 3, *size))
    mine, theirs = (F.adaptive_max_pool2d, TF.adaptive_max_pool2d) if use_max else (
        F.adaptive_avg_pool2d, TF.adaptive_avg_pool2d)
    compare(lambda t: mine(t, out), lambda t: theirs(t, out), x)
    if use_max:
        np.testing.assert_array_equal(mine(dp.tensor(x), out, return_indices=True)[1].numpy(),
                                      theirs(torch.tensor(x), out, return_indices=True)[1].numpy())


@settings(max_examples=15)
@given(st.integers(1, 9), st.integers(1, 5), st.booleans())
def test_adaptive_pools_1d_match_torch(size, out, use_max):
    x = np.random.default_rng(size).standard_normal((2, 3, size))
    mine, theirs = (F.adaptive_max_pool1d, TF.adaptive_max_pool1d) if use_max else (
        F.adaptive_avg_pool1d, TF.adaptive_avg_pool1d)
    compare(lambda t: mine(t, out), lambda t: theirs(t, out), x)


@settings(max_examples=25)
@given(st.tuples(st.integers(1, 5), st.integers(1, 5)),
       st.one_of(st.tuples(st.integers(1, 9), st.integers(1, 9)).map(lambda s: ("size", s)),
                 st.sampled_from([2, 3, 0.5, 1.5, 2.25]).map(lambda f: ("scale_factor", f))))
def test_nearest_interpolation_matches_torch(size, how):
    x = np.random.default_rng(size[0]).standard_normal((2, 3, *size))
    key, value = how
    if key == "scale_factor" and min(int(n * value) for n in size) < 1:
        return
    compare(lambda t: F.interpolate(t, **{key: value}), lambda t: TF.interpolate(t, **{key: value}), x)


def test_pooling_gradients_match_finite_differences():
    x = np.random.default_rng(3).standard_normal((2, 2, 5, 6))
    assert gradcheck(lambda t: F.max_pool2d(t, 3, 2, 1, ceil_mode=True), x, atol=1e-7)
    assert gradcheck(lambda t: F.max_pool2d(t, 2, 1, dilation=2), x, atol=1e-7)
    assert gradcheck(lambda t: F.avg_pool2d(t, 3, 2, 1, ceil_mode=True, count_include_pad=False), x,
                     atol=1e-7)
    assert gradcheck(lambda t: F.adaptive_avg_pool2d(t, (3, 4)), x, atol=1e-7)
    assert gradcheck(lambda t: F.adaptive_max_pool2d(t, (3, 4)), x, atol=1e-7)
    assert gradcheck(lambda t: F.interpolate(t, scale_factor=2), x, atol=1e-7)
    assert gradcheck(lambda t: F.interpolate(t, size=(4, 9)), x, atol=1e-7)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: F.max_pool2d(np.ones((1, 1, 4, 4)), 2, padding=2), "at most half the kernel"),
    (lambda: F.max_pool2d(np.ones((1, 1, 1, 4)), 2), "kernel cannot be larger"),
    (lambda: F.avg_pool2d(np.ones((1, 1, 4, 4), dtype=np.int64), 2), "floating-point"),
    (lambda: F.interpolate(np.ones((1, 1, 4, 4)), scale_factor=2, mode="bilinear"), "mode='nearest'"),
    (lambda: F.adaptive_avg_pool2d(np.ones((1, 1, 4, 4)), 0), ">= 1"),
    (lambda: F.max_pool2d(np.ones((4, 4)), 2), "3-D or 4-D"),
])
def test_bad_arguments_say_what_is_wrong(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()
