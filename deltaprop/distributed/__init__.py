"""Data-parallel training over processes and machines, on MPI (optional extra: ``deltaprop[mpi]``).

Launch the same script on every process (``mpirun -n 4 python train.py``,
``srun``); each holds the whole model and trains on its share of the data:

- ``deltaprop.fit(...)`` does it by itself when started by mpirun/srun
  (`deltaprop.distributed.training`): ``batch_size`` stays the global batch,
  and the result matches a one-process run;
- a hand-written loop wraps the model in `DistributedDataParallel` (gradients
  averaged in buckets while backward runs) and shards the data with
  `DistributedSampler`, as in PyTorch;
- `init`, `rank`, `world_size`, `barrier`, `all_reduce`, `broadcast` and
  `all_gather` are the collectives underneath, on tensors and arrays.

mpi4py is imported only when a launcher started several processes; a lone
``python script.py`` runs the same code as a world of one, with no MPI installed.
"""

from deltaprop.distributed.batches import ShardedBatches
from deltaprop.distributed.comm import Communicator, LocalCommunicator, MPICommunicator
from deltaprop.distributed.ddp import DistributedDataParallel
from deltaprop.distributed.launch import launched_processes
from deltaprop.distributed.sampler import DistributedSampler
from deltaprop.distributed.world import (
    ReduceOp,
    all_gather,
    all_reduce,
    barrier,
    broadcast,
    communicator,
    get_rank,
    get_world_size,
    init,
    is_initialized,
    rank,
    world_size,
)

__all__ = [
    "Communicator",
    "DistributedDataParallel",
    "DistributedSampler",
    "LocalCommunicator",
    "MPICommunicator",
    "ReduceOp",
    "ShardedBatches",
    "all_gather",
    "all_reduce",
    "barrier",
    "broadcast",
    "communicator",
    "get_rank",
    "get_world_size",
    "init",
    "is_initialized",
    "launched_processes",
    "rank",
    "world_size",
]
