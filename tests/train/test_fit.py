"""fit: real training runs, stopping rules, validation, metrics, callbacks and protocols."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn, optim
from deltaprop.train import Callback, EarlyStopping, LambdaCallback

from .helpers import fit_sgd

XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
XOR_Y = np.array([[0], [1], [1], [0]], dtype=np.float32)


def regression_data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = X @ np.array([[1.5], [-2.0], [0.5]]) + 0.3 + 0.1 * rng.normal(size=(n, 1))
    return X, y


def test_xor_is_learned_with_full_batch_sgd_momentum():
    dp.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 1), nn.Sigmoid())
    history = fit_sgd(
        model, XOR_X, XOR_Y, lr=0.5, momentum=0.9, epochs=2000, batch_size=None, metrics=["accuracy"]
    )
    assert history.history["loss"][-1] < 0.01
    assert history.history["accuracy"][-1] == 1.0
    assert history.epochs_run == 2000 and history.stopped_reason is None
    assert len(history["loss"]) == len(history["accuracy"]) == 2000
    assert len(history.iteration_loss) == 2000  # one full-batch step per epoch
    prediction = dp.train.predict(model, XOR_X)
    np.testing.assert_array_equal(prediction.round(), XOR_Y)


def test_full_batch_gradient_descent_reaches_the_least_squares_solution():
    X, y = regression_data()
    model = nn.Linear(3, 1, dtype=np.float64)
    fit_sgd(model, X, y, lr=0.2, loss=nn.MSELoss(), epochs=600, batch_size=None)
    design = np.hstack([X, np.ones((len(X), 1))])
    solution, *_ = np.linalg.lstsq(design, y, rcond=None)
    np.testing.assert_allclose(model.weight.array.ravel(), solution[:3, 0], rtol=0, atol=1e-10)
    np.testing.assert_allclose(model.bias.array, solution[3], rtol=0, atol=1e-10)


def test_full_batch_first_step_is_the_hand_computed_gradient_step():
    X, y = regression_data(n=8)
    model = nn.Linear(3, 1, dtype=np.float64)
    w0, b0 = model.weight.array.copy(), model.bias.array.copy()
    fit_sgd(model, X, y, lr=0.1, epochs=1, batch_size=None)
    residual = X @ w0.T + b0 - y  # dMSE/dprediction = 2 r / N
    np.testing.assert_allclose(model.weight.array, w0 - 0.1 * 2 * residual.T @ X / len(X), atol=1e-14)
    np.testing.assert_allclose(model.bias.array, b0 - 0.1 * 2 * residual.sum(0) / len(X), atol=1e-14)


def test_minibatch_history_lengths_and_epoch_loss_is_the_size_weighted_batch_mean():
    X, y = regression_data(n=100)
    dp.manual_seed(1)
    model = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 1))
    history = fit_sgd(model, X, y, lr=0.01, epochs=5, batch_size=32)
    assert len(history.iteration_loss) == 5 * 4  # 32 + 32 + 32 + 4
    assert len(history["loss"]) == 5 and history.epochs_run == 5
    sizes = np.array([32, 32, 32, 4])
    for epoch in range(5):
        batch_losses = np.array(history.iteration_loss[4 * epoch : 4 * epoch + 4])
        assert history["loss"][epoch] == pytest.approx(float(batch_losses @ sizes / 100), rel=1e-12)


def test_validation_split_holds_out_the_last_fraction_after_a_seeded_shuffle():
    X, y = regression_data(n=40)
    dp.manual_seed(5)
    model = nn.Linear(3, 1, dtype=np.float64)
    history = fit_sgd(
        model, X, y, lr=0.05, epochs=1, batch_size=8, validation_split=0.25, seed=3, metrics=["mae"]
    )
    held_out = np.random.default_rng(3).permutation(40)[30:]
    prediction = X[held_out] @ model.weight.array.T + model.bias.array
    assert history["val_loss"][0] == pytest.approx(np.mean((prediction - y[held_out]) ** 2), rel=1e-12)
    assert history["val_mae"][0] == pytest.approx(np.mean(np.abs(prediction - y[held_out])), rel=1e-12)
    assert len(history.iteration_loss) == 4  # 30 training rows in batches of 8


def test_target_loss_stops_and_says_why():
    dp.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 1), nn.Sigmoid())
    history = fit_sgd(
        model, XOR_X, XOR_Y, lr=0.5, momentum=0.9, epochs=5000, batch_size=None, target_loss=0.01
    )
    assert history["loss"][-1] <= 0.01 < history["loss"][-2]
    assert history.epochs_run == len(history["loss"]) < 5000
    assert history.stopped_reason.startswith("target_loss")


class Snapshots(Callback):
    def __init__(self):
        self.weights = {}

    def on_epoch_end(self, run):
        self.weights[run.epoch] = run.model.state_dict()


def test_early_stopping_restores_the_best_weights():
    X, y = regression_data(n=32)
    X_val, y_val = X, -y  # fitting the training set makes the validation loss worse
    model = nn.Linear(3, 1, dtype=np.float64)
    snapshots = Snapshots()
    history = fit_sgd(
        model,
        X,
        y,
        lr=0.05,
        epochs=100,
        batch_size=8,
        validation_data=(X_val, y_val),
        early_stopping=3,
        callbacks=[snapshots],
    )
    best = int(np.argmin(history["val_loss"])) + 1
    assert history.best_epoch == best
    assert history.epochs_run == best + 3 < 100
    assert history.stopped_reason.startswith("early_stopping: val_loss")
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, snapshots.weights[best][name])


def test_early_stopping_object_on_loss_with_min_delta():
    X, y = regression_data(n=32)
    model = nn.Linear(3, 1, dtype=np.float64)
    stopper = EarlyStopping(patience=2, min_delta=1e-3, monitor="loss")
    history = fit_sgd(model, X, y, lr=0.1, epochs=500, batch_size=None, early_stopping=stopper)
    losses = history["loss"]
    assert history.epochs_run < 500
    # the last improvement larger than min_delta happened patience epochs before the end
    assert losses[-4] - losses[-3] > 1e-3 or history.best_epoch == history.epochs_run - 2


def test_early_stopping_without_validation_data_names_the_fix():
    model = nn.Linear(3, 1)
    X, y = regression_data(n=8)
    with pytest.raises(ValueError, match="validation_data"):
        fit_sgd(model, X, y, lr=0.1, epochs=2, early_stopping=EarlyStopping(monitor="val_loss"))


def test_classification_metrics_on_train_and_validation():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 2)).astype(np.float32)
    labels = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    dp.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2))
    optimizer = optim.Adam(model.parameters(), lr=0.05)
    history = dp.fit(
        model,
        X[:90],
        labels[:90],
        loss=nn.CrossEntropyLoss(),
        optimizer=optimizer,
        epochs=30,
        batch_size=16,
        validation_data=(X[90:], labels[90:]),
        metrics=["accuracy"],
        progress=False,
    )
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    predicted = dp.train.predict(model, X[90:]).argmax(1)
    assert history["val_accuracy"][-1] == pytest.approx(np.mean(predicted == labels[90:]))
    assert history["val_accuracy"][-1] >= 0.9 and history["accuracy"][-1] >= 0.9


def test_callback_hooks_run_at_the_documented_points():
    X, y = regression_data(n=20)
    counts = {
        "train_begin": 0,
        "epoch_begin": 0,
        "batch_begin": 0,
        "after_backward": 0,
        "batch_end": 0,
        "epoch_end": 0,
        "train_end": 0,
    }
    seen_grads = []

    def after_backward(run):
        counts["after_backward"] += 1
        seen_grads.append(all(p.grad is not None for p in run.model.parameters()))

    callback = LambdaCallback(
        on_train_begin=lambda run: counts.__setitem__("train_begin", counts["train_begin"] + 1),
        on_epoch_begin=lambda run: counts.__setitem__("epoch_begin", counts["epoch_begin"] + 1),
        on_batch_begin=lambda run: counts.__setitem__("batch_begin", counts["batch_begin"] + 1),
        on_after_backward=after_backward,
        on_batch_end=lambda run: counts.__setitem__("batch_end", counts["batch_end"] + 1),
        on_epoch_end=lambda run: counts.__setitem__("epoch_end", counts["epoch_end"] + 1),
        on_train_end=lambda run: counts.__setitem__("train_end", counts["train_end"] + 1),
    )
    model = nn.Linear(3, 1)
    fit_sgd(model, X, y, lr=0.01, epochs=3, batch_size=8, callbacks=[callback])
    assert counts == {
        "train_begin": 1,
        "epoch_begin": 3,
        "batch_begin": 9,
        "after_backward": 9,
        "batch_end": 9,
        "epoch_end": 3,
        "train_end": 1,
    }
    assert all(seen_grads)
    with pytest.raises(TypeError, match="on_epoch_ned"):
        LambdaCallback(on_epoch_ned=print)


def test_a_callback_can_stop_training_and_record_its_own_series():
    class StopAtThree(Callback):
        def on_epoch_end(self, run):
            run.logs["twice_loss"] = 2 * run.logs["loss"]
            if run.epoch == 3:
                run.stop_training = True

    X, y = regression_data(n=16)
    model = nn.Linear(3, 1)
    history = fit_sgd(model, X, y, lr=0.01, epochs=10, callbacks=[StopAtThree()])
    assert history.epochs_run == 3
    assert history.stopped_reason == "stopped by a callback at epoch 3"
    assert history["twice_loss"] == [2 * v for v in history["loss"]]


def test_train_step_protocol_and_full_batch_optimizers():
    class NewtonLike(optim.Optimizer):
        """Least squares in one solve: an optimizer that overrides the whole step."""

        full_batch = True

        def __init__(self, model):
            super().__init__(model.parameters(), {})
            self.batch_sizes = []

        def train_step(self, model, loss_fn, X, y, *, gradients=None, after_backward=None):
            self.batch_sizes.append(len(X))
            design = np.hstack([X.array, np.ones((len(X), 1))])
            loss = float(loss_fn(model(X), y).item())
            solution, *_ = np.linalg.lstsq(design, y.array, rcond=None)
            model.weight.array[...] = solution[:-1].T
            model.bias.array[...] = solution[-1]
            return loss, None

        def should_stop(self):
            return "solved exactly" if len(self.batch_sizes) == 3 else None

    X, y = regression_data(n=50)
    model = nn.Linear(3, 1, dtype=np.float64)
    optimizer = NewtonLike(model)
    history = dp.fit(
        model, X, y, loss="mse", optimizer=optimizer, epochs=5, batch_size=8, progress=False, metrics=["r2"]
    )
    assert optimizer.batch_sizes == [50, 50, 50]  # full_batch overrides batch_size; should_stop ends it
    assert history.stopped_reason == "NewtonLike: solved exactly (epoch 3)"
    assert history["loss"][1] < history["loss"][0]
    assert 0.99 < history["r2"][1] <= 1.0


def test_fit_refuses_an_optimizer_outside_the_protocol():
    class Bare:
        full_batch = False

    with pytest.raises(TypeError, match="lacks train_step, should_stop.*subclass deltaprop.optim.Optimizer"):
        dp.fit(nn.Linear(3, 1), *regression_data(n=10), loss="mse", optimizer=Bare(), progress=False)


def test_an_optimizer_that_overrides_train_step_with_a_closure_matches_plain_sgd():
    class ClosureSGD(optim.SGD):
        def train_step(self, model, loss_fn, x, y, *, gradients=optim.backprop, after_backward=None):
            def closure():
                self.zero_grad()
                return gradients(model, loss_fn, x, y)[0]

            return self.step(closure), None

    X, y = regression_data(n=10)
    model = nn.Linear(3, 1, dtype=np.float64)
    reference = nn.Linear(3, 1, dtype=np.float64)
    reference.load_state_dict(model.state_dict())
    dp.fit(
        model,
        X,
        y,
        loss="mse",
        optimizer=ClosureSGD(model.parameters(), lr=0.1),
        epochs=3,
        batch_size=None,
        progress=False,
    )
    fit_sgd(reference, X, y, lr=0.1, epochs=3, batch_size=None)
    np.testing.assert_array_equal(model.weight.array, reference.weight.array)


def test_scheduler_is_stepped_once_per_epoch_with_a_metric_when_it_wants_one():
    class Halve:
        def __init__(self, optimizer):
            self.optimizer, self.calls = optimizer, 0

        def step(self):
            self.calls += 1
            self.optimizer.param_groups[0]["lr"] /= 2

    class Plateau:  # a scheduler that wants a metric defines epoch_end(logs), fit's scheduler protocol
        def __init__(self):
            self.metrics = []

        def epoch_end(self, logs):
            self.metrics.append(logs["val_loss"])

    X, y = regression_data(n=10)
    model = nn.Linear(3, 1)
    optimizer = optim.SGD(model.parameters(), lr=0.08)
    halve = Halve(optimizer)
    dp.fit(model, X, y, loss="mse", optimizer=optimizer, epochs=3, scheduler=halve, progress=False)
    assert halve.calls == 3 and optimizer.param_groups[0]["lr"] == 0.01
    plateau = Plateau()
    history = dp.fit(
        model,
        X,
        y,
        loss="mse",
        optimizer=optimizer,
        epochs=2,
        scheduler=plateau,
        validation_data=(X, y),
        progress=False,
    )
    assert plateau.metrics == history["val_loss"]


def test_bad_arguments_are_named():
    model = nn.Linear(3, 1)
    X, y = regression_data(n=10)
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(dp.ShapeError, match="X has 10 rows but y has 9"):
        dp.fit(model, X, y[:9], loss="mse", optimizer=optimizer, progress=False)
    with pytest.raises(ValueError, match="batch_size"):
        dp.fit(model, X, y, loss="mse", optimizer=optimizer, batch_size=0, progress=False)
    with pytest.raises(ValueError, match="validation_split"):
        dp.fit(model, X, y, loss="mse", optimizer=optimizer, validation_split=1.5, progress=False)
    with pytest.raises(ValueError, match="unknown metric 'acuracy'"):
        dp.fit(model, X, y, loss="mse", optimizer=optimizer, metrics=["acuracy"], progress=False)


def test_integer_features_and_float64_data_are_cast_to_the_model_dtype():
    model = nn.Linear(2, 1)
    X = np.array([[0, 1], [1, 0], [1, 1]])
    y = np.array([[1.0], [1.0], [2.0]])  # float64
    seen = []
    callback = LambdaCallback(on_batch_begin=lambda run: seen.append((run.x_batch.dtype, run.y_batch.dtype)))
    fit_sgd(model, X, y, lr=0.1, epochs=1, callbacks=[callback])
    assert seen == [(np.float32, np.float32)]
    assert model.weight.dtype == np.float32


def test_history_json_round_trip(tmp_path):
    X, y = regression_data(n=10)
    model = nn.Linear(3, 1)
    history = fit_sgd(model, X, y, lr=0.01, epochs=2, validation_split=0.2, seed=0)
    history.to_json(tmp_path / "history.json")
    import json

    again = dp.History.from_dict(json.loads((tmp_path / "history.json").read_text()))
    assert again.to_dict() == history.to_dict()
    assert again.epochs_run == 2 and len(again.iteration_loss) == 2
