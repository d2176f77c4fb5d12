"""Bad input: one line on stderr naming the problem and the fix, exit code 2, no traceback."""

from __future__ import annotations

import pytest

from deltaprop.cli import main


def run_error(capsys, argv: list[str]) -> str:
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 2, captured
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err
    assert lines[0].startswith("deltaprop")
    return lines[0]


def test_missing_data_file(capsys, tmp_path):
    line = run_error(capsys, ["train", "--data", str(tmp_path / "nope.csv"), "--out", str(tmp_path)])
    assert "nope.csv" in line and "no such file" in line


def test_missing_target_column_lists_columns(capsys, digits_csv, tmp_path):
    argv = ["train", "--data", str(digits_csv), "--target", "lable", "--out", str(tmp_path)]
    line = run_error(capsys, argv)
    assert "'lable'" in line and "did you mean 'label'" in line and "p63, label" in line


def test_non_numeric_feature_column(capsys, tmp_path, write_csv):
    path = write_csv(tmp_path / "text.csv", ["a", "colour", "y"],
                     [[1.0, "red", 0], [2.0, "blue", 1], [3.0, "red", 0], [4.0, "blue", 1]] * 5)
    line = run_error(capsys, ["train", "--data", str(path), "--target", "y", "--out", str(tmp_path)])
    assert "text.csv" in line


@pytest.mark.parametrize(
    ("option", "value", "listed"),
    [
        ("--activation", "foo", "relu"),
        ("--optimizer", "adamax", "adam"),
        ("--loss", "hinge", "cross_entropy"),
    ],
)
def test_unknown_option_value_lists_choices(capsys, tmp_path, option, value, listed):
    line = run_error(capsys, ["train", option, value, "--out", str(tmp_path)])
    assert f"unknown {option} '{value}'" in line and listed in line


def test_loss_that_does_not_fit_the_task(capsys, regression_csv, tmp_path):
    line = run_error(capsys, ["train", "--data", str(regression_csv), "--target", "y", "--loss",
                              "cross_entropy", "--out", str(tmp_path)])
    assert "regress" in line and "mse" in line


def test_unknown_dataset(capsys, tmp_path):
    line = run_error(capsys, ["train", "--dataset", "imagenet", "--out", str(tmp_path)])
    assert "'imagenet'" in line and "digits" in line and "--data" in line


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["train", "--hidden", "64,x"], "--hidden"),
        (["train", "--hidden", "64,-3"], "--hidden"),
        (["train", "--epochs", "0"], "--epochs"),
        (["train", "--lr", "-1"], "--lr"),
        (["train", "--val-split", "1.5"], "--val-split"),
        (["train", "--epochs", "ten"], "--epochs"),
        (["train", "--bogus"], "--bogus"),
        (["train", "--task", "cluster"], "cluster"),
        (["frobnicate"], "frobnicate"),
        (["predict"], "MODEL"),
        (["train", "--data", "x.csv", "--dataset", "digits"], "not allowed with"),
        (["train", "--target", "label"], "--data"),
        (["train", "--patience", "0"], "--patience"),
        (["train", "--patience", "3", "--val-split", "0"], "--val-split"),
        (["train", "--dropout", "1"], "--dropout"),
        (["train", "--dataset", "xor", "--data-dir", "."], "--data-dir"),
        (["train", "--dataset", "mnist", "--data-dir", "/nonexistent/mnist"], "--data-dir"),
        (["train", "--weight-decay", "-0.1"], "--weight-decay"),
    ],
)
def test_usage_errors_are_one_line(capsys, tmp_path, argv, needle):
    assert needle in run_error(capsys, [*argv, "--out", str(tmp_path)] if argv[0] == "train" else argv)


def test_momentum_with_an_optimizer_without_it(capsys, tmp_path):
    line = run_error(capsys, ["train", "--optimizer", "adam", "--momentum", "0.9", "--epochs", "1",
                              "--out", str(tmp_path)])
    assert "--momentum" in line


def test_diverging_training_is_reported_not_crashed(capsys, tmp_path):
    """A learning rate of 1e8 blows up; the non-finite guard's message arrives as one line."""
    line = run_error(capsys, ["train", "--optimizer", "sgd", "--lr", "1e8", "--epochs", "3",
                              "--out", str(tmp_path), "--no-progress"])
    assert "nan" in line.lower() or "non-finite" in line.lower() or "inf" in line.lower()


def test_help_exits_zero(capsys):
    assert main(["--help"]) == 0
    assert "train" in capsys.readouterr().out
    assert main(["train", "--help"]) == 0
    assert "--hidden" in capsys.readouterr().out


def test_no_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


def test_explain_is_dispatched_with_its_arguments(monkeypatch):
    """`deltaprop explain ...` hands its arguments, untouched, to deltaprop.inspect.explain.main."""
    import sys
    import types

    seen = []
    fake = types.ModuleType("deltaprop.inspect.explain")
    fake.main = lambda argv: seen.append(argv) or 7
    monkeypatch.setitem(sys.modules, "deltaprop.inspect.explain", fake)
    assert main(["explain", "--model", "m.npz", "--layer", "2"]) == 7
    assert seen == [["--model", "m.npz", "--layer", "2"]]
