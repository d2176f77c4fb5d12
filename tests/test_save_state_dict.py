"""dp.save and dp.load of state dicts, as ``torch.save(model.state_dict(), f)`` code uses them; no pickle."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn


def _model():
    return nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2))


def _steps(model, optimizer, count, seed):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        x, y = dp.tensor(rng.standard_normal((8, 3))), dp.tensor(rng.integers(0, 2, 8))
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x.float()), y).backward()
        optimizer.step()


@pytest.mark.parametrize("make", [lambda p: dp.optim.Adam(p, lr=0.01), lambda p: dp.optim.SGD(p, 0.1, 0.9)])
def test_a_checkpoint_dict_of_state_dicts_resumes_training_exactly(tmp_path, make):
    dp.manual_seed(0)
    model, other = _model(), _model()
    optimizer = make(model.parameters())
    _steps(model, optimizer, 3, seed=1)
    path = tmp_path / "checkpoint.pt"
    dp.save({"epoch": 3, "model_state_dict": model.state_dict(),
             "optimizer_state_dict": optimizer.state_dict(), "loss": 0.25}, path)  # fmt: skip
    assert all(name.endswith(".npy") for name in zipfile.ZipFile(path).namelist())  # arrays, no pickle
    checkpoint = dp.load(path, map_location="cpu", weights_only=True)
    assert checkpoint["epoch"] == 3 and checkpoint["loss"] == 0.25
    other.load_state_dict(checkpoint["model_state_dict"])
    resumed = make(other.parameters())
    resumed.load_state_dict(checkpoint["optimizer_state_dict"])
    _steps(model, optimizer, 4, seed=2)
    _steps(other, resumed, 4, seed=2)
    for a, b in zip(model.parameters(), other.parameters(), strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_a_state_dict_alone_round_trips(tmp_path):
    model = _model()
    dp.save(model.state_dict(), tmp_path / "weights.pth")
    loaded = dp.load(tmp_path / "weights.pth")
    assert set(loaded) == set(model.state_dict())
    fresh = _model().load_state_dict(loaded)
    for a, b in zip(model.parameters(), fresh.parameters(), strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_map_location_moves_a_saved_module(tmp_path):
    import deltaprop.testing  # noqa: F401 - registers the stand-in device

    dp.save(_model(), tmp_path / "model.npz")
    moved = dp.load(tmp_path / "model.npz", map_location=dp.device("standin"))
    assert all(p.device == "standin" for p in moved.parameters())
