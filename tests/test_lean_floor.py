"""The benchmarks' lean NumPy floor computes the same training step as deltaprop (else it is no floor)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import deltaprop as dp
from deltaprop import nn, optim

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from lean_numpy_mlp import LeanMLP  # noqa: E402


def test_lean_floor_matches_deltaprop_for_sgd_and_adam():
    rng = np.random.default_rng(0)
    x, labels = rng.standard_normal((7, 5)), rng.integers(0, 3, 7)
    for kind in ("sgd", "adam"):
        lean = LeanMLP([5, 4, 3], 8, lr=0.05, momentum=0.9, optimizer=kind, dtype=np.float64)
        model = nn.Sequential(nn.Linear(5, 4, dtype=np.float64), nn.ReLU(), nn.Linear(4, 3, dtype=np.float64))
        for layer, w, b in zip((model[0], model[2]), lean.W, lean.b, strict=True):
            layer.weight.array[...], layer.bias.array[...] = w, b
        opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9) if kind == "sgd" else optim.Adam(
            model.parameters(), lr=0.05)
        for _ in range(3):
            loss = lean.step(x, labels)
            expected = opt.train_step(model, nn.CrossEntropyLoss(), dp.Tensor(x), dp.Tensor(labels))[0]
            assert abs(loss - expected) < 1e-12
        for layer, w, b in zip((model[0], model[2]), lean.W, lean.b, strict=True):
            np.testing.assert_allclose(w, layer.weight.array, rtol=1e-12, atol=1e-15, err_msg=kind)
            np.testing.assert_allclose(b, layer.bias.array, rtol=1e-12, atol=1e-15, err_msg=kind)
