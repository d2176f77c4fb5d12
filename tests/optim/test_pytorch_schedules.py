"""Adadelta and the schedules tutorials use (MultiStep, Lambda, Linear, OneCycle, Sequential), vs torch."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_first_order import W0, run_deltaprop, run_torch
from test_schedulers import lr_sequence, torch_sequence, two_group_sgd

import deltaprop
from deltaprop import optim
from deltaprop.nn import Parameter

torch = pytest.importorskip("torch")


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"lr": 0.5, "rho": 0.8, "eps": 1e-5}, {"weight_decay": 0.1}, {"maximize": True}],
    ids=["defaults", "rho-eps", "weight-decay", "maximize"],
)
def test_adadelta_trajectory_matches_torch(kwargs):
    ours = run_deltaprop(optim.Adadelta, kwargs, steps=8)
    theirs = run_torch(torch.optim.Adadelta, kwargs, steps=8)
    assert np.abs(ours[0] - W0).max() > 1e-4  # it moved
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


def test_adadelta_is_known_by_name_and_refuses_a_bad_rho():
    assert isinstance(optim.by_name("adadelta", [Parameter(np.zeros(2))]), optim.Adadelta)
    with pytest.raises(ValueError, match="rho must be in"):
        optim.Adadelta([Parameter(np.zeros(2))], rho=1.5)


def _ramp(epoch):
    return 0.5 ** (epoch // 2)


class _Warmup:  # a callable object: its attributes travel in the state_dict, as in PyTorch
    def __init__(self):
        self.scale = 0.9

    def __call__(self, epoch):
        return self.scale**epoch


MAKERS = {
    "multistep": lambda mod, opt: mod.MultiStepLR(opt, milestones=[2, 5, 5], gamma=0.3),
    "lambda": lambda mod, opt: mod.LambdaLR(opt, lr_lambda=_ramp),
    "lambda-per-group": lambda mod, opt: mod.LambdaLR(opt, lr_lambda=[_ramp, lambda e: 1.0 / (e + 1)]),
    "linear": lambda mod, opt: mod.LinearLR(opt, start_factor=0.25, total_iters=4),
    "linear-down": lambda mod, opt: mod.LinearLR(opt, start_factor=1.0, end_factor=0.1, total_iters=6),
    "onecycle": lambda mod, opt: mod.OneCycleLR(opt, max_lr=0.5, total_steps=12),
    "onecycle-linear-3phase": lambda mod, opt: mod.OneCycleLR(
        opt, max_lr=[0.5, 0.2], epochs=3, steps_per_epoch=4, anneal_strategy="linear", three_phase=True
    ),
    "sequential": lambda mod, opt: mod.SequentialLR(
        opt, [mod.LinearLR(opt, start_factor=0.1, total_iters=3), mod.ExponentialLR(opt, gamma=0.8)],
        milestones=[3],
    ),
    "sequential-three": lambda mod, opt: mod.SequentialLR(
        opt, [mod.StepLR(opt, 2, gamma=0.5), mod.CosineAnnealingLR(opt, T_max=3), mod.MultiStepLR(opt, [1])],
        milestones=[4, 7],
    ),
}


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_schedule_matches_torch(name):
    ours = MAKERS[name](optim.lr_scheduler, two_group_sgd())
    expected = torch_sequence(MAKERS[name], 11)
    np.testing.assert_allclose(lr_sequence(ours, 11), expected, rtol=1e-13, atol=0)


def test_one_cycle_cycles_momentum_like_torch():
    ours_opt = two_group_sgd()
    ours = optim.OneCycleLR(ours_opt, max_lr=0.4, total_steps=10)
    a, b = torch.zeros(2, requires_grad=True), torch.zeros(3, requires_grad=True)
    topt = torch.optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.025}], lr=0.1, momentum=0.9)
    theirs = torch.optim.lr_scheduler.OneCycleLR(topt, max_lr=0.4, total_steps=10)
    for _ in range(9):
        ours_opt.step()
        topt.step()
        ours.step()
        theirs.step()
        assert [g["momentum"] for g in ours_opt.param_groups] == pytest.approx(
            [g["momentum"] for g in topt.param_groups], rel=1e-13
        )
    with pytest.raises(ValueError, match="stepped 11 times but total_steps is 10"):
        ours.step()
        ours.step()


def test_schedule_state_dicts_are_plain_data_and_resume_exactly():
    for name in ("multistep", "linear", "onecycle", "sequential"):
        opt = two_group_sgd()
        first = MAKERS[name](optim.lr_scheduler, opt)
        for _ in range(4):
            first.step()
        saved = json.loads(json.dumps(deltaprop.serialize.values.encode(first.state_dict(), "s", {})))
        other = two_group_sgd()
        resumed = MAKERS[name](optim.lr_scheduler, other)
        other.load_state_dict(opt.state_dict())  # the lr lives in the optimizer: restore it first
        resumed.load_state_dict(deltaprop.serialize.values.decode(saved, lambda key: None))
        for _ in range(3):
            first.step()
            resumed.step()
        assert resumed.get_last_lr() == first.get_last_lr(), name
    warm = _Warmup()
    opt = two_group_sgd()
    scheduler = optim.LambdaLR(opt, [warm, _ramp])
    warm.scale = 0.5
    state = scheduler.state_dict()
    assert state["lr_lambdas"] == [{"scale": 0.5}, None]  # functions are code: not saved, as in PyTorch


def test_fit_steps_the_new_schedules_once_per_epoch():
    model = deltaprop.nn.Linear(2, 1)
    opt = optim.SGD(model.parameters(), lr=0.1)
    scheduler = optim.MultiStepLR(opt, milestones=[1, 2], gamma=0.5)
    X, y = np.ones((4, 2), np.float32), np.zeros((4, 1), np.float32)
    deltaprop.fit(model, X, y, loss="mse", optimizer=opt, epochs=3, scheduler=scheduler, progress=False)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.025)
