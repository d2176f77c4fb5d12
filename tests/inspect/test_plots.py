"""Every plot function returns a Figure and writes a non-empty PNG (Agg backend)."""

import numpy as np
import pytest

pytest.importorskip("matplotlib")

import deltaprop as dp  # noqa: E402
from deltaprop import nn  # noqa: E402
from deltaprop.inspect import plots  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"


def _check(fig, path):
    data = path.read_bytes()
    assert data.startswith(PNG) and len(data) > 1000
    assert hasattr(fig, "savefig")
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_error_and_prediction_by_iteration(tmp_path):
    errors = np.linspace(1.0, 0.1, 50) ** 2
    _check(plots.plot_error_by_iteration(errors, tmp_path / "e.png"), tmp_path / "e.png")
    preds = np.linspace(0.2, 0.7, 50)
    _check(plots.plot_prediction_by_iteration(preds, 0.7, tmp_path / "p.png"), tmp_path / "p.png")


def test_history_and_gradient_norms(tmp_path):
    history = {
        "loss": [1.0, 0.5, 0.3],
        "val_loss": [1.1, 0.6, 0.4],
        "accuracy": [0.5, 0.7, 0.8],
        "val_accuracy": [0.4, 0.6, 0.7],
        "grad_norm/0": [1.0, 0.1, 0.01],
        "grad_norm/2": [2.0, 1.0, 0.5],
    }
    _check(plots.plot_history(history, path=tmp_path / "h.png"), tmp_path / "h.png")
    _check(plots.plot_gradient_norms(history, tmp_path / "g.png"), tmp_path / "g.png")
    with pytest.raises(ValueError, match="GradientFlow"):
        plots.plot_gradient_norms({"loss": [1.0]})


def test_decision_boundary_and_error_surface(tmp_path):
    dp.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 2))
    X = np.random.default_rng(0).normal(size=(30, 2))
    y = (X[:, 0] > 0).astype(int)
    _check(plots.plot_decision_boundary(model, X, y, tmp_path / "d.png", resolution=40), tmp_path / "d.png")
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        plots.plot_decision_boundary(model, np.zeros((3, 3)), y[:3])
    fig = plots.plot_error_surface((1, 1, 0), tmp_path / "s.png")
    _check(fig, tmp_path / "s.png")
