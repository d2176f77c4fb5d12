"""scikit-learn's own estimator checks, over all four estimators, with no expected failures.

The estimators are kept small (8 hidden units, a learning rate of 0.01, at
most 100 epochs) so the whole suite runs in seconds. One check gets its own
settings: the sample-weight equivalence check compares predictions at
rtol=1e-7, which float32 rounding alone exceeds, so it runs in float64 with
the deterministic full-batch 'lbfgs' solver, as scikit-learn runs it for its
own MLPs.
"""

from __future__ import annotations

import pytest

pytest.importorskip("sklearn")

from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from deltaprop import nn  # noqa: E402
from deltaprop.sklearn import MLPClassifier, MLPRegressor, NeuralNetClassifier, NeuralNetRegressor  # noqa: E402


class TinyNet(nn.Module):
    """A one-hidden-layer network whose width is a module__ setting."""

    def __init__(self, in_features: int, out_features: int, hidden: int = 8) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(in_features, hidden), nn.Tanh(), nn.Linear(hidden, out_features))

    def forward(self, x):
        return self.body(x)


SMALL = dict(max_iter=100, random_state=0)
ESTIMATORS = [
    MLPClassifier(hidden_layer_sizes=(8,), learning_rate_init=0.01, **SMALL),
    MLPRegressor(hidden_layer_sizes=(8,), learning_rate_init=0.01, **SMALL),
    NeuralNetClassifier(TinyNet, module__hidden=8, optimizer__lr=0.01, **SMALL),
    NeuralNetRegressor(TinyNet, module__hidden=8, optimizer__lr=0.01, **SMALL),
]
CHECK_SETTINGS = {
    "check_sample_weight_equivalence_on_dense_data": dict(solver="lbfgs", dtype="float64"),
}


def _check_name(check) -> str:
    return getattr(check, "func", check).__name__


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=lambda estimator: {})
def test_sklearn_estimator_checks(estimator, check):
    settings = CHECK_SETTINGS.get(_check_name(check))
    if settings:
        estimator = estimator.set_params(**settings)
    check(estimator)
