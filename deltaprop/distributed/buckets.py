"""Gradient buckets: sum the gradients of every process while backpropagation is still running.

The parameters are cut, in reverse order of ``parameters()`` (roughly the
order in which backpropagation finishes them), into buckets of at most
``bucket_cap_mb`` (the first one smaller, 1 MB, so communication starts
early). A hook on each parameter (``register_post_accumulate_grad_hook``)
notes when its gradient is final; when a bucket is complete its
non-blocking all-reduce starts at once, while the backward goes on with the
earlier layers. Buckets start strictly in order, so every process issues the
same sequence of collectives whatever the timing. A callback queued for the
end of the backward (``deltaprop.tensor.queue_callback``) waits for the last
of them, so when ``backward()`` returns the summed gradients are in ``.grad``.

No copy when the optimizer keeps the gradients in one flat buffer
(`deltaprop.optim.flat`, after its first step): a bucket whose gradients are
consecutive views of that buffer is reduced in place, as one slice of it.
Otherwise (the first step, several parameter groups, a GPU array) the
gradients are copied into the bucket's own buffer and back.

MPI moves a non-blocking reduction forward only while the process is inside
MPI, so each gradient hook also tests the reductions in flight: the
progress calls that make the overlap real without a communication thread.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from deltaprop import backend
from deltaprop.distributed.comm import Communicator
from deltaprop.tensor import Tensor, gradient_buffer, queue_callback

FIRST_BUCKET_BYTES = 1 << 20


@dataclass
class CommunicationStats:
    """What the reductions cost so far: ``wait_seconds`` is the time backward spent waiting at its end."""

    steps: int = 0
    buckets: int = 0
    bytes: int = 0
    wait_seconds: float = 0.0
    zero_copy_buckets: int = 0


class Bucket:
    """Consecutive parameters whose gradients are summed by one all-reduce.

    ``params`` are in the order of ``parameters()``, and so is the data the
    all-reduce carries, whichever way it was gathered: a slice of the flat
    gradients (which follow that order) or the bucket's own buffer. Every
    process must lay out a bucket the same way, since MPI sums element by element.
    """

    def __init__(self, params: list[Tensor], names: list[str]) -> None:
        self.params, self.names = params, names
        self.sizes = [p.array.size for p in params]
        self.offsets = list(np.cumsum([0, *self.sizes[:-1]]))
        self.numel = int(sum(self.sizes))
        self.dtype = params[0].array.dtype
        self.host_staged = backend.array_module(params[0].array) is not np
        self.buffer: Any = None  # made on first use
        self.active: Any = None  # what MPI is reducing this step: a slice of the flat gradients, or buffer
        self.request: Any = None
        self.seen = [False] * len(params)
        self.waiting = len(params)

    def reset(self) -> None:
        self.seen = [False] * len(self.params)
        self.waiting = len(self.params)
        self.active = self.request = None

    def start(self, comm: Communicator, weight: float) -> bool:
        """Scale this process's gradients by ``weight`` and start their sum; True if reduced in place."""
        view = self._flat_view()
        if view is None:
            view = self._filled_buffer()
        if weight != 1.0:
            view *= weight
        self.active = view
        self.request = comm.iallreduce_sum(view)
        return view is not self.buffer

    def finish(self) -> None:
        """After the sum: copied gradients go back into ``.grad`` (in-place ones are already there)."""
        if self.active is not self.buffer:
            return
        for p, start, size in zip(self.params, self.offsets, self.sizes, strict=True):
            summed = self.buffer[start : start + size].reshape(p.array.shape)
            if self.host_staged:
                summed = backend.to_module(summed, p.xp)
            grad = p.grad_array
            if grad is None:
                slot = gradient_buffer(p)
                grad = p.grad_array = slot if slot is not None else p.xp.empty_like(p.array)
            grad[...] = summed

    # ------------------------------------------------------------------ the two ways in
    def _flat_view(self) -> Any:
        """The bucket's gradients as one slice of a flat buffer, when they are consecutive views of one."""
        if self.host_staged:
            return None
        base, first, expected = None, 0, None
        for p in self.params:  # ascending addresses in a flat layout
            grad = p.grad_array
            if grad is None or grad.dtype != self.dtype or not grad.flags.c_contiguous:
                return None
            owner = grad.base
            if owner is None or (base is not None and owner is not base):
                return None
            base = owner
            address = grad.__array_interface__["data"][0]
            if expected is None:
                first = address
            elif address != expected:
                return None
            expected = address + grad.nbytes
        if base is None or base.ndim != 1 or base.dtype != self.dtype or not base.flags.c_contiguous:
            return None
        start = (first - base.__array_interface__["data"][0]) // self.dtype.itemsize
        return base[start : start + self.numel]

    def _filled_buffer(self) -> Any:
        if self.buffer is None:
            self.buffer = np.empty(self.numel, dtype=self.dtype)
        for p, start, size in zip(self.params, self.offsets, self.sizes, strict=True):
            segment = self.buffer[start : start + size]
            grad = p.grad_array
            if grad is None:
                segment[...] = 0
            else:
                segment[...] = backend.to_numpy(grad).reshape(-1)
        return self.buffer


def make_buckets(named: Sequence[tuple[str, Tensor]], cap_bytes: int) -> list[Bucket]:
    """Cut the parameters, last first, into buckets of at most ``cap_bytes`` (1 MB for the first).

    The buckets come in reverse order of ``parameters()``; each holds its
    parameters in forward order (its data layout, see `Bucket`).
    """
    buckets: list[Bucket] = []
    params: list[Tensor] = []
    names: list[str] = []
    size = 0
    limit = min(FIRST_BUCKET_BYTES, cap_bytes)
    for name, p in reversed(list(named)):
        nbytes = p.array.size * p.array.dtype.itemsize
        if params and (size + nbytes > limit or p.array.dtype != params[0].array.dtype):
            buckets.append(Bucket(params[::-1], names[::-1]))
            params, names, size, limit = [], [], 0, cap_bytes
        params.append(p)
        names.append(name)
        size += nbytes
    if params:
        buckets.append(Bucket(params[::-1], names[::-1]))
    return buckets


class GradientReducer:
    """Hooks, buckets and the end-of-backward wait of `DistributedDataParallel`.

    ``weight`` is this process's share in the summed gradient: 1/world_size
    averages (PyTorch's DDP); fit sets (examples here) / (examples in the
    global batch), which gives the global batch's mean gradient for uneven slices too.
    """

    def __init__(
        self, named: Sequence[tuple[str, Tensor]], comm: Communicator, cap_bytes: int, find_unused: bool
    ) -> None:
        self.comm = comm
        self.find_unused = find_unused
        self.buckets = make_buckets(named, cap_bytes)
        self.weight = 1.0 / comm.size
        self.stats = CommunicationStats()
        self.armed = False  # a forward through the wrapper asked for this backward's gradients to be summed
        self.queued = False  # the end-of-backward wait is queued
        self.next_start = 0
        self.carried = np.zeros(1)  # a number summed alongside the gradients (fit's loss), see `carry`
        self.carried_request: Any = None
        self.handles = []
        for bucket in self.buckets:
            for position, p in enumerate(bucket.params):
                hook = partial(self._ready, bucket, position)
                self.handles.append(p.register_post_accumulate_grad_hook(hook))

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles = []

    # ------------------------------------------------------------------ one backward
    def arm(self) -> None:
        """The next backward's gradients are to be summed (called by the wrapper's forward)."""
        if not self.armed:
            for bucket in self.buckets:
                bucket.reset()
            self.next_start, self.queued = 0, False
        self.armed = True

    def _ready(self, bucket: Bucket, position: int, param: Tensor) -> None:
        if not self.armed or bucket.seen[position]:
            return
        if not self.queued:
            queue_callback(self._end_of_backward)
            self.queued = True
        bucket.seen[position] = True
        bucket.waiting -= 1
        if bucket.waiting == 0:
            self._start_complete_buckets()
        elif self.next_start:
            self.comm.test_all(self._requests())

    def _start_complete_buckets(self) -> None:
        buckets = self.buckets
        while self.next_start < len(buckets) and buckets[self.next_start].waiting == 0:
            self._start(buckets[self.next_start])
        self.comm.test_all(self._requests())

    def _start(self, bucket: Bucket) -> None:
        if bucket.start(self.comm, self.weight):
            self.stats.zero_copy_buckets += 1
        self.stats.buckets += 1
        self.stats.bytes += bucket.numel * bucket.dtype.itemsize
        self.next_start += 1

    def carry(self, value: float) -> None:
        """Start summing ``value`` over the processes now; the sum is in ``carried[0]`` after `finish`.

        fit's loss takes this way: started before the backward and waited for
        with the gradients, it adds no synchronisation of its own to the step.
        """
        self.carried[0] = value
        self.carried_request = self.comm.iallreduce_sum(self.carried)

    def _requests(self) -> list[Any]:
        requests = [b.request for b in self.buckets[: self.next_start] if b.request is not None]
        return requests if self.carried_request is None else [self.carried_request, *requests]

    def _end_of_backward(self) -> None:
        self.finish(backward_ran=True)

    def finish(self, backward_ran: bool) -> None:
        """Start what is left (parameters without a gradient this backward), wait for all, write back."""
        for bucket in self.buckets[self.next_start :]:
            if backward_ran and not self.find_unused:
                self._check_all_used(bucket)
            self._start(bucket)
        started = time.perf_counter()
        self.comm.wait_all(self._requests())
        self.stats.wait_seconds += time.perf_counter() - started
        self.carried_request = None
        for bucket in self.buckets:
            bucket.finish()
        self.stats.steps += 1
        self.armed = self.queued = False

    def finish_without_backward(self) -> None:
        """Take part in this step's reductions without a backward (no examples here, or a NaN loss)."""
        self.arm()
        self.finish(backward_ran=False)

    def _check_all_used(self, bucket: Bucket) -> None:
        for seen, p, name in zip(bucket.seen, bucket.params, bucket.names, strict=True):
            if not seen and p.grad_array is None:
                raise RuntimeError(
                    f"DistributedDataParallel: parameter '{name}' {tuple(p.shape)} got no gradient in this "
                    f"backward on process {self.comm.rank}, so its sum cannot be formed; every process "
                    "must reduce every parameter each step. If some parameters are unused in some steps, "
                    "pass find_unused_parameters=True (they are summed as zeros)"
                )
