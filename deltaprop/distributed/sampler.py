"""`DistributedSampler`: which examples of a data set this process takes, epoch by epoch.

``torch.utils.data.DistributedSampler``'s rules, so a hand-written loop
ported from PyTorch shards the same way: every process draws the same
permutation (seeded by ``seed + epoch``; call `set_epoch` at the start of
each epoch, or every epoch repeats the first one's order), pads it by
repeating its start until it divides evenly (or drops the tail with
``drop_last``), and process r takes every ``num_replicas``-th index from
position r. The permutation comes from its own NumPy generator, not the
package one, so sampling never changes what dropout or initialisation draw.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np


class DistributedSampler:
    """Indices of this process's share of ``dataset_or_n`` (a length, or anything with ``len``)."""

    def __init__(
        self,
        dataset_or_n: Any,
        num_replicas: int | None = None,
        rank: int | None = None,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        self.n = _length(dataset_or_n)
        if num_replicas is None or rank is None:
            from deltaprop.distributed.world import communicator

            comm = communicator()
            num_replicas = comm.size if num_replicas is None else num_replicas
            rank = comm.rank if rank is None else rank
        if int(num_replicas) < 1:
            raise ValueError(f"DistributedSampler: num_replicas must be >= 1, got {num_replicas!r}")
        if not 0 <= int(rank) < int(num_replicas):
            raise ValueError(
                f"DistributedSampler: invalid rank {rank}, rank should be in the interval "
                f"[0, {num_replicas - 1}]"
            )
        self.num_replicas, self.rank = int(num_replicas), int(rank)
        self.shuffle, self.seed, self.drop_last = bool(shuffle), int(seed), bool(drop_last)
        self.epoch = 0
        if self.drop_last and self.n % self.num_replicas:
            self.num_samples = self.n // self.num_replicas
        else:
            self.num_samples = math.ceil(self.n / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas

    def set_epoch(self, epoch: int) -> None:
        """Use epoch ``epoch``'s permutation next (the same on every process)."""
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[int]:
        if self.shuffle:
            order = np.random.default_rng(self.seed + self.epoch).permutation(self.n)
        else:
            order = np.arange(self.n)
        if self.drop_last:
            order = order[: self.total_size]
        elif self.total_size > self.n and self.n:
            repeats = math.ceil((self.total_size - self.n) / self.n)
            order = np.concatenate([order, *([order] * repeats)])[: self.total_size]
        return iter(order[self.rank : self.total_size : self.num_replicas].tolist())

    def __len__(self) -> int:
        return self.num_samples

    def __repr__(self) -> str:
        return (f"DistributedSampler(n={self.n}, num_replicas={self.num_replicas}, rank={self.rank}, "
                f"shuffle={self.shuffle}, seed={self.seed}, drop_last={self.drop_last})")


def _length(dataset_or_n: Any) -> int:
    if isinstance(dataset_or_n, (int, np.integer)) and not isinstance(dataset_or_n, bool):
        n = int(dataset_or_n)
    elif hasattr(dataset_or_n, "__len__"):
        n = len(dataset_or_n)
    else:
        raise TypeError(
            f"DistributedSampler: expected a data set (anything with len()) or a number of examples, "
            f"got {type(dataset_or_n).__name__}"
        )
    if n < 0:
        raise ValueError(f"DistributedSampler: the number of examples must be >= 0, got {n}")
    return n
