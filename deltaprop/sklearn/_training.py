"""How an estimator trains: its own random stream, and scikit-learn's bookkeeping at the end of each epoch.

Training itself is `deltaprop.fit`; what scikit-learn adds around each epoch
(the loss curve, the tol / n_iter_no_change stopping rule, early stopping on
a validation score, the 'invscaling' and 'adaptive' learning rates) is one
`fit` callback, `Bookkeeping`, so both estimator families share it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from deltaprop import random
from deltaprop.train import Callback

#: the 'adaptive' learning rate stops dividing by 5 below this (scikit-learn's limit)
MIN_ADAPTIVE_LR = 1e-6


@contextmanager
def random_stream(estimator: Any, restart: bool) -> Iterator[None]:
    """Run the body on the estimator's own stream of the package generator, then put the user's back.

    ``restart``: start the stream afresh from ``random_state`` (a new network
    is being built); otherwise continue where the estimator's last fit or
    partial_fit left it, so a sequence of calls is as repeatable as one.
    The user's generator state is restored afterwards: fitting an estimator
    never moves the numbers their own code draws.
    """
    from sklearn.utils import check_random_state

    users = random.get_rng_state()
    if restart or getattr(estimator, "_rng_state", None) is None:
        seed = int(check_random_state(estimator.random_state).randint(np.iinfo(np.int32).max))
        state = np.random.default_rng(seed).bit_generator.state
    else:
        state = estimator._rng_state
    random.set_rng_state(state)
    try:
        yield
    finally:
        estimator._rng_state = random.get_rng_state()
        random.set_rng_state(users)


def draw_seed() -> int:
    """An int for scikit-learn helpers that take a random_state (the validation split), from the stream."""
    return int(random.generator().integers(np.iinfo(np.int32).max))


class Bookkeeping(Callback):
    """scikit-learn's end-of-epoch rules, applied to a `deltaprop.fit` run.

    Per epoch, in scikit-learn's order: ``n_iter_`` and ``t_`` advance,
    ``loss_`` joins ``loss_curve_``; the no-improvement count follows the
    validation score (``early_stopping``) or the training loss, with the best
    weights kept for early stopping; 'invscaling' sets the learning rate to
    ``learning_rate_init / (t_ + 1) ** power_t``; and once the count exceeds
    ``n_iter_no_change`` training stops, or with 'adaptive' the learning rate
    is divided by 5 (stopping once it is at most 1e-6).

    ``validation`` is (X_val, y_val, sample_weight_val) in the user's label
    space (scored with the estimator's own ``score``), or None.
    """

    def __init__(self, estimator: Any, n_train: int, validation: tuple | None, schedule: str) -> None:
        self.estimator = estimator
        self.n_train = n_train
        self.validation = validation
        self.schedule = schedule  # 'constant', 'invscaling' or 'adaptive'

    def on_epoch_end(self, run: Any) -> None:
        est = self.estimator
        est.n_iter_ += 1
        est.t_ += self.n_train
        est.loss_ = float(run.logs["loss"])
        est.loss_curve_.append(est.loss_)
        if est.verbose:
            print(f"Iteration {est.n_iter_}, loss = {est.loss_:.8f}", flush=True)
        self._count_no_improvement(run)
        if self.schedule == "invscaling":
            _set_lr(run.optimizer, est.learning_rate_init / (est.t_ + 1) ** est.power_t)
        if est._no_improvement_count > est.n_iter_no_change:
            self._no_improvement(run)

    def _count_no_improvement(self, run: Any) -> None:
        est = self.estimator
        if self.validation is not None:
            score = est._score_without_checks(*self.validation)
            est.validation_scores_.append(score)
            if est.verbose:
                print(f"Validation score: {score:f}", flush=True)
            if score < est.best_validation_score_ + est.tol:
                est._no_improvement_count += 1
            else:
                est._no_improvement_count = 0
            if score > est.best_validation_score_:
                est.best_validation_score_ = score
                est._best_state = run.model.state_dict()
            return
        if est.loss_curve_[-1] > est.best_loss_ - est.tol:
            est._no_improvement_count += 1
        else:
            est._no_improvement_count = 0
        if est.loss_curve_[-1] < est.best_loss_:
            est.best_loss_ = est.loss_curve_[-1]

    def _no_improvement(self, run: Any) -> None:
        est = self.estimator
        what = "Validation score" if self.validation is not None else "Training loss"
        message = (f"{what} did not improve more than tol={est.tol:f} for {est.n_iter_no_change} "
                   "consecutive epochs.")
        lr = _get_lr(run.optimizer)
        if self.schedule == "adaptive" and lr > MIN_ADAPTIVE_LR:
            _set_lr(run.optimizer, lr / 5.0)
            est._no_improvement_count = 0
            if est.verbose:
                print(f"{message} Setting learning rate to {lr / 5.0:f}", flush=True)
            return
        if est.verbose:
            small = " Learning rate too small." if self.schedule == "adaptive" else ""
            print(f"{message}{small} Stopping.", flush=True)
        run.stop_training = True
        run.stop_reason = message


def _get_lr(optimizer: Any) -> float:
    return float(optimizer.param_groups[0].get("lr", math.nan))


def _set_lr(optimizer: Any, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
