"""What `fit` does differently when one run is spread over several processes (``fit(distributed=...)``).

Every process calls ``fit`` with the same model, data and arguments.
`DataParallelFit` then supplies the parts that differ from a one-process
run, and fit assembles them as usual:

- start: the processes check they were given the same data and arguments,
  and take process 0's random generator (so the validation split and the
  shuffles agree); each process other than 0 then derives its own stream
  from it (dropout masks differ between processes, as they should), and
  checkpoints keep every process's stream;
- the batch source (`ShardedBatches`): each process takes its slice of
  every global batch, so ``batch_size`` stays the global batch;
- the step, through the optimizer's ``train_step``: first-order optimizers
  get a `DistributedDataParallel` backward whose bucketed all-reduces sum
  each slice's share of the global mean gradient; Levenberg-Marquardt and
  Gauss-Newton sum their J^T J, J^T e and objective
  (`deltaprop.distributed.curvature`). Every step returns the global batch
  loss, so history, callbacks and the NaN guard see the same numbers on
  every process;
- after each epoch's batches: the epoch's outputs are gathered (train
  metrics are the one-process ones), and process 0's buffers (BatchNorm
  running statistics) are copied to all before validation;
- after the epoch: the processes check they hold the same weights and
  reach the same decision to stop;
- only process 0 draws the progress bar and writes checkpoints; a run
  resumes from a checkpoint on the same number of processes;
- an error on any process ends every process (`failing_together`).

The result equals a one-process run up to the rounding of the sums, for
any number of processes; dropout masks and BatchNorm's batch statistics
are per process, so models with those match only in distribution.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from deltaprop import backend
from deltaprop.distributed.batches import ShardedBatches
from deltaprop.distributed.curvature import SummedOverProcesses
from deltaprop.distributed.ddp import DistributedDataParallel, broadcast_state, broadcast_tensors
from deltaprop.distributed.world import communicator, failing_together
from deltaprop.optim.jacobian import assign_params, flatten_params
from deltaprop.optim.levenberg_marquardt import CurvatureOptimizer
from deltaprop.optim.optimizer import Optimizer
from deltaprop.random import get_rng_state, manual_seed, set_rng_state
from deltaprop.tensor import no_grad
from deltaprop.train import checkpoint as ckpt
from deltaprop.train.callbacks import Callback
from deltaprop.train.step import make_step
from deltaprop.train.validation import data_fingerprint


class DataParallelFit:
    """fit's data-parallel parts for one run (see the module docstring)."""

    def __init__(self, optimizer: Any, loss_fn: Any) -> None:
        self.comm = communicator()
        self.size, self.rank = self.comm.size, self.comm.rank
        #: process 0 alone draws progress and writes files
        self.lead = self.rank == 0
        self.curvature = _check_optimizer(optimizer)
        self.summed = _loss_reduction(loss_fn) == "sum"
        self.source: ShardedBatches | None = None
        self.ddp: DistributedDataParallel | None = None
        self.curvature_optimizer: Any = None

    # ------------------------------------------------------------------ before training
    def start(self, X: np.ndarray, y: np.ndarray, fit_args: dict[str, Any]) -> None:
        """Same data and arguments everywhere, then process 0's generator everywhere."""
        comm = self.comm
        arguments = {k: v for k, v in fit_args.items() if k != "data"}
        mine = (data_fingerprint(X, y), repr(sorted(arguments.items())))
        everyone = comm.allgather_object(mine)
        for other, theirs in enumerate(everyone):
            if theirs[0] != everyone[0][0]:
                raise ValueError(
                    f"fit: process {other} was given other training data than process 0 (shape {X.shape} "
                    "here); every process must pass the same X and y (load or generate them the same way)"
                )
            if theirs[1] != everyone[0][1]:
                raise ValueError(f"fit: process {other} was called with other arguments than process 0: "
                                 f"{theirs[1]} vs {everyone[0][1]}; call fit the same way on every process")
        set_rng_state(comm.broadcast_object(get_rng_state(), 0))

    def read(self, path: str | os.PathLike, fit_args: dict[str, Any]) -> dict[str, Any]:
        """Process 0 reads the checkpoint (it wrote it, maybe on its own disk); all get it, or its error."""
        outcome: tuple[Any, BaseException | None] = (None, None)
        if self.lead:
            try:
                outcome = (ckpt.read(path, fit_args), None)
            except Exception as exc:  # raised on every process below, so none waits for the others
                outcome = (None, exc)
        state, error = self.comm.broadcast_object(outcome, 0)
        if error is not None:
            raise error
        saved = state["extra"].get("fit_args", {}).get("world_size", 1)
        if saved != self.size:
            raise ValueError(
                f"fit(resume_from={os.fspath(path)!r}): the checkpoint was written by a run on {saved} "
                f"process(es); this run has {self.size}. Resume on {saved} (mpirun -n {saved} ...), so the "
                "processes' random streams and batch slices continue as they were"
            )
        return state

    def callback(self, checkpointing: bool) -> Callback:
        return RankStreams(self.comm, checkpointing)

    def batches(self, X: np.ndarray, y: np.ndarray, batch_size: int | None, shuffle: bool, xp: Any):
        self.source = ShardedBatches(X, y, batch_size, shuffle, xp, self.comm)
        return self.source

    # ------------------------------------------------------------------ the step
    def make_step(self, model: Any, loss_fn: Any, optimizer: Any, run: Any, callbacks: list[Any],
                  check_finite: bool | str):
        """fit's step on this process's slice, returning the global batch's loss."""
        if self.curvature:
            return self._curvature_step(model, loss_fn, optimizer, run, callbacks, check_finite)
        source = self.source
        if source is None:
            raise RuntimeError("distributed fit: the batch source (batches()) must be made before the step")
        ddp = self.ddp = DistributedDataParallel(model, process_group=self.comm)
        reducer, summed = ddp.reducer, self.summed

        def gradients(_model: Any, loss_fn: Any, x: Any, y: Any) -> tuple[float, Any]:
            """`backprop` on this slice, its loss's share of the batch summed with the gradients."""
            weight = reducer.weight = 1.0 if summed else source.current_share
            if len(x) == 0:  # an empty slice: no loss here, but this process joins every collective
                ddp.sync_buffers()
                output = _empty_output(model, source.example())
                reducer.carry(0.0)
                reducer.finish_without_backward()
                return float(reducer.carried[0]), output
            output = ddp(x)
            loss = loss_fn(output, y)
            value = loss.array.item()
            reducer.carry(value * weight)
            if value - value == 0:  # finite: as backprop, a non-finite loss leaves the model as it was
                loss.backward()
            if reducer.armed:  # no backward summed the gradients (non-finite loss, or no parameter used)
                reducer.finish_without_backward()
            return float(reducer.carried[0]), output

        return make_step(model, loss_fn, optimizer, run, callbacks, check_finite, gradients=gradients)

    def _curvature_step(self, model, loss_fn, optimizer, run, callbacks, check_finite):
        broadcast_state(self.comm, model)
        optimizer.data_parallel = SummedOverProcesses(self.comm)
        self.curvature_optimizer = optimizer
        inner = make_step(model, loss_fn, optimizer, run, callbacks, check_finite)
        params = optimizer.param_groups[0]["params"]
        source, comm, summed = self.source, self.comm, self.summed

        def step(xb: Any, yb: Any) -> tuple[float, Any]:
            value, output = inner(xb, yb)
            weights = flatten_params(params)  # the solves agree to rounding; make the weights agree exactly
            comm.broadcast(weights, 0)
            assign_params(params, weights)
            return _summed(comm, value * (1.0 if summed else source.current_share)), output

        return step

    # ------------------------------------------------------------------ around each epoch
    def join_epoch(self, run: Any, outputs: list[Any], targets: list[Any]) -> tuple[list[Any], list[Any]]:
        """Process 0's buffers everywhere; every process's outputs, in the one-process order."""
        if self.size == 1:
            return outputs, targets
        broadcast_tensors(self.comm, run.model.buffers())
        if not outputs:
            return outputs, targets
        mine = ([backend.to_numpy(o) for o in outputs], [backend.to_numpy(t) for t in targets])
        everyone = self.comm.allgather_object(mine)
        joined_outputs = [part for batch in zip(*(o for o, _ in everyone), strict=True) for part in batch]
        joined_targets = [part for batch in zip(*(t for _, t in everyone), strict=True) for part in batch]
        return [np.concatenate(joined_outputs)], [np.concatenate(joined_targets)]

    def agree(self, run: Any, stop: bool) -> bool:
        """Check every process holds process 0's weights and stops when it does; returns the decision."""
        if self.size == 1:
            return stop
        votes = self.comm.allgather_object((_digest(run.model), bool(stop)))
        for other, (digest, vote) in enumerate(votes):
            if digest != votes[0][0]:
                raise RuntimeError(
                    f"fit: after epoch {run.epoch} process {other} holds other weights than process 0; the "
                    "processes must take identical steps (a callback changing weights on one process only, "
                    "or machines computing differently?)"
                )
            if vote != votes[0][1]:
                raise RuntimeError(f"fit: after epoch {run.epoch} process {other} decided "
                                   f"{'to stop' if vote else 'to go on'} but process 0 did not")
        return stop

    @contextmanager
    def running(self) -> Iterator[None]:
        """Around the epochs: an error on one process ends all; afterwards the model and optimizer
        are left as they were (no gradient hooks, no summing over processes)."""
        try:
            with failing_together("fit"):
                yield
        finally:
            if self.ddp is not None:
                self.ddp.remove_hooks()
            if self.curvature_optimizer is not None:
                self.curvature_optimizer.data_parallel = None


class RankStreams(Callback):
    """Each process's own random stream: derived when training starts, kept in checkpoints, restored."""

    def __init__(self, comm: Any, checkpointing: bool) -> None:
        self.comm, self.checkpointing = comm, checkpointing
        self.states: list[Any] | None = None  # every process's stream after the latest epoch
        self.restored: list[Any] | None = None

    def on_train_begin(self, run: Any) -> None:
        rank = self.comm.rank
        if self.restored is not None:
            set_rng_state(self.restored[rank])
        elif rank > 0:  # process 0 keeps the stream of a one-process run; the others branch off it
            key = int(get_rng_state()["state"]["state"])
            manual_seed(np.random.SeedSequence(entropy=key, spawn_key=(rank,)))

    def on_epoch_end(self, run: Any) -> None:
        if self.checkpointing:
            self.states = self.comm.allgather_object(get_rng_state())

    def state_dict(self) -> dict[str, Any]:
        return {"world_size": self.comm.size, "rng_states": self.states}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.restored = state.get("rng_states")


# --------------------------------------------------------------------------- helpers
def _summed(comm: Any, value: float) -> float:
    buffer = np.array([value], dtype=np.float64)
    comm.allreduce(buffer, "sum")
    return float(buffer[0])


def _empty_output(model: Any, example: Any) -> Any:
    """(0, outputs...): what an empty slice contributes to the epoch's predictions.

    Shaped by the model's answer to one example, in eval mode (no batch
    statistics, no dropout draws), since not every layer accepts an empty batch.
    """
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            return model(example)[:0]
    finally:
        model.train(was_training)


def _digest(model: Any) -> str:
    digest = hashlib.blake2b(digest_size=16)
    for tensor in [*model.parameters(), *(b for b in model.buffers() if b is not None)]:
        digest.update(np.ascontiguousarray(backend.to_numpy(tensor.array)).tobytes())
    return digest.hexdigest()


def _check_optimizer(optimizer: Any) -> bool:
    """True for LM/Gauss-Newton, False for first-order optimizers; others cannot be split (raise)."""
    if isinstance(optimizer, CurvatureOptimizer):
        return True
    if isinstance(optimizer, Optimizer) and type(optimizer).train_step is Optimizer.train_step:
        return False
    raise TypeError(
        f"fit(distributed): {type(optimizer).__name__} has its own training step, which does not combine "
        "the processes' work; data-parallel fit supports first-order optimizers (SGD, Adam, AdamW, "
        "RMSprop, Adagrad, ...) and LevenbergMarquardt / GaussNewton. Run it on one process "
        "(distributed=False, or DELTAPROP_DISTRIBUTED=0 under mpirun)"
    )


def _loss_reduction(loss_fn: Any) -> str:
    """'mean' or 'sum': how each slice's loss adds up to the global batch's."""
    reduction = getattr(loss_fn, "reduction", "mean")
    if reduction not in ("mean", "sum"):
        raise ValueError(f"fit(distributed): the loss must reduce to one number (reduction 'mean' or 'sum'), "
                         f"got reduction={reduction!r}")
    if getattr(loss_fn, "weight", None) is not None:
        raise ValueError(
            f"fit(distributed): {type(loss_fn).__name__} with class weights averages over the weights of the "
            "whole batch, which the processes' slices cannot reproduce exactly; use reduction='sum' "
            "(and scale the learning rate) or train on one process"
        )
    return reduction
