"""Convolution, transposed convolution and padding ops against PyTorch and finite differences (float64).

Hypothesis draws the configurations (batch of 1 included, odd sizes, stride,
padding including 'same'/'valid', dilation, groups); each compares the forward
and the gradients of the input, the weight and the bias with PyTorch's, given
the same upstream gradient.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import deltaprop as dp
from deltaprop import gradcheck
from deltaprop.errors import ShapeError
from deltaprop.nn import functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def compare(dp_fn, torch_fn, arrays, seed=0, tol=1e-10):
    """Forward and every input gradient of dp_fn and torch_fn on the same float64 arrays."""
    leaves = [dp.tensor(a, requires_grad=True) for a in arrays]
    out = dp_fn(*leaves)
    upstream = np.random.default_rng(seed).standard_normal(out.shape)
    out.backward(upstream)
    twins = [torch.tensor(a, requires_grad=True) for a in arrays]
    expected = torch_fn(*twins)
    expected.backward(torch.tensor(upstream))
    assert out.shape == tuple(expected.shape)
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), atol=tol, rtol=tol)
    for mine, theirs in zip(leaves, twins, strict=True):
        np.testing.assert_allclose(mine.grad.numpy(), theirs.grad.numpy(), atol=tol, rtol=tol)


@st.composite
def conv_configs(draw, dims=2):
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    c_in, c_out = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 3))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(dims))
    choice = draw(st.sampled_from(["int", "tuple", "same", "valid"]))
    if choice == "same":
        stride = (1,) * dims
        padding = "same"
    elif choice == "valid":
        padding = "valid"
    elif choice == "int":
        padding = draw(st.integers(0, 2))
    else:
        padding = tuple(draw(st.integers(0, 2)) for _ in range(dims))
    pads = (0,) * dims if isinstance(padding, str) else (padding,) * dims if isinstance(padding, int) \
        else padding
    size = tuple(d * (k - 1) + 1 - 2 * p + draw(st.integers(0, 5)) for k, d, p in zip(
        kernel, dilation, pads, strict=True))
    size = tuple(max(s, 1) for s in size)
    batch = draw(st.integers(1, 3))
    return dict(groups=groups, c_in=c_in, c_out=c_out, kernel=kernel, stride=stride, dilation=dilation,
                padding=padding, size=size, batch=batch, bias=draw(st.booleans()))


def _conv_arrays(cfg, transposed=False, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((cfg["batch"], cfg["c_in"], *cfg["size"]))
    w_shape = ((cfg["c_in"], cfg["c_out"] // cfg["groups"]) if transposed
               else (cfg["c_out"], cfg["c_in"] // cfg["groups"])) + cfg["kernel"]
    arrays = [x, rng.standard_normal(w_shape)]
    if cfg["bias"]:
        arrays.append(rng.standard_normal(cfg["c_out"]))
    return arrays


@settings(max_examples=25)
@given(conv_configs())
def test_conv2d_matches_torch(cfg):
    kw = dict(stride=cfg["stride"], padding=cfg["padding"], dilation=cfg["dilation"], groups=cfg["groups"])
    compare(lambda x, w, *b: F.conv2d(x, w, b[0] if b else None, **kw),
            lambda x, w, *b: TF.conv2d(x, w, b[0] if b else None, **kw), _conv_arrays(cfg))


@settings(max_examples=12)
@given(conv_configs(dims=1))
def test_conv1d_matches_torch(cfg):
    kw = dict(stride=cfg["stride"], padding=cfg["padding"], dilation=cfg["dilation"], groups=cfg["groups"])
    compare(lambda x, w, *b: F.conv1d(x, w, b[0] if b else None, **kw),
            lambda x, w, *b: TF.conv1d(x, w, b[0] if b else None, **kw), _conv_arrays(cfg))


@st.composite
def transposed_configs(draw, dims=2):
    cfg = draw(conv_configs(dims))
    if isinstance(cfg["padding"], str):
        cfg["padding"] = 0
    pads = cfg["padding"] if isinstance(cfg["padding"], tuple) else (cfg["padding"],) * dims
    cfg["output_padding"] = tuple(draw(st.integers(0, max(s, d) - 1))
                                  for s, d in zip(cfg["stride"], cfg["dilation"], strict=True))
    # the output (size - 1)*s - 2p + d(k - 1) + op + 1 must be at least 1
    cfg["size"] = tuple(max(s, 1 - (-2 * p // st_)) for s, p, st_ in zip(cfg["size"], pads, cfg["stride"],
                                                                        strict=True))
    return cfg


@settings(max_examples=25)
@given(transposed_configs())
def test_conv_transpose2d_matches_torch(cfg):
    kw = dict(stride=cfg["stride"], padding=cfg["padding"], output_padding=cfg["output_padding"],
              groups=cfg["groups"], dilation=cfg["dilation"])
    compare(lambda x, w, *b: F.conv_transpose2d(x, w, b[0] if b else None, **kw),
            lambda x, w, *b: TF.conv_transpose2d(x, w, b[0] if b else None, **kw),
            _conv_arrays(cfg, transposed=True))


@settings(max_examples=12)
@given(transposed_configs(dims=1))
def test_conv_transpose1d_matches_torch(cfg):
    kw = dict(stride=cfg["stride"], padding=cfg["padding"], output_padding=cfg["output_padding"],
              groups=cfg["groups"], dilation=cfg["dilation"])
    compare(lambda x, w, *b: F.conv_transpose1d(x, w, b[0] if b else None, **kw),
            lambda x, w, *b: TF.conv_transpose1d(x, w, b[0] if b else None, **kw),
            _conv_arrays(cfg, transposed=True))


def test_unbatched_inputs_match_torch():
    rng = np.random.default_rng(1)
    compare(lambda x, w: F.conv2d(x, w, padding=1), lambda x, w: TF.conv2d(x, w, padding=1),
            [rng.standard_normal((2, 5, 4)), rng.standard_normal((3, 2, 3, 3))])
    compare(lambda x, w: F.conv1d(x, w), lambda x, w: TF.conv1d(x, w),
            [rng.standard_normal((2, 5)), rng.standard_normal((3, 2, 2))])


@settings(max_examples=30)
@given(st.sampled_from(["constant", "reflect", "replicate", "circular"]), st.integers(1, 2),
       st.lists(st.integers(0, 2), min_size=4, max_size=4), st.integers(3, 5), st.booleans())
def test_pad_matches_torch(mode, axes, widths, size, batched):
    shape = (2, size, size + 1)[3 - axes - 1:]
    x = np.random.default_rng(size).standard_normal(((2,) if batched else ()) + shape)
    pad = tuple(widths[: 2 * axes])
    compare(lambda t: F.pad(t, pad, mode=mode), lambda t: TF.pad(t, pad, mode=mode), [x])


def test_non_constant_padding_of_the_wrong_axes_is_refused_as_in_torch():
    with pytest.raises(ValueError, match="pads the last 1 axes of a 2-D or 3-D input"):
        F.pad(dp.tensor(np.ones((1, 2, 3, 3))), (1, 1), mode="reflect")
    with pytest.raises(NotImplementedError):
        TF.pad(torch.ones(1, 2, 3, 3), (1, 1), mode="reflect")


def test_constant_pad_with_a_value_and_cropping_matches_torch():
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5))
    widths = (1, -2, -1, 2)
    compare(lambda t: F.pad(t, widths, value=0.5), lambda t: TF.pad(t, widths, value=0.5), [x])


def test_convolution_gradients_match_finite_differences():
    rng = np.random.default_rng(2)
    x, w, b = rng.standard_normal((2, 4, 5, 6)), rng.standard_normal((6, 2, 2, 3)), rng.standard_normal(6)
    assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=1, dilation=(1, 2), groups=2),
                     x, w, b, atol=1e-7)
    wt = rng.standard_normal((4, 3, 3, 2))
    assert gradcheck(lambda x, w, b: F.conv_transpose2d(x, w, b[:6], stride=2, padding=1, output_padding=1,
                                                        groups=2), x, wt, b, atol=1e-7)
    for mode in ("reflect", "replicate", "circular"):
        assert gradcheck(lambda t, m=mode: F.pad(t, (2, 1, 1, 2), mode=m), x[:1, :2], atol=1e-7)


def test_the_first_layer_skips_its_input_gradient():
    """Data that needs no gradient gets none: the col2im half of the backward never runs."""
    x = dp.tensor(np.ones((1, 1, 4, 4)))
    w = dp.tensor(np.ones((2, 1, 2, 2)), requires_grad=True)
    out = F.conv2d(x, w)
    out.backward(np.ones(out.shape))
    assert x.grad is None and w.grad.numpy().tolist() == np.full((2, 1, 2, 2), 9.0).tolist()


def test_float64_data_into_a_float32_layer_stays_float32():
    w = dp.tensor(np.ones((1, 1, 2, 2), np.float32), requires_grad=True)
    assert F.conv2d(np.ones((1, 1, 3, 3)), w).dtype == np.float32


@pytest.mark.parametrize(("call", "message"), [
    (lambda: F.conv2d(np.ones((1, 3, 5, 5)), dp.tensor(np.ones((2, 2, 3, 3)))), "3 channels but the weight"),
    (lambda: F.conv2d(np.ones((1, 2, 2, 2)), dp.tensor(np.ones((2, 2, 3, 3)))), "kernel cannot be larger"),
    (lambda: F.conv2d(np.ones((2, 5, 5)), dp.tensor(np.ones((2, 2, 3))),), "weight must be 4-D"),
    (lambda: F.conv2d(np.ones((5, 5)), dp.tensor(np.ones((2, 1, 3, 3)))), "expected a 3-D or 4-D input"),
    (lambda: F.conv2d(np.ones((1, 1, 5, 5)), dp.tensor(np.ones((2, 1, 3, 3))), stride=2, padding="same"),
     "not supported for strided"),
    (lambda: F.conv2d(np.ones((1, 1, 5, 5)), dp.tensor(np.ones((2, 1, 3, 3))), padding="full"),
     "'same', 'valid'"),
    (lambda: F.conv_transpose2d(np.ones((1, 1, 3, 3)), dp.tensor(np.ones((1, 1, 3, 3))), stride=2,
                                output_padding=2), "output_padding"),
    (lambda: F.pad(dp.tensor(np.ones((1, 1, 3, 3))), (3, 0, 0, 0), mode="reflect"), "at most 2"),
])
def test_bad_arguments_say_what_is_wrong(call, message):
    with pytest.raises((ShapeError, ValueError, TypeError), match=message):
        call()
