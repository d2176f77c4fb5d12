"""Datasets: anything with ``len()`` and ``dataset[i]``, as PyTorch's ``torch.utils.data`` defines them.

`TensorDataset` pairs tensors (or arrays) of equal length row by row;
`Subset` is a view through a list of indices; `ConcatDataset` joins
datasets end to end; `random_split` cuts one into random, non-overlapping
subsets (by counts, or fractions as PyTorch allows).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from typing import Any

from deltaprop.rng import Generator, numpy_generator
from deltaprop.tensor import Tensor


class Dataset:
    """Base class: define ``__getitem__(index)`` (and ``__len__`` for DataLoader's sampling)."""

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __add__(self, other: Dataset) -> ConcatDataset:
        return ConcatDataset([self, other])


class TensorDataset(Dataset):
    """Row ``i`` of every tensor, as a tuple: ``TensorDataset(X, y)[i] == (X[i], y[i])``."""

    def __init__(self, *tensors: Any) -> None:
        self.tensors = tuple(t if isinstance(t, Tensor) else Tensor(t) for t in tensors)
        if not self.tensors:
            raise ValueError("TensorDataset: give at least one tensor")
        lengths = {len(t) for t in self.tensors}
        if len(lengths) != 1:
            raise ValueError(
                f"TensorDataset: the tensors have {sorted(lengths)} rows; they need the same first dimension"
            )

    def __getitem__(self, index: Any) -> tuple[Tensor, ...]:
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return len(self.tensors[0])


class Subset(Dataset):
    """The entries of ``dataset`` at ``indices``, in that order."""

    def __init__(self, dataset: Any, indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = [int(i) for i in indices]

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, list):
            return self.dataset[[self.indices[i] for i in index]]
        return self.dataset[self.indices[index]]

    def __len__(self) -> int:
        return len(self.indices)


class ConcatDataset(Dataset):
    """Datasets end to end: index ``len(first)`` is the second dataset's entry 0."""

    def __init__(self, datasets: Sequence[Any]) -> None:
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: give at least one dataset")
        self.cumulative_sizes: list[int] = []
        total = 0
        for dataset in self.datasets:
            total += len(dataset)
            self.cumulative_sizes.append(total)

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, index: int) -> Any:
        if index < 0:
            if -index > len(self):
                raise IndexError(f"ConcatDataset: index {index} is out of range for {len(self)} entries")
            index += len(self)
        which = bisect.bisect_right(self.cumulative_sizes, index)
        if which >= len(self.datasets):
            raise IndexError(f"ConcatDataset: index {index} is out of range for {len(self)} entries")
        start = self.cumulative_sizes[which - 1] if which else 0
        return self.datasets[which][index - start]


def random_split(
    dataset: Any, lengths: Sequence[int | float], generator: Generator | None = None
) -> list[Subset]:
    """Random, non-overlapping subsets of the given sizes (or fractions summing to 1), as PyTorch's.

    Fractions become counts as in PyTorch (floor of each, then the
    remainder handed out one by one from the first). The order comes from
    ``generator`` or the package generator; it is not PyTorch's order.
    """
    total = len(dataset)
    lengths = list(lengths)
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1 and not all(isinstance(n, int) for n in lengths):
        counts = []
        for fraction in lengths:
            if not 0 <= fraction <= 1:
                raise ValueError(f"random_split: fraction {fraction} is not between 0 and 1")
            counts.append(int(math.floor(total * fraction)))
        for i in range(total - sum(counts)):
            counts[i % len(counts)] += 1
        lengths = counts
    if sum(lengths) != total:
        raise ValueError(
            f"random_split: the lengths {lengths} add up to {sum(lengths)}, but the dataset has {total}"
        )
    order = numpy_generator(generator).permutation(total).tolist()
    subsets, start = [], 0
    for length in lengths:
        subsets.append(Subset(dataset, order[start : start + int(length)]))
        start += int(length)
    return subsets
