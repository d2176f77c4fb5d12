"""The hardening audit (issue 10) as a table: one case per finding, each asserting the exact outcome.

Every row is either the right answer or a clear error (its type and a message
naming the cause). CLI rows run the CLI in-process and check one line on
stderr, exit code 2 and no traceback. The rows about loading hostile model
files (memory bombs, corrupt zips, a FIFO) are tested beside serialize.py in
tests/test_model_files_hostile.py; kills during checkpoint saves in
tests/train/test_kill_resume.py; bit-identical resume per optimizer in
tests/train/test_resume_exact.py.
"""

from __future__ import annotations

import errno
import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn, optim
from deltaprop.cli import main

AUDIT: dict[str, object] = {}


def audit(row: str):
    """Register a case under its audit row: test ids read '2.1-bool_labels_to_...'."""

    def register(case):
        AUDIT[f"{row}-{case.__name__.removeprefix('case_')}"] = case
        return case

    return register


def cli_error(capsys, argv: list[str]) -> str:
    """Run the CLI; assert exit code 2, one line on stderr, no traceback; return the line."""
    code = main(argv)
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2, captured
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err
    assert lines[0].startswith("deltaprop")
    return lines[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A digits model from 'deltaprop train' (1 epoch) and a CSV of digits rows with its column names."""
    folder = tmp_path_factory.mktemp("audit")
    assert main(["train", "--epochs", "1", "--out", str(folder / "run"), "--quiet"]) == 0
    d = np.load(Path(dp.__file__).parent / "datasets" / "digits.npz")
    X = d["images"].reshape(len(d["images"]), -1)[:30].astype(int)
    rows = [",".join(f"x{i}" for i in range(64))] + [",".join(map(str, row)) for row in X]
    csv = folder / "digits.csv"
    csv.write_text("\n".join(rows) + "\n")
    return folder / "run" / "model.npz", csv


def logits():
    return dp.tensor(np.array([[2.0, -3.0], [-2.0, 3.0], [4.0, -1.0]]))


# ------------------------------------------------------------------ 2. silently wrong answers

@audit("2.1")
def case_bool_labels_to_cross_entropy_equal_int_labels(tmp_path, capsys, trained, monkeypatch):
    as_bool = nn.CrossEntropyLoss()(logits(), np.array([False, True, False])).item()
    as_int = nn.CrossEntropyLoss()(logits(), np.array([0, 1, 0])).item()
    assert as_bool == as_int == pytest.approx(0.0067153484891)


@audit("2.1")
def case_bool_labels_to_nll_loss_equal_int_labels(tmp_path, capsys, trained, monkeypatch):
    log_probs = nn.LogSoftmax()(logits())
    assert nn.NLLLoss()(log_probs, np.array([False, True, False])).item() == \
        nn.NLLLoss()(log_probs, np.array([0, 1, 0])).item()


@audit("2.1")
def case_bool_labels_in_fit_train_like_int_labels(tmp_path, capsys, trained, monkeypatch):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3)).astype(np.float32)
    histories = []
    for y in ((X[:, 0] > 0), (X[:, 0] > 0).astype(np.int64)):
        dp.manual_seed(0)
        model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
        sgd = optim.SGD(model.parameters(), lr=0.1)
        history = dp.fit(model, X, y, loss="cross_entropy", optimizer=sgd, epochs=3, metrics=["accuracy"],
                         seed=0, progress=False)
        histories.append(history.history)
    assert histories[0] == histories[1]


@audit("2.1")
def case_bool_labels_to_accuracy_equal_int_labels(tmp_path, capsys, trained, monkeypatch):
    from deltaprop.train.metrics import accuracy

    scores = np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7]])
    assert accuracy(scores, np.array([False, True, False])) == accuracy(scores, np.array([0, 1, 0])) == 2 / 3


@audit("2.2")
def case_reduction_axis_out_of_range_raises_axis_error_naming_the_op(tmp_path, capsys, trained, monkeypatch):
    t = dp.tensor(np.ones((2, 3)))
    for op, call in [("sum", lambda: t.sum(axis=5)), ("mean", lambda: t.mean(axis=-3)),
                     ("max", lambda: t.max(axis=2)), ("min", lambda: dp.ops.min(t, axis=2)),
                     ("var", lambda: dp.ops.var(t, axis=9)),
                     ("logsumexp", lambda: dp.ops.logsumexp(t, axis=2))]:
        with pytest.raises(np.exceptions.AxisError, match=rf"^{op}: axis -?\d is out of bounds for array of "
                                                          "dimension 2$"):
            call()
    assert t.sum(axis=-1).array.tolist() == [3.0, 3.0]  # in range, negative axes still count from the end


@audit("2.3")
def case_nan_in_validation_data_is_refused_up_front(tmp_path, capsys, trained, monkeypatch):
    X = np.ones((10, 2), np.float32)
    X_val = X.copy()
    X_val[2, 1] = np.nan
    y = np.ones((10, 1), np.float32)
    model = nn.Linear(2, 1)
    sgd = optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match=r"fit: validation X contains nan at row 2, column 1 \(and 1 non"):
        dp.fit(model, X, y, loss="mse", optimizer=sgd, validation_data=(X_val, y), early_stopping=2,
               progress=False)
    y_val = y.copy()
    y_val[7, 0] = np.inf
    with pytest.raises(ValueError, match=r"fit: validation y contains inf at row 7, column 0"):
        dp.fit(model, X, y, loss="mse", optimizer=sgd, validation_data=(X, y_val), progress=False)


@audit("2.4")
def case_predict_on_a_csv_with_a_nan_cell_names_line_and_column(tmp_path, capsys, trained, monkeypatch):
    model, csv = trained
    lines = csv.read_text().splitlines()
    cells = lines[3].split(",")
    cells[5] = "nan"
    lines[3] = ",".join(cells)
    bad = tmp_path / "nan.csv"
    bad.write_text("\n".join(lines) + "\n")
    line = cli_error(capsys, ["predict", str(model), "--data", str(bad)])
    assert f"column 'x5' (column 6) on line 4 of {bad} holds 'nan'" in line and "fill them in" in line
    assert "nan," not in capsys.readouterr().out


# ------------------------------------------------------------------ 3. exact resume

@audit("3")
def case_lbfgs_float64_state_keeps_its_dtype_on_load(tmp_path, capsys, trained, monkeypatch):
    params = [nn.Parameter(np.ones(3, np.float32))]
    opt = optim.LBFGS(params)

    def closure():
        opt.zero_grad()
        loss = ((params[0] - 2.0) ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    opt.step(closure)
    fresh = optim.LBFGS([nn.Parameter(params[0].array.copy())])
    fresh.load_state_dict(opt.state_dict())
    state = next(iter(fresh.state.values()))
    assert state["d"].dtype == np.float64 and state["prev_flat_grad"].dtype == np.float64
    assert np.array_equal(state["d"], next(iter(opt.state.values()))["d"])


# ------------------------------------------------------------------ 4. the CLI's one line

@audit("4.1")
def case_truncated_model_file_is_one_line(tmp_path, capsys, trained, monkeypatch):
    model, csv = trained
    broken = tmp_path / "model.npz"
    broken.write_bytes(model.read_bytes()[: model.stat().st_size // 2])
    line = cli_error(capsys, ["predict", str(broken), "--data", str(csv)])
    assert f"cannot load model {broken}" in line and "retrain, or copy it again" in line


@audit("4.1")
def case_byte_flipped_model_file_is_one_line(tmp_path, capsys, trained, monkeypatch):
    model, csv = trained
    data = bytearray(model.read_bytes())
    for position in (len(data) // 3, len(data) // 2):
        data[position] ^= 0xFF
    broken = tmp_path / "model.npz"
    broken.write_bytes(bytes(data))
    assert f"cannot load model {broken}" in cli_error(capsys, ["predict", str(broken), "--data", str(csv)])


def _rewrite_meta(model: Path, target: Path, change) -> Path:
    with np.load(model) as archive:
        arrays = {name: archive[name] for name in archive.files}
    meta = json.loads(arrays["__deltaprop__.json"].tobytes())
    arrays["__deltaprop__.json"] = np.frombuffer(change(meta).encode(), np.uint8)
    np.savez(target, **arrays)
    return target


@audit("4.2")
def case_deeply_nested_json_in_the_model_file_is_one_line(tmp_path, capsys, trained, monkeypatch):
    model, csv = trained
    deep = _rewrite_meta(model, tmp_path / "model.npz",
                         lambda meta: json.dumps(meta)[:-1] + ', "x": ' + "[" * 100_000 + "]" * 100_000 + "}")
    assert f"cannot load model {deep}" in cli_error(capsys, ["predict", str(deep), "--data", str(csv)])


@audit("4.2")
def case_deeply_nested_model_json_is_one_line(tmp_path, capsys, trained, monkeypatch):
    model, csv = trained
    (tmp_path / "model.npz").write_bytes(model.read_bytes())
    (tmp_path / "model.json").write_text("[" * 100_000 + "]" * 100_000)
    line = cli_error(capsys, ["predict", str(tmp_path / "model.npz"), "--data", str(csv)])
    assert "model.json: its JSON is nested too deeply" in line


@audit("4.3")
def case_levenberg_marquardt_on_a_huge_network_is_refused_up_front(tmp_path, capsys, trained, monkeypatch):
    argv = ["train", "--optimizer", "lm", "--hidden", "20000", "--out", str(tmp_path / "r")]
    line = cli_error(capsys, argv)
    assert "--optimizer lm solves a 1,500,010 x 1,500,010 system" in line and "GiB" in line
    assert "first-order optimizer such as adam" in line
    assert not (tmp_path / "r").exists()


@audit("4.3")
def case_memory_error_anywhere_is_one_line(tmp_path, capsys, trained, monkeypatch):
    import deltaprop.cli.train as train

    def exhausted(*args, **kwargs):
        raise MemoryError("Unable to allocate 16.4 TiB for an array with shape (1500010, 1500010)")

    monkeypatch.setattr(train, "standardize", exhausted)
    line = cli_error(capsys, ["train", "--out", str(tmp_path / "r")])
    assert "out of memory (Unable to allocate 16.4 TiB" in line and "--hidden" in line


@audit("4.4")
def case_model_json_with_fewer_class_names_than_outputs_is_one_line(tmp_path, capsys, trained, monkeypatch):
    model, csv = trained
    (tmp_path / "model.npz").write_bytes(model.read_bytes())
    info = json.loads(model.with_suffix(".json").read_text())
    info["class_names"] = info["class_names"][:5]
    (tmp_path / "model.json").write_text(json.dumps(info))
    for command in (["predict", str(tmp_path / "model.npz"), "--data", str(csv)],
                    ["evaluate", str(tmp_path / "model.npz"), "--data", str(csv), "--target", "x0"]):
        line = cli_error(capsys, command)
        assert "model.json names 5 classes but" in line and "has 10 outputs" in line
        assert "different runs" in line


@audit("4.5")
def case_explain_with_a_non_finite_number_is_one_line(tmp_path, capsys, trained, monkeypatch):
    for argv in (["--lr", "nan"], ["--lr=inf"], ["--bias", "nan"], ["--inputs", "0.1,nan"],
                 ["--network", "2,3,1", "--target", "inf"]):
        line = cli_error(capsys, ["explain", *argv])
        assert line.startswith("deltaprop explain: error: --") and "is not a finite number" in line, argv


@audit("4.5")
def case_explain_usage_error_is_one_line(tmp_path, capsys, trained, monkeypatch):
    line = cli_error(capsys, ["explain", "--steps", "x"])
    assert "argument --steps: invalid int value: 'x'" in line and "deltaprop explain --help" in line


@audit("4.6")
def case_layer_a_model_file_cannot_run_is_one_line(tmp_path, capsys, trained, monkeypatch):
    model, csv = trained

    def softmax(dim):
        def change(meta):
            layers = meta["architecture"]["config"]["layers"]  # format version 2: each layer's config
            layers.append({"$type": "module", "type": "Softmax", "config": {"dim": dim}})
            return json.dumps(meta)
        return change

    for dim in (1e30, 5):
        broken = _rewrite_meta(model, tmp_path / f"model{dim}.npz", softmax(dim))
        line = cli_error(capsys, ["predict", str(broken), "--data", str(csv)])
        assert f"cannot load model {broken}" in line or f"the model in {broken} cannot run" in line


@audit("4.7")
def case_a_bug_is_not_disguised_as_a_usage_error(tmp_path, capsys, trained, monkeypatch):
    import deltaprop.cli.train as train

    def broken(*args, **kwargs):
        raise TypeError("unsupported operand type(s)")  # what a real bug looks like

    monkeypatch.setattr(train, "standardize", broken)
    assert main(["train", "--out", str(tmp_path / "r")]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "TypeError: unsupported operand" in err
    assert err.strip().splitlines()[-1].startswith("deltaprop train: this is a bug in deltaprop")


@audit("4.7")
def case_key_error_from_a_bug_is_not_a_usage_error(tmp_path, capsys, trained, monkeypatch):
    import deltaprop.cli.predict as predict

    monkeypatch.setattr(predict, "predictions_table", lambda *a: {}["header"])
    model, csv = trained
    assert main(["predict", str(model), "--data", str(csv)]) == 1
    assert "KeyError" in capsys.readouterr().err


# ------------------------------------------------------------------ 6. the output folder as a unit

@audit("6.1")
def case_full_disk_while_writing_the_run_keeps_the_previous_run(tmp_path, capsys, trained, monkeypatch):
    import deltaprop.cli.train as train

    out = tmp_path / "run"
    assert main(["train", "--dataset", "xor", "--epochs", "2", "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    before = {name: (out / name).read_bytes() for name in os.listdir(out)}
    original = train.save_plot

    def full_disk(history, path):
        original(history, path)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(train, "save_plot", full_disk)
    argv = ["train", "--dataset", "xor", "--epochs", "3", "--hidden", "5", "--out", str(out), "--quiet"]
    line = cli_error(capsys, argv)
    assert line == f"deltaprop train: error: No space left on device: {out}; the disk is full: free some " \
                   "space or choose another --out"
    assert {name: (out / name).read_bytes() for name in os.listdir(out)} == before
    assert sorted(os.listdir(tmp_path)) == ["run"]  # no staging folder left behind


@audit("6.2")
def case_a_crash_during_training_leaves_no_half_written_folder(tmp_path, capsys, trained, monkeypatch):
    out = tmp_path / "run"
    argv = ["train", "--optimizer", "sgd", "--lr", "1e8", "--epochs", "3", "--out", str(out)]
    line = cli_error(capsys, argv)
    assert "nan" in line.lower() or "inf" in line.lower()
    assert os.listdir(tmp_path) == []


@audit("6.3")
def case_unwritable_out_is_found_before_training(tmp_path, capsys, trained, monkeypatch):
    (tmp_path / "afile").write_text("x")
    line = cli_error(capsys, ["train", "--out", str(tmp_path / "afile" / "run")])
    assert f"cannot write the run into --out {tmp_path / 'afile' / 'run'}" in line
    assert "test accuracy" not in capsys.readouterr().out
    line = cli_error(capsys, ["train", "--out", str(tmp_path / "afile")])
    assert "is a file, not a folder" in line


@audit("6.3")
def case_out_holding_other_files_is_refused_before_training(tmp_path, capsys, trained, monkeypatch):
    (tmp_path / "data.csv").write_text("a,b\n1,2\n")
    line = cli_error(capsys, ["train", "--out", str(tmp_path)])
    assert "holds files that 'deltaprop train' did not write (data.csv)" in line
    assert (tmp_path / "data.csv").read_text() == "a,b\n1,2\n"


# ------------------------------------------------------------------ 7. CSV files from spreadsheets

def _train_csv(tmp_path, capsys, content: bytes, *extra: str) -> dict:
    tmp_path.mkdir(exist_ok=True)
    path = tmp_path / "data.csv"
    path.write_bytes(content)
    out = tmp_path / "run"
    assert main(["train", "--data", str(path), "--epochs", "2", "--out", str(out), "--quiet", *extra]) == 0, \
        capsys.readouterr()
    capsys.readouterr()
    return json.loads((out / "model.json").read_text())


def _rows(separator: str = ",", names=("a", "b", "label")) -> str:
    lines = [separator.join(names)]
    for i in range(30):
        lines.append(separator.join([str(i % 7), str((i * 3) % 5), str(i % 2)]))
    return "\n".join(lines) + "\n"


@audit("7.1")
def case_csv_with_excel_bom(tmp_path, capsys, trained, monkeypatch):
    info = _train_csv(tmp_path, capsys, b"\xef\xbb\xbf" + _rows().encode(), "--target", "a")
    assert info["feature_names"] == ["b", "label"] and info["target_name"] == "a"


@audit("7.2")
def case_latin1_csv(tmp_path, capsys, trained, monkeypatch):
    info = _train_csv(tmp_path, capsys, _rows(names=("caf\xe9", "b", "label")).encode("latin-1"))
    assert info["feature_names"] == ["caf\xe9", "b"]


@audit("7.2")
def case_wrong_explicit_encoding_names_the_file(tmp_path, capsys, trained, monkeypatch):
    path = tmp_path / "data.csv"
    path.write_bytes(_rows(names=("caf\xe9", "b", "label")).encode("latin-1"))
    argv = ["train", "--data", str(path), "--encoding", "utf-8", "--out", str(tmp_path / "r")]
    line = cli_error(capsys, argv)
    assert f"{path} is not valid utf-8 text (byte 0xe9 on line 1)" in line and "--encoding latin-1" in line


@audit("7.3")
def case_semicolon_and_tab_csv_detected(tmp_path, capsys, trained, monkeypatch):
    for i, separator in enumerate((";", "\t")):
        info = _train_csv(tmp_path / str(i), capsys, _rows(separator).encode())
        assert info["feature_names"] == ["a", "b"] and info["class_names"] == ["0", "1"]


@audit("7.3")
def case_ambiguous_delimiter_asks_for_delimiter(tmp_path, capsys, trained, monkeypatch):
    path = tmp_path / "data.csv"
    path.write_text("a,b;c\n" + "1,2;3\n" * 10)
    line = cli_error(capsys, ["train", "--data", str(path), "--out", str(tmp_path / "r")])
    assert "cannot tell how" in line and "',' and ';'" in line and "--delimiter" in line
    content = b"x,y;z\n" + b"1,2;0\n2,3;1\n" * 10
    info = _train_csv(tmp_path, capsys, content, "--delimiter", ",", "--target", "y;z")
    assert info["feature_names"] == ["x"] and info["class_names"] == ["2;0", "3;1"]


@audit("7.4")
def case_nan_cell_in_training_csv_is_reported_at_its_line_and_column(tmp_path, capsys, trained, monkeypatch):
    text = _rows().splitlines()
    text[5] = "4,nan,1"
    path = tmp_path / "data.csv"
    path.write_text("\n".join(text) + "\n")
    line = cli_error(capsys, ["train", "--data", str(path), "--out", str(tmp_path / "r")])
    assert line == (f"deltaprop train: error: column 'b' (column 2) on line 6 of {path} holds 'nan'; "
                    "a network cannot use non-finite values: fill them in or drop those rows")


@audit("7.5")
def case_text_labels_keep_their_names_in_train_predict_evaluate(tmp_path, capsys, trained, monkeypatch):
    path = tmp_path / "species.csv"
    path.write_text("w,species\n" + "".join(f"{i},{'setosa' if i % 2 else 'virginica'}\n" for i in range(30)))
    out = tmp_path / "run"
    assert main(["train", "--data", str(path), "--epochs", "30", "--lr", "0.05", "--test-split", "0",
                 "--out", str(out), "--quiet"]) == 0
    assert json.loads((out / "model.json").read_text())["class_names"] == ["setosa", "virginica"]
    capsys.readouterr()
    assert main(["evaluate", str(out / "model.npz"), "--data", str(path), "--target", "species"]) == 0
    assert capsys.readouterr().out.startswith("accuracy ")
    assert main(["predict", str(out / "model.npz"), "--data", str(path)]) == 0
    predictions = capsys.readouterr().out.splitlines()
    assert predictions[0] == "prediction,p_setosa,p_virginica"
    assert {line.split(",")[0] for line in predictions[1:]} <= {"setosa", "virginica"}


# ------------------------------------------------------------------ 8. smaller findings

@audit("8.1")
def case_linear_on_a_0d_tensor(tmp_path, capsys, trained, monkeypatch):
    with pytest.raises(dp.errors.ShapeError, match=r"Linear: got a 0-d input .* pass shape \(batch, 2\)"):
        nn.Linear(2, 3)(dp.tensor(1.0))


@audit("8.2")
def case_linear_with_a_fractional_size(tmp_path, capsys, trained, monkeypatch):
    with pytest.raises(TypeError, match=r"Linear: in_features must be a whole number of units, got 2.5 \("):
        nn.Linear(2.5, 3)
    with pytest.raises(TypeError, match="out_features must be a whole number of units, got True"):
        nn.Linear(2, True)
    assert nn.Linear(np.int64(2), 3).in_features == 2


@audit("8.3")
def case_complex_arrays_are_refused_naming_the_fix(tmp_path, capsys, trained, monkeypatch):
    data = np.array([[1 + 2j, 3.0]])
    for call in (lambda: dp.tensor(data), lambda: nn.Linear(2, 1)(data),
                 lambda: dp.tensor(np.ones(2)) + np.array([1j, 2.0]), lambda: dp.tensor([1j])):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no ComplexWarning: refused before any cast
            with pytest.raises(TypeError, match=r"complex data; pass the part you mean: x\.real, np\.abs"):
                call()
    model = nn.Linear(2, 1)
    with pytest.raises(TypeError, match=r"fit: X is complex \(complex128\).*X\.real"):
        dp.fit(model, data, np.ones((1, 1)), loss="mse", optimizer=optim.SGD(model.parameters(), lr=0.1),
               progress=False)


@audit("8.4")
def case_empty_batch_is_a_clear_error_not_nan(tmp_path, capsys, trained, monkeypatch):
    empty = dp.tensor(np.zeros((0, 3), np.float32))
    for name, call in [("mse_loss", lambda: nn.MSELoss()(empty, np.zeros((0, 3), np.float32))),
                       ("cross_entropy", lambda: nn.CrossEntropyLoss()(empty, np.zeros(0, np.int64))),
                       ("nll_loss", lambda: nn.NLLLoss()(empty, np.zeros(0, np.int64))),
                       ("binary_cross_entropy_with_logits",
                        lambda: nn.BCEWithLogitsLoss()(empty, np.zeros((0, 3), np.float32)))]:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with pytest.raises(ValueError, match=rf"^{name}: the batch is empty \(0 examples\)"):
                call()
    assert nn.MSELoss(reduction="sum")(empty, np.zeros((0, 3), np.float32)).item() == 0.0


def _checkpointed(tmp_path, optimizer_class, **kwargs):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    path = tmp_path / "c.npz"
    optimizer = optimizer_class(model.parameters(), lr=0.1, momentum=0.9)
    dp.fit(model, X, y, loss="cross_entropy", optimizer=optimizer, epochs=2, checkpoint=path, progress=False,
           seed=0, **kwargs)
    return model, X, y, path


@audit("8.5")
def case_resuming_an_sgd_checkpoint_into_adam_names_both(tmp_path, capsys, trained, monkeypatch):
    model, X, y, path = _checkpointed(tmp_path, optim.SGD)
    with pytest.raises(ValueError, match=r"written by a run training with SGD, but this run's optimizer is"):
        dp.fit(model, X, y, loss="cross_entropy", optimizer=optim.Adam(model.parameters()), epochs=4,
               resume_from=path, progress=False, seed=0)
    state = dp.serialize.load_checkpoint(path)["optimizer"]
    with pytest.raises(ValueError, match=r"Adam.load_state_dict: the state was saved by SGD .* not by Adam"):
        optim.Adam(model.parameters()).load_state_dict(state)


@audit("8.6")
def case_resuming_with_other_data_is_a_clear_error(tmp_path, capsys, trained, monkeypatch):
    model, X, y, path = _checkpointed(tmp_path, optim.SGD, validation_split=0.25)
    for rows in (20, 60):  # fewer rows (was an IndexError) and more (was "need at least one array")
        X2 = np.resize(X, (rows, 3))
        # fit records a fingerprint of its data in the checkpoint, so any other data is refused by name
        with pytest.raises(ValueError, match="this run's X and y differ from the checkpointed run's"):
            dp.fit(model, X2, np.resize(y, rows), loss="cross_entropy",
                   optimizer=optim.SGD(model.parameters(), lr=0.1, momentum=0.9), epochs=4,
                   validation_split=0.25, resume_from=path, progress=False, seed=0)


@audit("8.6")
def case_data_fingerprints_tell_data_sets_apart(tmp_path, capsys, trained, monkeypatch):
    from deltaprop.train import checkpoint
    from deltaprop.train.validation import data_fingerprint

    X = np.arange(12, dtype=np.float32).reshape(6, 2)
    y = np.arange(6)
    assert data_fingerprint(X, y) == data_fingerprint(X.copy(), y.copy())
    assert data_fingerprint(X, y) != data_fingerprint(X[::-1], y)
    assert data_fingerprint(X, y) != data_fingerprint(X[:5], y[:5])
    _, _, _, path = _checkpointed(tmp_path, optim.SGD)
    state = dp.serialize.load_checkpoint(path)
    state["extra"]["fit_args"]["data"] = data_fingerprint(X, y)  # what a fit that records its data writes
    dp.serialize.save_checkpoint(path, nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)), None, 2,
                                 state["history"], state["rng_state"], state["extra"])
    fit_args = {**state["extra"]["fit_args"], "data": data_fingerprint(X[::-1], y)}
    with pytest.raises(ValueError, match=r"this run's X and y differ from the checkpointed run's"):
        checkpoint.read(path, fit_args)


@pytest.mark.parametrize("case", list(AUDIT))
def test_audit(case, tmp_path, capsys, trained, monkeypatch):
    AUDIT[case](tmp_path, capsys, trained, monkeypatch)
