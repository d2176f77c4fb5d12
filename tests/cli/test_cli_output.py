"""The --out folder is written as a unit: concurrent runs, crashes and stale staging folders."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import deltaprop as dp
from deltaprop.cli.errors import CLIError
from deltaprop.cli.output import RUN_FILES, RunFolder

ROOT = Path(__file__).resolve().parents[2]


def _write_set(folder: Path, tag: str) -> None:
    for name in RUN_FILES:
        (folder / name).write_text(tag * 1000)


def test_concurrent_publishes_leave_one_whole_set(tmp_path):
    """Many writers racing into one --out: it always ends as one writer's complete set, nothing left over."""
    out = tmp_path / "run"
    for round_ in range(5):
        barrier = threading.Barrier(8)
        errors: list[Exception] = []

        def writer(tag, barrier=barrier, errors=errors):
            try:
                with RunFolder(out) as folder:
                    _write_set(folder.path, tag)
                    barrier.wait()
                    folder.publish()
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=writer, args=(chr(65 + i),)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        contents = {(out / name).read_text() for name in RUN_FILES}
        assert len(contents) == 1 and len(next(iter(contents))) == 1000, round_
        assert sorted(os.listdir(out)) == sorted(RUN_FILES)
        assert os.listdir(tmp_path) == ["run"]  # no staging or retired folders left


def test_six_concurrent_cli_runs_into_one_out_leave_one_consistent_run(tmp_path):
    """The audit's case: six `train --out same` processes; the folder holds one run's files, all of them."""
    out = tmp_path / "same"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    runs = [subprocess.Popen([sys.executable, "-m", "deltaprop", "train", "--dataset", "xor", "--epochs", "3",
                              "--hidden", str(2 + i), "--out", str(out), "--quiet"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE) for i in range(6)]
    for run in runs:
        _, err = run.communicate(timeout=120)
        assert run.returncode == 0, err.decode()
    summary = json.loads((out / "summary.json").read_text())
    model = dp.load(out / "model.npz")
    assert summary["network"] == f"2-{model[0].out_features}-2"  # weights and summary from the same run
    history = json.loads((out / "history.json").read_text())
    assert len(history["history"]["loss"]) == 3
    assert sorted(os.listdir(tmp_path)) == ["same"]


def test_a_killed_run_leaves_no_trace_after_the_next_run(tmp_path, capsys):
    """A staging folder whose process is gone (SIGKILL) is removed by the next run into the same --out."""
    from deltaprop.cli import main

    out = tmp_path / "run"
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True)
    stale = tmp_path / f".run.tmp-{gone.stdout.strip()}-abcd1234"
    stale.mkdir()
    _write_set(stale, "x")
    (stale / ".model.npz.xyz.tmp").write_text("half")
    assert main(["train", "--dataset", "xor", "--epochs", "2", "--out", str(out), "--quiet"]) == 0
    assert sorted(os.listdir(tmp_path)) == ["run"]


def test_a_foreign_file_never_is_moved_or_deleted(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(CLIError, match=r"holds files that 'deltaprop train' did not write \(notes.txt\)"):
        RunFolder(out)
    folder = RunFolder(tmp_path / "other")
    _write_set(folder.path, "a")
    os.rename(folder.path, folder.path)  # still there
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "late.txt").write_text("arrived during training")
    with pytest.raises(CLIError, match="late.txt"):
        folder.publish()
    assert (tmp_path / "other" / "late.txt").read_text() == "arrived during training"


def test_run_folder_keeps_the_users_permissions(tmp_path):
    previous = os.umask(0o022)
    try:
        with RunFolder(tmp_path / "run") as folder:
            _write_set(folder.path, "a")
            folder.publish()
    finally:
        os.umask(previous)
    assert (tmp_path / "run").stat().st_mode & 0o777 == 0o755
