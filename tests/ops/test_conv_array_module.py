"""The convolutional family's ops run on another array library (the CPU stand-in for CuPy).

As in tests/test_array_module.py: each op runs on `deltaprop.testing` stand-in
arrays, which refuse to become NumPy arrays; outputs and gradients must be
stand-in arrays (nothing fell back to the host) with the NumPy run's values.
"""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import backend, nn
from deltaprop.nn import functional as F
from deltaprop.testing import StandinArray, standin

rng = np.random.default_rng(0)
X = rng.standard_normal((2, 4, 6, 7))
W = rng.standard_normal((6, 2, 3, 2))
B = rng.standard_normal(6)
WT = rng.standard_normal((4, 3, 3, 3))

CASES = {
    "conv2d": (lambda x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=1, dilation=(1, 2), groups=2),
               [X, W, B]),
    "conv1d": (lambda x, w: F.conv1d(x, w, padding="same", groups=2), [X[:, :, 0], W[:, :, 0]]),
    "conv_transpose2d": (lambda x, w: F.conv_transpose2d(x, w, stride=2, padding=1, output_padding=1),
                         [X, WT]),
    "pad_reflect": (lambda x: F.pad(x, (1, 2, 2, 1), mode="reflect"), [X]),
    "pad_replicate": (lambda x: F.pad(x, (1, 2, 2, 1), mode="replicate"), [X]),
    "pad_circular": (lambda x: F.pad(x, (1, 2, 2, 1), mode="circular"), [X]),
    "pad_constant": (lambda x: F.pad(x, (1, -1, 2, 0), value=0.5), [X]),
    "max_pool2d": (lambda x: F.max_pool2d(x, 3, 2, 1, ceil_mode=True), [X]),
    "max_pool2d_tiled": (lambda x: F.max_pool2d(x[:, :, :6, :6], 2), [X]),
    "avg_pool2d": (lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False), [X]),
    "adaptive_avg_pool2d": (lambda x: F.adaptive_avg_pool2d(x, (4, 3)), [X]),
    "adaptive_max_pool2d": (lambda x: F.adaptive_max_pool2d(x, (4, 3)), [X]),
    "interpolate": (lambda x: F.interpolate(x, scale_factor=2), [X]),
    "interpolate_size": (lambda x: F.interpolate(x, size=(4, 9)), [X]),
    "batch_norm": (lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), [X, B[:4], B[2:]]),
    "layer_norm": (lambda x, w, b: F.layer_norm(x, (7,), w, b), [X, X[0, 0, 0], X[0, 0, 1]]),
    "group_norm": (lambda x, w, b: F.group_norm(x, 2, w, b), [X, B[:4], B[2:]]),
}


def _run(fn, arrays, xp):
    leaves = [dp.tensor(backend.to_module(a.copy(), xp), requires_grad=True) for a in arrays]
    out = fn(*leaves)
    upstream = np.random.default_rng(1).standard_normal(out.shape)
    out.backward(backend.to_module(upstream, xp))
    return out, [leaf.grad_array for leaf in leaves]


@pytest.mark.parametrize("name", sorted(CASES))
def test_image_ops_stay_on_the_array_library_of_their_inputs(name):
    fn, arrays = CASES[name]
    expected, expected_grads = _run(fn, arrays, np)
    out, grads = _run(fn, arrays, standin)
    assert isinstance(out.array, StandinArray), f"{name}: the output fell back to {type(out.array)}"
    np.testing.assert_allclose(out.array.get(), expected.array, atol=1e-12)
    for got, want in zip(grads, expected_grads, strict=True):
        assert isinstance(got, StandinArray), f"{name}: a gradient fell back to {type(got)}"
        np.testing.assert_allclose(got.get(), want, atol=1e-12)


def test_a_cnn_with_batch_norm_and_dropout2d_trains_on_the_stand_in():
    dp.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(), nn.Dropout2d(0.2),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(12, 2)).to("standin")
    x = dp.tensor(standin.asarray(np.random.default_rng(0).standard_normal((4, 1, 4, 4)).astype(np.float32)))
    loss = nn.CrossEntropyLoss()(model(x), dp.tensor(standin.asarray(np.array([0, 1, 1, 0]))))
    loss.backward()
    for name, p in model.named_parameters():
        assert isinstance(p.grad_array, StandinArray), name
    assert isinstance(model[1].running_mean.array, StandinArray)
    assert int(model[1].num_batches_tracked.array) == 1
