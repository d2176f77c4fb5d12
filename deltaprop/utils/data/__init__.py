"""``deltaprop.utils.data``: datasets and mini-batch loading with PyTorch's names.

`Dataset`, `TensorDataset`, `Subset`, `ConcatDataset`, `random_split`,
`DataLoader` (with `default_collate` and the samplers). ``deltaprop.fit``
accepts a `DataLoader` in place of (X, y). No worker processes: batches are
made in the calling process (``num_workers`` is accepted and ignored).
"""

from deltaprop.utils.data.dataloader import (
    BatchSampler,
    DataLoader,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    default_collate,
)
from deltaprop.utils.data.dataset import ConcatDataset, Dataset, Subset, TensorDataset, random_split

__all__ = [
    "BatchSampler", "ConcatDataset", "DataLoader", "Dataset", "RandomSampler", "Sampler", "SequentialSampler",
    "Subset", "SubsetRandomSampler", "TensorDataset", "default_collate", "random_split",
]  # fmt: skip
