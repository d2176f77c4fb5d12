"""deltaprop.sklearn's MLPs against scikit-learn's: same loss, same updates, same API behaviour."""

from __future__ import annotations

import pickle
import subprocess
import sys
import warnings

import autograd
import autograd.numpy as anp
import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

from sklearn import neural_network  # noqa: E402
from sklearn.datasets import load_breast_cancer, load_diabetes, make_multilabel_classification  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

import deltaprop as dp  # noqa: E402
from deltaprop.sklearn import MLPClassifier, MLPRegressor  # noqa: E402
from deltaprop.sklearn._objective import SklearnObjective  # noqa: E402
from deltaprop.tensor import Tensor  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module")
def diabetes():
    X, y = load_diabetes(return_X_y=True)
    return StandardScaler().fit_transform(X), (y - y.mean()) / y.std()


def _rng(seed=0):
    return np.random.default_rng(seed)


# --------------------------------------------------------------------------- the loss, term for term


def _reference_loss(kind, z, y, weights, alpha, w=None, for_gradient=False):
    """scikit-learn's MLP loss written out in autograd.numpy (from its documented definitions).

    ``for_gradient``: the squared error summed over outputs, whose gradient scikit-learn follows.
    """
    n = z.shape[0]
    w = anp.ones(n) if w is None else w
    if kind == "softmax":
        log_p = z - anp.log(anp.sum(anp.exp(z), axis=1, keepdims=True))
        per = -anp.sum(y * log_p, axis=1)
    elif kind == "logistic":
        p = 1 / (1 + anp.exp(-z))
        per = -anp.sum(y * anp.log(p) + (1 - y) * anp.log(1 - p), axis=1)
    elif kind == "identity":
        per = 0.5 * (anp.sum if for_gradient else anp.mean)((z - y) ** 2, axis=1)
    else:  # poisson: half the deviance of exp(z), y log(y / mu) - y + mu
        mu = anp.exp(z)
        per = anp.sum(np.where(y > 0, y * np.log(np.where(y > 0, y, 1.0)), 0.0) - y * z - y + mu, axis=1)
    total = anp.sum(w)
    return anp.sum(w * per) / total + 0.5 * alpha * sum(anp.sum(W**2) for W in weights) / total


@pytest.mark.parametrize("kind,k", [("softmax", 4), ("logistic", 1), ("logistic", 3), ("identity", 1),
                                    ("identity", 2), ("exp", 2)])
@pytest.mark.parametrize("weighted", [False, True])
def test_objective_matches_scikit_learns_definition_and_its_gradient(kind, k, weighted):
    rng = _rng(1)
    n = 7
    z = rng.normal(size=(n, k))
    W = [rng.normal(size=(3, 4)), rng.normal(size=(k, 3))]
    if kind == "softmax":
        labels = rng.integers(0, k, n)
        y_onehot, target = np.eye(k)[labels], labels
    elif kind == "logistic":
        y_onehot = target = rng.integers(0, 2, (n, k)).astype(float)
    elif kind == "exp":
        y_onehot = target = rng.poisson(2.0, (n, k)).astype(float)
    else:
        y_onehot = target = rng.normal(size=(n, k))
    w = rng.uniform(0.5, 2.0, n) if weighted else None
    packed = np.column_stack([np.reshape(target, (n, -1)).astype(float), w]) if weighted else target

    out = Tensor(z, requires_grad=True)
    params = [Tensor(a, requires_grad=True) for a in W]
    loss = SklearnObjective(kind, params, alpha=0.3, weighted=weighted)(out, Tensor(packed))
    loss.backward()

    assert loss.item() == pytest.approx(_reference_loss(kind, z, y_onehot, W, 0.3, w), rel=1e-12)
    followed = lambda z_, W0, W1: _reference_loss(kind, z_, y_onehot, [W0, W1], 0.3, w, True)  # noqa: E731
    np.testing.assert_allclose(out.grad_array, autograd.grad(followed, 0)(z, *W), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(params[0].grad_array, autograd.grad(followed, 1)(z, *W), rtol=1e-10)


# --------------------------------------------------------------------------- updates equal scikit-learn's


def _from_the_same_start(ours, theirs, X, y):
    """Both fitted once, then ours given scikit-learn's weights: the next fits start from one point."""
    theirs.fit(X, y)
    ours.fit(X, y)
    ours.coefs_ = [c.copy() for c in theirs.coefs_]
    ours.intercepts_ = [b.copy() for b in theirs.intercepts_]
    return ours, theirs


@pytest.mark.parametrize("solver,settings,rtol", [
    ("sgd", dict(momentum=0.0), 1e-10),
    ("sgd", dict(momentum=0.9, nesterovs_momentum=True), 1e-10),
    ("adam", dict(), 1e-9),
])
@pytest.mark.parametrize("task", ["multiclass", "binary", "multilabel", "regression"])
def test_warm_started_epochs_match_scikit_learn(solver, settings, rtol, task, cancer, diabetes):
    rng = _rng(2)
    if task == "regression":
        X, y = diabetes[0][:130], np.column_stack([diabetes[1][:130], rng.normal(size=130)])
        ours_cls, theirs_cls = MLPRegressor, neural_network.MLPRegressor
    else:
        X = cancer[0][:130]
        y = {"multiclass": rng.integers(0, 3, 130), "binary": cancer[1][:130],
             "multilabel": rng.integers(0, 2, (130, 3))}[task]
        ours_cls, theirs_cls = MLPClassifier, neural_network.MLPClassifier
    common = dict(hidden_layer_sizes=(6, 5), solver=solver, alpha=0.01, batch_size=50, shuffle=False,
                  learning_rate_init=0.01, max_iter=1, warm_start=True, random_state=0, **settings)
    ours, theirs = _from_the_same_start(ours_cls(dtype="float64", **common), theirs_cls(**common), X, y)
    ours.set_params(max_iter=3).fit(X, y)
    theirs.set_params(max_iter=3).fit(X, y)
    for mine, theirs_ in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_, strict=True):
        np.testing.assert_allclose(mine, theirs_, rtol=rtol, atol=1e-12)
    np.testing.assert_allclose(ours.loss_curve_[1:], theirs.loss_curve_[1:], rtol=rtol)
    assert (ours.n_iter_, ours.t_, len(ours.loss_curve_)) == (theirs.n_iter_, theirs.t_, 4)


def test_predictions_from_scikit_learns_weights_are_scikit_learns(cancer):
    X, y = cancer
    theirs = neural_network.MLPClassifier(hidden_layer_sizes=(7,), max_iter=20, random_state=0).fit(X, y)
    ours = MLPClassifier(hidden_layer_sizes=(7,), max_iter=1, dtype="float64", random_state=0).fit(X, y)
    ours.coefs_, ours.intercepts_ = theirs.coefs_, theirs.intercepts_
    assert [c.shape for c in ours.coefs_] == [(30, 7), (7, 1)]
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=1e-12)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    assert ours.n_layers_ == theirs.n_layers_ == 3 and ours.out_activation_ == theirs.out_activation_


def test_coefs_are_views_of_the_network_weights(cancer):
    clf = MLPClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0).fit(*cancer)
    clf.coefs_[0][:] = 0.0  # as with scikit-learn, changing coefs_ in place changes the model
    assert not np.any(clf.model_[0].weight.array)
    with pytest.raises(ValueError, match="does not fit a layer"):
        clf.coefs_ = [np.zeros((3, 4)), np.zeros((4, 1))]


# --------------------------------------------------------------------------- scikit-learn's workflow


def test_pipeline_in_grid_search_on_breast_cancer():
    X, y = load_breast_cancer(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), MLPClassifier(max_iter=60, random_state=0))
    grid = {"mlpclassifier__hidden_layer_sizes": [(8,), (16,)], "mlpclassifier__alpha": [1e-4, 1e-1]}
    search = GridSearchCV(pipe, grid, cv=3).fit(X, y)
    assert search.best_score_ > 0.95
    assert set(search.best_params_) == set(grid)
    assert search.score(X, y) > 0.97


def test_cross_val_score(diabetes):
    scores = cross_val_score(MLPRegressor(hidden_layer_sizes=(16,), max_iter=200, learning_rate_init=0.01,
                                          random_state=0), *diabetes, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.3


# --------------------------------------------------------------------------- partial_fit, warm_start, seeds


def test_partial_fit_over_batches_equals_one_epoch_of_fit(diabetes):
    X, y = diabetes
    settings = dict(hidden_layer_sizes=(8,), batch_size=50, shuffle=False, random_state=3)
    whole = MLPRegressor(max_iter=1, **settings).fit(X, y)
    pieces = MLPRegressor(**settings)
    for start in range(0, len(X), 50):
        pieces.partial_fit(X[start:start + 50], y[start:start + 50])
    for a, b in zip(whole.coefs_ + whole.intercepts_, pieces.coefs_ + pieces.intercepts_, strict=True):
        np.testing.assert_array_equal(a, b)
    assert pieces.t_ == whole.t_ == len(X)


def test_partial_fit_calls_equal_fit_epochs_even_with_shuffling(cancer):
    X, y = cancer
    settings = dict(hidden_layer_sizes=(8,), batch_size=64, dropout=0.2, random_state=5)
    whole = MLPClassifier(max_iter=4, tol=0.0, n_iter_no_change=np.inf, **settings).fit(X, y)
    calls = MLPClassifier(**settings)
    for _ in range(4):
        calls.partial_fit(X, y, classes=[0, 1])
    np.testing.assert_array_equal(whole.predict_proba(X), calls.predict_proba(X))
    assert calls.loss_curve_ == whole.loss_curve_ and calls.n_iter_ == 1  # n_iter_ counts the last call


def test_partial_fit_rules(cancer):
    X, y = cancer
    with pytest.raises(ValueError, match="classes must be passed"):
        MLPClassifier().partial_fit(X, y)
    assert not hasattr(MLPClassifier(solver="lbfgs"), "partial_fit")
    assert not hasattr(MLPRegressor(solver="lm"), "partial_fit")
    with pytest.raises(ValueError, match="early_stopping"):
        MLPClassifier(early_stopping=True).partial_fit(X, y, classes=[0, 1])
    clf = MLPClassifier(max_iter=2).partial_fit(X[y == 0], y[y == 0], classes=[0, 1])
    assert list(clf.classes_) == [0, 1] and clf.predict_proba(X).shape == (len(X), 2)
    with pytest.raises(ValueError, match="not in `self.classes_`"):
        clf.partial_fit(X[:5], np.full(5, 7))


def test_warm_start_continues_where_the_last_fit_stopped(diabetes):
    X, y = diabetes
    settings = dict(hidden_layer_sizes=(8,), solver="sgd", momentum=0.0, shuffle=False, tol=0.0,
                    n_iter_no_change=np.inf, learning_rate_init=0.01, random_state=0)
    straight = MLPRegressor(max_iter=10, **settings).fit(X, y)
    warm = MLPRegressor(max_iter=5, warm_start=True, **settings).fit(X, y).fit(X, y)
    np.testing.assert_allclose(warm.coefs_[0], straight.coefs_[0], rtol=1e-6)
    assert len(warm.loss_curve_) == 10 and warm.n_iter_ == 5 and warm.t_ == 10 * len(X)
    cold = MLPRegressor(max_iter=5, **settings).fit(X, y).fit(X, y)  # warm_start=False: from scratch again
    np.testing.assert_array_equal(cold.coefs_[0], MLPRegressor(max_iter=5, **settings).fit(X, y).coefs_[0])


def test_random_state_decides_the_model_and_leaves_the_users_generator_alone(cancer):
    X, y = cancer
    dp.manual_seed(123)
    expected_next = dp.random.generator().random()
    dp.manual_seed(123)
    a = MLPClassifier(hidden_layer_sizes=(5,), max_iter=3, random_state=7).fit(X, y)
    assert dp.random.generator().random() == expected_next
    b = MLPClassifier(hidden_layer_sizes=(5,), max_iter=3, random_state=7).fit(X, y)
    c = MLPClassifier(hidden_layer_sizes=(5,), max_iter=3, random_state=8).fit(X, y)
    np.testing.assert_array_equal(a.coefs_[0], b.coefs_[0])
    assert not np.array_equal(a.coefs_[0], c.coefs_[0])
    state = np.random.RandomState(0)
    d = MLPClassifier(hidden_layer_sizes=(5,), max_iter=3, random_state=state).fit(X, y)
    e = MLPClassifier(hidden_layer_sizes=(5,), max_iter=3, random_state=state).fit(X, y)
    assert not np.array_equal(d.coefs_[0], e.coefs_[0])  # one RandomState, advanced by each fit


# --------------------------------------------------------------------------- solvers and stopping rules


def test_lm_lowers_the_penalised_loss_every_epoch(diabetes):
    X, y = diabetes
    lm = MLPRegressor(hidden_layer_sizes=(6,), solver="lm", alpha=5.0, max_iter=15, random_state=0).fit(X, y)
    curve = np.array(lm.loss_curve_)
    assert np.all(np.diff(curve) <= 1e-7 * curve[:-1])  # a wrong L2 scale in LM's step would break this
    adam = MLPRegressor(hidden_layer_sizes=(6,), alpha=5.0, max_iter=15, random_state=0).fit(X, y)
    assert lm.loss_ < adam.loss_


def test_lbfgs_reports_scikit_learns_attributes(cancer):
    clf = MLPClassifier(hidden_layer_sizes=(5,), solver="lbfgs", max_iter=30, random_state=0)
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge"):
        clf.fit(*cancer)
    assert clf.n_iter_ == 30 and clf.loss_ < 0.1 and clf.t_ == 0
    assert not hasattr(clf, "loss_curve_")  # as scikit-learn: no per-epoch curve for lbfgs


def test_tol_stops_training_and_adaptive_divides_the_learning_rate(diabetes):
    X, y = diabetes
    settings = dict(hidden_layer_sizes=(8,), tol=10.0, n_iter_no_change=2, max_iter=100)
    stopped = MLPRegressor(**settings).fit(X, y)
    # epoch 1 improves on inf; the count must then exceed n_iter_no_change, as in scikit-learn
    assert stopped.n_iter_ == 4 == neural_network.MLPRegressor(**settings).fit(X, y).n_iter_
    adaptive = MLPRegressor(hidden_layer_sizes=(8,), solver="sgd", learning_rate="adaptive", tol=10.0,
                            n_iter_no_change=2, max_iter=7, random_state=0).fit(X, y)
    assert adaptive._optimizer.param_groups[0]["lr"] == pytest.approx(0.001 / 25)
    inv = MLPRegressor(hidden_layer_sizes=(8,), solver="sgd", learning_rate="invscaling", max_iter=3,
                       random_state=0).fit(X, y)
    assert inv._optimizer.param_groups[0]["lr"] == pytest.approx(0.001 / (inv.t_ + 1) ** 0.5)


def test_early_stopping_keeps_the_best_validation_score(cancer):
    clf = MLPClassifier(hidden_layer_sizes=(8,), early_stopping=True, n_iter_no_change=3, max_iter=200,
                        learning_rate_init=0.05, random_state=0).fit(*cancer)
    assert len(clf.validation_scores_) == clf.n_iter_ < 200
    assert clf.best_validation_score_ == max(clf.validation_scores_) and clf.best_loss_ is None


# --------------------------------------------------------------------------- targets


def test_multilabel_and_multioutput():
    X, Y = make_multilabel_classification(n_samples=120, n_classes=3, random_state=0)
    clf = MLPClassifier(hidden_layer_sizes=(16,), max_iter=200, random_state=0).fit(X, Y)
    assert clf.predict(X).shape == (120, 3) and clf.predict_proba(X).shape == (120, 3)
    assert clf.out_activation_ == "logistic" and clf.score(X, Y) > 0.5
    reg = MLPRegressor(hidden_layer_sizes=(16,), max_iter=300, random_state=0).fit(X, Y * 2.0 - 1.0)
    assert reg.predict(X).shape == (120, 3) and reg.n_outputs_ == 3


def test_poisson_loss(diabetes):
    X = diabetes[0]
    counts = _rng(4).poisson(np.exp(0.5 * X[:, 0] + 0.2))
    reg = MLPRegressor(loss="poisson", hidden_layer_sizes=(8,), max_iter=50, random_state=0).fit(X, counts)
    assert reg.out_activation_ == "exp" and np.all(reg.predict(X) > 0) and np.isfinite(reg.loss_)
    with pytest.raises(ValueError, match="non-negative"):
        MLPRegressor(loss="poisson").fit(X, -np.ones(len(X)))


# --------------------------------------------------------------------------- saving, errors, imports


def test_pickle_resumes_exactly_and_model_saves_without_pickle(cancer, tmp_path):
    X, y = cancer
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=2, random_state=0).fit(X, y)
    copy = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(copy.predict_proba(X), clf.predict_proba(X))
    clf.partial_fit(X, y)
    copy.partial_fit(X, y)
    np.testing.assert_array_equal(copy.coefs_[1], clf.coefs_[1])
    dp.save(clf.model_, tmp_path / "model.npz")
    loaded = dp.load(tmp_path / "model.npz")
    with dp.no_grad():
        logits = loaded(dp.tensor(X.astype(np.float32))).array
    np.testing.assert_allclose(1 / (1 + np.exp(-logits[:, 0])), clf.predict_proba(X)[:, 1], rtol=1e-6)


def test_clear_errors(cancer):
    from scipy import sparse

    X, y = cancer
    with pytest.raises(TypeError, match="dense"):
        MLPClassifier().fit(sparse.csr_matrix(X), y)
    with pytest.raises(ValueError, match="sample_weight"):
        MLPRegressor(solver="lm").fit(X, y.astype(float), sample_weight=np.ones(len(X)))
    with pytest.raises(ValueError, match="'solver' parameter"):
        MLPClassifier(solver="newton").fit(X, y)
    with pytest.raises(ValueError, match="hidden_layer_sizes must be > 0"):
        MLPClassifier(hidden_layer_sizes=(4, 0)).fit(X, y)
    with pytest.raises(ValueError, match="dtype"):
        MLPClassifier(dtype="int8").fit(X, y)


def test_verbose_prints_scikit_learns_lines(cancer, capsys):
    MLPClassifier(hidden_layer_sizes=(4,), max_iter=2, verbose=True).fit(*cancer)
    assert "Iteration 2, loss = " in capsys.readouterr().out


def test_import_deltaprop_never_imports_sklearn():
    code = "import sys, deltaprop; deltaprop.nn; deltaprop.fit; print('sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_dtype_none_follows_the_data(cancer):
    X, y = cancer
    clf = MLPClassifier(hidden_layer_sizes=(4,), max_iter=1, dtype=None).fit(X.astype(np.float32), y)
    assert clf.coefs_[0].dtype == np.float32
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.set_params(warm_start=False).fit(X, y)
    assert clf.coefs_[0].dtype == np.float64


def test_without_scikit_learn_the_error_names_the_extra():
    code = ("import sys; sys.modules['sklearn'] = None\n"
            "try:\n    import deltaprop.sklearn\nexcept ImportError as exc:\n    print(exc)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "pip install 'deltaprop[sklearn]'" in out
