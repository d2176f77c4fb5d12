"""Resume is exact for every optimizer: a run crashed at epoch k and resumed ends bit for bit
like the uninterrupted one, with a scheduler, a stateful callback and early stopping in play."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn, optim
from deltaprop.optim.lr_scheduler import StepLR
from deltaprop.serialize import load_checkpoint
from deltaprop.train import Callback, EarlyStopping

EPOCHS = 6

FIRST_ORDER = {
    "sgd": lambda p: optim.SGD(p, lr=0.1),
    "sgd-momentum": lambda p: optim.SGD(p, lr=0.1, momentum=0.9),
    "sgd-nesterov": lambda p: optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3),
    "adam": lambda p: optim.Adam(p, lr=0.01),
    "adamw": lambda p: optim.AdamW(p, lr=0.01),
    "rmsprop": lambda p: optim.RMSprop(p, lr=0.01, momentum=0.5, centered=True),
    "adagrad": lambda p: optim.Adagrad(p, lr=0.1),
}
SECOND_ORDER = {
    "lbfgs": lambda p: optim.LBFGS(p, lr=0.5, max_iter=4, history_size=5),
    "lbfgs-wolfe": lambda p: optim.LBFGS(p, max_iter=4, line_search_fn="strong_wolfe"),
    "levenberg-marquardt": lambda p: optim.LevenbergMarquardt(p),
    "gauss-newton": lambda p: optim.GaussNewton(p),
    "natural-gradient-kfac": lambda p: optim.NaturalGradient(p, lr=0.1, fisher="kfac"),
    "natural-gradient-empirical": lambda p: optim.NaturalGradient(p, lr=0.1, fisher="empirical"),
}
ALL = {**FIRST_ORDER, **SECOND_ORDER}


class RunningLoss(Callback):
    """A callback with state of its own (an exponential average of the loss) that lands in the history."""

    def __init__(self):
        self.average = None

    def on_epoch_end(self, run):
        loss = run.logs["loss"]
        self.average = loss if self.average is None else 0.7 * self.average + 0.3 * loss
        run.logs["loss_average"] = self.average

    def state_dict(self):
        return {"average": self.average}

    def load_state_dict(self, state):
        self.average = state["average"]


class Crash(Callback):
    """Raises at the end of epoch ``at`` (before its checkpoint), or after batch 2 of it."""

    def __init__(self, at, in_batch=False):
        self.at, self.in_batch = at, in_batch

    def on_batch_end(self, run):
        if self.in_batch and run.epoch == self.at and run.batch == 2:
            raise RuntimeError("injected crash")

    def on_epoch_end(self, run):
        if run.epoch == self.at:
            raise RuntimeError("injected crash")


def data():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(48, 4)).astype(np.float32)
    y = (X[:, 0] - X[:, 1] * X[:, 2] > 0).astype(np.int64)
    return X, y


def run(name, *, seed, checkpoint=None, resume=None, crash=None):
    dp.manual_seed(seed)
    second_order = name in SECOND_ORDER
    layers = [nn.Linear(4, 6), nn.Tanh()] + ([] if second_order else [nn.Dropout(0.2)]) + [nn.Linear(6, 2)]
    model = nn.Sequential(*layers)
    optimizer = ALL[name](model.parameters())
    has_lr = "lr" in optimizer.param_groups[0]
    scheduler = StepLR(optimizer, step_size=2, gamma=0.5) if has_lr else None
    callbacks = [RunningLoss()] + ([crash] if crash is not None else [])
    X, y = data()
    history = dp.fit(
        model, X, y, loss="cross_entropy", optimizer=optimizer, epochs=EPOCHS, batch_size=12,
        validation_split=0.25, metrics=["accuracy"], seed=11, scheduler=scheduler, callbacks=callbacks,
        early_stopping=EarlyStopping(patience=3, monitor="val_loss"), checkpoint=checkpoint,
        resume_from=resume, progress=False,
    )
    return model, optimizer, history


def assert_same_tree(a, b, where="state"):
    if isinstance(a, dict):
        assert isinstance(b, dict) and sorted(map(str, a)) == sorted(map(str, b)), where
        for key in a:
            assert_same_tree(a[key], b[key], f"{where}/{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, z) in enumerate(zip(a, b, strict=True)):
            assert_same_tree(x, z, f"{where}/{i}")
    elif isinstance(a, np.ndarray):
        assert a.dtype == np.asarray(b).dtype and np.array_equal(a, b), where
    else:
        assert a == b or (a != a and b != b), f"{where}: {a!r} != {b!r}"


@pytest.mark.parametrize("name", list(ALL))
def test_resume_after_a_crash_is_bit_identical(name, tmp_path):
    model, optimizer, history = run(name, seed=0)
    # crashes before epoch k's checkpoint (so resumed from k - 1), the last one in the epoch where
    # early stopping ends some of these runs
    for at in sorted({2, 3, history.epochs_run}):
        path = tmp_path / f"crash{at}.npz"
        crash = Crash(at, in_batch=name in FIRST_ORDER and at == 3)
        with pytest.raises(RuntimeError, match="injected crash"):
            run(name, seed=0, checkpoint=path, crash=crash)
        assert load_checkpoint(path)["epoch"] == at - 1
        # the same script run again (same callbacks: checkpoints restore them by position), another
        # seed: everything that matters must come from the checkpoint
        resumed, resumed_optimizer, resumed_history = run(name, seed=99, checkpoint=path, resume=path,
                                                          crash=Crash(at=None))
        for (key, a), b in zip(model.state_dict().items(), resumed.state_dict().values(), strict=True):
            assert a.dtype == b.dtype and np.array_equal(a, b), f"{name}, crash at {at}: {key} differs"
        assert resumed_history.to_dict() == history.to_dict(), f"{name}, crash at {at}"
        assert_same_tree(optimizer.state_dict(), resumed_optimizer.state_dict(), f"{name}@{at}")


@pytest.mark.parametrize("name", ["lbfgs", "natural-gradient-kfac"])
def test_float64_optimizer_state_keeps_its_dtype_through_a_checkpoint(name, tmp_path):
    """L-BFGS history and K-FAC factors are float64 beside float32 weights; a load must not round them."""
    _, optimizer, _ = run(name, seed=0, checkpoint=tmp_path / "c.npz")
    saved = load_checkpoint(tmp_path / "c.npz")["optimizer"]
    fresh = ALL[name](nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 2)).parameters())
    fresh.load_state_dict(saved)
    dtypes = {v.dtype for state in fresh.state.values() for v in state.values() if isinstance(v, np.ndarray)}
    assert np.dtype(np.float64) in dtypes
    assert_same_tree(optimizer.state_dict(), fresh.state_dict())


def test_resuming_a_run_that_stopped_early_trains_no_further(tmp_path):
    """An early-stopped run's checkpoint resumes finished: same epochs, same (best) weights, same reason."""
    X, y = dp.data.load_digits()
    X = (X / 16).astype(np.float32)

    def run(**kwargs):
        dp.manual_seed(0)
        model = nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))
        history = dp.fit(model, X, y, loss="cross_entropy", optimizer=optim.SGD(model.parameters(), lr=0.5),
                         epochs=200, validation_split=0.3, early_stopping=2, progress=False, seed=0, **kwargs)
        return model, history

    path = tmp_path / "ck.npz"
    whole, first = run(checkpoint=path)
    assert first.stopped_reason and first.epochs_run < 200  # the premise: it stopped early
    resumed, again = run(resume_from=path)
    assert again.epochs_run == first.epochs_run and again.stopped_reason == first.stopped_reason
    for (name, a), b in zip(whole.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert np.array_equal(a, b), name


class EpochCounter(Callback):
    """A second stateful callback, of another class than RunningLoss."""

    def __init__(self):
        self.count = 0

    def on_epoch_end(self, run):
        self.count += 1

    def state_dict(self):
        return {"count": self.count}

    def load_state_dict(self, state):
        self.count = int(state["count"])


def test_callbacks_get_their_own_state_back_whatever_their_order(tmp_path):
    X, y = dp.data.load_digits()
    X = (X / 16).astype(np.float32)

    def run(callbacks, **kwargs):
        dp.manual_seed(0)
        model = nn.Sequential(nn.Linear(64, 10))
        dp.fit(model, X, y, loss="cross_entropy", optimizer=optim.SGD(model.parameters(), lr=0.1),
               epochs=3, progress=False, seed=0, callbacks=callbacks, **kwargs)

    first = [RunningLoss(), EpochCounter()]
    run(first, checkpoint=tmp_path / "ck.npz")
    swapped = [EpochCounter(), RunningLoss()]  # the same callbacks, listed the other way round
    from deltaprop.train import checkpoint as ckpt

    state = load_checkpoint(tmp_path / "ck.npz")
    ckpt.restore(state, _Restorable(), None, swapped)
    assert swapped[0].count == first[1].count == 3
    assert swapped[1].average == first[0].average


class _Restorable:
    """What checkpoint.restore needs of a run: a model and an optimizer to take their states back."""

    def __init__(self):
        dp.manual_seed(0)
        self.model = nn.Sequential(nn.Linear(64, 10))
        self.optimizer = optim.SGD(self.model.parameters(), lr=0.1)
