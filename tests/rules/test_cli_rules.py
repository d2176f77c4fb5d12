"""`deltaprop train --rule NAME` and `deltaprop compare-rules`, run in-process through main([...])."""

from __future__ import annotations

import json

import pytest

from deltaprop.cli import main
from deltaprop.rules import RULES


def test_train_with_a_rule_records_and_plots_the_alignment(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "--rule", "feedback-alignment", "--epochs", "3", "--out", str(out), "--no-progress"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "rule feedback-alignment" in text
    assert "feedback-alignment: angle between its update and the true gradient (last epoch, degrees): " \
           "layer 0 " in text
    history = json.loads((out / "history.json").read_text())["history"]
    assert len(history["angle/0"]) == 3 and history["angle/2"] == pytest.approx([0.0] * 3, abs=1e-3)
    assert 0 < history["angle/0"][-1] < 90
    summary = json.loads((out / "summary.json").read_text())
    assert summary["settings"]["rule"] == "feedback-alignment" and summary["test_accuracy"] > 0.5
    if pytest.importorskip("matplotlib"):
        assert (out / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_rule_options_are_checked(tmp_path, capsys):
    assert main(["train", "--rule", "nope", "--out", str(tmp_path / "a")]) == 2
    error = capsys.readouterr().err
    assert "unknown --rule 'nope'; choose one of: alternating-minimization, backprop" in error
    args = ["train", "--rule", "hsic-bottleneck", "--optimizer", "lm", "--out", str(tmp_path / "b")]
    assert main(args) == 2
    assert "--optimizer lm computes its own step; use one of: sgd, adam" in capsys.readouterr().err
    assert main(["compare-rules", "--optimizer", "lbfgs", "--plot", str(tmp_path / "c.png")]) == 2
    assert "--optimizer lbfgs computes its own step, so it cannot apply" in capsys.readouterr().err
    assert main(["compare-rules", "--rules", "backprop,nope", "--plot", str(tmp_path / "c.png")]) == 2
    assert "--rules: unknown nope; choose from: backprop" in capsys.readouterr().err


def test_compare_rules_prints_a_table_and_draws_the_curves(tmp_path, capsys):
    plot, results = tmp_path / "curves.png", tmp_path / "results.json"
    code = main(["compare-rules", "--rules", "backprop,direct-feedback-alignment,synthetic-gradients",
                 "--epochs", "2", "--hidden", "32,32", "--plot", str(plot), "--json", str(results)])
    assert code == 0
    text = capsys.readouterr().out
    assert "rule" in text and "test acc" in text and "s/epoch" in text and "0 (exact)" in text
    rows = json.loads(results.read_text())
    assert [r["rule"] for r in rows] == ["backprop", "direct-feedback-alignment", "synthetic-gradients"]
    assert all(r["epochs"] == 2 and 0.3 < r["test_accuracy"] <= 1 for r in rows)
    assert rows[0]["mean_angle"] == 0.0 and 0 < rows[1]["mean_angle"] < 90
    if pytest.importorskip("matplotlib"):
        assert plot.read_bytes()[:4] == b"\x89PNG"


def test_compare_rules_starts_every_rule_from_the_same_weights(tmp_path, capsys):
    """Two backprop rows must be identical: same initial weights, same split, same shuffles."""
    results = tmp_path / "results.json"
    assert main(["compare-rules", "--rules", "backprop,backprop", "--epochs", "2", "--hidden", "16",
                 "--plot", str(tmp_path / "p.png"), "--json", str(results), "--quiet"]) == 0
    first, second = json.loads(results.read_text())
    assert first["history"] == second["history"] and first["test_accuracy"] == second["test_accuracy"]


@pytest.mark.slow
@pytest.mark.parametrize("name", list(RULES))
def test_each_rules_defaults_train_the_digits_with_no_other_option(name, tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--dataset", "digits", "--rule", name, "--out", str(out), "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["test_accuracy"] >= 0.93, f"{name}: {summary['test_accuracy']:.4f}"
