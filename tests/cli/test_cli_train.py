"""`deltaprop train`: run in-process through main([...]) with few epochs and a tmp output folder."""

from __future__ import annotations

import json

import numpy as np
import pytest

import deltaprop
from deltaprop.cli import main
from deltaprop.serialize import load


def test_default_train_reaches_97_percent_on_digits(tmp_path, capsys):
    """The main job: `deltaprop train` with no options (seeded) must reach >= 97% held-out accuracy."""
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), "--no-progress"]) == 0
    text = capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["test_accuracy"] >= 0.97
    assert summary["test_rows"] == 360 and summary["dataset"] == "digits"
    assert f"test accuracy {summary['test_accuracy']:.4f}" in text
    assert "confusion matrix" in text
    matrix = np.array(summary["confusion_matrix"])
    assert matrix.shape == (10, 10) and matrix.sum() == 360
    assert np.trace(matrix) / 360 == pytest.approx(summary["test_accuracy"])
    history = json.loads((out / "history.json").read_text())
    losses = history["history"]["loss"] if "history" in history else history["loss"]
    assert len(losses) == 30 and losses[-1] < losses[0] / 5
    assert "epoch 30/30" in text
    for name in ("model.npz", "model.json", "history.json"):
        assert (out / name).is_file()


def test_plot_written_when_matplotlib_installed(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "run"
    assert main(["train", "--epochs", "2", "--out", str(out), "--quiet"]) == 0
    png = (out / "plot.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 2000


def test_saved_model_takes_raw_inputs(tmp_path, digits_arrays):
    """The standardization is folded into the first layer: the loaded model on raw pixels scores well."""
    out = tmp_path / "run"
    assert main(["train", "--epochs", "5", "--out", str(out), "--quiet"]) == 0
    model = load(out / "model.npz")
    X, y = digits_arrays
    with deltaprop.no_grad():
        pred = model(deltaprop.tensor(X.astype(np.float32))).array.argmax(axis=1)
    assert np.mean(pred == y) > 0.9
    info = json.loads((out / "model.json").read_text())
    assert info["class_names"] == [str(i) for i in range(10)] and info["task"] == "classify"


def test_early_stopping_dropout_and_weight_decay(tmp_path, capsys):
    """--patience stops on the validation loss and keeps the best epoch; --dropout layers save and load."""
    out = tmp_path / "run"
    argv = ["train", "--hidden", "32", "--dropout", "0.3", "--weight-decay", "1e-3", "--val-split", "0.2",
            "--patience", "1", "--epochs", "200", "--lr", "0.01", "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "early stopping patience 1" in text and "dropout 0.3" in text and "weight decay 0.001" in text
    history = json.loads((out / "history.json").read_text())
    losses = history["history"]["val_loss"] if "history" in history else history["val_loss"]
    assert len(losses) < 200  # it stopped
    assert "stopped: early_stopping" in text
    model = load(out / "model.npz")
    assert any(type(m).__name__ == "Dropout" for m in model.modules())
    summary = json.loads((out / "summary.json").read_text())
    assert summary["settings"]["patience"] == 1 and summary["test_accuracy"] > 0.9


def test_parity_n_is_a_named_dataset(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--dataset", "parity-3", "--epochs", "2", "--out", str(out), "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["dataset"] == "parity-3" and summary["network"].startswith("3-")


def test_xor_truth_table_is_learned_and_scored_on_its_rows(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--dataset", "xor", "--out", str(out), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "scores below are on the training data" in text and "4 rows" in text
    assert json.loads((out / "summary.json").read_text())["test_accuracy"] == 1.0


@pytest.mark.parametrize("spelling", ["gauss-newton", "gauss_newton", "Gauss-Newton"])
def test_optimizer_names_take_either_separator(tmp_path, spelling):
    argv = ["train", "--dataset", "parity-3", "--optimizer", spelling, "--epochs", "3"]
    assert main([*argv, "--out", str(tmp_path), "--quiet"]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["settings"]["optimizer"] == "gauss-newton"


def test_diagnose_prints_gradient_flow_and_flags_saturation(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "--diagnose", "--epochs", "2", "--activation", "sigmoid", "--hidden", "64,64,64,64",
            "--optimizer", "sgd", "--lr", "0.5", "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "gradient flow" in text and "layer 0: grad norm" in text
    assert "warning: GradientFlow" in text and "saturate" in text and "fix:" in text
    history = json.loads((out / "history.json").read_text())
    series = history.get("history", history)
    assert len(series["grad_norm/0"]) == 2


def test_options_shape_the_network_and_run(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", "--hidden", "16,8", "--activation", "tanh", "--optimizer", "sgd", "--lr", "0.05",
                 "--momentum", "0.5", "--epochs", "3", "--batch-size", "64", "--val-split", "0.2",
                 "--test-split", "0.25", "--seed", "3", "--out", str(out), "--no-progress"])
    assert code == 0
    text = capsys.readouterr().out
    assert "network 64-16-8-10 tanh" in text and "sgd lr=0.05 momentum=0.5" in text
    model = load(out / "model.npz")
    shapes = [tuple(p.shape) for p in model.parameters()]
    assert shapes == [(16, 64), (16,), (8, 16), (8,), (10, 8), (10,)]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["test_rows"] == 450  # 25% of 1797, rounded up by the split
    history = json.loads((out / "history.json").read_text())
    hist = history.get("history", history)
    assert len(hist["val_loss"]) == 3


def test_same_seed_same_model(tmp_path):
    for name in ("a", "b"):
        assert main(["train", "--epochs", "2", "--out", str(tmp_path / name), "--quiet", "--seed", "7"]) == 0
    a = load(tmp_path / "a" / "model.npz").state_dict()
    b = load(tmp_path / "b" / "model.npz").state_dict()
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_csv_classification_autodetected(tmp_path, digits_csv, capsys):
    out = tmp_path / "run"
    assert main(["train", "--data", str(digits_csv), "--target", "label", "--epochs", "10",
                 "--out", str(out), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "10 classes" in text
    summary = json.loads((out / "summary.json").read_text())
    assert summary["task"] == "classify" and summary["test_accuracy"] > 0.9


def test_csv_regression_in_original_units(tmp_path, regression_csv, capsys):
    """Targets near 100 are standardized for training and rescaled in the saved last layer."""
    out = tmp_path / "run"
    assert main(["train", "--data", str(regression_csv), "--target", "y", "--hidden", "0",
                 "--epochs", "60", "--lr", "0.02", "--out", str(out), "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["task"] == "regress" and summary["test_r2"] > 0.99
    model = load(out / "model.npz")  # a linear model: recovers y = 3a - 2b + 100
    W, b = model[0].weight.array, model[0].bias.array
    np.testing.assert_allclose(W.ravel(), [3, -2], atol=0.05)
    np.testing.assert_allclose(b, [100], atol=0.1)


def test_task_override_and_loss_choice(tmp_path, digits_csv):
    out = tmp_path / "run"
    assert main(["train", "--data", str(digits_csv), "--target", "label", "--task", "regress",
                 "--epochs", "2", "--out", str(out), "--quiet"]) == 0
    assert json.loads((out / "summary.json").read_text())["task"] == "regress"
    assert main(["train", "--loss", "mse", "--epochs", "3", "--out", str(out), "--quiet"]) == 0
    assert json.loads((out / "summary.json").read_text())["test_accuracy"] > 0.5
