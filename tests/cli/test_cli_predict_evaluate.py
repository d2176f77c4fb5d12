"""`deltaprop predict` and `deltaprop evaluate` on a model written by `deltaprop train`."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from deltaprop.cli import main


def _write_csv(path, columns, rows):
    with open(path, "w") as f:
        f.write(",".join(columns) + "\n")
        for row in rows:
            f.write(",".join(str(v) for v in row) + "\n")
    return path

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One model trained on the digits CSV (10 epochs), shared by the tests below."""
    folder = tmp_path_factory.mktemp("cli")
    d = np.load(ROOT / "deltaprop" / "datasets" / "digits.npz")
    X, y = d["images"].reshape(len(d["images"]), -1).astype(int), d["target"].astype(int)
    columns = [f"p{i}" for i in range(64)] + ["label"]
    data = _write_csv(folder / "digits.csv", columns, np.column_stack([X, y]))
    assert main(["train", "--data", str(data), "--target", "label", "--epochs", "10",
                 "--out", str(folder / "run"), "--quiet"]) == 0
    return folder / "run" / "model.npz", data, X, y


def test_predict_writes_classes_and_probabilities(trained, tmp_path):
    model, data, X, y = trained
    out = tmp_path / "preds.csv"
    assert main(["predict", str(model), "--data", str(data), "--out", str(out)]) == 0
    with open(out, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["prediction"] + [f"p_{i}" for i in range(10)]
    assert len(rows) == 1 + len(y)
    pred = np.array([int(r[0]) for r in rows[1:]])
    probs = np.array([[float(v) for v in r[1:]] for r in rows[1:]])
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    assert np.array_equal(probs.argmax(axis=1), pred)
    assert np.mean(pred == y) > 0.95  # mostly rows it was trained on


def test_predict_matches_columns_by_name_in_any_order(trained, tmp_path, capsys, write_csv):
    """Without the label column and with the columns reversed, the predictions are unchanged."""
    model, data, X, y = trained
    reversed_csv = write_csv(tmp_path / "rev.csv", [f"p{i}" for i in reversed(range(64))], X[:50, ::-1])
    assert main(["predict", str(model), "--data", str(data)]) == 0
    first = capsys.readouterr().out.splitlines()[1:51]
    assert main(["predict", str(model), "--data", str(reversed_csv)]) == 0
    second = capsys.readouterr().out.splitlines()[1:]
    # Same classes; probabilities equal up to float32 summation order (column order changes it).
    first_rows = np.array([[float(v) for v in line.split(",")] for line in first])
    second_rows = np.array([[float(v) for v in line.split(",")] for line in second])
    assert np.array_equal(first_rows[:, 0], second_rows[:, 0])
    np.testing.assert_allclose(second_rows[:, 1:], first_rows[:, 1:], rtol=1e-4, atol=1e-6)


def test_evaluate_prints_accuracy_and_confusion(trained, capsys):
    model, data, X, y = trained
    assert main(["evaluate", str(model), "--data", str(data), "--target", "label"]) == 0
    text = capsys.readouterr().out
    accuracy = float(text.split()[1])
    assert 0.95 < accuracy <= 1.0
    matrix_rows = [line.split()[1:] for line in text.splitlines()[3:]]
    counts = np.array(matrix_rows, dtype=int)
    assert counts.shape == (10, 10) and counts.sum() == len(y)
    assert np.trace(counts) == round(accuracy * len(y))


def test_predict_feature_count_mismatch(trained, tmp_path, capsys, write_csv):
    model, *_ = trained
    bad = write_csv(tmp_path / "bad.csv", ["a", "b", "c"], [[1, 2, 3], [4, 5, 6]])
    assert main(["predict", str(model), "--data", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "expects 64 feature columns" in err and "has 3" in err


def test_evaluate_unknown_label(trained, tmp_path, capsys, write_csv):
    model, data, X, y = trained
    labels = np.where(y == 3, 42, y)
    path = write_csv(tmp_path / "odd.csv", [f"p{i}" for i in range(64)] + ["label"],
                     np.column_stack([X, labels]))
    assert main(["evaluate", str(model), "--data", str(path), "--target", "label"]) == 2
    err = capsys.readouterr().err
    assert "42" in err and "never saw" in err


def test_missing_model_file(tmp_path, digits_csv, capsys):
    assert main(["predict", str(tmp_path / "none.npz"), "--data", str(digits_csv)]) == 2
    err = capsys.readouterr().err
    assert "none.npz" in err and "deltaprop train" in err


def test_not_a_model_file(tmp_path, digits_csv, capsys):
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    assert main(["evaluate", str(junk), "--data", str(digits_csv), "--target", "label"]) == 2
    assert "junk.npz" in capsys.readouterr().err


def test_regression_predict_and_evaluate(tmp_path, regression_csv, capsys):
    out = tmp_path / "run"
    assert main(["train", "--data", str(regression_csv), "--target", "y", "--hidden", "0", "--epochs", "60",
                 "--lr", "0.02", "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(out / "model.npz"), "--data", str(regression_csv), "--target", "y"]) == 0
    text = capsys.readouterr().out
    assert float(text.split("r2")[1].split()[0]) > 0.99
    assert main(["predict", str(out / "model.npz"), "--data", str(regression_csv)]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[0] == "y"
    data = np.loadtxt(regression_csv, delimiter=",", skiprows=1)
    pred = np.array([float(r) for r in rows[1:]])
    assert np.abs(pred - data[:, 2]).max() < 0.5


def test_python_dash_m_subprocess(tmp_path):
    """The real command line: `python -m deltaprop train --epochs 2 ...` in a fresh process."""
    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "deltaprop", "train", "--epochs", "2", "--out", str(out), "--no-progress"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "test accuracy" in proc.stdout and "epoch 2/2" in proc.stdout
    assert (out / "model.npz").is_file()
    bad = subprocess.run([sys.executable, "-m", "deltaprop", "train", "--activation", "foo"],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert "Traceback" not in bad.stderr
