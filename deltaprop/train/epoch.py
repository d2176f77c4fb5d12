"""One epoch of `fit`: the batch loop, then everything that happens once per epoch.

The batch loop does per batch only what training needs: take the batch, run
the step (the optimizer's ``train_step``), check the loss is finite, record
it. Callbacks cost nothing per batch unless they override a batch hook.
Metrics, validation, the scheduler, stopping rules and checkpoints run once,
at the end of the epoch, in `finish_epoch`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from deltaprop import backend
from deltaprop.train import checkpoint as ckpt
from deltaprop.train.callbacks import overridden_hooks
from deltaprop.train.evaluate import evaluate
from deltaprop.train.guards import check_parameters, diagnose

EPOCH_HOOKS = ("on_train_begin", "on_epoch_begin", "on_batch_begin", "on_batch_end", "on_epoch_end",
               "on_train_end")


@dataclass
class Plan:
    """What a run does around its steps, fixed when `fit` starts."""

    X: np.ndarray
    y: np.ndarray
    batches: Any  # a batch source (deltaprop.train.batches)
    step: Callable[..., tuple[float, Any]]
    metric_fns: list[tuple[str, Any]]
    validation: tuple[np.ndarray, np.ndarray] | None
    scheduler: Any
    callbacks: list[Any]
    check_finite: bool | str
    target_loss: float | None
    checkpoint: Any
    checkpoint_every: int
    fit_args: dict[str, Any]
    split_order: Any
    bar: Any = None
    hooks: dict[str, list[Callable]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.hooks = {name: overridden_hooks(self.callbacks, name) for name in EPOCH_HOOKS}


def train_epoch(run: Any, plan: Plan) -> tuple[float, list[Any], list[Any]]:
    """Every batch of one epoch: (summed loss, collected outputs, their targets) for the epoch's logs."""
    batch_begin, batch_end = plan.hooks["on_batch_begin"], plan.hooks["on_batch_end"]
    step, bar, guard = plan.step, plan.bar, bool(plan.check_finite)
    collect = bool(plan.metric_fns)
    losses = run.history.iteration_loss
    total = 0.0
    outputs: list[Any] = []
    targets: list[Any] = []
    for batch, (xb, yb, size) in enumerate(plan.batches, 1):
        run.batch = batch
        if batch_begin:
            run.x_batch, run.y_batch = xb, yb
            for hook in batch_begin:
                hook(run)
        value, output = step(xb, yb)
        if guard and value - value != 0:  # NaN or Inf; a cheaper test than math.isfinite
            raise diagnose(run.model, run.loss_fn, run.optimizer, xb, yb, value, run.epoch, batch)
        losses.append(value)
        total += value * size
        if collect:
            if output is None:  # the optimizer reports no outputs (e.g. Levenberg-Marquardt)
                collect = False
                outputs = []
            else:
                outputs.append(output.array)
                targets.append(yb.array)
        if batch_end:
            run.x_batch, run.y_batch, run.batch_loss, run.output = xb, yb, value, output
            for hook in batch_end:
                hook(run)
        if bar is not None:
            bar.update(1)
    return total, outputs, targets


def finish_epoch(run: Any, plan: Plan, total: float, outputs: list[Any], targets: list[Any]) -> bool:
    """Logs, validation, scheduler, callbacks, stopping rules and checkpoint; True to stop training."""
    epoch, history = run.epoch, run.history
    logs = {"loss": total / plan.batches.n}
    if plan.metric_fns:
        logs.update(_train_metrics(run, plan, outputs, targets))
    if plan.validation is not None:
        logs.update(evaluate(run.model, run.loss_fn, *plan.validation, plan.metric_fns, prefix="val_"))
    run.logs = logs
    if plan.scheduler is not None:
        _step_scheduler(plan.scheduler, logs)
    for hook in plan.hooks["on_epoch_end"]:
        hook(run)
    for name, value in logs.items():
        history.record(name, value)
    history.epochs_run = epoch
    if plan.check_finite:
        check_parameters(run.model, run.optimizer, epoch)
    _apply_stopping_rules(run, plan, logs)
    if run.stop_training:
        history.stopped_reason = run.stop_reason or f"stopped by a callback at epoch {epoch}"
    if plan.checkpoint is not None and (
        epoch % plan.checkpoint_every == 0 or epoch == run.epochs or run.stop_training
    ):
        ckpt.write(plan.checkpoint, run, plan.fit_args, plan.split_order, plan.scheduler, plan.callbacks)
    if plan.bar is not None:
        plan.bar.set_epoch(epoch, logs)
    return run.stop_training


def _apply_stopping_rules(run: Any, plan: Plan, logs: dict[str, float]) -> None:
    """target_loss, then the optimizer's own reason (e.g. LM's mu passed mu_max); callbacks came first."""
    if run.stop_training:
        return
    if plan.target_loss is not None and logs["loss"] <= plan.target_loss:
        run.stop_training = True
        run.stop_reason = f"target_loss: loss {logs['loss']:.6g} <= {plan.target_loss:g} at epoch {run.epoch}"
        return
    reason = run.optimizer.should_stop()
    if reason:
        run.stop_training = True
        run.stop_reason = f"{type(run.optimizer).__name__}: {reason} (epoch {run.epoch})"


def _train_metrics(run: Any, plan: Plan, outputs: list[Any], targets: list[Any]) -> dict[str, float]:
    """Training metrics from the epoch's batch outputs (as Keras does), or from the trained model."""
    if not outputs:  # the optimizer gave no outputs: measure the trained model instead
        logs = evaluate(run.model, run.loss_fn, plan.X, plan.y, plan.metric_fns)
        del logs["loss"]
        return logs
    predictions = backend.to_numpy(outputs[0] if len(outputs) == 1 else np.concatenate(outputs))
    truth = backend.to_numpy(targets[0] if len(targets) == 1 else np.concatenate(targets))
    return {name: float(function(predictions, truth)) for name, function in plan.metric_fns}


def _step_scheduler(scheduler: Any, logs: dict[str, float]) -> None:
    """fit's scheduler protocol: ``epoch_end(logs)`` where defined (deltaprop's schedulers), else step()."""
    epoch_end = getattr(scheduler, "epoch_end", None)
    if epoch_end is not None:
        epoch_end(logs)
    else:
        scheduler.step()
