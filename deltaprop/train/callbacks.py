"""Callbacks: code that runs at fixed points of the training loop.

Subclass `Callback` and override the hooks you need; the loop calls only
hooks that a subclass overrides, so an unused hook costs nothing per batch.
Every hook gets the `Run` (model, optimizer, history, epoch, batch, logs,
``stop_training``...).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

HOOKS = (
    "on_train_begin",
    "on_epoch_begin",
    "on_batch_begin",
    "on_after_backward",
    "on_batch_end",
    "on_epoch_end",
    "on_train_end",
)


class Callback:
    """Base class with no-op hooks; override any of them."""

    def on_train_begin(self, run: Any) -> None: ...

    def on_epoch_begin(self, run: Any) -> None: ...

    def on_batch_begin(self, run: Any) -> None: ...

    def on_after_backward(self, run: Any) -> None:
        """Gradients are in ``param.grad``; the optimizer has not stepped yet."""

    def on_batch_end(self, run: Any) -> None: ...

    def on_epoch_end(self, run: Any) -> None:
        """``run.logs`` holds this epoch's loss, metrics and validation values."""

    def on_train_end(self, run: Any) -> None: ...


def overridden_hooks(callbacks: list[Any], hook: str) -> list[Callable[[Any], None]]:
    """Bound hook methods that a callback actually defines (inherited no-ops are skipped)."""
    found = []
    for callback in callbacks:
        method = getattr(callback, hook, None)
        if method is None:
            continue
        own = hook in getattr(callback, "__dict__", {})  # LambdaCallback's functions
        if own or getattr(type(callback), hook, None) is not getattr(Callback, hook):
            found.append(method)
    return found


class LambdaCallback(Callback):
    """A callback from plain functions: ``LambdaCallback(on_epoch_end=lambda run: print(run.logs))``."""

    def __init__(self, **hooks: Callable[[Any], None]) -> None:
        unknown = sorted(set(hooks) - set(HOOKS))
        if unknown:
            raise TypeError(f"LambdaCallback: unknown hooks {unknown}; valid hooks are {list(HOOKS)}")
        for name, function in hooks.items():
            setattr(self, name, function)



class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs.

    ``monitor`` is 'val_loss' (default; needs validation data), 'loss', or any
    series in the logs such as 'val_accuracy'; ``mode`` 'auto' maximises
    names containing 'acc' or 'r2' and minimises the rest. With
    ``restore_best_weights`` the model ends holding the weights of its best
    epoch (``History.best_epoch``), whether or not training stopped early.
    """

    def __init__(
        self,
        patience: int = 5,
        min_delta: float = 0.0,
        monitor: str = "val_loss",
        restore_best_weights: bool = True,
        mode: str = "auto",
    ) -> None:
        if patience < 0:
            raise ValueError(f"EarlyStopping: patience must be >= 0, got {patience}")
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"EarlyStopping: mode must be 'auto', 'min' or 'max', got {mode!r}")
        self.patience = int(patience)
        self.min_delta = abs(float(min_delta))
        self.monitor = monitor
        self.restore_best_weights = restore_best_weights
        if mode == "auto":
            mode = "max" if ("acc" in monitor or "r2" in monitor) else "min"
        self.mode = mode
        self.best = math.inf if mode == "min" else -math.inf
        self.best_epoch: int | None = None
        self.wait = 0
        self.best_weights: dict[str, np.ndarray] | None = None

    def _improved(self, value: float) -> bool:
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_epoch_end(self, run: Any) -> None:
        if self.monitor not in run.logs:
            raise ValueError(
                f"EarlyStopping: monitor {self.monitor!r} is not among this run's values "
                f"{sorted(run.logs)}; pass validation_data=/validation_split= or monitor='loss'"
            )
        value = run.logs[self.monitor]
        if self._improved(value):
            self.best, self.best_epoch, self.wait = value, run.epoch, 0
            if self.restore_best_weights:
                self.best_weights = run.model.state_dict()
            run.history.best_epoch = run.epoch
            return
        self.wait += 1
        if self.wait >= self.patience:
            run.stop_training = True
            run.stop_reason = (
                f"early_stopping: {self.monitor} did not improve by more than {self.min_delta:g} for "
                f"{self.wait} epochs (best {self.best:.6g} at epoch {self.best_epoch})"
            )

    def on_train_end(self, run: Any) -> None:
        if self.restore_best_weights and self.best_weights is not None and self.best_epoch != run.epoch:
            run.model.load_state_dict(self.best_weights)

    # checkpoints store this, so a resumed run stops exactly where an uninterrupted one would
    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait,
                "best_weights": self.best_weights}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = float(state["best"])
        self.best_epoch = state["best_epoch"]
        self.wait = int(state["wait"])
        self.best_weights = state["best_weights"]
