"""What makes an estimator a classifier or a regressor: targets in, predictions out.

`ClassifierTask` follows scikit-learn's MLPClassifier: a `LabelBinarizer`
decides ``classes_`` (and whether y is binary, multiclass or multi-label),
predictions go back through it, and ``partial_fit`` needs ``classes`` on its
first call. `RegressorTask` takes one or several real-valued targets.

Both read the network's outputs through ``out_activation_``, the function
that maps them to predictions: 'softmax' (class probabilities from scores),
'logistic' (one independent probability per output), 'identity' or 'exp'.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, r2_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import column_or_1d
from sklearn.utils.multiclass import unique_labels


def apply_out_activation(outputs: np.ndarray, out_activation: str) -> np.ndarray:
    """Network outputs -> predictions (probabilities for 'softmax' and 'logistic'), in float64."""
    z = outputs.astype(np.float64, copy=False)
    if out_activation == "softmax":
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    if out_activation == "logistic":
        return 0.5 * (np.tanh(0.5 * z) + 1.0)  # 1 / (1 + e^-z) without overflow
    if out_activation == "exp":
        return np.exp(z)
    return z


class ClassifierTask:
    """Classification in scikit-learn's terms (used with `NetworkEstimator` and ClassifierMixin)."""

    # Supplied by the estimator this task is mixed into (`NetworkEstimator`); declared for the type checker.
    warm_start: bool
    _forward: Callable[[np.ndarray], np.ndarray]
    _validate_input: Callable[[Any], np.ndarray]

    #: two classes as one logistic output (the MLPs, as scikit-learn); False: two softmax outputs
    _binary_as_one_output = True

    def _encode_targets(self, y: np.ndarray, first_pass: bool, incremental: bool) -> tuple[np.ndarray, int]:
        """(the targets the network learns, its number of outputs); sets ``classes_`` on a first fit."""
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer().fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start and not incremental and set(classes) != set(self.classes_):
                raise ValueError(
                    "warm_start can only be used where `y` has the same classes as in the previous call "
                    f"to fit. Previously got {self.classes_}, `y` has {classes}"
                )
            if len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` has "
                                 f"{self.classes_}. 'y' has {classes}.")
        indicator = self._label_binarizer.transform(y)
        kind = self._label_binarizer.y_type_
        self.out_activation_ = self._out_activation_for(kind)
        if kind == "multilabel-indicator":
            return indicator.astype(np.float64), indicator.shape[1]
        if kind == "multiclass":
            return indicator.argmax(axis=1).astype(np.int64), len(self.classes_)
        if self._binary_as_one_output:
            return indicator.astype(np.float64), 1
        return indicator[:, 0].astype(np.int64), max(len(self.classes_), 1)

    def _out_activation_for(self, kind: str) -> str:
        if kind == "multilabel-indicator" or (kind != "multiclass" and self._binary_as_one_output):
            return "logistic"
        return "softmax"

    def _stratify_validation(self) -> bool:
        """Stratified except for multi-label y (as scikit-learn documents it)."""
        return self._label_binarizer.y_type_ != "multilabel-indicator"

    def _start_partial_fit(self, y: Any, classes: Any) -> None:
        """scikit-learn's first-call rule: classes are required once, and must not change after."""
        from sklearn.utils.multiclass import type_of_target

        if classes is None and not hasattr(self, "classes_"):
            raise ValueError("classes must be passed on the first call to partial_fit.")
        if classes is not None and hasattr(self, "classes_"):
            if not np.array_equal(np.unique(classes), self.classes_):
                raise ValueError(f"`classes={classes!r}` is not the same as on last call to "
                                 f"partial_fit, was: {self.classes_!r}")
            return
        if classes is not None:
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y if type_of_target(y).startswith("multilabel") else classes)
            self.classes_ = self._label_binarizer.classes_

    # ------------------------------------------------------------------ predictions
    def _unit_probabilities(self, X: np.ndarray) -> np.ndarray:
        return apply_out_activation(self._forward(X), self.out_activation_)

    def _labels(self, probabilities: np.ndarray) -> np.ndarray:
        binarizer = self._label_binarizer
        if binarizer.y_type_ in ("multiclass", "multilabel-indicator"):
            return binarizer.inverse_transform(probabilities)
        return binarizer.inverse_transform(probabilities[:, -1])  # binary: the positive class's column

    def predict(self, X: Any) -> np.ndarray:
        """The predicted classes (an indicator matrix for multi-label y)."""
        return self._labels(self._unit_probabilities(self._validate_input(X)))

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, columns in the order of ``classes_`` (per label for multi-label y)."""
        probabilities = self._unit_probabilities(self._validate_input(X))
        if probabilities.shape[1] == 1:
            return np.hstack([1.0 - probabilities, probabilities])
        return probabilities

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """The log of `predict_proba`."""
        probabilities = self.predict_proba(X)
        with np.errstate(divide="ignore"):
            return np.log(probabilities, out=probabilities)

    def _score_without_checks(self, X: np.ndarray, y: np.ndarray, sample_weight: Any = None) -> float:
        """Accuracy on already validated data (the early-stopping score); NaN for non-finite outputs."""
        probabilities = self._unit_probabilities(X)
        if not np.isfinite(probabilities).all():
            return float("nan")
        return float(accuracy_score(y, self._labels(probabilities), sample_weight=sample_weight))


class RegressorTask:
    """Regression on one or several real-valued targets (used with `NetworkEstimator` and RegressorMixin)."""

    # Supplied by the estimator this task is mixed into (`NetworkEstimator`); declared for the type checker.
    warm_start: bool
    _forward: Callable[[np.ndarray], np.ndarray]
    _validate_input: Callable[[Any], np.ndarray]

    def _encode_targets(self, y: np.ndarray, first_pass: bool, incremental: bool) -> tuple[np.ndarray, int]:
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        targets = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
        self.out_activation_ = "identity"
        return targets, targets.shape[1]

    def _stratify_validation(self) -> bool:
        return False

    def _values(self, X: np.ndarray) -> np.ndarray:
        values = apply_out_activation(self._forward(X), self.out_activation_)
        return values.ravel() if values.shape[1] == 1 else values

    def predict(self, X: Any) -> np.ndarray:
        """The predicted values, shape (n_samples,) or (n_samples, n_outputs)."""
        return self._values(self._validate_input(X))

    def _score_without_checks(self, X: np.ndarray, y: np.ndarray, sample_weight: Any = None) -> float:
        """R^2 on already validated data (the early-stopping score); NaN for non-finite outputs."""
        values = self._values(X)
        if not np.isfinite(values).all():
            return float("nan")
        return float(r2_score(y, values, sample_weight=sample_weight))
