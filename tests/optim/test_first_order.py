"""First-order optimizers and gradient clipping.

Three kinds of checks:
- hand-worked steps of each published rule (no PyTorch needed);
- trajectories of several steps equal to torch.optim's to 1e-10 (float64), for
  every optimizer and option, with gradients from one shared NumPy function so
  only the optimizers' arithmetic is compared;
- bookkeeping: skipped params, state_dict round trips, in-place updates, errors.
"""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest

import deltaprop
from deltaprop import nn
from deltaprop.errors import NonFiniteError, ShapeError
from deltaprop.nn import Parameter
from deltaprop.optim import (
    OPTIMIZERS,
    SGD,
    Adagrad,
    Adam,
    AdamW,
    RMSprop,
    by_name,
    clip_grad_norm_,
    clip_grad_value_,
)

# --------------------------------------------------------------------------- a small problem

RNG = np.random.default_rng(0)
X = RNG.normal(size=(8, 3))
Y = RNG.normal(size=(8, 2))
W0 = RNG.normal(size=(3, 2))
B0 = RNG.normal(size=(2,))


def tanh_layer_grads(w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gradients of 0.5 * ||tanh(X w + b) - Y||^2, worked out by hand (one-layer backprop)."""
    a = np.tanh(X @ w + b)
    delta = (a - Y) * (1 - a * a)
    return X.T @ delta, delta.sum(axis=0)


def make_params() -> list[Parameter]:
    return [Parameter(W0.copy()), Parameter(B0.copy())]


def run_deltaprop(cls, kwargs, steps=6, lr_schedule=None):
    params = make_params()
    opt = cls(params, **kwargs)
    for t in range(steps):
        if lr_schedule is not None:
            opt.param_groups[0]["lr"] = lr_schedule[t]
        params[0].grad, params[1].grad = tanh_layer_grads(params[0].array, params[1].array)
        opt.step()
    return [p.array for p in params]


def run_torch(torch_cls, kwargs, steps=6, lr_schedule=None):
    import torch

    params = [
        torch.tensor(W0, dtype=torch.float64, requires_grad=True),
        torch.tensor(B0, dtype=torch.float64, requires_grad=True),
    ]
    opt = torch_cls(params, foreach=False, **kwargs)
    for t in range(steps):
        if lr_schedule is not None:
            opt.param_groups[0]["lr"] = lr_schedule[t]
        gw, gb = tanh_layer_grads(params[0].detach().numpy(), params[1].detach().numpy())
        params[0].grad, params[1].grad = torch.from_numpy(gw), torch.from_numpy(gb)
        opt.step()
    return [p.detach().numpy() for p in params]


CASES = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.1, "momentum": 0.9}),
    ("SGD", {"lr": 0.05, "momentum": 0.8, "dampening": 0.3}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    ("SGD", {"lr": 0.1, "weight_decay": 0.1}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.01, "nesterov": True}),
    ("SGD", {"lr": 0.01, "momentum": 0.5, "weight_decay": 0.1, "maximize": True}),
    ("SGD", {"lr": 0.01, "maximize": True}),
    ("Adam", {"lr": 0.05}),
    ("Adam", {"lr": 0.05, "betas": (0.8, 0.95), "eps": 1e-6}),
    ("Adam", {"lr": 0.05, "amsgrad": True}),
    ("Adam", {"lr": 0.05, "weight_decay": 0.1}),
    ("Adam", {"lr": 0.05, "weight_decay": 0.1, "amsgrad": True, "maximize": True}),
    ("AdamW", {"lr": 0.05}),
    ("AdamW", {"lr": 0.05, "weight_decay": 0.3}),
    ("AdamW", {"lr": 0.05, "weight_decay": 0.3, "amsgrad": True}),
    ("AdamW", {"lr": 0.05, "weight_decay": 0.3, "maximize": True}),
    ("RMSprop", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "alpha": 0.9, "eps": 1e-6}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.9}),
    ("RMSprop", {"lr": 0.01, "centered": True}),
    ("RMSprop", {"lr": 0.01, "centered": True, "momentum": 0.5, "weight_decay": 0.1}),
    ("RMSprop", {"lr": 0.01, "maximize": True}),
    ("Adagrad", {"lr": 0.1}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.1}),
    ("Adagrad", {"lr": 0.1, "weight_decay": 0.1, "initial_accumulator_value": 0.5, "eps": 1e-6}),
    ("Adagrad", {"lr": 0.1, "maximize": True}),
]


@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=[f"{n}-{k}" for n, k in CASES])
def test_trajectory_matches_torch(name, kwargs):
    torch = pytest.importorskip("torch")
    ours = run_deltaprop(getattr(deltaprop.optim, name), kwargs)
    theirs = run_torch(getattr(torch.optim, name), kwargs)
    moved = np.abs(ours[0] - W0).max()
    assert moved > 1e-3  # the test compares real motion, not two copies of the start
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-10)


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_trajectory_with_changing_lr_matches_torch(name):
    torch = pytest.importorskip("torch")
    schedule = [0.05, 0.05, 0.02, 0.02, 0.01, 0.005]
    kwargs = {"lr": 0.05, "momentum": 0.9} if name in ("SGD", "RMSprop") else {"lr": 0.05}
    ours = run_deltaprop(getattr(deltaprop.optim, name), kwargs, lr_schedule=schedule)
    theirs = run_torch(getattr(torch.optim, name), kwargs, lr_schedule=schedule)
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-10)


def test_param_groups_with_own_hyperparameters_match_torch():
    torch = pytest.importorskip("torch")
    params = make_params()
    opt = SGD(
        [{"params": [params[0]]}, {"params": [params[1]], "lr": 0.01, "momentum": 0.0}], lr=0.1, momentum=0.9
    )
    tparams = [torch.tensor(W0, requires_grad=True), torch.tensor(B0, requires_grad=True)]
    topt = torch.optim.SGD(
        [{"params": [tparams[0]]}, {"params": [tparams[1]], "lr": 0.01, "momentum": 0.0}],
        lr=0.1,
        momentum=0.9,
        foreach=False,
    )
    for _ in range(4):
        params[0].grad, params[1].grad = tanh_layer_grads(params[0].array, params[1].array)
        gw, gb = tanh_layer_grads(tparams[0].detach().numpy(), tparams[1].detach().numpy())
        tparams[0].grad, tparams[1].grad = torch.from_numpy(gw), torch.from_numpy(gb)
        opt.step()
        topt.step()
    assert opt.param_groups[1]["momentum"] == 0.0 and opt.param_groups[0]["momentum"] == 0.9
    assert params[1] not in opt.state and "momentum_buffer" in opt.state[params[0]]
    for p, tp in zip(params, tparams, strict=True):
        np.testing.assert_allclose(p.array, tp.detach().numpy(), rtol=0, atol=1e-10)


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop"])
def test_mlp_trained_through_deltaprop_autograd_matches_torch(name):
    """End to end: deltaprop's backward feeds the optimizer; torch does the same net."""
    torch = pytest.importorskip("torch")
    deltaprop.manual_seed(3)
    model = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2)).double()
    tmodel = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2)).double()
    with torch.no_grad():
        for p, tp in zip(model.parameters(), tmodel.parameters(), strict=True):
            tp.copy_(torch.from_numpy(p.array))
    kwargs = {"SGD": {"lr": 0.05, "momentum": 0.9}, "Adam": {"lr": 0.01}, "RMSprop": {"lr": 0.002}}[name]
    opt = getattr(deltaprop.optim, name)(model.parameters(), **kwargs)
    topt = getattr(torch.optim, name)(tmodel.parameters(), foreach=False, **kwargs)
    loss_fn, tloss_fn = nn.MSELoss(), torch.nn.MSELoss()
    x, y = deltaprop.Tensor(X), deltaprop.Tensor(Y)
    tx, ty = torch.from_numpy(X), torch.from_numpy(Y)
    losses = []
    for _ in range(5):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        topt.zero_grad()
        tloss = tloss_fn(tmodel(tx), ty)
        tloss.backward()
        topt.step()
        losses.append(loss.item())
        assert loss.item() == pytest.approx(tloss.item(), abs=1e-10)
    assert losses[-1] < losses[0]
    for p, tp in zip(model.parameters(), tmodel.parameters(), strict=True):
        np.testing.assert_allclose(p.array, tp.detach().numpy(), rtol=0, atol=1e-10)


# --------------------------------------------------------------------------- hand-worked steps


def one_param(values, grad):
    p = Parameter(np.array(values, dtype=np.float64))
    p.grad = np.array(grad, dtype=np.float64)
    return p


def test_sgd_plain_step_is_p_minus_lr_g():
    p = one_param([1.0, -2.0], [0.5, 4.0])
    SGD([p], lr=0.1).step()
    np.testing.assert_allclose(p.array, [1.0 - 0.05, -2.0 - 0.4], rtol=0, atol=1e-15)


def test_sgd_momentum_two_steps_by_hand():
    p = one_param([1.0], [2.0])
    opt = SGD([p], lr=0.1, momentum=0.9, dampening=0.5)
    opt.step()  # b1 = g1 = 2 (no dampening on the first step); p = 1 - 0.2
    assert p.array[0] == pytest.approx(0.8, abs=1e-15)
    p.grad = np.array([-1.0])
    opt.step()  # b2 = 0.9 * 2 + 0.5 * (-1) = 1.3; p = 0.8 - 0.13
    assert opt.state[p]["momentum_buffer"][0] == pytest.approx(1.3, abs=1e-15)
    assert p.array[0] == pytest.approx(0.67, abs=1e-15)


def test_sgd_nesterov_and_weight_decay_by_hand():
    p = one_param([2.0], [1.0])
    opt = SGD([p], lr=0.1, momentum=0.5, nesterov=True, weight_decay=0.25)
    opt.step()  # g = 1 + 0.25 * 2 = 1.5; b = 1.5; step dir = 1.5 + 0.5 * 1.5 = 2.25
    assert p.array[0] == pytest.approx(2.0 - 0.225, abs=1e-15)


def test_adam_first_step_is_lr_times_sign_of_gradient():
    g = np.array([3.0, -1e-3, 250.0, -7.0])
    p = one_param(np.zeros(4), g)
    Adam([p], lr=0.01).step()
    # m^ = g, v^ = g^2 after bias correction, so the step is lr * g / (|g| + eps)
    np.testing.assert_allclose(p.array, -0.01 * g / (np.abs(g) + 1e-8), rtol=0, atol=1e-15)
    np.testing.assert_allclose(p.array, -0.01 * np.sign(g), rtol=1e-5)


def test_adam_second_step_by_hand():
    p = one_param([0.0], [1.0])
    opt = Adam([p], lr=0.1, betas=(0.5, 0.75), eps=0.0)
    opt.step()
    p.grad = np.array([3.0])
    opt.step()
    m = 0.5 * 0.5 * 1 + 0.5 * 3  # 1.75
    v = 0.75 * 0.25 * 1 + 0.25 * 9  # 2.4375
    expected = -0.1 - 0.1 * (m / (1 - 0.25)) / math.sqrt(v / (1 - 0.75**2))
    assert p.array[0] == pytest.approx(expected, abs=1e-15)
    assert opt.state[p]["step"] == 2


def test_adamw_decay_is_decoupled_from_the_moments():
    # With a zero gradient, AdamW only shrinks p; Adam's L2 term becomes the gradient instead.
    p = one_param([2.0, -4.0], [0.0, 0.0])
    AdamW([p], lr=0.1, weight_decay=0.5).step()
    np.testing.assert_allclose(p.array, [2.0 * 0.95, -4.0 * 0.95], rtol=0, atol=1e-15)
    q = one_param([2.0, -4.0], [0.0, 0.0])
    Adam([q], lr=0.1, weight_decay=0.5).step()
    np.testing.assert_allclose(q.array, [2.0 - 0.1, -4.0 + 0.1], rtol=0, atol=1e-8)


def test_rmsprop_first_step_by_hand():
    p = one_param([1.0, 1.0], [2.0, -0.5])
    RMSprop([p], lr=0.01, alpha=0.9, eps=0.0).step()
    # s = 0.1 g^2, so the step is lr * g / (sqrt(0.1) |g|) = lr * sign(g) / sqrt(0.1)
    expected = 1.0 - 0.01 * np.array([1.0, -1.0]) / math.sqrt(0.1)
    np.testing.assert_allclose(p.array, expected, rtol=0, atol=1e-15)


def test_rmsprop_centered_first_step_by_hand():
    p = one_param([0.0], [2.0])
    RMSprop([p], lr=0.01, alpha=0.5, eps=0.0, centered=True).step()
    # s = 0.5 * 4 = 2, gbar = 1, sqrt(s - gbar^2) = 1
    assert p.array[0] == pytest.approx(-0.02, abs=1e-15)


def test_adagrad_two_steps_by_hand():
    p = one_param([0.0], [3.0])
    opt = Adagrad([p], lr=1.0, lr_decay=0.5, eps=0.0)
    opt.step()  # sum = 9, step = 1 * 3 / 3
    assert p.array[0] == pytest.approx(-1.0, abs=1e-15)
    p.grad = np.array([4.0])
    opt.step()  # clr = 1 / 1.5, sum = 25, step = clr * 4 / 5
    assert p.array[0] == pytest.approx(-1.0 - 0.8 / 1.5, abs=1e-15)
    assert opt.state[p]["sum"][0] == 25.0


@pytest.mark.parametrize("cls", [SGD, Adam, AdamW, RMSprop, Adagrad])
def test_maximize_steps_uphill_like_the_negated_gradient(cls):
    up = one_param([1.0, 2.0], [0.3, -0.7])
    down = one_param([1.0, 2.0], [-0.3, 0.7])
    cls([up], lr=0.1, maximize=True).step()
    cls([down], lr=0.1).step()
    np.testing.assert_array_equal(up.array, down.array)
    assert up.array[0] > 1.0  # moved along +grad


# --------------------------------------------------------------------------- bookkeeping


@pytest.mark.parametrize("cls", [SGD, Adam, AdamW, RMSprop, Adagrad])
def test_params_without_grad_are_skipped(cls):
    a, b = one_param([1.0], [1.0]), Parameter(np.array([5.0]))
    opt = cls([a, b], lr=0.1)
    opt.step()
    assert b.array[0] == 5.0 and b not in opt.state
    assert a.array[0] != 1.0
    assert (a in opt.state) == (cls is not SGD)  # plain SGD keeps no state, like torch's


@pytest.mark.parametrize(
    ("cls", "kwargs"),
    [
        (SGD, {"momentum": 0.9, "nesterov": True, "weight_decay": 0.1}),
        (Adam, {"amsgrad": True}),
        (AdamW, {}),
        (RMSprop, {"momentum": 0.9, "centered": True}),
        (Adagrad, {"lr_decay": 0.1}),
    ],
)
def test_updates_in_place_without_allocating_new_arrays(cls, kwargs):
    n = 250_000  # 2 MB of float64 per array
    p = Parameter(np.ones(n))
    p.grad = np.full(n, 0.5)
    opt = cls([p], lr=0.01, **kwargs)
    data = p.array
    opt.step()  # the first step allocates state and scratch buffers
    buffers = {k: v for k, v in opt.state[p].items() if isinstance(v, np.ndarray)}
    tracemalloc.start()
    for _ in range(3):
        opt.step()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 8 * n / 4  # far less than one parameter-sized array
    assert p.array is data
    assert all(opt.state[p][k] is v for k, v in buffers.items())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_state_keeps_the_parameter_dtype(dtype):
    p = Parameter(np.ones(3, dtype=dtype))
    p.grad = np.ones(3, dtype=dtype)
    opt = Adam([p], lr=0.1, weight_decay=0.1)
    opt.step()
    assert p.array.dtype == dtype and opt.state[p]["exp_avg"].dtype == dtype


@pytest.mark.parametrize(
    ("cls", "kwargs"),
    [
        (SGD, {"lr": 0.1, "momentum": 0.9}),
        (Adam, {"lr": 0.05, "amsgrad": True}),
        (AdamW, {"lr": 0.05}),
        (RMSprop, {"lr": 0.01, "momentum": 0.5, "centered": True}),
        (Adagrad, {"lr": 0.1, "lr_decay": 0.01}),
    ],
)
def test_state_dict_round_trip_resumes_identically(cls, kwargs, tmp_path):
    def steps(params, opt, n):
        for _ in range(n):
            params[0].grad, params[1].grad = tanh_layer_grads(params[0].array, params[1].array)
            opt.step()

    params = make_params()
    opt = cls(params, **kwargs)
    steps(params, opt, 3)
    saved = opt.state_dict()
    saved_weights = [p.array.copy() for p in params]
    steps(params, opt, 4)  # the uninterrupted run

    # Through a deltaprop file (npz + JSON, no pickle) and back into a fresh optimizer.
    deltaprop.save(saved, tmp_path / "opt.npz")
    loaded = deltaprop.load(tmp_path / "opt.npz")
    resumed = [Parameter(w) for w in saved_weights]
    opt2 = cls(resumed, lr=123.0)  # the wrong lr is overwritten by the saved one
    opt2.load_state_dict(loaded)
    assert opt2.param_groups[0]["lr"] == kwargs["lr"]
    steps(resumed, opt2, 4)
    for a, b in zip(params, resumed, strict=True):
        np.testing.assert_array_equal(a.array, b.array)


def test_state_dict_is_a_snapshot_of_plain_values():
    params = make_params()
    opt = Adam(params, lr=0.1)
    params[0].grad, params[1].grad = tanh_layer_grads(W0, B0)
    opt.step()
    sd = opt.state_dict()
    before = sd["state"][0]["exp_avg"].copy()
    opt.step()
    np.testing.assert_array_equal(sd["state"][0]["exp_avg"], before)  # not aliased to live buffers
    assert sd["param_groups"][0]["params"] == [0, 1]
    assert sd["param_groups"][0]["betas"] == [0.9, 0.999]
    assert sd["state"][0]["step"] == 1 and isinstance(sd["state"][0]["step"], int)


def test_load_state_dict_rejects_a_different_model():
    opt = SGD(make_params(), lr=0.1, momentum=0.9)
    other = SGD([Parameter(np.zeros(2))], lr=0.1)
    with pytest.raises(ValueError, match="param group 0 has 1 parameters but the saved group has 2"):
        other.load_state_dict(opt.state_dict())


def test_zero_grad_and_closure():
    p = one_param([1.0], [2.0])
    opt = SGD([p], lr=0.1)
    opt.zero_grad(set_to_none=False)
    assert p.grad is not None and p.grad[0] == 0.0
    opt.zero_grad()
    assert p.grad is None

    def closure():
        p.grad = np.array([1.0])
        return 42.0

    assert opt.step(closure) == 42.0
    assert p.array[0] == pytest.approx(0.9)


def test_registry_names_and_by_name():
    assert {"sgd", "adam", "adamw", "rmsprop", "adagrad"} <= set(OPTIMIZERS)
    opt = by_name("Adam", make_params(), lr=0.2, betas=(0.8, 0.9))
    assert isinstance(opt, Adam) and opt.param_groups[0]["lr"] == 0.2
    assert isinstance(by_name("adamw", make_params()), AdamW)
    with pytest.raises(ValueError, match=r"unknown optimizer 'adamax'; valid names: .*adagrad.*sgd"):
        by_name("adamax", make_params())
    with pytest.raises(TypeError, match="has no option.*momentum.*accepts: lr, betas"):
        by_name("adam", make_params(), momentum=0.9)


# --------------------------------------------------------------------------- clear errors


@pytest.mark.parametrize("cls", [SGD, Adam, AdamW, RMSprop, Adagrad])
def test_negative_lr_is_refused(cls):
    with pytest.raises(ValueError, match=rf"{cls.__name__}: lr must be a finite number >= 0, got -0.1"):
        cls(make_params(), lr=-0.1)


@pytest.mark.parametrize("cls", [SGD, Adam, RMSprop, Adagrad])
def test_empty_parameter_list_is_refused(cls):
    with pytest.raises(ValueError, match=rf"{cls.__name__}: got an empty parameter list"):
        cls([], lr=0.1)
    with pytest.raises(ValueError, match="empty parameter list"):
        cls(iter(()), lr=0.1)


def test_other_bad_arguments():
    model = nn.Linear(2, 2)
    with pytest.raises(TypeError, match=r"pass model.parameters\(\)"):
        SGD(model, lr=0.1)
    with pytest.raises(ValueError, match="nesterov=True needs momentum > 0"):
        SGD(make_params(), lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match=r"Adam: betas\[1\] must be in \[0.0, 1.0\), got 1.0"):
        Adam(make_params(), betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="more than one place"):
        p = Parameter(np.zeros(2))
        SGD([p, p], lr=0.1)
    with pytest.raises(ValueError, match="lr must be a finite number >= 0"):
        SGD([{"params": make_params(), "lr": float("nan")}], lr=0.1)
    with pytest.raises(TypeError, match="can only optimize Tensors"):
        SGD([np.zeros(3)], lr=0.1)


@pytest.mark.parametrize("cls", [SGD, Adam, AdamW, RMSprop, Adagrad])
def test_gradient_of_the_wrong_shape_is_refused(cls):
    p = Parameter(np.zeros((3, 2)))
    with pytest.raises(ShapeError, match=r"assigned grad has shape \(2,\) but the tensor has shape \(3, 2\)"):
        p.grad = np.ones(2)  # would broadcast silently into the (3, 2) buffers; refused, as in PyTorch
    p.grad_array = np.ones(2)  # even behind the check's back, the optimizer refuses it
    with pytest.raises(ShapeError, match=r"parameter of shape \(3, 2\) has a gradient of shape \(2,\)"):
        cls([p], lr=0.1).step()


# --------------------------------------------------------------------------- clipping


def grads_for_clipping():
    rng = np.random.default_rng(7)
    params = [Parameter(np.zeros((3, 4))), Parameter(np.zeros(5)), Parameter(np.zeros(2))]
    params[0].grad, params[1].grad = rng.normal(size=(3, 4)) * 3, rng.normal(size=5)
    return params  # params[2] has no gradient


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    torch = pytest.importorskip("torch")
    params = grads_for_clipping()
    tparams = [torch.zeros(p.shape, dtype=torch.float64, requires_grad=True) for p in params]
    for p, tp in zip(params, tparams, strict=True):
        if p.grad is not None:
            tp.grad = torch.from_numpy(p.grad.numpy().copy())
    total = clip_grad_norm_(params, max_norm, norm_type=norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(tparams, max_norm, norm_type=norm_type)
    assert isinstance(total, deltaprop.Tensor) and total.ndim == 0  # a 0-d tensor, as PyTorch returns
    assert total == pytest.approx(float(ttotal), rel=1e-12)
    for p, tp in zip(params[:2], tparams[:2], strict=True):
        np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=1e-12, atol=0)


def test_clip_grad_norm_by_hand():
    p = one_param([0.0, 0.0], [3.0, 4.0])
    assert clip_grad_norm_([p], 1.0) == pytest.approx(5.0)
    np.testing.assert_allclose(p.grad, [3.0 / (5 + 1e-6), 4.0 / (5 + 1e-6)], rtol=1e-15)
    q = one_param([0.0], [0.5])
    assert clip_grad_norm_(q, 1.0) == 0.5  # a single Tensor is accepted; small grads unchanged
    assert q.grad[0] == 0.5
    assert clip_grad_norm_([Parameter(np.zeros(2))], 1.0) == 0.0  # no grads at all


def test_clip_grad_norm_nonfinite():
    p = one_param([0.0, 0.0], [np.inf, 1.0])
    with pytest.raises(NonFiniteError, match="total gradient norm is inf"):
        clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    with pytest.raises(ValueError, match="max_norm must be >= 0"):
        clip_grad_norm_([p], -1.0)


def test_clip_grad_value_clamps_in_place():
    params = grads_for_clipping()
    expected = [np.clip(p.grad, -0.7, 0.7) for p in params[:2]]
    grad0 = params[0].grad
    clip_grad_value_(params, 0.7)
    assert params[0].grad is grad0
    for p, e in zip(params[:2], expected, strict=True):
        np.testing.assert_array_equal(p.grad, e)
    assert params[2].grad is None
