"""Learning-rate schedules: closed forms by hand, and the same sequences as torch.optim.lr_scheduler."""

from __future__ import annotations

import math

import numpy as np
import pytest

from deltaprop.nn import Parameter
from deltaprop.optim import SGD, Adam, CosineAnnealingLR, ExponentialLR, ReduceLROnPlateau, StepLR


def two_group_sgd(lr=0.1):
    a, b = Parameter(np.zeros(2)), Parameter(np.zeros(3))
    return SGD([{"params": [a]}, {"params": [b], "lr": lr / 4}], lr=lr, momentum=0.9)


def lr_sequence(scheduler, epochs, metrics=None):
    """get_last_lr() after construction and after each of ``epochs`` steps."""
    seq = [scheduler.get_last_lr()]
    for epoch in range(epochs):
        scheduler.optimizer.step()
        if metrics is None:
            scheduler.step()
        else:
            scheduler.step(metrics[epoch])
        seq.append(scheduler.get_last_lr())
    return np.array(seq)


def torch_sequence(make, epochs, metrics=None):
    torch = pytest.importorskip("torch")
    a, b = torch.zeros(2, requires_grad=True), torch.zeros(3, requires_grad=True)
    opt = torch.optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.1 / 4}], lr=0.1, momentum=0.9)
    scheduler = make(torch.optim.lr_scheduler, opt)
    seq = [scheduler.get_last_lr()]
    for epoch in range(epochs):
        opt.step()
        if metrics is None:
            scheduler.step()
        else:
            scheduler.step(metrics[epoch])
        seq.append(scheduler.get_last_lr())
    return np.array(seq, dtype=float)


MAKERS = {
    "step": lambda mod, opt: mod.StepLR(opt, step_size=3, gamma=0.5),
    "step-1": lambda mod, opt: mod.StepLR(opt, step_size=1, gamma=0.9),
    "exponential": lambda mod, opt: mod.ExponentialLR(opt, gamma=0.8),
    "cosine": lambda mod, opt: mod.CosineAnnealingLR(opt, T_max=10),
    "cosine-restarts": lambda mod, opt: mod.CosineAnnealingLR(opt, T_max=4, eta_min=0.01),
}


class _Ours:
    StepLR, ExponentialLR, CosineAnnealingLR, ReduceLROnPlateau = (
        StepLR,
        ExponentialLR,
        CosineAnnealingLR,
        ReduceLROnPlateau,
    )


@pytest.mark.parametrize("kind", list(MAKERS))
def test_schedule_matches_torch(kind):
    ours = lr_sequence(MAKERS[kind](_Ours, two_group_sgd()), 25)
    theirs = torch_sequence(MAKERS[kind], 25)
    assert ours.shape == (26, 2)
    assert np.ptp(ours[:, 0]) > 0.01  # the schedule really moves the lr
    np.testing.assert_allclose(ours, theirs, rtol=1e-13, atol=1e-15)


PLATEAU_METRICS = [
    1.0,
    0.9,
    0.95,
    0.95,
    0.9,
    0.96,
    0.97,
    0.5,
    0.5,
    0.5,
    0.5,
    0.5,
    0.4999,
    0.6,
    0.7,
    0.8,
    0.9,
    1.0,
]
PLATEAU_MAKERS = {
    "min-rel": lambda mod, opt: mod.ReduceLROnPlateau(opt, patience=1, factor=0.5),
    "min-abs-cooldown": lambda mod, opt: mod.ReduceLROnPlateau(
        opt, patience=1, factor=0.5, threshold=0.05, threshold_mode="abs", cooldown=2
    ),
    "max-minlr": lambda mod, opt: mod.ReduceLROnPlateau(
        opt, mode="max", patience=0, factor=0.3, min_lr=[0.02, 0.0]
    ),
}


@pytest.mark.parametrize("kind", list(PLATEAU_MAKERS))
def test_reduce_on_plateau_matches_torch(kind):
    ours = lr_sequence(PLATEAU_MAKERS[kind](_Ours, two_group_sgd()), len(PLATEAU_METRICS), PLATEAU_METRICS)
    theirs = torch_sequence(PLATEAU_MAKERS[kind], len(PLATEAU_METRICS), PLATEAU_METRICS)
    assert ours[-1, 0] < ours[0, 0]
    np.testing.assert_allclose(ours, theirs, rtol=1e-13, atol=0)


# --------------------------------------------------------------------------- closed forms, no torch


def test_step_lr_closed_form_and_optimizer_sees_it():
    opt = two_group_sgd(lr=1.0)
    sched = StepLR(opt, step_size=2, gamma=0.1)
    seen = []
    for _ in range(6):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    np.testing.assert_allclose(seen, [1.0, 1.0, 0.1, 0.1, 0.01, 0.01], rtol=1e-14)
    assert sched.get_last_lr()[1] == pytest.approx(0.25 * 0.001)
    assert opt.param_groups[0]["initial_lr"] == 1.0


def test_exponential_and_cosine_closed_forms():
    opt = two_group_sgd(lr=0.2)
    exp = lr_sequence(ExponentialLR(opt, gamma=0.5), 5)[:, 0]
    np.testing.assert_allclose(exp, 0.2 * 0.5 ** np.arange(6), rtol=1e-14)

    opt = two_group_sgd(lr=0.2)
    t = np.arange(9)
    cos = lr_sequence(CosineAnnealingLR(opt, T_max=8, eta_min=0.05), 8)[:, 0]
    np.testing.assert_allclose(cos, 0.05 + 0.15 * (1 + np.cos(np.pi * t / 8)) / 2, rtol=1e-12)
    assert cos[-1] == pytest.approx(0.05)


def test_reduce_on_plateau_by_hand():
    opt = two_group_sgd(lr=1.0)
    sched = ReduceLROnPlateau(opt, factor=0.5, patience=2, min_lr=0.3)
    lrs = []
    for metric in [5.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0]:
        sched.step(metric)
        lrs.append(sched.get_last_lr()[0])
    # 3 epochs without improvement (> patience 2) halve the lr; it never drops below min_lr
    assert lrs == [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.3, 0.3, 0.3, 0.3, 0.3]
    assert sched.best == 4.0
    sched.step(np.array(1.0))  # a one-element array is accepted
    assert sched.best == 1.0


@pytest.mark.parametrize(
    "make",
    [
        lambda opt: StepLR(opt, step_size=2, gamma=0.5),
        lambda opt: ExponentialLR(opt, gamma=0.9),
        lambda opt: CosineAnnealingLR(opt, T_max=5),
    ],
)
def test_scheduler_state_dict_resumes_identically(make):
    opt = two_group_sgd()
    sched = make(opt)
    for _ in range(4):
        opt.step()
        sched.step()
    saved_opt, saved_sched = opt.state_dict(), sched.state_dict()
    rest = lr_sequence(sched, 6)

    opt2 = two_group_sgd(lr=7.0)
    opt2.load_state_dict(saved_opt)
    sched2 = make(opt2)
    sched2.load_state_dict(saved_sched)
    np.testing.assert_array_equal(lr_sequence(sched2, 6), rest)


def test_plateau_state_dict_resumes_identically():
    opt = two_group_sgd()
    sched = ReduceLROnPlateau(opt, patience=1)
    for m in [1.0, 1.0]:
        sched.step(m)
    saved = sched.state_dict()
    rest = lr_sequence(sched, 4, [1.0, 1.0, 1.0, 1.0])
    opt2 = two_group_sgd()
    opt2.load_state_dict(opt.state_dict())
    opt2.param_groups[0]["lr"], opt2.param_groups[1]["lr"] = 0.1, 0.025
    sched2 = ReduceLROnPlateau(opt2, patience=5)
    sched2.load_state_dict(saved)
    np.testing.assert_array_equal(lr_sequence(sched2, 4, [1.0, 1.0, 1.0, 1.0]), rest)


def test_scheduler_errors():
    opt = Adam([Parameter(np.zeros(1))], lr=0.1)
    with pytest.raises(ValueError, match="StepLR: step_size must be a positive integer"):
        StepLR(opt, step_size=0)
    with pytest.raises(ValueError, match="CosineAnnealingLR: T_max must be a positive"):
        CosineAnnealingLR(opt, T_max=0)
    with pytest.raises(ValueError, match=r"factor must be < 1.0"):
        ReduceLROnPlateau(opt, factor=2.0)
    with pytest.raises(ValueError, match="mode must be 'min' or 'max'"):
        ReduceLROnPlateau(opt, mode="lowest")
    with pytest.raises(TypeError, match="expected the watched metric as a number"):
        ReduceLROnPlateau(opt).step("loss")
    with pytest.raises(TypeError, match="expected an optimizer"):
        StepLR([0.1], step_size=1)
    with pytest.raises(KeyError, match="no 'initial_lr'"):
        ExponentialLR(opt, gamma=0.5, last_epoch=3)


def test_schedulers_work_on_adam_too():
    opt = Adam([Parameter(np.zeros(1))], lr=0.1)
    sched = ExponentialLR(opt, gamma=0.5)
    sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.05) and math.isclose(sched.get_last_lr()[0], 0.05)
