"""`History`: what a training run measured, epoch by epoch and step by step."""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np


class History:
    """Per-epoch values (``history['loss']``, ``history['val_accuracy']``, ...) plus per-step losses.

    ``iteration_loss`` has one entry per optimizer step (the loss of the batch
    before the step), so ``len(iteration_loss) == epochs_run * batches per
    epoch``. ``stopped_reason`` says why training ended early (None when it
    ran every epoch) and ``best_epoch`` (counted from 1) is the epoch whose
    weights early stopping kept.
    """

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}
        self.iteration_loss: list[float] = []
        self.epochs_run: int = 0
        self.stopped_reason: str | None = None
        self.best_epoch: int | None = None

    def record(self, name: str, value: float) -> None:
        """Append one epoch's value of ``name`` (callbacks may record their own series)."""
        self.history.setdefault(name, []).append(float(value))

    def __getitem__(self, name: str) -> list[float]:
        return self.history[name]

    def __contains__(self, name: str) -> bool:
        return name in self.history

    def last(self, name: str) -> float:
        """The latest value of ``name``."""
        return self.history[name][-1]

    def to_dict(self) -> dict[str, Any]:
        return {
            "history": {name: list(values) for name, values in self.history.items()},
            "iteration_loss": list(self.iteration_loss),
            "epochs_run": self.epochs_run,
            "stopped_reason": self.stopped_reason,
            "best_epoch": self.best_epoch,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> History:
        history = cls()
        history.history = {name: [float(v) for v in values] for name, values in data["history"].items()}
        history.iteration_loss = [float(v) for v in np.asarray(data.get("iteration_loss", []), dtype=float)]
        history.epochs_run = int(data.get("epochs_run", 0))
        history.stopped_reason = data.get("stopped_reason")
        best = data.get("best_epoch")
        history.best_epoch = None if best is None else int(best)
        return history

    def to_json(self, path: str | os.PathLike) -> None:
        """Write the history as JSON (for plots, notebooks, the CLI's output folder)."""
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(self.to_dict(), handle, indent=1)

    def __repr__(self) -> str:
        series = ", ".join(sorted(self.history))
        reason = f", stopped_reason={self.stopped_reason!r}" if self.stopped_reason else ""
        return f"History(epochs_run={self.epochs_run}, series=[{series}]{reason})"
