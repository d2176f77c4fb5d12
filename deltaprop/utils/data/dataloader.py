"""`DataLoader`: mini-batches from a dataset, shuffled each epoch, as ``torch.utils.data.DataLoader``.

``for x, y in DataLoader(TensorDataset(X, y), batch_size=64, shuffle=True)``
works as in PyTorch, with the same signature and the same batching rules
(`default_collate`: tensors and arrays are stacked, numbers become int64 or
float64 tensors, tuples become lists, dicts stay dicts). Batches are made in
the calling process: ``num_workers`` is accepted and changes nothing (no
worker processes; the batches are the same), nor does ``pin_memory``.

Shuffling draws one permutation per epoch from ``generator`` (a
`deltaprop.Generator`) or, without one, from the package generator, so
``deltaprop.manual_seed`` makes the order repeatable (it is not PyTorch's
order: no two libraries' random streams agree). A `TensorDataset` batch is
taken with one index per tensor instead of stacking rows one by one: the
same values, much faster.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Generic, TypeVar

import numpy as np

from deltaprop import backend
from deltaprop.rng import Generator, numpy_generator
from deltaprop.tensor import Tensor
from deltaprop.utils.data.dataset import TensorDataset

T = TypeVar("T")  # what a Sampler yields: an index, or a batch of them


# --------------------------------------------------------------------------- samplers


class Sampler(Generic[T]):
    """Base class: iterates over dataset indices (`BatchSampler`: over lists of them), as PyTorch's."""

    def __iter__(self) -> Iterator[T]:
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError


class SequentialSampler(Sampler[int]):
    def __init__(self, data_source: Any) -> None:
        self.data_source = data_source

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler[int]):
    """A fresh random order each time it is iterated (``replacement=True``: draws with repeats)."""

    def __init__(self, data_source: Any, replacement: bool = False, num_samples: int | None = None,
                 generator: Generator | None = None) -> None:  # fmt: skip
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = generator

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else int(self._num_samples)

    def __iter__(self) -> Iterator[int]:
        rng, n = numpy_generator(self.generator), len(self.data_source)
        if self.replacement:
            return iter(rng.integers(0, n, self.num_samples).tolist())
        order: list[int] = []
        while len(order) < self.num_samples:
            order.extend(rng.permutation(n).tolist())
        return iter(order[: self.num_samples])

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler[int]):
    """The given indices in a random order."""

    def __init__(self, indices: Sequence[int], generator: Generator | None = None) -> None:
        self.indices = list(indices)
        self.generator = generator

    def __iter__(self) -> Iterator[int]:
        order = numpy_generator(self.generator).permutation(len(self.indices))
        return iter([self.indices[i] for i in order])

    def __len__(self) -> int:
        return len(self.indices)


class BatchSampler(Sampler[list[int]]):
    """Groups a sampler's indices into lists of ``batch_size`` (the last shorter unless ``drop_last``)."""

    def __init__(self, sampler: Iterable[int], batch_size: int, drop_last: bool) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.sampler, self.batch_size, self.drop_last = sampler, batch_size, drop_last

    def __iter__(self) -> Iterator[list[int]]:
        batch: list[int] = []
        for index in self.sampler:
            batch.append(index)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self) -> int:
        n = len(self.sampler)  # type: ignore[arg-type]
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)


# --------------------------------------------------------------------------- collation
def default_collate(batch: Sequence[Any]) -> Any:
    """A list of samples as one batch, by PyTorch's rules (see the module docstring)."""
    elem = batch[0]
    if isinstance(elem, Tensor):
        from deltaprop.ops import stack

        return stack(list(batch))
    if isinstance(elem, np.ndarray) or type(elem).__module__.startswith("cupy"):
        if isinstance(elem, np.ndarray) and elem.dtype.kind not in "biuf":
            raise TypeError(f"default_collate: arrays of dtype {elem.dtype} cannot be batched into tensors")
        xp = backend.array_module(elem)
        return Tensor._wrap(xp.stack(list(batch)))
    if isinstance(elem, (bool, np.bool_)):
        return Tensor(np.asarray(batch, dtype=bool))
    if isinstance(elem, (int, np.integer)):
        return Tensor(np.asarray(batch, dtype=np.int64))
    if isinstance(elem, (float, np.floating)):
        return Tensor(np.asarray(batch, dtype=np.float64))
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, Mapping):
        return {key: default_collate([b[key] for b in batch]) for key in elem}
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # a named tuple stays one
        return type(elem)(*(default_collate(list(s)) for s in zip(*batch, strict=True)))
    if isinstance(elem, Sequence):
        if any(len(b) != len(elem) for b in batch):
            raise RuntimeError("default_collate: each element in list of batch should be of equal size")
        return [default_collate(list(samples)) for samples in zip(*batch, strict=True)]
    raise TypeError(f"default_collate: cannot batch samples of type {type(elem).__name__}")


# --------------------------------------------------------------------------- the loader
class DataLoader:
    """Batches of ``dataset``, with PyTorch's signature; see the module docstring for what is the same."""

    def __init__(
        self,
        dataset: Any,
        batch_size: int | None = 1,
        shuffle: bool | None = None,
        sampler: Any = None,
        batch_sampler: Any = None,
        num_workers: int = 0,
        collate_fn: Callable[[list[Any]], Any] | None = None,
        pin_memory: bool = False,
        drop_last: bool = False,
        timeout: float = 0,
        worker_init_fn: Callable[[int], None] | None = None,
        multiprocessing_context: Any = None,
        generator: Generator | None = None,
        *,
        prefetch_factor: int | None = None,
        persistent_workers: bool = False,
        pin_memory_device: str = "",
        in_order: bool = True,
    ) -> None:
        if num_workers < 0:
            raise ValueError(f"DataLoader: num_workers must be >= 0, got {num_workers}")
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None and (batch_size != 1 or shuffle or sampler is not None or drop_last):
            raise ValueError(
                "DataLoader: batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, "
                "and drop_last"
            )
        self.dataset = dataset
        self.num_workers = num_workers
        self.generator = generator
        self.collate_fn = collate_fn
        self.drop_last = drop_last
        if sampler is None:
            sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        self.sampler = sampler
        if batch_sampler is None and batch_size is not None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.batch_size = None if batch_sampler is None else getattr(batch_sampler, "batch_size", None)
        self.batch_sampler = batch_sampler

    def __len__(self) -> int:
        return len(self.batch_sampler if self.batch_sampler is not None else self.sampler)

    def __iter__(self) -> Iterator[Any]:
        if self.batch_sampler is None:  # batch_size=None: one sample at a time, not collated
            for index in self.sampler:
                yield self.dataset[index]
            return
        fast = self.collate_fn is None and type(self.dataset) is TensorDataset
        collate = self.collate_fn or default_collate
        for indices in self.batch_sampler:
            if fast:
                rows = np.asarray(indices, dtype=np.int64)
                yield [Tensor._wrap(t.array[_on(rows, t.array)]) for t in self.dataset.tensors]
            else:
                yield collate([self.dataset[i] for i in indices])


def _on(rows: np.ndarray, array: Any) -> Any:
    xp = backend.array_module(array)
    return rows if xp is np else xp.asarray(rows)
