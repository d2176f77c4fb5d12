"""`DistributedDataParallel`: every process holds the whole model and trains on its own batch.

PyTorch's design, on MPI:

- at construction the parameters and buffers of process 0 are broadcast to
  all, so every process starts from the same weights (and a model that
  differs between processes is refused, naming the first difference);
- a forward through the wrapper (with gradients enabled, outside `no_sync`)
  asks for the next backward's gradients to be averaged; the averaging runs
  in buckets during that backward (`deltaprop.distributed.buckets`) and is
  complete when ``backward()`` returns, so ``optimizer.step()`` needs no
  change and every process takes the same step;
- `no_sync()` skips the averaging: gradients accumulate locally over several
  backwards, and the first backward after the block averages the total
  (gradient accumulation at the cost of one reduction);
- with ``broadcast_buffers=True`` (the default, as in PyTorch) process 0's
  buffers are copied to all before each training forward.

BatchNorm: each process normalises with its own batch's statistics (there is
no SyncBatchNorm yet); the running statistics are process 0's, copied to
all by ``broadcast_buffers``. In a hand-written loop the batch is per process,
as in PyTorch: ``world_size`` processes with batches of B train like one
process with batches of ``world_size * B`` (for a mean loss). `deltaprop.fit`
keeps ``batch_size`` global instead.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from deltaprop import backend
from deltaprop.distributed.buckets import CommunicationStats, GradientReducer
from deltaprop.distributed.comm import Communicator
from deltaprop.distributed.world import communicator
from deltaprop.nn.module import Module
from deltaprop.tensor import is_grad_enabled


class DistributedDataParallel(Module):
    """Wrap ``module`` so that its gradients are averaged over every process (see the module docstring).

    ``bucket_cap_mb``: the most gradient data one all-reduce carries (MB);
    smaller buckets start communicating earlier in the backward, larger
    ones pay the per-message latency fewer times. ``find_unused_parameters``:
    parameters that get no gradient in some backward are summed as zeros
    instead of raising. ``process_group``: an mpi4py communicator (or a
    deltaprop `Communicator`) instead of the world's. Other arguments are
    keyword-only, as PyTorch's positional ones (device_ids, ...) mean
    nothing here.
    """

    def __init__(
        self,
        module: Module,
        *,
        broadcast_buffers: bool = True,
        bucket_cap_mb: float = 25.0,
        find_unused_parameters: bool = False,
        process_group: Any = None,
    ) -> None:
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(
                f"DistributedDataParallel: expected a deltaprop Module, got {type(module).__name__}"
            )
        if not float(bucket_cap_mb) > 0:
            raise ValueError(f"DistributedDataParallel: bucket_cap_mb must be > 0, got {bucket_cap_mb!r}")
        self.module = module
        self.broadcast_buffers = bool(broadcast_buffers)
        self.bucket_cap_mb = float(bucket_cap_mb)
        self.find_unused_parameters = bool(find_unused_parameters)
        #: False inside `no_sync`: the next backward keeps its gradients local
        self.require_backward_grad_sync = True
        comm = _communicator_of(process_group)
        self.process_group = comm
        named = [(name, p) for name, p in module.named_parameters() if p.requires_grad]
        check_same_model(comm, module)
        broadcast_state(comm, module)
        cap_bytes = int(self.bucket_cap_mb * (1 << 20))
        self.reducer = GradientReducer(named, comm, cap_bytes, self.find_unused_parameters)
        # the gradient hooks go when the wrapper does (while any exist, every backward watches leaves)
        weakref.finalize(self, self.reducer.remove)

    # ------------------------------------------------------------------ calling
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        self.sync_buffers()
        if is_grad_enabled() and self.require_backward_grad_sync:
            self.reducer.arm()
        return self.module(*args, **kwargs)

    def sync_buffers(self) -> None:
        """Before a training forward: process 0's buffers to all, when ``broadcast_buffers``.

        A process that skips a forward (fit, on an empty slice) calls this
        instead, so that every process still takes part in the same broadcasts.
        """
        if self.broadcast_buffers and self.module.training and self.process_group.size > 1:
            broadcast_tensors(self.process_group, self.module.buffers())

    @contextmanager
    def no_sync(self) -> Iterator[None]:
        """Backwards inside the block keep their gradients local (they accumulate in ``.grad``)."""
        before = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = before

    def remove_hooks(self) -> None:
        """Take the gradient hooks off the parameters (the wrapper stops averaging)."""
        self.reducer.remove()

    # ------------------------------------------------------------------ what it cost
    @property
    def communication_stats(self) -> CommunicationStats:
        """Steps reduced, buckets and bytes sent, and seconds backward spent waiting for the sums."""
        return self.reducer.stats

    def extra_repr(self) -> str:
        comm = self.process_group
        buckets = len(self.reducer.buckets)
        return f"world_size={comm.size}, buckets={buckets}, bucket_cap_mb={self.bucket_cap_mb:g}"


def _communicator_of(process_group: Any) -> Communicator:
    if process_group is None:
        return communicator()
    if isinstance(process_group, Communicator):
        return process_group
    from deltaprop.distributed.comm import MPICommunicator

    return MPICommunicator(process_group)


def check_same_model(comm: Communicator, module: Module) -> None:
    """Refuse models whose parameter names, shapes or dtypes differ between processes (all raise alike)."""
    if comm.size == 1:
        return
    mine = [(name, tuple(p.shape), str(p.array.dtype), bool(p.requires_grad))
            for name, p in module.named_parameters()]
    everyone = comm.allgather_object(mine)
    for other_rank, theirs in enumerate(everyone):
        if theirs != everyone[0]:
            difference = next((f"{a} vs {b}" for a, b in zip(everyone[0], theirs, strict=False) if a != b),
                              f"{len(everyone[0])} vs {len(theirs)} parameters")
            raise ValueError(
                f"DistributedDataParallel: process {other_rank} holds another model than process 0 "
                f"(first difference: {difference}); build the same model on every process"
            )


def broadcast_state(comm: Communicator, module: Module) -> None:
    """Copy process 0's parameters and buffers to every process, in place."""
    if comm.size > 1:
        broadcast_tensors(comm, [*module.parameters(), *module.buffers()])


def broadcast_tensors(comm: Communicator, tensors: Iterable[Any]) -> None:
    """Process 0's values of ``tensors`` to every process: one broadcast per dtype, not per tensor."""
    by_dtype: dict[Any, list[Any]] = {}
    for tensor in tensors:
        if tensor is not None:
            by_dtype.setdefault(tensor.array.dtype, []).append(tensor)
    for group in by_dtype.values():
        packed = np.concatenate([backend.to_numpy(t.array).reshape(-1) for t in group])
        comm.broadcast(packed, 0)
        offset = 0
        for t in group:
            size = t.array.size
            t.array[...] = backend.to_module(packed[offset : offset + size].reshape(t.array.shape), t.xp)
            offset += size
