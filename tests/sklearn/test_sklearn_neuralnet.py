"""NeuralNetClassifier / NeuralNetRegressor: any deltaprop module, its settings routed through parameters."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_breast_cancer, load_iris, make_multilabel_classification  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

import deltaprop as dp  # noqa: E402
from deltaprop import nn, optim  # noqa: E402
from deltaprop.sklearn import NeuralNetClassifier, NeuralNetRegressor  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


class Net(nn.Module):
    def __init__(self, n_features: int, n_classes: int, hidden: int = 8, activation: str = "relu") -> None:
        super().__init__()
        self.hidden = nn.Linear(n_features, hidden)
        self.act = nn.activation(activation)
        self.out = nn.Linear(hidden, n_classes)

    def forward(self, x):
        return self.out(self.act(self.hidden(x)))


class ChannelNet(nn.Module):
    """Takes (N, C, L) input: in_channels is filled from X's second axis."""

    def __init__(self, in_channels: int, out_features: int, length: int = 4) -> None:
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear = nn.Linear(in_channels * length, out_features)

    def forward(self, x):
        return self.linear(self.flatten(x))


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def test_settings_reach_the_module_and_the_optimizer(iris):
    clf = NeuralNetClassifier(Net, module__hidden=5, module__activation="tanh", optimizer="sgd",
                              optimizer__lr=0.1, optimizer__momentum=0.9, max_iter=30, random_state=0)
    clf.fit(*iris)
    net = clf.model_
    assert (net.hidden.in_features, net.hidden.out_features, net.out.out_features) == (4, 5, 3)
    assert isinstance(net.act, nn.Tanh)
    group = clf._optimizer.param_groups[0]
    assert isinstance(clf._optimizer, optim.SGD) and group["lr"] == 0.1 and group["momentum"] == 0.9
    assert clf.score(*iris) > 0.9
    params = clf.get_params()
    assert params["module__hidden"] == 5 and params["optimizer__lr"] == 0.1
    twin = clone(clf)
    assert twin.get_params()["module__activation"] == "tanh" and not hasattr(twin, "model_")


def test_grid_search_over_module_and_optimizer_settings(iris):
    search = GridSearchCV(NeuralNetClassifier(Net, max_iter=40, random_state=0),
                          {"module__hidden": [2, 16], "optimizer__lr": [1e-4, 3e-2]}, cv=3).fit(*iris)
    assert search.best_params_ == {"module__hidden": 16, "optimizer__lr": 3e-2}
    assert search.best_estimator_.model_.hidden.out_features == 16


def test_a_layer_class_is_a_model_too(iris):
    logistic = NeuralNetClassifier(nn.Linear, optimizer__lr=0.05, max_iter=100, random_state=0).fit(*iris)
    assert isinstance(logistic.model_, nn.Linear) and logistic.score(*iris) > 0.9
    proba = logistic.predict_proba(iris[0])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert np.array_equal(logistic.classes_[proba.argmax(axis=1)], logistic.predict(iris[0]))


def test_nll_appends_log_softmax_and_bce_a_sigmoid(iris):
    nll = NeuralNetClassifier(Net, loss="nll", max_iter=20, random_state=0).fit(*iris)
    assert isinstance(nll.model_[-1], nn.LogSoftmax) and nll.out_activation_ == "exp"
    np.testing.assert_allclose(nll.predict_proba(iris[0]).sum(axis=1), 1.0, rtol=1e-6)
    X, Y = make_multilabel_classification(n_samples=80, n_classes=3, random_state=0)
    bce = NeuralNetClassifier(Net, loss="bce", max_iter=20, random_state=0).fit(X, Y)
    assert isinstance(bce.model_[-1], nn.Sigmoid) and bce.predict(X).shape == (80, 3)
    logits = NeuralNetClassifier(Net, max_iter=20, random_state=0).fit(X, Y)
    assert logits.out_activation_ == "logistic" and logits.predict_proba(X).shape == (80, 3)
    with pytest.raises(ValueError, match="does not fit a multiclass target"):
        NeuralNetClassifier(Net, loss="mse").fit(*iris)


def test_binary_uses_two_softmax_outputs():
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    clf = NeuralNetClassifier(Net, max_iter=30, random_state=0).fit(X, y)
    assert clf.n_outputs_ == 2 and clf.predict_proba(X).shape == (len(X), 2) and clf.score(X, y) > 0.95


def test_module_instance_is_copied_not_trained(iris):
    template = Net(4, 3)
    before = template.hidden.weight.array.copy()
    clf = NeuralNetClassifier(template, max_iter=5).fit(*iris)
    np.testing.assert_array_equal(template.hidden.weight.array, before)
    assert clf.model_ is not template
    with pytest.raises(ValueError, match="module__ settings"):
        NeuralNetClassifier(template, module__hidden=3).fit(*iris)


def test_nd_input_and_channel_sizes():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2, 4))
    y = X[:, 0, :].sum(axis=1) - X[:, 1, 0]
    reg = NeuralNetRegressor(ChannelNet, optimizer__lr=0.05, max_iter=200, random_state=0).fit(X, y)
    assert reg.model_.linear.in_features == 8 and reg.n_features_in_ == 2
    assert reg.score(X, y) > 0.95 and reg.predict(X[:3]).shape == (3,)


def test_optimizer_class_and_lm(iris):
    X, y = iris[0], iris[0][:, 0] * 2 - iris[0][:, 1]
    reg = NeuralNetRegressor(Net, module__hidden=4, optimizer=optim.LevenbergMarquardt, max_iter=20,
                             random_state=0).fit(X, y)
    assert isinstance(reg._optimizer, optim.LevenbergMarquardt) and reg.score(X, y) > 0.99


def test_partial_fit_and_pickle(iris):
    X, y = iris
    clf = NeuralNetClassifier(Net, random_state=0)
    for _ in range(3):
        clf.partial_fit(X, y, classes=[0, 1, 2])
    whole = NeuralNetClassifier(Net, max_iter=3, tol=0.0, random_state=0).fit(X, y)
    np.testing.assert_array_equal(clf.predict_proba(X), whole.predict_proba(X))
    copy = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(copy.predict_proba(X), clf.predict_proba(X))
    assert copy.get_params()["module"] is Net


def test_unknown_settings_are_refused_at_fit(iris):
    clf = NeuralNetClassifier(Net, hiden=3)  # constructing never raises (scikit-learn's rule)
    with pytest.raises(TypeError, match="hiden"):
        clf.fit(*iris)
    with pytest.raises(TypeError, match="no option"):
        NeuralNetClassifier(Net, optimizer__momentun=0.9).fit(*iris)


def test_saved_model_is_the_network(iris, tmp_path):
    reg = NeuralNetRegressor(nn.Linear, max_iter=5, random_state=0).fit(iris[0], iris[0][:, 0])
    dp.save(reg.model_, tmp_path / "linear.npz")
    with dp.no_grad():
        out = dp.load(tmp_path / "linear.npz")(dp.tensor(iris[0].astype(np.float32))).array
    np.testing.assert_allclose(out[:, 0], reg.predict(iris[0]), rtol=1e-6)
