"""A save killed mid-write leaves a temporary file; the next successful save of that target removes it.

Only leftovers of writers that are gone are removed: a live process (a
concurrent writer) keeps its temporary file, and so do other hosts.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn, serialize
from deltaprop.serialize import writing

pytestmark = pytest.mark.skipif(os.name != "posix", reason="pids are checked with POSIX kill(pid, 0)")


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def leftover(folder, target: str, pid: int, host: str | None = None):
    path = folder / f".{target}.{host or writing._host()}-{pid}.abc_123.tmp"
    path.write_bytes(b"PK\x03\x04 half a zip")
    return path


def test_a_save_removes_the_temporary_files_of_dead_writers_only(tmp_path):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dead = leftover(tmp_path, "model.npz", dead_pid())
        live = leftover(tmp_path, "model.npz", sleeper.pid)
        mine = leftover(tmp_path, "model.npz", os.getpid())  # this process, not writing it now: stale
        elsewhere = leftover(tmp_path, "model.npz", dead_pid(), host="otherhost")
        other_target = leftover(tmp_path, "other.npz", dead_pid())
        unrelated = tmp_path / ".model.npz.notes.tmp"
        unrelated.write_text("a user's file")

        dp.save(nn.Linear(2, 2), tmp_path / "model.npz")
        assert not dead.exists() and not mine.exists()
        assert live.exists() and elsewhere.exists() and other_target.exists() and unrelated.exists()
        assert isinstance(dp.load(tmp_path / "model.npz"), nn.Linear)
    finally:
        sleeper.kill()
        sleeper.wait()
    dp.save(nn.Linear(2, 2), tmp_path / "model.npz")  # now the sleeper is gone too
    assert not live.exists() and elsewhere.exists()


def test_an_unreaped_killed_writer_counts_as_gone(tmp_path):
    zombie = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    zombie.kill()
    try:
        os.waitid(os.P_PID, zombie.pid, os.WEXITED | os.WNOWAIT)  # dead but not reaped: a zombie
        stale = leftover(tmp_path, "model.npz", zombie.pid)
        dp.save({"a": np.zeros(2)}, tmp_path / "model.npz")
        assert not stale.exists()
    finally:
        zombie.wait()


def test_checkpoints_clean_up_the_same_way_and_a_save_in_progress_is_kept(tmp_path, monkeypatch):
    path = tmp_path / "run.npz"
    stale = leftover(tmp_path, "run.npz", dead_pid())
    model = nn.Linear(2, 1)
    seen_during_write = []
    real_savez = np.savez

    def savez_then_save_another(handle, **entries):
        real_savez(handle, **entries)
        # while this save's own temporary file exists, a second save of the same target runs its
        # clean-up; the first one's live file must survive it
        seen_during_write.extend(p.name for p in tmp_path.iterdir() if p.suffix == ".tmp")
        monkeypatch.setattr(np, "savez", real_savez)
        serialize.save_checkpoint(path, model, None, 1, {}, dp.get_rng_state())

    monkeypatch.setattr(np, "savez", savez_then_save_another)
    serialize.save_checkpoint(path, model, None, 2, {}, dp.get_rng_state())
    assert not stale.exists()
    assert len(seen_during_write) == 2  # the stale one and the live one
    assert serialize.load_checkpoint(path)["epoch"] == 2  # the outer save completed after the inner one
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.npz"]


def test_temporary_names_say_who_writes_them(tmp_path, monkeypatch):
    names = []
    real_replace = os.replace

    def spy(source, target):
        names.append(os.path.basename(source))
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", spy)
    dp.save({"a": np.zeros(1)}, tmp_path / "m.npz")
    (name,) = names
    assert name.startswith(f".m.npz.{writing._host()}-{os.getpid()}.") and name.endswith(".tmp")
    assert writing.remove_stale_temporaries(tmp_path / "m.npz") == []
