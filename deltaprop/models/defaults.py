"""Settings that follow from the task and the data when the user gives none."""

from __future__ import annotations

import math

# losses that make sense for each task (classification may also regress one-hot rows)
LOSSES_FOR_TASK = {
    "classify": ("cross_entropy", "nll", "bce", "bce_with_logits", "log_loss",
                 "mse", "squared_error", "l1", "huber"),
    "regress": ("mse", "squared_error", "l1", "huber"),
}


def default_loss(task: str) -> str:
    return "cross_entropy" if task == "classify" else "mse"


def default_epochs(n_train: int, batch_size: int | None) -> int:
    """About 3000 steps, between 30 and 1000 epochs: small data sets need more passes for as many steps."""
    steps = max(1, math.ceil(n_train / (batch_size or n_train)))
    return int(min(1000, max(30, math.ceil(3000 / steps))))


def uses_class_indices(loss: str) -> bool:
    """True for losses fed labels 0..K-1; the others compare with one-hot rows."""
    return loss in ("cross_entropy", "nll")
