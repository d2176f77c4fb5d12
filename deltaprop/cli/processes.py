"""The CLI under ``mpirun``/``srun``: one command, several processes, one voice.

``mpirun -n 4 deltaprop train ...`` starts four copies of the command. They
all train together (fit notices the launcher and trains data-parallel), and
process 0 alone speaks and writes: its first line says how many processes
run, the others' standard output is silenced, and only process 0 writes
the ``--out`` folder. The other subcommands have nothing to share, so
process 0 runs them and the others exit at once.

An error on one process ends them all (MPI cannot cancel the collectives
the others wait in): a process whose command fails aborts the world with
its exit code, after its message.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from typing import Any

from deltaprop.cli.errors import EXIT_USAGE, run_guarded

_SHARED_COMMANDS = ("train",)


def several_processes() -> bool:
    """True when a launcher started this command on more than one process (and data-parallel is on)."""
    from deltaprop.distributed.launch import wants_data_parallel

    return wants_data_parallel(None)


def is_lead() -> bool:
    """True on the process that prints and writes files (process 0, or a lone process)."""
    if not several_processes():
        return True
    from deltaprop import distributed

    return distributed.rank() == 0


def run_command(prog: str, name: str, command: Callable[..., int], args: Any) -> int:
    """Run a subcommand behind the error boundary, on one process or on all that were launched."""
    if not several_processes():
        return run_guarded(prog, command, args)
    from deltaprop import distributed

    try:
        distributed.init()
    except ImportError as exc:
        print(f"{prog}: error: started on several processes, but {exc}", file=sys.stderr, flush=True)
        return EXIT_USAGE
    comm = distributed.communicator()
    if name not in _SHARED_COMMANDS:
        return run_guarded(prog, command, args) if comm.rank == 0 else 0
    if comm.rank == 0:
        if not getattr(args, "quiet", False):
            print(f"{prog}: {comm.description}, each training on its slice of every batch", flush=True)
        code = run_guarded(prog, command, args)
    else:  # silent, but its errors (on stderr) say which process they come from
        with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
            code = run_guarded(f"{prog} (process {comm.rank} of {comm.size})", command, args)
    if code != 0:
        comm.abort(code)
    return code
