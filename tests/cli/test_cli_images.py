"""Image models on the command line: `--model cnn|lenet`, images as (N, C, H, W), predict on image files."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.cli import main
from deltaprop.data import write_idx
from deltaprop.serialize import load

ROOT = Path(__file__).resolve().parents[2]


def _digits():
    d = np.load(ROOT / "deltaprop" / "datasets" / "digits.npz")
    return d["images"].astype(np.float32), d["target"].astype(int)


@pytest.mark.slow
def test_the_default_cnn_learns_the_digits(tmp_path, capsys):
    """`deltaprop train --model cnn` (seeded, its defaults) treats the 8x8 digits as images: >= 97%."""
    out = tmp_path / "run"
    assert main(["train", "--model", "cnn", "--out", str(out), "--no-progress"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["test_accuracy"] >= 0.97
    assert summary["network"] == "1x8x8 -conv-> 32 -conv-> 64 -> 128 -> 10"
    text = capsys.readouterr().out
    assert "optimizer adam lr=0.001, 15 epochs, batch 32, validation 0.1, dropout 0.3" in text
    info = json.loads((out / "model.json").read_text())
    assert info["extra"] == {"input_shape": [1, 8, 8], "pixel_scale": 1.0}


@pytest.fixture(scope="module")
def small_cnn(tmp_path_factory):
    """A small cnn trained briefly on the digits, shared by the prediction tests."""
    out = tmp_path_factory.mktemp("images") / "run"
    assert main(["train", "--model", "cnn", "--channels", "8", "--hidden", "32", "--epochs", "5",
                 "--out", str(out), "--quiet"]) == 0
    return out


def _predictions(capsys) -> tuple[list[str], np.ndarray]:
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    return [r[0] for r in rows[1:]], np.array([[float(v) for v in r[1:]] for r in rows[1:]])


def test_the_saved_cnn_takes_raw_images_and_matches_predict_on_npy_idx_and_csv(small_cnn, tmp_path, capsys):
    images, labels = _digits()
    model = load(small_cnn / "model.npz").eval()
    assert type(model[0]).__name__ == "Conv2d" and model[0].out_channels == 8
    with dp.no_grad():
        expected = model(dp.tensor(images[:20, None])).numpy().argmax(axis=1)
    # the pixel scaling is folded into the first convolution: raw pixels score as the held-out test did
    held_out = json.loads((small_cnn / "summary.json").read_text())["test_accuracy"]
    with dp.no_grad():
        raw = np.mean(model(dp.tensor(images[:, None])).numpy().argmax(axis=1) == labels)
    assert raw > 0.8 and raw > held_out - 0.05
    np.save(tmp_path / "x.npy", images[:20])  # (N, H, W): the channel axis is added
    write_idx(tmp_path / "x-idx3-ubyte.gz", images[:20].astype(np.uint8))
    columns = [f"pixel_{r}_{c}" for r in range(8) for c in range(8)]
    with open(tmp_path / "x.csv", "w") as f:
        f.write(",".join(columns) + "\n")
        f.writelines(",".join(str(int(v)) for v in row) + "\n" for row in images[:20].reshape(20, -1))
    for name in ("x.npy", "x-idx3-ubyte.gz", "x.csv"):
        assert main(["predict", str(small_cnn / "model.npz"), "--data", str(tmp_path / name)]) == 0
        predicted, probabilities = _predictions(capsys)
        assert [int(p) for p in predicted] == expected.tolist(), name
        np.testing.assert_allclose(probabilities.sum(axis=1), 1, atol=1e-4)


def test_evaluate_reads_pixel_columns_into_images(small_cnn, tmp_path, capsys):
    images, labels = _digits()
    columns = [f"pixel_{r}_{c}" for r in range(8) for c in range(8)] + ["label"]
    with open(tmp_path / "d.csv", "w") as f:
        f.write(",".join(columns) + "\n")
        for row, label in zip(images[:100].reshape(100, -1), labels[:100], strict=True):
            f.write(",".join(str(int(v)) for v in row) + f",{label}\n")
    assert main(["evaluate", str(small_cnn / "model.npz"), "--data", str(tmp_path / "d.csv"),
                 "--target", "label"]) == 0
    assert "accuracy" in capsys.readouterr().out


def test_image_files_of_the_wrong_size_are_refused_by_name(small_cnn, tmp_path, capsys):
    np.save(tmp_path / "big.npy", np.zeros((3, 28, 28), np.float32))
    assert main(["predict", str(small_cnn / "model.npz"), "--data", str(tmp_path / "big.npy")]) == 2
    assert "the model takes 1x8x8 per example" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "message"), [
    (["--model", "lenet"], "LeNet-5) needs images of at least 12x12 pixels"),
    (["--channels", "8"], "--channels applies to the image models"),
    (["--model", "cnn", "--channels", "x"], "--channels"),
    (["--model", "cnn", "--image-shape", "2,2,2"], "--image-shape 2,2,2 must be three sizes"),
])
def test_image_options_that_cannot_work_say_why(argv, message, tmp_path, capsys):
    assert main(["train", *argv, "--epochs", "1", "--out", str(tmp_path / "r"), "--quiet"]) == 2
    assert message in capsys.readouterr().err


def test_a_csv_of_square_images_trains_a_cnn(tmp_path, capsys):
    images, labels = _digits()
    columns = [f"p{i}" for i in range(64)] + ["label"]
    with open(tmp_path / "d.csv", "w") as f:
        f.write(",".join(columns) + "\n")
        for row, label in zip(images[:300].reshape(300, -1), labels[:300], strict=True):
            f.write(",".join(str(int(v)) for v in row) + f",{label}\n")
    assert main(["train", "--data", str(tmp_path / "d.csv"), "--target", "label", "--model", "cnn",
                 "--channels", "4", "--epochs", "1", "--out", str(tmp_path / "r"), "--quiet"]) == 0
    assert json.loads((tmp_path / "r" / "model.json").read_text())["extra"]["input_shape"] == [1, 8, 8]
