"""`deltaprop train` on sequence tasks and `deltaprop generate`, in-process with tiny settings."""

from __future__ import annotations

import json

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.cli import main


def test_adding_problem_trains_scores_and_saves(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--dataset", "adding", "--model", "gru", "--seq-len", "10", "--samples", "300",
                 "--epochs", "2", "--hidden", "16", "--out", str(out), "--no-progress"]) == 0
    text = capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["dataset"] == "adding" and summary["model"] == "gru" and summary["test_rows"] == 60
    assert "predicting 1 always scores MSE 1/6" in text and f"test mse {summary['test_mse']:.4g}" in text
    assert {"model.npz", "model.json", "history.json", "summary.json"} <= {p.name for p in out.iterdir()}

    # the saved model predicts on a .npy of sequences: one row per sequence, the network's own outputs
    sequences = dp.data.sequences.make_adding(5, seq_len=10, seed=3).X.astype(np.float32)
    np.save(tmp_path / "seqs.npy", sequences)
    assert main(["predict", str(out / "model.npz"), "--data", str(tmp_path / "seqs.npy")]) == 0
    lines = capsys.readouterr().out.split()
    expected = dp.load(out / "model.npz").eval()(dp.tensor(sequences)).numpy()[:, 0]
    assert lines[0] == "prediction" and np.allclose([float(v) for v in lines[1:]], expected, rtol=1e-5)
    np.save(tmp_path / "wide.npy", np.zeros((5, 10, 3), np.float32))
    assert main(["predict", str(out / "model.npz"), "--data", str(tmp_path / "wide.npy")]) != 0
    assert "takes sequences of shape (N, T, 2) but" in capsys.readouterr().err


def test_text_model_trains_then_generates(tmp_path, capsys):
    corpus = tmp_path / "poem.txt"
    corpus.write_text("the cat sat on the mat. the dog sat on the log.\n" * 40, encoding="utf-8")
    out = tmp_path / "char"
    assert main(["train", "--data", str(corpus), "--model", "lstm", "--seq-len", "16", "--epochs", "1",
                 "--hidden", "16", "--tbptt", "8", "--out", str(out), "--no-progress"]) == 0
    assert "test bits per character" in capsys.readouterr().out
    info = json.loads((out / "model.json").read_text())
    assert info["extra"]["vocabulary"] == "".join(sorted(set(corpus.read_text())))
    assert main(["generate", str(out / "model.npz"), "--prompt", "the ", "--length", "20", "--temperature",
                 "0"]) == 0
    generated = capsys.readouterr().out
    assert generated.startswith("the ") and len(generated.rstrip("\n")) == 24
    assert main(["generate", str(out / "model.npz"), "--prompt", "XYZ"]) != 0
    assert "never saw" in capsys.readouterr().err
    np.save(tmp_path / "ids.npy", np.zeros((2, 16), np.int64))
    assert main(["predict", str(out / "model.npz"), "--data", str(tmp_path / "ids.npy")]) != 0
    assert "use 'deltaprop generate" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--dataset", "seq-digits", "--seq-len", "5"], "always 8 steps"),
    (["--dataset", "adding", "--tbptt", "0"], "--tbptt must be >= 1"),
    (["--dataset", "digits", "--model", "lstm"], "needs a sequence data set"),
    (["--data", "missing.txt"], "missing.txt"),
    (["--dataset", "adding", "--model", "lstm", "--activation", "relu"],
     "--activation applies to --model rnn"),
])
def test_bad_sequence_options_are_one_line_errors(tmp_path, capsys, argv, message):
    assert main(["train", *argv, "--out", str(tmp_path / "x"), "--no-progress", "--epochs", "1"]) != 0
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_generate_refuses_a_model_without_vocabulary(tmp_path, capsys):
    out = tmp_path / "mlp"
    assert main(["train", "--dataset", "xor", "--epochs", "2", "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["generate", str(out / "model.npz")]) != 0
    assert "not a character model" in capsys.readouterr().err
