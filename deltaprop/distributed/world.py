"""The process's place in the world: `init`, `rank`, `world_size`, and collectives on tensors and arrays.

Names follow ``torch.distributed`` where it has them (`all_reduce`,
`broadcast`, `all_gather`, `barrier`, `is_initialized`, `ReduceOp`, and
`get_rank` / `get_world_size` beside the shorter `rank` / `world_size`).
Two differences, both so a script runs the same alone and under ``mpirun``:

- `rank()` and `world_size()` never fail: before `init`, a process started
  by a launcher initialises MPI on the spot, and a lone process is rank 0 of
  a world of 1 without importing MPI at all;
- `init()` takes no backend or address: the MPI launcher (``mpirun``,
  ``srun``) already told every process where the others are.

`init` also installs an exception hook: in a world of several processes,
an exception nobody catches prints its traceback with the rank and then
ends every process (MPI_Abort), instead of leaving the others waiting
forever in their next collective.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from deltaprop.distributed.comm import Communicator, LocalCommunicator, MPICommunicator, reduce_op_name
from deltaprop.distributed.launch import launched_with_others
from deltaprop.tensor import Tensor

_world: Communicator | None = None


class ReduceOp:
    """``torch.distributed.ReduceOp``'s names for the reductions of `all_reduce`."""

    SUM = "sum"
    AVG = "mean"
    MAX = "max"
    MIN = "min"
    PRODUCT = "prod"


def init(communicator: Any = None) -> None:
    """Join the world of processes the launcher started (idempotent; a lone process joins a world of 1).

    ``communicator``: an mpi4py communicator to use instead of COMM_WORLD
    (e.g. one made by ``COMM_WORLD.Split``), or a deltaprop `Communicator`.
    Without one, a process that mpirun/srun started with others uses
    MPI.COMM_WORLD, and a lone process (``mpirun -n 1`` too) a
    `LocalCommunicator`: no MPI needed.
    """
    global _world
    if communicator is not None:
        _world = communicator if isinstance(communicator, Communicator) else MPICommunicator(communicator)
    elif _world is None:
        _world = MPICommunicator() if launched_with_others() else LocalCommunicator()
    if _world.size > 1:
        _install_excepthook()


def is_initialized() -> bool:
    return _world is not None


def communicator() -> Communicator:
    """This process's `Communicator` (joining the world first if needed)."""
    if _world is None:
        init()
    assert _world is not None
    return _world


def rank() -> int:
    """This process's number, 0 to world_size() - 1 (0 for a lone process)."""
    return communicator().rank


def world_size() -> int:
    """How many processes train together (1 for a lone process)."""
    return communicator().size


get_rank = rank
get_world_size = world_size


def barrier() -> None:
    """Wait until every process has reached this point."""
    communicator().barrier()


def all_reduce(tensor: Any, op: str = ReduceOp.SUM) -> Any:
    """Combine ``tensor`` (a Tensor or array, in place; or a number, returned) over every process."""
    name = reduce_op_name(op)
    comm = communicator()
    if isinstance(tensor, Tensor):
        comm.allreduce(tensor.array, name)
        return tensor
    if isinstance(tensor, (int, float, np.number)) and not isinstance(tensor, bool):
        buffer = np.array([tensor], dtype=np.float64 if isinstance(tensor, float) or name == "mean" else None)
        comm.allreduce(buffer, name)
        return buffer[0].item()
    _check_array("all_reduce", tensor)
    comm.allreduce(tensor, name)
    return tensor


def broadcast(tensor: Any, src: int = 0) -> Any:
    """Overwrite ``tensor`` (Tensor or array) with process ``src``'s values, in place."""
    comm = communicator()
    if isinstance(tensor, Tensor):
        comm.broadcast(tensor.array, src)
        return tensor
    _check_array("broadcast", tensor)
    comm.broadcast(tensor, src)
    return tensor


def all_gather(tensor_list: Any, tensor: Any = None) -> list[Any]:
    """Every process's ``tensor``, in rank order.

    ``all_gather(x)`` returns the list (shapes may differ between processes);
    ``all_gather(out_list, x)`` is ``torch.distributed``'s form, filling the
    world_size tensors of ``out_list`` in place.
    """
    if tensor is None:
        tensor, out = tensor_list, None
    else:
        out = tensor_list
    is_tensor = isinstance(tensor, Tensor)
    array = tensor.array if is_tensor else tensor
    _check_array("all_gather", array)
    from deltaprop import backend

    parts = communicator().allgather_object(backend.to_numpy(array))
    if out is None:
        xp = backend.array_module(array)
        moved = [backend.to_module(part, xp) for part in parts]
        return [Tensor(part) for part in moved] if is_tensor else moved
    if len(out) != len(parts):
        raise ValueError(f"all_gather: out_list has {len(out)} entries for a world of {len(parts)} processes")
    for target, part in zip(out, parts, strict=True):
        target_array = target.array if isinstance(target, Tensor) else target
        if target_array.shape != part.shape:
            raise ValueError(f"all_gather: an out_list entry has shape {target_array.shape}, a process sent "
                             f"{part.shape}; give entries of the gathered tensors' shape")
        target_array[...] = part
    return list(out)


def _check_array(name: str, value: Any) -> None:
    if not hasattr(value, "shape") or not hasattr(value, "dtype"):
        raise TypeError(f"{name}: expected a Tensor or an array, got {type(value).__name__}")


# --------------------------------------------------------------------------- errors end every process
def report_failure(exc: BaseException, where: str) -> None:
    """Print ``exc`` with this process's rank on the real stderr (a one-liner for deltaprop's own errors)."""
    from deltaprop.errors import DeltapropError

    comm = communicator()
    stream = sys.__stderr__ or sys.stderr
    if not isinstance(exc, DeltapropError):
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=stream)
    message = " ".join(str(exc).split()) or type(exc).__name__
    print(f"deltaprop: process {comm.rank} of {comm.size} failed in {where}: {type(exc).__name__}: "
          f"{message}; stopping every process", file=stream, flush=True)


def _install_excepthook() -> None:
    if getattr(sys.excepthook, "_deltaprop", False):
        return
    previous = sys.excepthook

    def hook(kind: type[BaseException], value: BaseException, tb: Any) -> None:
        previous(kind, value, tb)
        comm = communicator()
        print(f"deltaprop: process {comm.rank} of {comm.size} raised {kind.__name__}; stopping every process",
              file=sys.__stderr__ or sys.stderr, flush=True)
        comm.abort(1)

    hook._deltaprop = True  # type: ignore[attr-defined]
    sys.excepthook = hook


@contextmanager
def failing_together(where: str) -> Iterator[None]:
    """Run a block in which every process takes part in collectives; an error on one ends them all.

    MPI cannot cancel a collective that the other processes are already
    waiting in, so a process that raises prints its error (with its rank)
    and aborts the whole world. In a world of one the error simply propagates.
    """
    try:
        yield
    except BaseException as exc:
        comm = communicator()
        if comm.size > 1:
            report_failure(exc, where)
            comm.abort(1)
        raise
