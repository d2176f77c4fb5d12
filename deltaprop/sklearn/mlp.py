"""`MLPClassifier` and `MLPRegressor`: scikit-learn's multilayer perceptrons, trained by deltaprop.

Same parameters with the same meanings, same fitted attributes, same loss
(term for term, see `_objective`), same epoch rules (`_training`), same
Glorot initialisation scheme. Where the numbers cannot be the same, it is
said here and in the README:

- the random numbers come from deltaprop's generator, so a given
  ``random_state`` gives another (equally distributed) initialisation and
  shuffle than scikit-learn's; the same seed always gives the same model;
- ``dtype='float32'`` (the default) trains in single precision; 'float64',
  or None (X's own float dtype, scikit-learn's behaviour), in double;
- 'sgd' momentum is PyTorch's (the velocity is kept without the learning
  rate); identical while the rate is constant, slightly different while
  'invscaling' or 'adaptive' changes it;
- 'lbfgs' is deltaprop's L-BFGS (PyTorch's algorithm with a strong-Wolfe
  line search, SciPy's default memory of 10 pairs, ``gtol=tol`` as the
  gradient tolerance and SciPy's default relative-change tolerance as an
  absolute one), not SciPy's L-BFGS-B;
- sparse X is refused (deltaprop has no sparse matrices): densify it first.

deltaprop's own additions: ``solver='lm'`` (Levenberg-Marquardt, full batch,
one step per epoch, with the tol / n_iter_no_change rule and early_stopping
as for 'sgd' and 'adam'; for networks of up to a few thousand weights, and
without sample_weight), ``dropout`` between hidden layers, ``dtype``, and any
of deltaprop's activations besides scikit-learn's four.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_scalar

from deltaprop.sklearn._base import NetworkEstimator, own_arrays, warn_caller
from deltaprop.sklearn._objective import SklearnObjective
from deltaprop.sklearn._solvers import PenalizedLevenbergMarquardt, ScikitLearnAdam
from deltaprop.sklearn._tasks import ClassifierTask, RegressorTask
from deltaprop.tensor import Tensor, no_grad

SOLVERS = ("lbfgs", "sgd", "adam", "lm")
STOCHASTIC_SOLVERS = ("sgd", "adam")
LEARNING_RATES = ("constant", "invscaling", "adaptive")
#: scikit-learn's activation names that deltaprop spells differently
_ACTIVATION_NAMES = {"logistic": "sigmoid"}
#: SciPy's default ftol for L-BFGS-B (factr=1e7 times machine epsilon)
_LBFGS_TOLERANCE_CHANGE = 1e7 * np.finfo(float).eps
#: Jacobian bytes Levenberg-Marquardt holds at once (it is built in chunks of rows)
_LM_JACOBIAN_BYTES = 64 * 2**20


class _MLP(NetworkEstimator):
    """What both MLPs share: settings, the network, the optimizer, the loss (not for direct use)."""

    def _store_parameters(self, parameters: dict[str, Any]) -> None:
        """Keep every constructor argument as the attribute of its name, unchanged (scikit-learn's rule)."""
        for name, value in parameters.items():
            if name not in ("self", "__class__"):
                setattr(self, name, value)

    # ------------------------------------------------------------------ fitting
    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> _MLP:
        """Train on (X, y) (from scratch unless ``warm_start``); returns self.

        ``sample_weight``: one non-negative weight per example; every average
        in the loss (and the L2 term's 1/n) becomes a weighted one.
        """
        return self._fit(X, y, sample_weight, incremental=False)

    # ------------------------------------------------------------------ settings
    def _check_settings(self) -> None:
        """Every hyperparameter in range, each error naming the parameter (scikit-learn checks in fit)."""
        from deltaprop.nn import ACTIVATIONS

        _hidden_sizes(self.hidden_layer_sizes)
        activations = ("identity", "logistic", "tanh", "relu", *sorted(set(ACTIVATIONS) - {"sigmoid"}))
        _check_option("activation", self.activation, activations)
        _check_option("solver", self.solver, SOLVERS)
        _check_option("learning_rate", self.learning_rate, LEARNING_RATES)
        if self.batch_size != "auto":
            check_scalar(self.batch_size, "batch_size", numbers.Integral, min_val=1)
        for name, low, high, closed in (
            ("alpha", 0, None, "left"), ("learning_rate_init", 0, None, "neither"),
            ("power_t", 0, None, "left"), ("tol", 0, None, "left"), ("momentum", 0, 1, "both"),
            ("validation_fraction", 0, 1, "left"), ("beta_1", 0, 1, "left"), ("beta_2", 0, 1, "left"),
            ("epsilon", 0, None, "neither"), ("dropout", 0, 1, "left"),
        ):
            check_scalar(getattr(self, name), name, numbers.Real, min_val=low, max_val=high,
                         include_boundaries=closed)
        check_scalar(self.max_iter, "max_iter", numbers.Integral, min_val=1)
        check_scalar(self.max_fun, "max_fun", numbers.Integral, min_val=1)
        if self.n_iter_no_change != np.inf:
            check_scalar(self.n_iter_no_change, "n_iter_no_change", numbers.Integral, min_val=1)
        for name in ("shuffle", "warm_start", "nesterovs_momentum", "early_stopping"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise TypeError(f"{name} must be a bool, got {getattr(self, name)!r}")
        _float_dtype(self.dtype)

    # ------------------------------------------------------------------ the network
    def _build_model(self, X: np.ndarray, n_units: int) -> Any:
        """deltaprop.models' MLP, initialised with scikit-learn's Glorot scheme (weights and biases)."""
        from deltaprop.models import build_mlp
        from deltaprop.nn import init

        dtype = _float_dtype(self.dtype) or X.dtype
        name: str = self.activation
        activation = _ACTIVATION_NAMES.get(name, name)
        model = build_mlp(X.shape[1], n_units, _hidden_sizes(self.hidden_layer_sizes), activation,
                          float(self.dropout), dtype)
        factor = 2.0 if self.activation == "logistic" else 6.0
        for layer in _linear_layers(model):
            bound = math.sqrt(factor / (layer.in_features + layer.out_features))
            init.uniform_(layer.weight, -bound, bound)
            init.uniform_(layer.bias, -bound, bound)
        return model

    def _make_optimizer(self, model: Any) -> Any:
        from deltaprop.models import check_fits_in_memory, make_optimizer

        params = own_arrays(model)
        if self.solver == "sgd":
            momentum = float(self.momentum)
            return make_optimizer(params, "sgd", lr=self.learning_rate_init, momentum=momentum,
                                  nesterov=bool(self.nesterovs_momentum) and momentum > 0)
        if self.solver == "adam":
            return ScikitLearnAdam(params, lr=self.learning_rate_init, betas=(self.beta_1, self.beta_2),
                                   eps=self.epsilon)
        if self.solver == "lbfgs":
            return make_optimizer(params, "lbfgs", lr=1, max_iter=int(self.max_iter),
                                  max_eval=int(self.max_fun), tolerance_grad=self.tol,
                                  tolerance_change=_LBFGS_TOLERANCE_CHANGE, history_size=10,
                                  line_search_fn="strong_wolfe")
        n_params = sum(p.array.size for p in params)
        check_fits_in_memory("lm", n_params)
        weights = [layer.weight for layer in _linear_layers(model)]
        strength = self._objective(model, weighted=False).penalty_scale()
        return PenalizedLevenbergMarquardt(params, weights, strength,
                                           max_jacobian_rows=max(1, _LM_JACOBIAN_BYTES // (8 * n_params)))

    def _make_loss(self, model: Any, weighted: bool) -> SklearnObjective:
        if weighted and self.solver == "lm":
            raise ValueError("solver='lm' does not take sample_weight (its Gauss-Newton step has no weighted "
                             "form here); use solver='lbfgs' or 'adam'")
        return self._objective(model, weighted)

    def _objective(self, model: Any, weighted: bool) -> SklearnObjective:
        weights = [layer.weight for layer in _linear_layers(model)]
        return SklearnObjective(self.out_activation_, weights, float(self.alpha), weighted)

    # ------------------------------------------------------------------ training plan
    def _tracks_epochs(self) -> bool:
        return self.solver != "lbfgs"

    def _lr_schedule(self) -> str:
        return self.learning_rate if self.solver == "sgd" else "constant"

    def _solver_title(self) -> str:
        return "Levenberg-Marquardt" if self.solver == "lm" else "Stochastic Optimizer"

    def _plan(self, n: int, incremental: bool) -> tuple[int, int | None]:
        if self.solver == "lbfgs":
            return 1, None  # one call of L-BFGS runs up to max_iter iterations
        if self.solver == "lm":
            return int(self.max_iter), None  # full batch, one step per epoch
        return super()._plan(n, incremental)

    def _after_training(self, X, fit_targets, loss, incremental: bool) -> None:
        if self.solver != "lbfgs":
            return super()._after_training(X, fit_targets, loss, incremental)
        params = next(iter(self._optimizer.param_groups))["params"]
        state = self._optimizer.state.get(params[0], {})
        self.n_iter_ = int(state.get("n_iter", 0))
        with no_grad():
            out = self.model_(Tensor(np.asarray(X, dtype=params[0].array.dtype)))
            self.loss_ = float(loss(out, Tensor(np.asarray(fit_targets))).item())
        if self.verbose:
            print(f"L-BFGS: {self.n_iter_} iterations, {state.get('func_evals', 0)} loss evaluations, "
                  f"loss = {self.loss_:.8f}", flush=True)
        if self.n_iter_ >= self.max_iter or state.get("func_evals", 0) >= self.max_fun:
            warn_caller(
                "lbfgs failed to converge: the iteration (max_iter) or loss-evaluation (max_fun) limit was "
                "reached. Increase it, or scale the data (e.g. StandardScaler).", ConvergenceWarning
            )

    # ------------------------------------------------------------------ scikit-learn's attributes
    @property
    def coefs_(self) -> list[np.ndarray]:
        """Weight matrices in scikit-learn's (n_in, n_out) layout: views of ``model_``'s weights."""
        return [layer.weight.array.T for layer in self._layers()]

    @coefs_.setter
    def coefs_(self, values: Sequence[np.ndarray]) -> None:
        self._assign("coefs_", values, lambda layer: layer.weight, transpose=True)

    @property
    def intercepts_(self) -> list[np.ndarray]:
        """Bias vectors, one per layer after the input: ``model_``'s biases themselves."""
        return [layer.bias.array for layer in self._layers()]

    @intercepts_.setter
    def intercepts_(self, values: Sequence[np.ndarray]) -> None:
        self._assign("intercepts_", values, lambda layer: layer.bias, transpose=False)

    @property
    def n_layers_(self) -> int:
        """Layers counting input and output, as scikit-learn counts them."""
        return len(self._layers()) + 1

    def _layers(self) -> list[Any]:
        if not self.__sklearn_is_fitted__():
            raise AttributeError(f"This {type(self).__name__} instance is not fitted yet")
        return _linear_layers(self.model_)

    def _assign(self, name: str, values: Sequence[np.ndarray], parameter, transpose: bool) -> None:
        layers = self._layers()
        values = list(values)
        if len(values) != len(layers):
            raise ValueError(f"{name} needs {len(layers)} arrays (one per layer), got {len(values)}")
        for layer, value in zip(layers, values, strict=True):
            target = parameter(layer).array
            value = np.asarray(value)
            value = value.T if transpose else value
            if value.shape != target.shape:
                raise ValueError(f"{name}: an array of shape {value.T.shape if transpose else value.shape} "
                                 f"does not fit a layer whose {name[:-1]} has shape "
                                 f"{target.T.shape if transpose else target.shape}")
            target[...] = value



def _has_stochastic_solver(estimator: Any) -> bool:
    """partial_fit exists for 'sgd' and 'adam' only, as in scikit-learn."""
    if estimator.solver not in STOCHASTIC_SOLVERS:
        raise AttributeError(
            f"partial_fit is only available for stochastic optimizers. {estimator.solver} is not stochastic."
        )
    return True


class MLPClassifier(ClassifierMixin, ClassifierTask, _MLP):
    """scikit-learn's MLPClassifier (same parameters, attributes and methods), trained by deltaprop.

    Minimises the log-loss (softmax for several classes, one logistic unit
    for two, one per label for multi-label y) plus ``alpha / 2 ||W||^2 / n``.
    See the module docstring for where the numbers differ from
    scikit-learn's, and for deltaprop's additions (``solver='lm'``,
    ``dropout``, ``dtype``). ``model_`` is the trained `deltaprop.nn`
    network (it outputs scores; ``dp.save(clf.model_, path)`` saves it).
    """

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam", alpha=0.0001,
                 batch_size="auto", learning_rate="constant", learning_rate_init=0.001, power_t=0.5,
                 max_iter=200, shuffle=True, random_state=None, tol=1e-4, verbose=False, warm_start=False,
                 momentum=0.9, nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000, dropout=0.0,
                 dtype="float32"):
        self._store_parameters(locals())

    @available_if(_has_stochastic_solver)
    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None, classes: Any = None) -> MLPClassifier:
        """One epoch over (X, y); ``classes`` (every label there will be) is required on the first call."""
        self._start_partial_fit(y, classes)
        return self._fit(X, y, sample_weight, incremental=True)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, RegressorTask, _MLP):
    """scikit-learn's MLPRegressor (same parameters, attributes and methods), trained by deltaprop.

    ``loss='squared_error'`` minimises half the mean squared error (identity
    outputs), 'poisson' half the Poisson deviance (exp outputs, y >= 0), each
    plus ``alpha / 2 ||W||^2 / n``. See the module docstring for where the
    numbers differ from scikit-learn's and for deltaprop's additions.
    """

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant", learning_rate_init=0.001,
                 power_t=0.5, max_iter=200, shuffle=True, random_state=None, tol=1e-4, verbose=False,
                 warm_start=False, momentum=0.9, nesterovs_momentum=True, early_stopping=False,
                 validation_fraction=0.1, beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10,
                 max_fun=15000, dropout=0.0, dtype="float32"):
        self._store_parameters(locals())

    def _check_settings(self) -> None:
        _check_option("loss", self.loss, ("squared_error", "poisson"))
        if self.loss == "poisson" and self.solver == "lm":
            raise ValueError("solver='lm' needs loss='squared_error' (the Poisson deviance has no "
                             "Gauss-Newton form here); use solver='lbfgs' or 'adam' for loss='poisson'")
        super()._check_settings()

    def _encode_targets(self, y: np.ndarray, first_pass: bool, incremental: bool) -> tuple[np.ndarray, int]:
        targets, n_units = super()._encode_targets(y, first_pass, incremental)
        if self.loss == "poisson" and np.any(targets < 0):
            raise ValueError("loss='poisson' needs non-negative targets y (counts, rates); got negative ones")
        if self.loss == "poisson":
            self.out_activation_ = "exp"
        return targets, n_units

    @available_if(_has_stochastic_solver)
    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None) -> MLPRegressor:
        """One epoch over (X, y), continuing from the current weights and optimizer state."""
        return self._fit(X, y, sample_weight, incremental=True)


# --------------------------------------------------------------------------- helpers


def _hidden_sizes(sizes: Any) -> tuple[int, ...]:
    """hidden_layer_sizes as a tuple of positive ints (an int is one layer), or a ValueError."""
    listed = list(sizes) if hasattr(sizes, "__iter__") else [sizes]
    out = []
    for size in listed:
        if isinstance(size, (bool, np.bool_)) or not isinstance(size, numbers.Integral):
            raise ValueError(f"hidden_layer_sizes must hold whole numbers of units, got {sizes!r}")
        if size <= 0:
            raise ValueError(f"hidden_layer_sizes must be > 0, got {sizes!r}.")
        out.append(int(size))
    return tuple(out)


def _check_option(name: str, value: Any, options: Sequence[str]) -> None:
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"The '{name}' parameter must be one of {', '.join(map(repr, options))}; "
                         f"got {value!r} instead.")


def _float_dtype(dtype: Any) -> np.dtype | None:
    """The training dtype for the ``dtype`` setting: float32, float64, or None (follow X)."""
    if dtype is None:
        return None
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        resolved = None
    if resolved not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"dtype must be 'float32', 'float64' or None (X's own float dtype), got {dtype!r}")
    return resolved


def _linear_layers(model: Any) -> list[Any]:
    """The network's affine layers in order (the layers coefs_ and intercepts_ describe)."""
    leaves = (m for m in model.modules() if next(m.children(), None) is None)
    return [m for m in leaves if m.affine_parameters() is not None]


__all__ = ["MLPClassifier", "MLPRegressor"]
