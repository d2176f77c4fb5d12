"""`fit`: the training loop (batches, epochs, validation, stopping rules, checkpoints).

The loop does per batch only what training needs: take the batch, zero the
gradients, forward, loss, backward, optimizer step, and read the loss as a
float (needed for the history and the non-finite check). Everything else
(metrics, validation, checkpoints, progress text) happens once per epoch,
and callbacks cost nothing per batch unless they override a batch hook.

Epochs and batches are counted from 1 everywhere a user sees them (history,
callbacks' ``run.epoch``, errors, checkpoints).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Sequence
from contextlib import nullcontext
from typing import Any

import numpy as np

from deltaprop import backend
from deltaprop.errors import NonFiniteError, ShapeError
from deltaprop.random import generator, manual_seed
from deltaprop.tensor import Tensor
from deltaprop.tensor import detect_anomaly as anomaly_mode
from deltaprop.train import checkpoint as ckpt
from deltaprop.train.callbacks import Callback, EarlyStopping, overridden_hooks
from deltaprop.train.evaluate import evaluate
from deltaprop.train.guards import check_gradients, check_parameters, diagnose
from deltaprop.train.history import History
from deltaprop.train.metrics import Metric, resolve_metrics
from deltaprop.train.progress import make_bar


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
    y: Any,
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
) -> History:
    """Train ``model`` on (X, y) and return the `History`.

    - ``loss``: a loss module (``nn.CrossEntropyLoss()``), a name for
      `nn.loss_by_name` ('mse', 'cross_entropy', ...) or a function.
    - ``batch_size=None``: full-batch gradient descent (one step per epoch,
      no shuffling). Optimizers with ``full_batch = True`` (e.g.
      Levenberg-Marquardt) always get the full set; ones with ``fit_step``
      do their own step per batch.
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
      uninterrupted run with the same arguments and ``seed``.
    - ``seed``: reseeds the package generator first (shuffles, dropout, split).
    - ``check_finite``: True checks each batch loss (and the weights each
      epoch), 'grads' also every gradient every batch, False nothing; a
      NaN/Inf raises `NonFiniteError` naming epoch, batch and place.
      ``detect_anomaly=True`` checks every op (slow).
    - ``scheduler``: stepped once per epoch (with the monitored loss if its
      ``step`` needs a metric, as ReduceLROnPlateau does).
    - ``progress``: True, False or 'auto' (a bar only when stdout is a terminal).
    """
    loss_fn = _resolve_loss(loss)
    _check_arguments(epochs, batch_size, validation_split, checkpoint_every, check_finite)
    dtype = _model_dtype(model)
    X, y = _as_array(X, dtype, "X"), _as_array(y, dtype, "y")
    _check_lengths(X, y, "X", "y")
    if check_finite:
        _check_data_finite(X, "X")
        _check_data_finite(y, "y")
    fit_args = {
        "epochs": int(epochs), "batch_size": batch_size, "shuffle": bool(shuffle),
        "validation_split": float(validation_split), "seed": seed, "target_loss": target_loss,
        "checkpoint_every": int(checkpoint_every), "loss": type(loss_fn).__name__,
        "optimizer": type(optimizer).__name__,
    }
    if seed is not None:
        manual_seed(seed)
    resume_state = ckpt.read(resume_from, fit_args) if resume_from is not None else None

    X, y, validation, split_order = _split(X, y, validation_data, validation_split, dtype, resume_state)
    metric_fns = resolve_metrics(metrics, loss_fn)
    all_callbacks = list(callbacks)
    if early_stopping is not None:
        all_callbacks.append(_as_early_stopping(early_stopping, validation is not None))

    history = History()
    run = Run(model, optimizer, loss_fn, history, epochs)
    start_epoch = 1
    if resume_state is not None:
        history = run.history = ckpt.restore(resume_state, run, scheduler, all_callbacks)
        start_epoch = int(resume_state["epoch"]) + 1
        ckpt.restore_rng(resume_state)  # last, after anything that might draw

    full_batch = batch_size is None or bool(getattr(optimizer, "full_batch", False))
    n = len(X)
    size = n if full_batch else int(batch_size)
    bounds = [(start, min(start + size, n)) for start in range(0, n, size)]
    shuffled = shuffle and not full_batch
    train_step = _make_step(model, loss_fn, optimizer, run, all_callbacks, check_finite)
    collect = bool(metric_fns) and not hasattr(optimizer, "fit_step")

    hooks = {name: overridden_hooks(all_callbacks, name) for name in (
        "on_train_begin", "on_epoch_begin", "on_batch_begin", "on_batch_end", "on_epoch_end", "on_train_end")}
    batch_begin, batch_end = hooks["on_batch_begin"], hooks["on_batch_end"]
    remaining = max(epochs - start_epoch + 1, 0)
    bar = make_bar(progress, remaining * len(bounds), epochs)
    was_training = model.training
    gen = generator()
    iteration_loss = history.iteration_loss
    isfinite = math.isfinite
    wrap = Tensor._wrap
    x_all, y_all = wrap(X), wrap(y)

    try:
        for hook in hooks["on_train_begin"]:
            hook(run)
        with anomaly_mode() if detect_anomaly else nullcontext():
            for epoch in range(start_epoch, epochs + 1):
                run.epoch = epoch
                model.train()
                for hook in hooks["on_epoch_begin"]:
                    hook(run)
                order = gen.permutation(n) if shuffled else None
                total = 0.0
                outputs: list[Any] = []
                targets: list[np.ndarray] = []
                for batch, (start, stop) in enumerate(bounds, 1):
                    # ------------------------------------------------ the hot loop
                    if order is not None:
                        index = order[start:stop]
                        xb, yb = wrap(X[index]), wrap(y[index])
                    elif full_batch:
                        xb, yb = x_all, y_all
                    else:
                        xb, yb = wrap(X[start:stop]), wrap(y[start:stop])
                    run.batch = batch
                    if batch_begin:
                        run.x_batch, run.y_batch = xb, yb
                        for hook in batch_begin:
                            hook(run)
                    value, output = train_step(xb, yb)
                    if check_finite and not isfinite(value):
                        raise diagnose(model, loss_fn, optimizer, xb, yb, value, epoch, batch)
                    iteration_loss.append(value)
                    total += value * (stop - start)
                    if collect:
                        outputs.append(output.data)
                        targets.append(yb.data)
                    if batch_end:
                        run.x_batch, run.y_batch, run.batch_loss, run.output = xb, yb, value, output
                        for hook in batch_end:
                            hook(run)
                    if bar is not None:
                        bar.update(1)
                # ---------------------------------------------------- end of epoch
                logs = {"loss": total / n}
                if metric_fns:
                    logs.update(_train_metrics(model, loss_fn, X, y, outputs, targets, metric_fns, collect))
                if validation is not None:
                    logs.update(evaluate(model, loss_fn, *validation, metric_fns, prefix="val_"))
                run.logs = logs
                if scheduler is not None:
                    _step_scheduler(scheduler, logs)
                for hook in hooks["on_epoch_end"]:
                    hook(run)
                for name, value in logs.items():
                    history.record(name, value)
                history.epochs_run = epoch
                if check_finite:
                    check_parameters(model, optimizer, epoch)
                if target_loss is not None and logs["loss"] <= target_loss and not run.stop_training:
                    run.stop_training = True
                    run.stop_reason = (
                        f"target_loss: loss {logs['loss']:.6g} <= {target_loss:g} at epoch {epoch}"
                    )
                if getattr(optimizer, "stop_training", False) and not run.stop_training:
                    # e.g. Levenberg-Marquardt: mu passed mu_max, no step lowers the loss any more
                    run.stop_training = True
                    reason = getattr(optimizer, "stopped_reason", None) or "the optimizer asked to stop"
                    run.stop_reason = f"{type(optimizer).__name__}: {reason} (epoch {epoch})"
                if run.stop_training:
                    history.stopped_reason = run.stop_reason or f"stopped by a callback at epoch {epoch}"
                if checkpoint is not None and (
                    epoch % checkpoint_every == 0 or epoch == epochs or run.stop_training
                ):
                    ckpt.write(checkpoint, run, fit_args, split_order, scheduler, all_callbacks)
                if bar is not None:
                    bar.set_epoch(epoch, logs)
                if run.stop_training:
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
        if bar is not None:
            bar.close()
        model.train(was_training)
    for hook in hooks["on_train_end"]:
        hook(run)
    return history


# --------------------------------------------------------------------------- one optimizer step


def _make_step(
    model: Any, loss_fn: Any, optimizer: Any, run: Run, callbacks: list[Any], check_finite: bool | str
) -> Callable[[Tensor, Tensor], tuple[float, Any]]:
    """The function doing one update on a batch, returning (loss before the update, model output).

    Chosen once per fit, so the per-batch code has no branches on the
    optimizer kind. A non-finite loss returns before backward and the update,
    leaving the model as it was for the diagnosis.
    """
    if hasattr(optimizer, "fit_step"):  # second-order optimizers do forward, backward and update

        def fit_step(xb: Tensor, yb: Tensor) -> tuple[float, Any]:
            return float(optimizer.fit_step(model, loss_fn, xb, yb)), None

        return fit_step

    after_backward = overridden_hooks(callbacks, "on_after_backward")
    strict = check_finite == "grads"
    guard = bool(check_finite)
    isfinite = math.isfinite
    zero_grad, step = optimizer.zero_grad, optimizer.step

    if getattr(optimizer, "requires_closure", False):

        def closure_step(xb: Tensor, yb: Tensor) -> tuple[float, Any]:
            outputs: list[Any] = []

            def closure() -> Tensor:
                zero_grad()
                output = model(xb)
                loss = loss_fn(output, yb)
                loss.backward()
                if not outputs:
                    outputs.append(output)
                return loss

            value = float(step(closure))
            return value, outputs[0] if outputs else None

        return closure_step

    def standard_step(xb: Tensor, yb: Tensor) -> tuple[float, Any]:
        zero_grad()
        output = model(xb)
        loss = loss_fn(output, yb)
        value = loss.data.item()
        if guard and not isfinite(value):
            return value, output
        loss.backward()
        if after_backward:
            run.x_batch, run.y_batch, run.batch_loss, run.output = xb, yb, value, output
            for hook in after_backward:
                hook(run)
        if strict:  # just before the update, so it also sees what hooks did to the gradients
            check_gradients(model, optimizer, run.epoch, run.batch)
        step()
        return value, output

    return standard_step


# --------------------------------------------------------------------------- helpers


def _train_metrics(model, loss_fn, X, y, outputs, targets, metric_fns, collected) -> dict[str, float]:
    if not collected:  # fit_step optimizers give no outputs: measure the trained model instead
        logs = evaluate(model, loss_fn, X, y, metric_fns)
        del logs["loss"]
        return logs
    predictions = backend.to_numpy(outputs[0] if len(outputs) == 1 else np.concatenate(outputs))
    truth = targets[0] if len(targets) == 1 else np.concatenate(targets)
    return {name: float(function(predictions, truth)) for name, function in metric_fns}


def _step_scheduler(scheduler: Any, logs: dict[str, float]) -> None:
    import inspect

    parameters = [p for p in inspect.signature(scheduler.step).parameters.values()
                  if p.default is inspect.Parameter.empty and p.kind is p.POSITIONAL_OR_KEYWORD]
    if parameters:  # ReduceLROnPlateau.step(metric)
        scheduler.step(logs.get("val_loss", logs["loss"]))
    else:
        scheduler.step()


def _resolve_loss(loss: Any) -> Any:
    if isinstance(loss, str):
        from deltaprop.nn import loss_by_name

        return loss_by_name(loss)
    if not callable(loss):
        raise TypeError(f"fit: loss must be a loss module, a name like 'mse', or a function; got {loss!r}")
    return loss


def _check_arguments(epochs, batch_size, validation_split, checkpoint_every, check_finite) -> None:
    if not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ValueError(f"fit: epochs must be a non-negative integer, got {epochs!r}")
    if batch_size is not None and (not isinstance(batch_size, (int, np.integer)) or batch_size <= 0):
        raise ValueError(
            f"fit: batch_size must be a positive integer or None (full batch), got {batch_size!r}"
        )
    if not 0.0 <= validation_split < 1.0:
        raise ValueError(f"fit: validation_split must be in [0, 1), got {validation_split!r}")
    if checkpoint_every < 1:
        raise ValueError(f"fit: checkpoint_every must be >= 1, got {checkpoint_every!r}")
    if check_finite not in (True, False, "grads"):
        raise ValueError(f"fit: check_finite must be True, False or 'grads', got {check_finite!r}")


def _model_dtype(model: Any) -> Any:
    for param in model.parameters():
        return param.data.dtype
    return np.dtype(np.float32)


def _as_array(data: Any, dtype: Any, name: str) -> np.ndarray:
    """Arrays in the model's float dtype, converted once here rather than in every batch."""
    array = data.data if isinstance(data, Tensor) else data
    if not hasattr(array, "dtype"):
        array = np.asarray(array)
    if array.ndim == 0:
        raise ShapeError(f"fit: {name} must have one row per example, got a scalar")
    convert = array.dtype.kind == "f" and array.dtype != dtype
    if convert or (array.dtype.kind in "biu" and name == "X"):  # integer features become floats
        array = array.astype(dtype)
    elif array.dtype.kind not in "biuf":
        raise TypeError(f"fit: {name} must be numeric, got dtype {array.dtype}")
    return array


def _check_data_finite(array: np.ndarray, name: str) -> None:
    """Bad data is caught once, up front, rather than as a mysterious NaN loss later."""
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        position = np.argwhere(~np.isfinite(array))[0]
        value = array[tuple(position)]
        where = f"row {position[0]}" + (f", column {position[1]}" if len(position) > 1 else "")
        raise ValueError(
            f"fit: {name} contains {value} at {where} (and {int((~np.isfinite(array)).sum())} non-finite "
            "values in all); remove or impute them before training"
        )


def _check_lengths(X: Any, y: Any, x_name: str, y_name: str) -> None:
    if len(X) != len(y):
        raise ShapeError(
            f"fit: {x_name} has {len(X)} rows but {y_name} has {len(y)}; they need one target per example"
        )
    if len(X) == 0:
        raise ValueError(f"fit: {x_name} is empty")


def _split(X, y, validation_data, validation_split, dtype, resume_state):
    """(X_train, y_train, (X_val, y_val) or None, split order to checkpoint)."""
    if validation_data is not None:
        X_val, y_val = validation_data
        X_val, y_val = _as_array(X_val, dtype, "X"), _as_array(y_val, dtype, "y")
        _check_lengths(X_val, y_val, "validation X", "validation y")
        return X, y, (X_val, y_val), None
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
