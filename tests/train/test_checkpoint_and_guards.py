"""Checkpoints that resume bit-identically, non-finite guards, and the progress bar."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn, optim
from deltaprop.serialize import load_checkpoint
from deltaprop.train import Callback
from deltaprop.train.progress import PlainBar, make_bar, wants_progress

from .helpers import fit_sgd


def classification_data(n=96, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4)).astype(np.float32)
    labels = (X[:, 0] * X[:, 1] + X[:, 2] > 0).astype(np.int64)
    return X, labels


def make_model():
    return nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 2))


class Interrupt(Callback):
    """Simulates a crash (Ctrl-C) at the start of an epoch."""

    def __init__(self, at_epoch):
        self.at_epoch = at_epoch

    def on_epoch_begin(self, run):
        if run.epoch == self.at_epoch:
            raise KeyboardInterrupt


def train(model, path=None, resume=None, callbacks=(), epochs=6):
    X, labels = classification_data()
    return dp.fit(
        model,
        X,
        labels,
        loss=nn.CrossEntropyLoss(),
        optimizer=optim.Adam(model.parameters(), lr=0.01),
        epochs=epochs,
        batch_size=16,
        shuffle=True,
        validation_split=0.25,
        metrics=["accuracy"],
        early_stopping=dp.train.EarlyStopping(patience=50, monitor="val_loss"),
        seed=7,
        checkpoint=path,
        checkpoint_every=2,
        resume_from=resume,
        callbacks=callbacks,
        progress=False,
    )


def test_resume_gives_bit_identical_weights_with_shuffling_dropout_and_adam(tmp_path):
    dp.manual_seed(0)
    uninterrupted = make_model()
    history = train(uninterrupted)

    dp.manual_seed(0)
    crashed = make_model()
    path = tmp_path / "run.npz"
    with pytest.raises(KeyboardInterrupt):
        train(crashed, path=path, callbacks=[Interrupt(at_epoch=6)])  # last checkpoint: after epoch 4
    assert load_checkpoint(path)["epoch"] == 4

    dp.manual_seed(123)  # a different initialisation and generator state: the checkpoint must override both
    resumed = make_model()
    resumed_history = train(resumed, path=path, resume=path)
    for (name, a), b in zip(uninterrupted.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert np.array_equal(a, b), name
    assert resumed_history.to_dict() == history.to_dict()
    assert resumed_history.epochs_run == 6 and len(resumed_history.iteration_loss) == 6 * 5
    assert load_checkpoint(path)["epoch"] == 6


def test_checkpoint_contents_are_plain_arrays_and_json(tmp_path):
    dp.manual_seed(0)
    model = make_model()
    path = tmp_path / "ckpt.npz"
    train(model, path=path, epochs=2)
    with np.load(path, allow_pickle=False) as archive:  # no pickles anywhere
        names = archive.files
        assert all(archive[name].dtype.kind != "O" for name in names)
    state = load_checkpoint(path)
    assert state["epoch"] == 2
    assert set(state["model"]) == {"0.weight", "0.bias", "3.weight", "3.bias"}
    assert state["extra"]["fit_args"]["batch_size"] == 16
    assert state["extra"]["split_order"].shape == (96,)
    assert len(state["history"]["history"]["loss"]) == 2
    assert state["rng_state"]["bit_generator"] == "PCG64"
    assert sorted(state["optimizer"]["state"]) == [0, 1, 2, 3]  # integer keys survive the JSON
    assert [p for p in tmp_path.iterdir()] == [path]  # no temporary files left behind


def test_resume_with_other_arguments_warns(tmp_path):
    X, labels = classification_data(n=32)
    model = make_model()
    path = tmp_path / "c.npz"
    common = dict(loss="cross_entropy", epochs=1, seed=1, progress=False)
    dp.fit(
        model,
        X,
        labels,
        optimizer=optim.SGD(model.parameters(), lr=0.1),
        batch_size=8,
        checkpoint=path,
        **common,
    )
    with pytest.warns(UserWarning, match="batch_size=8 -> 4"):
        dp.fit(
            model,
            X,
            labels,
            optimizer=optim.SGD(model.parameters(), lr=0.1),
            batch_size=4,
            resume_from=path,
            **{**common, "epochs": 2},
        )


# --------------------------------------------------------------------------- non-finite guards


def exploding_setup():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 3)).astype(np.float32)
    y = (X.sum(1, keepdims=True) * 10).astype(np.float32)
    dp.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 1))
    return model, X, y


def test_a_huge_learning_rate_raises_naming_epoch_batch_and_place():
    model, X, y = exploding_setup()
    with pytest.raises(dp.NonFiniteError) as info:
        fit_sgd(model, X, y, lr=1e6, epochs=5, batch_size=16)
    err = info.value
    assert err.epoch == 1 and err.batch is not None and 1 <= err.batch <= 4
    message = str(err)
    assert f"epoch 1, batch {err.batch}" in message
    assert "(Linear)" in err.where or err.where.startswith("loss")
    assert "lower learning rate (lr is 1e+06)" in message and "clip" in message and "scal" in message
    assert re.search(r"first parameter with a non-finite gradient is '\d \(Linear\)\.(weight|bias)'", message)


def test_a_nan_weight_is_named_by_module_path():
    model, X, y = exploding_setup()
    model[2].weight.array[0, 3] = np.nan
    with pytest.raises(dp.NonFiniteError) as info:
        fit_sgd(model, X, y, lr=0.01, epochs=1)
    assert info.value.where == "2 (Linear).weight"
    assert (info.value.epoch, info.value.batch) == (1, 1)


def test_non_finite_data_is_refused_up_front():
    model, X, y = exploding_setup()
    X[5, 1] = np.inf
    with pytest.raises(ValueError, match="X contains inf at row 5, column 1"):
        dp.fit(model, X, y, loss="mse", optimizer=optim.SGD(model.parameters(), lr=0.01), progress=False)


def test_overflow_inside_a_module_is_located():
    model, X, y = exploding_setup()
    with dp.no_grad():
        model[0].weight.array[...] = 1e30  # every hidden unit saturates to the same +-1 ...
        model[2].weight.array[...] = 1e38  # ... so Linear 2 sums 16 values of +-1e38: beyond float32
    with pytest.raises(dp.NonFiniteError) as info:
        fit_sgd(model, X, y, lr=0.01, epochs=1)
    assert info.value.where == "2 (Linear)"
    assert "output of module '2 (Linear)'" in str(info.value)


def test_detect_anomaly_names_the_op_and_the_batch():
    model, X, y = exploding_setup()
    with pytest.raises(dp.NonFiniteError) as info:
        fit_sgd(model, X, y, lr=1e6, epochs=5, batch_size=16, detect_anomaly=True)
    assert info.value.epoch == 1 and info.value.batch is not None
    assert "forward of" in str(info.value) or "backward of" in str(info.value)


def test_check_finite_grads_catches_a_gradient_before_the_update():
    class BadGrad(Callback):
        def on_after_backward(self, run):
            if run.batch == 2:
                run.model[0].bias.grad[0] = np.nan

    model, X, y = exploding_setup()
    before = None

    class Remember(Callback):
        def on_batch_begin(self, run):
            nonlocal before
            before = run.model.state_dict()

    with pytest.raises(dp.NonFiniteError) as info:
        fit_sgd(
            model,
            X,
            y,
            lr=0.01,
            epochs=1,
            batch_size=16,
            check_finite="grads",
            callbacks=[Remember(), BadGrad()],
        )
    assert info.value.where == "0 (Linear).bias" and info.value.batch == 2
    for name, value in model.state_dict().items():  # the bad update never happened
        np.testing.assert_array_equal(value, before[name])


# --------------------------------------------------------------------------- progress


def test_plain_progress_bar_shows_epoch_loss_rate_and_eta():
    stream = io.StringIO()
    bar = PlainBar(total=10, epochs=2, stream=stream, interval=0.0)
    for _ in range(5):
        bar.update(1)
    bar.set_epoch(1, {"loss": 0.5, "accuracy": 0.75})
    bar.close()
    text = stream.getvalue()
    assert text.startswith("\r") and text.endswith("\n")
    last = text.rstrip("\n").split("\r")[-1]
    assert "epoch 1/2" in last and "loss 0.5" in last and "accuracy 0.75" in last
    assert "50%" in last and "it/s" in last and "ETA" in last


def test_progress_auto_is_off_without_a_terminal_and_fit_prints_nothing(capsys):
    assert wants_progress("auto", io.StringIO()) is False
    assert make_bar(False, 10, 1) is None
    with pytest.raises(ValueError, match="progress"):
        wants_progress("yes")
    model = nn.Linear(4, 2)
    X, labels = classification_data(n=8)
    dp.fit(model, X, labels, loss="cross_entropy", optimizer=optim.SGD(model.parameters(), lr=0.1), epochs=1)
    assert capsys.readouterr().out == ""


def test_fit_with_the_plain_bar_writes_carriage_return_lines(monkeypatch, capsys):
    import deltaprop.train.progress as progress

    monkeypatch.setattr(progress, "_tqdm_class", lambda: None)
    model = nn.Linear(4, 2)
    X, labels = classification_data(n=8)
    fit_sgd(model, X, labels, lr=0.1, loss="cross_entropy", epochs=3, progress=True, metrics=["accuracy"])
    out = capsys.readouterr().out
    assert "\r" in out and "epoch 3/3" in out and "accuracy" in out and out.endswith("\n")


def test_fit_uses_tqdm_when_installed(capsys):
    pytest.importorskip("tqdm")
    model = nn.Linear(4, 2)
    X, labels = classification_data(n=8)
    fit_sgd(model, X, labels, lr=0.1, loss="cross_entropy", epochs=2, progress=True)
    err = capsys.readouterr().err  # tqdm writes to stderr
    assert "epoch 2/2" in err and "it/s" in err
