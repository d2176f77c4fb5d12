"""Distributed Levenberg-Marquardt and Gauss-Newton: each process forms J^T J and J^T e on its own data.

The objective is a sum over examples, so its Gauss-Newton system is too:
``G = sum_r J_r^T H_r J_r`` and ``g = sum_r J_r^T e_r`` over the processes'
shards. Each process builds its own pair from its rows (never the whole
Jacobian, which is what limits LM to data that fits one machine) and one
all-reduce per iteration sums ``G``, ``g`` and the objective together, so
every process solves the same system. Each trial step's objective is one
more scalar all-reduce. MATLAB's ``trainlm`` splits its work over a parallel
pool the same way.

`SummedOverProcesses` is what `fit` puts into the optimizer's
``data_parallel`` attribute (see `deltaprop.optim.levenberg_marquardt`); the
optimizer asks it for the zeroed system to accumulate into (views of one
buffer, so the reduction needs no packing copy) and for the sums.
"""

from __future__ import annotations

import numpy as np

from deltaprop.distributed.comm import Communicator


class SummedOverProcesses:
    """The sums of a curvature optimizer's step, over every process of ``comm``."""

    def __init__(self, comm: Communicator) -> None:
        self.comm = comm
        self._flat: np.ndarray | None = None

    def new_system(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Zeroed (G, g) of n unknowns to accumulate into: views of one buffer with room for the objective."""
        flat = self._flat
        if flat is None or flat.size != n * n + n + 1:
            flat = self._flat = np.empty(n * n + n + 1)
        flat[...] = 0
        return flat[: n * n].reshape(n, n), flat[n * n : n * n + n]

    def sum_system(self, G: np.ndarray, g: np.ndarray, objective: float) -> float:
        """Sum G and g (in place) and the objective over the processes in one all-reduce; returns E."""
        flat = self._flat
        if flat is None or G.base is not flat or g.base is not flat:
            raise ValueError("SummedOverProcesses.sum_system: G and g must come from new_system")
        flat[-1] = objective
        self.comm.allreduce(flat, "sum")
        return float(flat[-1])

    def sum_value(self, value: float) -> float:
        """One number summed over the processes (a trial step's objective)."""
        buffer = np.array([value], dtype=np.float64)
        self.comm.allreduce(buffer, "sum")
        return float(buffer[0])
