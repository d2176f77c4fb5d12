"""The CNN benchmark's lean NumPy floor computes the same training step as deltaprop (else it is no floor)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import deltaprop as dp
from deltaprop import nn, optim

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from lean_numpy_cnn import LeanCNN  # noqa: E402

SPEC = [("conv", 1, 2, 3, 1), ("relu",), ("pool",), ("conv", 2, 3, 3, 0), ("relu",), ("pool",),
        ("flatten",), ("fc", 12, 5), ("relu",), ("fc", 5, 4)]


def _copy_from_lean(model: nn.Sequential, lean: LeanCNN) -> None:
    """The floor keeps conv weights as [W; b], rows (i, j, c), dense ones (in, out); flattens (h, w, c)."""
    convs = [layer for layer in lean.plan if layer["kind"] == "conv"]
    dense = [layer for layer in lean.plan if layer["kind"] == "fc"]
    for mine, theirs in zip((model[0], model[3]), convs, strict=True):
        o, c, k, _ = mine.weight.shape
        mine.weight.array[...] = theirs["W"][:-1].reshape(k, k, c, o).transpose(3, 2, 0, 1)
        mine.bias.array[...] = theirs["W"][-1]
    first = dense[0]["W"].reshape(2, 2, 3, 5).transpose(3, 2, 0, 1).reshape(5, 12)  # (h, w, c) -> (c, h, w)
    model[7].weight.array[...], model[7].bias.array[...] = first, dense[0]["b"]
    model[9].weight.array[...], model[9].bias.array[...] = dense[1]["W"].T, dense[1]["b"]


def test_lean_cnn_floor_matches_deltaprop_for_sgd():
    rng = np.random.default_rng(0)
    x, labels = rng.standard_normal((6, 12, 12, 1)), rng.integers(0, 4, 6)
    lean = LeanCNN(SPEC, (12, 12, 1), 8, lr=0.05, momentum=0.9, dtype=np.float64)
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(2, 3, 3),
                          nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(12, 5), nn.ReLU(),
                          nn.Linear(5, 4)).double()
    _copy_from_lean(model, lean)
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for _ in range(3):
        loss = lean.step(x, labels)
        expected = opt.train_step(model, nn.CrossEntropyLoss(), dp.tensor(x.transpose(0, 3, 1, 2)),
                                  dp.tensor(labels))[0]
        assert abs(loss - expected) < 1e-12
    check = nn.Sequential(*[type(m).from_config(m.get_config()) for m in model]).double()
    _copy_from_lean(check, lean)  # the floor's weights after 3 steps, in deltaprop's layout
    for name, value in model.state_dict().items():
        np.testing.assert_allclose(check.state_dict()[name], value, rtol=1e-10, atol=1e-13, err_msg=name)
