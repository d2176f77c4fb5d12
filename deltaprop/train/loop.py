"""`fit`: the training loop, assembled from parts that can each be replaced.

- the batch source (`deltaprop.train.batches`): which examples each step sees;
- the step (`deltaprop.train.step`): one call of the optimizer's
  ``train_step``, the training-step protocol of `deltaprop.optim.Optimizer`;
- the epoch (`deltaprop.train.epoch`): the batch loop, then metrics,
  validation, scheduler, callbacks, stopping rules and the checkpoint;
- checkpoints (`deltaprop.train.checkpoint`): what is saved, and how a run resumes.

`fit` itself checks its arguments, builds those parts and runs the epochs.
Epochs and batches are counted from 1 everywhere a user sees them (history,
callbacks' ``run.epoch``, errors, checkpoints).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from typing import Any

import numpy as np

from deltaprop import backend
from deltaprop.errors import NonFiniteError
from deltaprop.optim.optimizer import backprop
from deltaprop.random import generator, manual_seed
from deltaprop.tensor import Tensor
from deltaprop.tensor import detect_anomaly as anomaly_mode
from deltaprop.train import checkpoint as ckpt
from deltaprop.train import learning_rule
from deltaprop.train import validation as checks
from deltaprop.train.batches import ArrayBatches
from deltaprop.train.callbacks import Callback, EarlyStopping
from deltaprop.train.epoch import Plan, finish_epoch, train_epoch
from deltaprop.train.history import History
from deltaprop.train.loader_batches import is_loader, loader_arrays, loader_source
from deltaprop.train.metrics import Metric, resolve_metrics
from deltaprop.train.progress import make_bar
from deltaprop.train.sequences import plan_sequences
from deltaprop.train.step import check_optimizer, make_step


class Run:
    """The state of a training run, as callbacks see it.

    ``epoch`` and ``batch`` count from 1; ``batch_loss`` is the latest batch's
    loss (before its update); ``logs`` holds the finished epoch's values
    ('loss', 'val_loss', metrics). Set ``stop_training = True`` (and
    optionally ``stop_reason``) to end training after the current epoch.
    """

    def __init__(self, model: Any, optimizer: Any, loss_fn: Any, history: History, epochs: int) -> None:
        self.model = model
        self.optimizer = optimizer
        self.loss_fn = loss_fn
        self.history = history
        self.epochs = epochs
        self.epoch = 0
        self.batch = 0
        self.batch_loss = math.nan
        self.x_batch: Tensor | None = None
        self.y_batch: Tensor | None = None
        self.output: Tensor | None = None
        self.logs: dict[str, float] = {}
        self.stop_training = False
        self.stop_reason: str | None = None


def fit(
    model: Any,
    X: Any,
    y: Any = None,
    *,
    loss: Any,
    optimizer: Any,
    epochs: int = 10,
    batch_size: int | None = 32,
    shuffle: bool = True,
    validation_data: tuple[Any, Any] | None = None,
    validation_split: float = 0.0,
    metrics: Iterable[str | Metric] = (),
    early_stopping: int | EarlyStopping | None = None,
    target_loss: float | None = None,
    callbacks: Sequence[Callback] = (),
    progress: bool | str = "auto",
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int = 1,
    resume_from: str | os.PathLike | None = None,
    seed: int | None = None,
    check_finite: bool | str = True,
    scheduler: Any = None,
    detect_anomaly: bool = False,
    distributed: bool | None = None,
    tbptt: int | None = None,
    stateful: bool = False,
    clip_grad_norm: float | str | None = "auto",
    rule: Any = None,
) -> History:
    """Train ``model`` on (X, y), or on the batches of a DataLoader given as X, and return the `History`.

    - ``loss``: a loss module (``nn.CrossEntropyLoss()``), a name for
      `nn.loss_by_name` ('mse', 'cross_entropy', ...) or a function.
    - ``optimizer``: any `deltaprop.optim.Optimizer`; each batch is one call of
      its ``train_step`` (the training-step protocol: first-order optimizers
      backpropagate and step, second-order ones compute their own update).
    - ``batch_size=None``: full-batch gradient descent (one step per epoch,
      no shuffling). Optimizers with ``full_batch = True`` (L-BFGS,
      Levenberg-Marquardt, Gauss-Newton) always get the full set.
    - ``validation_split``: after one seeded shuffle, the last fraction of the
      data is held out for validation (ignored if ``validation_data`` given).
    - ``metrics``: 'accuracy', 'mae', 'mse', 'rmse', 'r2' or functions
      f(y_pred, y_true) -> float. Train metrics are computed from the
      epoch's batch outputs (as Keras does); validation ones in eval mode.
    - ``early_stopping``: a patience (monitoring 'val_loss' when there is
      validation data, else 'loss') or an `EarlyStopping`; best weights are
      restored. ``target_loss``: stop once an epoch's training loss is <= it.
    - ``checkpoint``: path of a file rewritten atomically every
      ``checkpoint_every`` epochs (and at the end); ``resume_from``: continue
      a checkpointed run so that the final weights are bit-identical to an
      uninterrupted run with the same arguments and ``seed`` (a checkpoint of
      a run that had stopped, by early stopping or a target loss, resumes
      finished: no more epochs, the best weights restored as at its end).
    - ``seed``: reseeds the package generator first (shuffles, dropout, split).
    - ``check_finite``: True checks each batch loss (and the weights each
      epoch), 'grads' also every gradient every batch, False nothing; a
      NaN/Inf raises `NonFiniteError` naming epoch, batch and place.
      ``detect_anomaly=True`` checks every op (slow).
    - ``scheduler``: after each epoch, ``scheduler.epoch_end(logs)`` if it has
      one (deltaprop's schedulers; ReduceLROnPlateau steps on 'val_loss',
      else 'loss'), otherwise ``scheduler.step()``.
    - ``progress``: True, False or 'auto' (a bar only when stdout is a terminal).
    - ``distributed``: data-parallel training over MPI (`deltaprop.distributed.training`).
      None (default): when mpirun/srun started several processes (DELTAPROP_DISTRIBUTED=0
      turns that off); True: always; False: never. Every process passes the same X and y;
      ``batch_size`` stays the global batch, each process takes its slice of every batch, and
      the result matches one process. Progress and checkpoints come from process 0 only.
    - Sequences (`deltaprop.train.sequences`): X (N, T, features) or (N, T) ids, y per sequence or
      per step; ``tbptt=k`` truncates backpropagation through time to k steps, carrying the hidden
      state across chunks with detach(); ``stateful=True`` carries it across batches too;
      ``clip_grad_norm``: 'auto' clips models with recurrent layers to a total gradient norm of 5.0,
      a number clips any model, None never clips.
    - ``X`` may be a ``deltaprop.utils.data.DataLoader`` yielding (x, y) batches, with y left out
      (`deltaprop.train.loader_batches`): the loader then decides batches and order.
    - ``rule``: a learning rule from `deltaprop.rules` (``FeedbackAlignment()``, ...) that
      computes the updates instead of backpropagation; its angle to the true gradient is
      recorded per layer as ``history['angle/<layer>']`` and its state is checkpointed.
    """
    loss_fn = _resolve_loss(loss)
    checks.check_arguments(epochs, batch_size, validation_split, checkpoint_every, check_finite)
    check_optimizer(optimizer)
    cluster = _data_parallel(distributed, optimizer, loss_fn)
    dtype = _model_dtype(model)
    source, X, y, validation_data = _data(X, y, validation_data, model, dtype, validation_split, optimizer,
                                          check_finite)
    if source is not None and cluster is not None:
        raise ValueError("fit: a DataLoader does not run data-parallel over several processes; pass arrays")
    fit_args = {
        "epochs": int(epochs), "batch_size": batch_size, "shuffle": bool(shuffle),
        "validation_split": float(validation_split), "seed": seed, "target_loss": target_loss,
        "checkpoint_every": int(checkpoint_every), "loss": type(loss_fn).__name__,
        "optimizer": type(optimizer).__name__,
    }
    if cluster is not None:
        fit_args["world_size"] = cluster.size
    sequence = None if source is not None else plan_sequences(
        model, X, y, loss_fn, tbptt, stateful, clip_grad_norm, shuffle
    )
    if sequence is not None:
        if cluster is not None:
            raise ValueError(
                "fit: sequence training (recurrent layers, tbptt, stateful) does not run data-parallel over "
                "several processes yet; run it on one process (distributed=False)"
            )
        loss_fn = sequence.loss_fn
        fit_args.update({"tbptt": tbptt, "stateful": bool(stateful)} if tbptt or stateful else {})
    if checkpoint is not None or resume_from is not None:  # so a resume on other data is refused
        fit_args["data"] = checks.data_fingerprint(X, y) if source is None else checks.loader_fingerprint(
            source.loader)
    recorder = learning_rule.prepare(rule, fit_args)
    custom_rule = recorder is not None and recorder.gradients is not backprop  # Backprop() is plain fit
    if custom_rule and (cluster is not None or sequence is not None):
        raise ValueError(
            "fit: learning rules other than backprop train feed-forward networks on one process; "
            "they do not combine with distributed training or sequence training yet"
        )
    if seed is not None:
        manual_seed(seed)
    if cluster is not None:  # the same data and arguments everywhere, process 0's generator everywhere
        cluster.start(X, y, fit_args)
    reader = ckpt if cluster is None else cluster
    resume_state = reader.read(resume_from, fit_args) if resume_from is not None else None
    X, y, validation, split_order = _split(
        X, y, validation_data, validation_split, dtype, resume_state, check_finite
    )
    all_callbacks = list(callbacks)
    if recorder is not None:  # bound after the split, so every rule sees the same split
        all_callbacks.insert(0, recorder.bind(model))
    if early_stopping is not None:
        all_callbacks.append(_as_early_stopping(early_stopping, validation is not None))
    if cluster is not None:  # each process's random stream, kept in checkpoints
        all_callbacks.append(cluster.callback(checkpoint is not None))

    run = Run(model, optimizer, loss_fn, History(), epochs)
    start_epoch = 1 if resume_state is None else _resume(resume_state, run, scheduler, all_callbacks)
    parts = _OneProcess if cluster is None else cluster
    batches = source if source is not None else parts.batches(
        X, y, None if optimizer.full_batch else batch_size, shuffle, _model_xp(model)
    )
    if custom_rule:  # a learning rule computes the updates
        step = make_step(model, loss_fn, optimizer, run, all_callbacks, check_finite,
                         learning_rule.gradients_of(recorder))
    elif sequence is not None:
        batches = sequence.wrap(batches)
        step = make_step(model, loss_fn, optimizer, run, all_callbacks, check_finite, sequence.gradients)
    else:
        step = parts.make_step(model, loss_fn, optimizer, run, all_callbacks, check_finite)
    plan = Plan(
        X, y, batches, step,
        resolve_metrics(metrics, loss_fn), validation, scheduler, all_callbacks, check_finite, target_loss,
        checkpoint if parts.lead else None, checkpoint_every, fit_args, split_order,
    )  # fmt: skip
    plan.bar = make_bar(progress if parts.lead else False, max(epochs - start_epoch + 1, 0) * len(batches),
                        epochs)
    with anomaly_mode() if detect_anomaly else nullcontext(), parts.running():
        _run_epochs(run, plan, start_epoch, cluster)
    return run.history


def _resume(state: dict[str, Any], run: Run, scheduler: Any, callbacks: list[Any]) -> int:
    """Put a checkpointed run back; the first epoch left to train (past the last if the run had ended)."""
    run.history = ckpt.restore(state, run, scheduler, callbacks)
    run.epoch = int(state["epoch"])
    ckpt.restore_rng(state)  # last, after anything that might draw
    if run.history.stopped_reason:  # it had stopped (early stopping, a target loss, ...): so it stays
        return run.epochs + 1
    return run.epoch + 1


def _run_epochs(run: Run, plan: Plan, start_epoch: int, cluster: Any = None) -> None:
    """The epoch loop, between the train-begin and train-end callbacks (model mode restored after)."""
    model, was_training = run.model, run.model.training
    try:
        for hook in plan.hooks["on_train_begin"]:
            hook(run)
        for epoch in range(start_epoch, run.epochs + 1):
            run.epoch = epoch
            model.train()
            for hook in plan.hooks["on_epoch_begin"]:
                hook(run)
            total, outputs, targets = train_epoch(run, plan)
            if cluster is not None:  # every process gets the epoch's outputs and process 0's buffers
                outputs, targets = cluster.join_epoch(run, outputs, targets)
            stop = finish_epoch(run, plan, total, outputs, targets)
            if cluster is not None:  # the same weights and the same decision on every process
                stop = cluster.agree(run, stop)
            if stop:
                break
    except NonFiniteError as err:
        if err.epoch is not None:
            raise
        # raised by detect_anomaly inside an op: add where in training it happened
        raise NonFiniteError(
            f"fit: at epoch {run.epoch}, batch {run.batch}: {err}", where=err.where, epoch=run.epoch,
            batch=run.batch,
        ) from err
    finally:
        if plan.bar is not None:
            plan.bar.close()
        model.train(was_training)
    for hook in plan.hooks["on_train_end"]:
        hook(run)


# --------------------------------------------------------------------------- helpers


class _OneProcess:
    """The parts of a run on one process (a data-parallel run gets them from deltaprop.distributed)."""

    lead = True
    batches = ArrayBatches
    make_step = staticmethod(make_step)
    running = nullcontext  # around the epochs


def _data_parallel(distributed: bool | None, optimizer: Any, loss_fn: Any) -> Any:
    """fit's data-parallel parts when the run is spread over processes, else None.

    Imported here, at call time: deltaprop.distributed sits above train (it wraps fit's parts);
    deciding reads the environment only, so a run on one process never imports MPI.
    """
    from deltaprop.distributed.launch import wants_data_parallel

    if not wants_data_parallel(distributed):
        return None
    from deltaprop.distributed.training import DataParallelFit

    return DataParallelFit(optimizer, loss_fn)


def _data(X, y, validation_data, model, dtype, validation_split, optimizer, check_finite):
    """(DataLoader batch source or None, X, y, validation_data) with arrays checked and converted once."""
    source = loader_source(X, y, _model_xp(model), dtype, validation_split, optimizer)
    if source is not None:  # a DataLoader: its batches are checked as they come (the loss checks them)
        if is_loader(validation_data):
            validation_data = loader_arrays(validation_data)
        return source, None, None, validation_data
    X, y = checks.as_array(X, dtype, "X"), checks.as_array(y, dtype, "y")
    checks.check_lengths(X, y, "X", "y")
    if check_finite:
        checks.check_data_finite(X, "X")
        checks.check_data_finite(y, "y")
    return None, X, y, validation_data


def _model_xp(model: Any) -> Any:
    """The array module of the model's parameters: each batch is moved there."""
    for param in model.parameters():
        return backend.array_module(param.array)
    return np


def _resolve_loss(loss: Any) -> Any:
    if isinstance(loss, str):
        from deltaprop.nn import loss_by_name

        return loss_by_name(loss)
    if not callable(loss):
        raise TypeError(f"fit: loss must be a loss module, a name like 'mse', or a function; got {loss!r}")
    return loss


def _model_dtype(model: Any) -> Any:
    for param in model.parameters():
        return param.array.dtype
    return np.dtype(np.float32)


def _split(X, y, validation_data, validation_split, dtype, resume_state, check_finite=True):
    """(X_train, y_train, (X_val, y_val) or None, split order to checkpoint)."""
    if validation_data is not None:
        return X, y, checks.validation_arrays(validation_data, dtype, check_finite), None
    if not validation_split:
        return X, y, None, None
    n = len(X)
    cut = int(n * (1.0 - validation_split))
    if cut < 1 or cut >= n:
        raise ValueError(
            f"fit: validation_split={validation_split} of {n} examples leaves an empty training or "
            "validation set; use more data or another fraction"
        )
    saved = resume_state["extra"].get("split_order") if resume_state is not None else None
    checks.check_resume_split(saved, n)
    order = np.asarray(saved) if saved is not None else generator().permutation(n)
    train, held_out = order[:cut], order[cut:]
    return X[train], y[train], (X[held_out], y[held_out]), order


def _as_early_stopping(early_stopping: int | EarlyStopping, has_validation: bool) -> EarlyStopping:
    if isinstance(early_stopping, EarlyStopping):
        return early_stopping
    if isinstance(early_stopping, bool) or not isinstance(early_stopping, (int, np.integer)):
        raise TypeError(
            f"fit: early_stopping must be a patience (int) or an EarlyStopping, got {early_stopping!r}"
        )
    return EarlyStopping(patience=int(early_stopping), monitor="val_loss" if has_validation else "loss")
