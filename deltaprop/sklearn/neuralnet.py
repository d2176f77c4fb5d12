"""`NeuralNetClassifier` and `NeuralNetRegressor`: any deltaprop module as a scikit-learn estimator.

``module`` is a `deltaprop.nn.Module` class (or any callable returning a
module, or a module instance, which is copied at each fit). Settings for it
and for the optimizer are estimator parameters with a prefix, so
GridSearchCV can search them like any other::

    NeuralNetClassifier(MyNet, module__hidden=64, optimizer="sgd", optimizer__lr=0.05,
                        optimizer__momentum=0.9)

The sizes that depend on the data are filled in when the module's
constructor takes them and they are not given:

- ``in_features``, ``n_features``, ``n_in``, ``input_size``: the size of X's
  last axis (the features of a row, or of a time step);
- ``in_channels``: the size of X's second axis (images shaped (N, C, H, W));
- ``out_features``, ``n_outputs``, ``n_out``, ``n_classes``, ``num_classes``,
  ``output_size``: the outputs the task needs (one per class, label or target).

So ``NeuralNetClassifier(deltaprop.nn.Linear)`` is logistic regression. The
module returns raw scores; the output layer a loss expects (LogSoftmax for
'nll', Sigmoid for 'bce') is appended as the CLI does (`deltaprop.models`).
Training and stopping follow the MLPs: ``max_iter`` epochs at most, the
``tol`` / ``n_iter_no_change`` rule on the training loss, or on a validation
score with ``early_stopping``. ``fit`` takes no ``sample_weight``: the loss
is any deltaprop loss, which has no weighted form.
"""

from __future__ import annotations

import copy
import inspect
import numbers
from typing import Any

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.utils.validation import check_scalar

from deltaprop.sklearn._base import NetworkEstimator, own_arrays
from deltaprop.sklearn._tasks import ClassifierTask, RegressorTask

#: prefixes of the settings routed to the module's and the optimizer's constructors
ROUTES = ("module__", "optimizer__")
#: constructor parameters filled from the data (see the module docstring)
FEATURE_NAMES = ("in_features", "n_features", "n_in", "input_size")
CHANNEL_NAMES = ("in_channels",)
OUTPUT_NAMES = ("out_features", "n_outputs", "n_out", "n_classes", "num_classes", "output_size")
#: the losses each kind of target can use by name, and what the network's outputs then are
_SINGLE_LABEL_LOSSES = {"cross_entropy": "softmax", "nll": "exp"}
_MULTI_LABEL_LOSSES = {"bce_with_logits": "logistic", "log_loss": "logistic", "bce": "identity"}
_REGRESSION_LOSSES = {"mse": "identity", "squared_error": "identity", "l1": "identity", "huber": "identity"}


class _NeuralNet(NetworkEstimator):
    """What both module wrappers share (not for direct use)."""

    _accepts_nd_input = True

    def __init__(self, module, *, loss=None, optimizer="adam", batch_size="auto", max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, n_iter_no_change=10, early_stopping=False,
                 validation_fraction=0.1, verbose=False, warm_start=False, **routed):
        self.module = module
        self.loss = loss
        self.optimizer = optimizer
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.verbose = verbose
        self.warm_start = warm_start
        self._routed = dict(routed)  # module__* and optimizer__* settings; names are checked in fit

    # ------------------------------------------------------------------ parameters
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor's parameters plus every module__* and optimizer__* setting."""
        params = super().get_params(deep=deep)
        params.update(self._routed)
        return params

    def set_params(self, **params: Any) -> _NeuralNet:
        """Set parameters, module__* and optimizer__* settings included; returns self."""
        routed = {name: value for name, value in params.items()
                  if name.startswith(ROUTES) or name in self._routed}
        self._routed.update(routed)
        return super().set_params(**{k: v for k, v in params.items() if k not in routed})

    def _settings(self, prefix: str) -> dict[str, Any]:
        return {name[len(prefix):]: value for name, value in self._routed.items() if name.startswith(prefix)}

    def _check_settings(self) -> None:
        unknown = sorted(name for name in self._routed if not name.startswith(ROUTES))
        if unknown:
            raise TypeError(f"{type(self).__name__} got unknown parameter(s) {', '.join(unknown)}; "
                            "settings for the module or the optimizer take the prefix module__ or "
                            "optimizer__")
        if self.batch_size != "auto":
            check_scalar(self.batch_size, "batch_size", numbers.Integral, min_val=1)
        check_scalar(self.max_iter, "max_iter", numbers.Integral, min_val=1)
        check_scalar(self.tol, "tol", numbers.Real, min_val=0)
        check_scalar(self.validation_fraction, "validation_fraction", numbers.Real, min_val=0, max_val=1,
                     include_boundaries="left")
        if self.n_iter_no_change != np.inf:
            check_scalar(self.n_iter_no_change, "n_iter_no_change", numbers.Integral, min_val=1)
        for name in ("shuffle", "warm_start", "early_stopping"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise TypeError(f"{name} must be a bool, got {getattr(self, name)!r}")

    def fit(self, X: Any, y: Any) -> _NeuralNet:
        """Train on (X, y) (from scratch unless ``warm_start``); returns self."""
        return self._fit(X, y, None, incremental=False)

    # ------------------------------------------------------------------ the network
    def _build_model(self, X: np.ndarray, n_units: int) -> Any:
        from deltaprop import nn

        settings = self._settings("module__")
        if isinstance(self.module, nn.Module):
            if settings:
                raise ValueError(f"module__ settings ({', '.join(sorted(settings))}) configure a module "
                                 "class; module is an instance: pass its class instead, or drop the settings")
            network = copy.deepcopy(self.module)
        elif callable(self.module):
            network = self.module(**_with_data_sizes(self.module, settings, X, n_units))
        else:
            raise TypeError(f"module must be a deltaprop.nn.Module class (or instance), got {self.module!r}")
        if not isinstance(network, nn.Module):
            raise TypeError(f"module {self.module!r} built a {type(network).__name__}, not a "
                            "deltaprop.nn.Module")
        if next(iter(network.parameters()), None) is None:
            raise ValueError(f"module {type(network).__name__} has no parameters to train")
        head = self._loss_spec()[1]
        return network if head is None else nn.Sequential(network, head)

    def _make_optimizer(self, model: Any) -> Any:
        from deltaprop.models import check_fits_in_memory, make_optimizer
        params = own_arrays(model)
        options = self._settings("optimizer__")
        if isinstance(self.optimizer, str):
            check_fits_in_memory(self.optimizer, sum(p.array.size for p in params))
            return make_optimizer(params, self.optimizer, **options)
        if isinstance(self.optimizer, type):
            return self.optimizer(params, **options)
        raise TypeError(f"optimizer must be a name such as 'adam' or a deltaprop.optim.Optimizer class, "
                        f"got {self.optimizer!r}")

    def _make_loss(self, model: Any, weighted: bool) -> Any:
        return self._loss_spec()[0]

    def _loss_spec(self) -> tuple[Any, Any, str]:
        """(loss function, output layer to append or None, out_activation_) for this task and ``loss``."""
        from deltaprop import nn
        from deltaprop.models import output_layer

        kind = self._target_kind()
        named = {"regression": _REGRESSION_LOSSES, "multilabel-indicator": _MULTI_LABEL_LOSSES}.get(
            kind, _SINGLE_LABEL_LOSSES)
        loss = self.loss if self.loss is not None else next(iter(named))
        if isinstance(loss, str):
            key = loss.lower().replace("-", "_")
            if key not in named:
                raise ValueError(f"loss={loss!r} does not fit a {kind} target; use one of "
                                 f"{', '.join(map(repr, named))}, a deltaprop loss module, or a function")
            task = "regress" if kind == "regression" else "classify"
            head = output_layer(task, key)[0] if kind != "multilabel-indicator" or key == "bce" else None
            return nn.loss_by_name(key), head, named[key]
        if isinstance(loss, type):
            loss = loss()
        if not callable(loss):
            raise TypeError(f"loss must be a name, a deltaprop loss module or a function, got {loss!r}")
        return loss, None, next(iter(named.values()))

    def _target_kind(self) -> str:
        return "regression" if not hasattr(self, "_label_binarizer") else self._label_binarizer.y_type_


class NeuralNetClassifier(ClassifierMixin, ClassifierTask, _NeuralNet):
    """A deltaprop module as a scikit-learn classifier (binary, multiclass or multi-label).

    One output per class, cross-entropy on the scores by default ('nll'
    appends LogSoftmax); for multi-label y one output per label with
    'bce_with_logits' (or 'bce', which appends a Sigmoid). A loss given as a
    module or a function is taken to read scores (logits).
    """

    _binary_as_one_output = False

    def _out_activation_for(self, kind: str) -> str:
        return self._loss_spec()[2]

    def partial_fit(self, X: Any, y: Any, classes: Any = None) -> NeuralNetClassifier:
        """One epoch over (X, y); ``classes`` (every label there will be) is required on the first call."""
        self._start_partial_fit(y, classes)
        return self._fit(X, y, None, incremental=True)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class NeuralNetRegressor(RegressorMixin, RegressorTask, _NeuralNet):
    """A deltaprop module as a scikit-learn regressor (one or several targets; 'mse' by default)."""

    def partial_fit(self, X: Any, y: Any) -> NeuralNetRegressor:
        """One epoch over (X, y), continuing from the current weights and optimizer state."""
        return self._fit(X, y, None, incremental=True)


def _with_data_sizes(build: Any, settings: dict[str, Any], X: np.ndarray, n_units: int) -> dict[str, Any]:
    """The module's settings plus the data-dependent sizes its constructor takes and was not given."""
    try:
        accepted = inspect.signature(build).parameters
    except (TypeError, ValueError):  # a builtin or C callable: nothing to fill in
        return dict(settings)
    filled = dict(settings)
    for name in accepted:
        if name in filled:
            continue
        if name in FEATURE_NAMES:
            filled[name] = int(X.shape[-1])
        elif name in CHANNEL_NAMES:
            filled[name] = int(X.shape[1])
        elif name in OUTPUT_NAMES:
            filled[name] = int(n_units)
    return filled


__all__ = ["NeuralNetClassifier", "NeuralNetRegressor"]
