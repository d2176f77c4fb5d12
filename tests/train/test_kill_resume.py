"""SIGKILL during training: the checkpoint on disk is always whole and current, and resuming from it is exact.

A helper process imports deltaprop once and forks one training run per kill
(so each kill costs milliseconds, not an interpreter start); the test kills
each run with SIGKILL at a random moment, often in the middle of a
checkpoint save (saves dominate the run's time by design: a 0.5 MB
checkpoint per epoch of a tiny computation). After each kill, the checkpoint must load
and equal the uninterrupted run's state at its epoch, and a run resumed from
it must end bit for bit like the uninterrupted one.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.serialize import load_checkpoint

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork and SIGKILL (POSIX)")

ROOT = Path(__file__).resolve().parents[2]
KILLS = 20  # kills that must land in the middle of a run
MAX_ATTEMPTS = 45

SETUP = '''
import numpy as np
import deltaprop as dp
from deltaprop import nn, optim
from deltaprop.optim.lr_scheduler import StepLR

EPOCHS = 24


def train(checkpoint=None, resume=None, callbacks=(), checkpoint_every=1):
    rng = np.random.default_rng(5)
    X = rng.normal(size=(48, 32)).astype(np.float32)
    y = (X[:, :3].sum(1) > 0).astype(np.int64)
    dp.manual_seed(1)
    model = nn.Sequential(nn.Linear(32, 1024), nn.ReLU(), nn.Dropout(0.1), nn.Linear(1024, 2))
    optimizer = optim.Adam(model.parameters(), lr=1e-3)
    history = dp.fit(model, X, y, loss="cross_entropy", optimizer=optimizer, epochs=EPOCHS, batch_size=16,
                     validation_split=0.25, seed=3, scheduler=StepLR(optimizer, step_size=5, gamma=0.7),
                     callbacks=list(callbacks), early_stopping=dp.train.EarlyStopping(patience=EPOCHS),
                     checkpoint=checkpoint, checkpoint_every=checkpoint_every, resume_from=resume,
                     progress=False)
    return model, optimizer, history
'''

# One process does all the arithmetic (one BLAS configuration throughout, so no bit can differ for
# that reason), each job in a forked child: "reference DIR" saves the uninterrupted run's state after
# every epoch, "train PATH" trains with checkpoints until killed, "resume PATH OUT" resumes and saves
# the final state. The server answers each job with the child's pid, then its wait status.
FORK_SERVER = SETUP + '''
import os, sys
from deltaprop.serialize import save


def reference(folder):
    states = {}

    class Record(dp.train.Callback):
        def on_epoch_end(self, run):
            states[str(run.epoch)] = {"model": run.model.state_dict(),
                                      "optimizer": run.optimizer.state_dict()}

    model, optimizer, history = train(callbacks=[Record()])
    save({"epochs": states, "final": final(model, optimizer, history)}, os.path.join(folder, "reference.npz"))


def final(model, optimizer, history):
    return {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "history": history.to_dict()}


def resume(path, out):
    save(final(*train(checkpoint=path, resume=path, checkpoint_every=10**6)), out)


JOBS = {"reference": reference, "train": lambda path: train(checkpoint=path), "resume": resume}
for line in sys.stdin:
    job, *arguments = line.split()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            JOBS[job](*arguments)
            code = 0
        finally:
            os._exit(code)
    print(pid, flush=True)
    print(os.waitpid(pid, 0)[1], flush=True)
'''


def _same_tree(a, b) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same_tree(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same_tree(x, z) for x, z in zip(a, b, strict=True))
    if isinstance(a, np.ndarray):
        return a.dtype == np.asarray(b).dtype and np.array_equal(a, b)
    return a == b or (a != a and b != b)


class Server:
    """The fork server, driven line by line."""

    def __init__(self):
        # one BLAS thread: forked children of a multithreaded BLAS run three times slower
        env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
               "MKL_NUM_THREADS": "1"}
        self.process = subprocess.Popen([sys.executable, "-c", FORK_SERVER], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True, env=env)

    def start(self, *job) -> int:
        self.process.stdin.write(" ".join(map(str, job)) + "\n")
        self.process.stdin.flush()
        return int(self.process.stdout.readline())

    def wait(self) -> int:
        return int(self.process.stdout.readline())

    def run(self, *job) -> None:
        self.start(*job)
        assert self.wait() == 0, f"job {job} failed"

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    """Kill forked runs; per kill: checkpoint epoch, matches the reference, resumed exactly, files after."""
    folder = tmp_path_factory.mktemp("kills")
    server = Server()
    rng = np.random.default_rng(2024)
    observations = []
    try:
        server.run("reference", folder)
        reference = dp.load(folder / "reference.npz")
        server.start("train", folder / "timing.npz")  # one whole run, to time it from the fork
        started = time.perf_counter()
        assert server.wait() == 0
        duration = time.perf_counter() - started
        for attempt in range(MAX_ATTEMPTS):
            if sum(o["killed"] for o in observations) >= KILLS:
                break
            path = folder / f"kill{attempt}" / "c.npz"
            path.parent.mkdir()
            pid = server.start("train", path)
            time.sleep(rng.uniform(0.05, 0.95) * duration)
            with contextlib.suppress(ProcessLookupError):  # it may have finished already
                os.kill(pid, signal.SIGKILL)
            observations.append(_inspect(path, server.wait(), reference, server))
    finally:
        server.close()
    return observations, len(reference["epochs"])


def _inspect(path: Path, status: int, reference: dict, server: Server) -> dict:
    killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    observation = {"killed": killed and path.exists(), "epoch": None}
    if not observation["killed"]:  # killed before the first save finished, or the run had ended
        return observation
    state = load_checkpoint(path)  # must not raise: the file on disk is always a whole checkpoint
    epoch = observation["epoch"] = state["epoch"]
    expected = reference["epochs"][str(epoch)]
    observation["matches"] = _same_tree(state["model"], expected["model"]) and \
        _same_tree(state["optimizer"], expected["optimizer"])
    resumed = path.with_name("resumed.npz")
    server.run("resume", path, resumed)
    observation["resumed_exact"] = _same_tree(dp.load(resumed), reference["final"])
    resumed.unlink()
    observation["files_after_next_save"] = sorted(os.listdir(path.parent))
    return observation


def test_sigkill_leaves_a_checkpoint_that_loads_matches_and_resumes_exactly(campaign):
    observations, epochs = campaign
    killed = [o for o in observations if o["killed"]]
    assert len(killed) >= KILLS, observations
    assert len({o["epoch"] for o in killed}) >= 5  # the kills landed all over the run
    for o in killed:
        assert o["matches"], f"the checkpoint of epoch {o['epoch']} differs from the uninterrupted run's"
        assert o["resumed_exact"], f"resumed from epoch {o['epoch']}: not bit-identical"


def test_sigkill_leaves_no_temporary_file_after_the_next_save(campaign):
    """A save killed midway leaves its temporary file; the next successful save must remove it."""
    observations, epochs = campaign
    resumed = [o for o in observations if o["killed"] and o["epoch"] < epochs]  # those made a further save
    assert resumed
    leftovers = [o["files_after_next_save"] for o in resumed if o["files_after_next_save"] != ["c.npz"]]
    assert leftovers == []
