"""`ShardedBatches`: fit's batch source when the run is spread over processes.

The schedule is exactly `ArrayBatches`' (the same global batches of
``batch_size`` from the same seeded permutation, drawn from the package
generator), and each process takes its contiguous slice of every global
batch: with b examples and P processes, process r gets ``b // P`` of them,
one more when ``r < b % P``. So the union of the slices is the one-process
batch, and the result of a run does not depend on how many processes ran
it. The permutation is drawn by process 0 and broadcast, so it is the same
everywhere even when dropout has made the processes' generators differ.

Iteration yields ``(x_slice, y_slice, global batch size)``: the step sums
each slice's share of the global mean, and the epoch's mean loss is then
the one-process one. ``current_share`` is the slice's fraction of the batch
being yielded. A global batch smaller than the number of processes leaves
some slices empty; those processes still take part in every reduction.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType

import numpy as np

from deltaprop.distributed.comm import Communicator
from deltaprop.ops.losses import mark_labels_checked
from deltaprop.random import generator
from deltaprop.tensor import Tensor
from deltaprop.train.batches import ArrayBatches


def slice_of(count: int, rank: int, size: int) -> tuple[int, int]:
    """(start, stop) of process ``rank``'s contiguous share of ``count`` items split over ``size``."""
    base, extra = divmod(count, size)
    start = rank * base + min(rank, extra)
    return start, start + base + (1 if rank < extra else 0)


class ShardedBatches:
    """This process's slice of every global batch of `ArrayBatches`' schedule (see the module docstring)."""

    def __init__(
        self,
        X: np.ndarray,
        y: np.ndarray,
        batch_size: int | None,
        shuffle: bool,
        xp: ModuleType,
        comm: Communicator,
    ) -> None:
        self.schedule = ArrayBatches(X, y, batch_size, shuffle, xp)
        self.n = self.schedule.n
        self.comm = comm
        if self.schedule.full_batch and self.n < comm.size:
            raise ValueError(
                f"fit: {self.n} training examples cannot be shared by {comm.size} processes for full-batch "
                "training; use fewer processes (every one needs at least one example)"
            )
        self.current_share = 0.0

    def __len__(self) -> int:
        return len(self.schedule)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor, int]]:
        schedule, comm = self.schedule, self.comm
        order = None
        if schedule.shuffle:
            order = generator().permutation(self.n) if comm.rank == 0 else np.empty(self.n, dtype=np.int64)
            comm.broadcast(order, 0)
        for start, stop in schedule.bounds:
            lo, hi = slice_of(stop - start, comm.rank, comm.size)
            if order is None:
                xb, yb = schedule.X[start + lo : start + hi], schedule.y[start + lo : start + hi]
            else:
                index = order[start + lo : start + hi]
                xb, yb = schedule.X[index], schedule.y[index]
            self.current_share = (hi - lo) / (stop - start)
            yield self._wrap(xb), self._wrap(yb, labels=True), stop - start

    def example(self) -> Tensor:
        """One training example as a batch of one (a process with an empty slice shapes its output by it)."""
        return self._wrap(self.schedule.X[:1])

    def _wrap(self, array: np.ndarray, labels: bool = False) -> Tensor:
        schedule = self.schedule
        if schedule.xp is not np:
            array = schedule._move(array)
        if labels and schedule.label_range is not None:
            mark_labels_checked(array, *schedule.label_range)
        return Tensor._wrap(array)
