"""Fit's side of checkpoints: what goes into one, and how a run picks up from it.

A checkpoint written after epoch k holds everything the rest of the run
depends on: weights, optimizer state (momenta, Adam's moments and step),
the random generator's state (next shuffles and dropout masks), the
scheduler's and callbacks' state (early-stopping counters and best weights),
the validation split, and the history so far. Restoring all of it is what
makes a resumed run end with bit-identical weights.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

from deltaprop.random import get_rng_state, set_rng_state
from deltaprop.serialize import load_checkpoint, save_checkpoint
from deltaprop.train.history import History
from deltaprop.train.validation import check_resume_data

# fit arguments that change the sequence of updates; a resumed run should use the same ones
_MUST_MATCH = ("batch_size", "shuffle", "validation_split", "seed", "world_size")


def write(
    path: str | os.PathLike,
    run: Any,
    fit_args: dict[str, Any],
    split_order: Any,
    scheduler: Any,
    callbacks: list[Any],
) -> None:
    optimizer = run.optimizer if hasattr(run.optimizer, "state_dict") else None
    extra = {
        "fit_args": fit_args,
        "split_order": split_order,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        # each state under its callback's class name, so a resumed run given its callbacks in another
        # order still hands every state to the callback that wrote it
        "callbacks": [{"type": type(cb).__name__, "state": cb.state_dict()} if hasattr(cb, "state_dict")
                      else None for cb in callbacks],
    }
    save_checkpoint(path, run.model, optimizer, run.epoch, run.history, get_rng_state(), extra)


def read(path: str | os.PathLike, fit_args: dict[str, Any]) -> dict[str, Any]:
    """Load a checkpoint for resuming, warning when the run's arguments differ from the saved ones."""
    state = load_checkpoint(path)
    saved = state["extra"].get("fit_args", {})
    before, now = saved.get("optimizer"), fit_args.get("optimizer")
    if before is not None and before != now:  # its state would be read by the wrong update rule
        raise ValueError(
            f"fit(resume_from={os.fspath(path)!r}): the checkpoint was written by a run training with "
            f"{before}, but this run's optimizer is {now}; resume with optimizer={before}(...) as before, "
            "or start a new run without resume_from"
        )
    before, now = saved.get("rule"), fit_args.get("rule")
    if before != now:  # its state (feedback matrices, ...) belongs to the rule that wrote it
        raise ValueError(
            f"fit(resume_from={os.fspath(path)!r}): the checkpoint was written by a run training with "
            f"rule={before or 'None (backpropagation)'}, but this run has rule={now or 'None'}; resume with "
            "the same rule as before, or start a new run without resume_from"
        )
    check_resume_data(saved, fit_args, os.fspath(path))
    changed = [f"{name}={saved.get(name)!r} -> {fit_args.get(name)!r}"
               for name in _MUST_MATCH if name in saved and saved.get(name) != fit_args.get(name)]
    if changed:
        warnings.warn(
            f"fit(resume_from={os.fspath(path)!r}): arguments differ from the checkpointed run "
            f"({', '.join(changed)}); the result will not match an uninterrupted run",
            stacklevel=3,
        )
    return state


def restore(state: dict[str, Any], run: Any, scheduler: Any, callbacks: list[Any]) -> History:
    """Put model, optimizer, scheduler and callbacks back; the RNG is restored last by `restore_rng`."""
    run.model.load_state_dict(state["model"])
    if state["optimizer"] is not None and hasattr(run.optimizer, "load_state_dict"):
        run.optimizer.load_state_dict(state["optimizer"])
    extra = state["extra"]
    if scheduler is not None and extra.get("scheduler") is not None:
        scheduler.load_state_dict(extra["scheduler"])
    for callback, saved in _states_for(callbacks, extra.get("callbacks") or []):
        callback.load_state_dict(saved)
    return History.from_dict(state["history"])


def _states_for(callbacks: list[Any], saved: list[Any]) -> list[tuple[Any, Any]]:
    """(callback, its saved state) pairs: the n-th callback of a class gets the n-th state of that class.

    Checkpoints from before the class names were stored hold bare states, matched by position.
    """
    if not all(s is None or (isinstance(s, dict) and set(s) == {"type", "state"}) for s in saved):
        return [(cb, s) for cb, s in zip(callbacks, saved, strict=False)
                if s is not None and hasattr(cb, "load_state_dict")]
    by_type: dict[str, list[Any]] = {}
    for entry in saved:
        if entry is not None:
            by_type.setdefault(entry["type"], []).append(entry["state"])
    pairs = []
    for cb in callbacks:
        states = by_type.get(type(cb).__name__)
        if states and hasattr(cb, "load_state_dict"):
            pairs.append((cb, states.pop(0)))
    return pairs


def restore_rng(state: dict[str, Any]) -> None:
    set_rng_state(state["rng_state"])
