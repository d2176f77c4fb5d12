"""`NetworkEstimator`: what the four estimators share, from validated input to a trained ``model_``.

One fit, top to bottom:

1. the settings are checked (`_check_settings`; nothing is checked in
   ``__init__``, as scikit-learn requires);
2. X and y go through scikit-learn's own validation (`validate_data`), and
   the task part (`ClassifierTask`, `RegressorTask`) turns y into the
   targets the network learns;
3. on the estimator's own random stream (`random_stream`), a first fit
   builds the network (`_build_model`) and a first or non-incremental fit a
   fresh optimizer (`_make_optimizer`);
4. `deltaprop.fit` trains it with the estimator's loss (`_make_loss`),
   scikit-learn's epoch rules riding along as the `Bookkeeping` callback.

The hooks in ``_underscored`` methods are what the MLPs and the module
wrappers fill in differently.
"""

from __future__ import annotations

import numbers
import os
import sys
import warnings
from types import FrameType
from typing import Any, Self

import numpy as np
from sklearn.base import BaseEstimator, is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_array
from sklearn.utils.validation import check_is_fitted, validate_data

import deltaprop
from deltaprop import backend
from deltaprop.errors import NonFiniteError
from deltaprop.sklearn._training import Bookkeeping, draw_seed, random_stream
from deltaprop.tensor import Tensor, no_grad


class NetworkEstimator(BaseEstimator):
    """Base class of the deltaprop estimators (not for direct use)."""

    #: images and sequences: X may have more than two axes (the module wrappers)
    _accepts_nd_input = False

    # ------------------------------------------------------------------ fitting
    # Each subclass defines the public ``fit``: the MLPs take ``sample_weight``, the module wrappers
    # do not (scikit-learn's meta-estimators read that from fit's signature).
    def _fit(self, X: Any, y: Any, sample_weight: Any, incremental: bool) -> Self:
        self._check_settings()
        first_pass = not self.__sklearn_is_fitted__() or (not self.warm_start and not incremental)
        X, y = self._validate_training_data(X, y, reset=first_pass)
        targets, n_units = self._encode_targets(y, first_pass=first_pass, incremental=incremental)
        if not first_pass and n_units != self.n_outputs_:
            raise ValueError(f"{type(self).__name__}: y needs {n_units} network output(s) but the fitted "
                             f"network has {self.n_outputs_}; fit a new model (warm_start=False)")
        weights = None if sample_weight is None else _check_sample_weight(sample_weight, len(X))
        with random_stream(self, restart=first_pass):
            if first_pass:
                self._initialize(X, n_units)
            if not incremental or getattr(self, "_optimizer", None) is None:
                self._optimizer = self._make_optimizer(self.model_)
            self._train(X, y, targets, weights, incremental)
        return self

    def _initialize(self, X: np.ndarray, n_units: int) -> None:
        """A new network with ``n_units`` outputs and fresh bookkeeping (scikit-learn's ``_initialize``)."""
        self.n_outputs_ = n_units
        self.model_ = self._build_model(X, n_units)
        self.n_iter_ = 0
        self.t_ = 0
        self._optimizer = None
        self._converged = False
        if self._tracks_epochs():
            self.loss_curve_: list[float] = []
            self._no_improvement_count = 0
            self._best_state = None
            self.validation_scores_: list[float] | None
            self.best_validation_score_: float | None
            self.best_loss_: float | None
            if self.early_stopping:
                self.validation_scores_, self.best_validation_score_, self.best_loss_ = [], -np.inf, None
            else:
                self.validation_scores_, self.best_validation_score_, self.best_loss_ = None, None, np.inf

    def _train(self, X, y, targets, weights, incremental: bool) -> None:
        """One fit or partial_fit call: the validation split, then `deltaprop.fit` with the bookkeeping."""
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        validation = None
        if self.early_stopping and self._tracks_epochs():
            X, y, targets, weights, validation = self._split_validation(X, y, targets, weights)
        n = len(X)
        epochs, batch_size = self._plan(n, incremental)
        fit_targets = targets if weights is None else np.column_stack([targets.reshape(n, -1), weights])
        loss = self._make_loss(self.model_, weighted=weights is not None)
        callbacks = []
        if self._tracks_epochs():
            self.n_iter_ = 0
            callbacks.append(Bookkeeping(self, n, validation, self._lr_schedule()))
        history = None
        try:
            history = deltaprop.fit(self.model_, X, fit_targets, loss=loss, optimizer=self._optimizer,
                                    epochs=epochs, batch_size=batch_size, shuffle=bool(self.shuffle),
                                    callbacks=callbacks, progress=False)
        except NonFiniteError as exc:
            raise ValueError(f"{type(self).__name__}: training diverged: {exc}. Scale the inputs "
                             "(e.g. StandardScaler) or lower learning_rate_init") from exc
        except KeyboardInterrupt:
            warn_caller("Training interrupted by user.", UserWarning)
        self._converged = history is not None and history.stopped_reason is not None
        if validation is not None and self._best_state is not None:
            self.model_.load_state_dict(self._best_state)
        self._after_training(X, fit_targets, loss, incremental)

    def _split_validation(self, X, y, targets, weights):
        """scikit-learn's held-out set for early stopping: stratified unless multi-output."""
        stratify = y if self._stratify_validation() else None
        arrays = [X, y, targets] + ([] if weights is None else [weights])
        parts = train_test_split(*arrays, random_state=draw_seed(), test_size=self.validation_fraction,
                                 stratify=stratify)
        train, held = parts[0::2], parts[1::2]
        if len(held[0]) < 2:
            raise ValueError(
                "The validation set is too small. Increase 'validation_fraction' or the size of your dataset."
            )
        w_train = None if weights is None else train[3]
        w_held = None if weights is None else held[3]
        return train[0], train[1], train[2], w_train, (held[0], held[1], w_held)

    def _plan(self, n: int, incremental: bool) -> tuple[int, int | None]:
        """(epochs, batch size) for this call: one epoch per partial_fit, scikit-learn's batch sizes."""
        epochs = 1 if incremental else int(self.max_iter)
        if self.batch_size == "auto":
            return epochs, min(200, n)
        if self.batch_size > n:
            warn_caller("Got `batch_size` less than 1 or larger than sample size. It is going to be clipped",
                        UserWarning)
        return epochs, int(np.clip(self.batch_size, 1, n))

    def _after_training(self, X, fit_targets, loss, incremental: bool) -> None:
        """scikit-learn's warning when max_iter epochs ran without meeting the stopping rule."""
        if not incremental and not self._converged and self.n_iter_ == self.max_iter:
            warn_caller(f"{self._solver_title()}: Maximum iterations ({self.max_iter}) reached and the "
                        "optimization hasn't converged yet.", ConvergenceWarning)

    # ------------------------------------------------------------------ hooks with defaults
    def _tracks_epochs(self) -> bool:
        """True when training runs epoch by epoch with scikit-learn's stopping rules."""
        return True

    def _lr_schedule(self) -> str:
        return "constant"

    def _solver_title(self) -> str:
        return type(self._optimizer).__name__

    # ------------------------------------------------------------------ predicting
    def _validate_input(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        return validate_data(self, X, reset=False, dtype=(np.float64, np.float32),
                             allow_nd=self._accepts_nd_input)

    def _forward(self, X: np.ndarray) -> np.ndarray:
        """The network's outputs on validated X (eval mode, no graph), as NumPy."""
        model = self.model_
        dtype = next(iter(model.parameters())).array.dtype
        was_training = model.training
        model.eval()
        try:
            with no_grad():
                out = model(Tensor(np.asarray(X, dtype=dtype))).array
        finally:
            model.train(was_training)
        out = backend.to_numpy(out)
        return out.reshape(len(out), -1)

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "model_")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags

    def _validate_training_data(self, X: Any, y: Any, reset: bool) -> tuple[np.ndarray, np.ndarray]:
        return validate_data(self, X, y, reset=reset, multi_output=True, dtype=(np.float64, np.float32),
                             allow_nd=self._accepts_nd_input, y_numeric=not is_classifier(self))


def warn_caller(message: str, category: type[Warning]) -> None:
    """`warnings.warn` pointing at the first line outside deltaprop (the user's fit call, or sklearn's)."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    frame: FrameType | None = sys._getframe(1)
    level = 2
    while frame is not None and frame.f_code.co_filename.startswith(package):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)


def _check_sample_weight(sample_weight: Any, n_samples: int) -> np.ndarray:
    """One finite, non-negative float weight per example (a number is the same weight for all)."""
    if isinstance(sample_weight, numbers.Real):
        weights = np.full(n_samples, float(sample_weight))
    else:
        weights = check_array(sample_weight, ensure_2d=False, dtype=np.float64, input_name="sample_weight")
        if weights.ndim != 1 or len(weights) != n_samples:
            raise ValueError(f"sample_weight.shape == {weights.shape}, expected ({n_samples},)!")
    if np.any(weights < 0):
        raise ValueError("Negative values in data passed to sample_weight; weights must be >= 0")
    if not np.any(weights > 0):
        raise ValueError("Sample weights must contain at least one non-zero number.")
    return weights


def own_arrays(model: Any) -> list[Any]:
    """The parameters, each given an array of its own first.

    A new optimizer lays the parameters out in one flat buffer only if no one
    else holds their arrays; after an earlier optimizer's layout they are
    views of its buffer, so a warm start would silently take the slower
    per-parameter path. Copying breaks the old link (values unchanged).
    """
    params = list(model.parameters())
    for p in params:
        if getattr(p.array, "base", None) is not None:
            p.array = p.array.copy()
    return params
