"""Was this process started by an MPI launcher, and with how many others? Read from the environment only.

`fit` and the CLI ask this before anything imports mpi4py, so a single
process never pays for MPI (or needs it installed). Each launcher leaves its
own variables in every process it starts:

- Open MPI's ``mpirun``/``mpiexec``: ``OMPI_COMM_WORLD_SIZE``;
- MPICH, Intel MPI and other PMI launchers (Hydra): ``PMI_SIZE``;
- Slurm's ``srun``: ``SLURM_STEP_NUM_TASKS`` (set for a job step, unlike
  ``SLURM_NTASKS``, which a batch script sees too even when it runs one
  process).

``DELTAPROP_DISTRIBUTED=0`` (or off/false/no) makes a launched process
behave as a lone one: each trains on its own.
"""

from __future__ import annotations

import os

_SIZE_VARIABLES = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_STEP_NUM_TASKS")
_OFF = ("0", "off", "false", "no")


def launched_processes() -> int | None:
    """How many processes the launcher started (this one included), or None when none did."""
    for name in _SIZE_VARIABLES:
        value = os.environ.get(name)
        if value:
            try:
                return int(value)
            except ValueError:
                continue
    return None


def launched_with_others() -> bool:
    """True when a launcher started this process together with at least one other."""
    return (launched_processes() or 1) > 1


def turned_off() -> bool:
    """True when DELTAPROP_DISTRIBUTED says not to train data-parallel even under a launcher."""
    return os.environ.get("DELTAPROP_DISTRIBUTED", "").strip().lower() in _OFF


def wants_data_parallel(distributed: bool | None) -> bool:
    """fit's ``distributed=``: True and False decide; None means 'when launched with several processes'."""
    if distributed is None:
        return launched_with_others() and not turned_off()
    if not isinstance(distributed, bool):
        raise TypeError(f"fit: distributed must be True, False or None (automatic), got {distributed!r}")
    return distributed
