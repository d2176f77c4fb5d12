"""Levenberg-Marquardt, Gauss-Newton, natural gradient and L-BFGS: steps checked against NumPy and PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn
from deltaprop.optim import (
    LBFGS,
    GaussNewton,
    LevenbergMarquardt,
    NaturalGradient,
    by_name,
    residual_jacobian,
)
from deltaprop.optim.jacobian import assign_params, flatten_params, model_output


def sine_data(n=100, dtype=np.float32):
    x = np.linspace(-np.pi, np.pi, n, dtype=dtype).reshape(-1, 1)
    return x, np.sin(x)


def tanh_net(hidden=10, seed=0, inputs=1, outputs=1):
    dp.manual_seed(seed)
    return nn.Sequential(nn.Linear(inputs, hidden), nn.Tanh(), nn.Linear(hidden, outputs))


def near_teacher(seed=0):
    """A float64 2-3-1 net 0.05 away from a teacher that made the targets (GN steps are accepted there).

    40 examples for 13 parameters keep J^T J well conditioned (cond ~ 1e6), so solves are comparable.
    """
    teacher = tanh_net(3, seed, inputs=2).double()
    x = np.random.default_rng(seed).normal(size=(40, 2))
    y = model_output(teacher, x)
    student = tanh_net(3, seed, inputs=2).double()
    params = list(student.parameters())
    w = flatten_params(params)
    assign_params(params, w + 0.05 * np.random.default_rng(seed).normal(size=w.size))
    return student, x, y


def squared_error_gradient(model, x, y):
    """d(1/2 sum e^2)/dw by the engine's ordinary backward (independent of the Jacobian code)."""
    model.zero_grad()
    loss = nn.SquaredErrorLoss(reduction="sum")(model(dp.Tensor(x)), dp.Tensor(y))
    loss.backward()
    return np.concatenate([p.grad_array.ravel() for p in model.parameters()])


# --------------------------------------------------------------------------- the LM step itself
def test_lm_step_with_tiny_mu_is_the_gauss_newton_step_solved_by_numpy():
    model, x, y = near_teacher()
    params = list(model.parameters())
    w0 = flatten_params(params)
    out, J = residual_jacobian(model, x)
    e = (out - y).ravel()
    expected = np.linalg.solve(J.T @ J, -J.T @ e)
    opt = LevenbergMarquardt(model.parameters(), mu=1e-12)
    opt.train_step(model, nn.MSELoss(), x, y)
    assert opt.last_step["accepted"] and opt.last_step["trials"] == 1
    np.testing.assert_allclose(flatten_params(params) - w0, expected, rtol=1e-6, atol=1e-10)
    assert opt.param_groups[0]["mu"] == pytest.approx(1e-13)


def test_lm_step_with_huge_mu_is_gradient_descent_with_step_one_over_mu():
    model, x, y = near_teacher(seed=1)
    params = list(model.parameters())
    w0 = flatten_params(params)
    gradient = squared_error_gradient(model, x, y)
    mu = 1e7
    opt = LevenbergMarquardt(model.parameters(), mu=mu, mu_max=1e12)
    opt.train_step(model, nn.SquaredErrorLoss(), x, y)
    np.testing.assert_allclose(flatten_params(params) - w0, -gradient / mu, rtol=1e-4, atol=1e-14)


def cube_closure(w):
    """Residual e(w) = w^3 - 1: the Gauss-Newton step from w = 0.1 overshoots by ~30."""
    return lambda: w * w * w - 1.0


def test_rejected_steps_grow_mu_until_the_loss_falls():
    w = nn.Parameter(np.array([0.1]))
    opt = LevenbergMarquardt([w], mu=1e-3)
    before = opt.step(cube_closure(w))
    assert before == pytest.approx(0.5 * 0.999**2)
    step = opt.last_step
    assert step["trials"] > 1  # at least one rejected trial
    assert step["accepted"] and step["objective_after"] < before
    # mu was multiplied by 10 per rejection, then by 0.1 on acceptance
    assert opt.param_groups[0]["mu"] == pytest.approx(1e-3 * 10 ** (step["trials"] - 1) * 0.1)
    assert 0.5 * float(w.array[0] ** 3 - 1) ** 2 == pytest.approx(step["objective_after"])


def test_mu_max_stops_training_and_restores_the_parameters():
    w = nn.Parameter(np.array([1.0]))  # the exact minimum: no step can lower the loss
    opt = LevenbergMarquardt([w], mu=1e-3, mu_max=1e3)
    opt.step(cube_closure(w))
    assert opt.should_stop() and "mu_max" in opt.stopped_reason
    assert w.array[0] == 1.0
    assert opt.last_step["trials"] == 7  # mu = 1e-3 ... 1e3, then past mu_max


def test_chunked_jacobian_gives_the_same_step():
    steps = []
    for rows in (None, 7):
        model, x, y = near_teacher(seed=2)
        w0 = flatten_params(list(model.parameters()))
        opt = LevenbergMarquardt(model.parameters(), max_jacobian_rows=rows)
        opt.train_step(model, nn.MSELoss(), x, y)
        steps.append(flatten_params(list(model.parameters())) - w0)
    np.testing.assert_allclose(steps[1], steps[0], rtol=1e-9, atol=1e-13)


def test_train_step_returns_the_loss_before_the_step():
    model, x, y = near_teacher(seed=3)
    expected = float(np.mean((model_output(model, x) - y) ** 2))
    assert LevenbergMarquardt(model.parameters()).train_step(model, nn.MSELoss(), x, y)[0] == pytest.approx(
        expected
    )


# --------------------------------------------------------------------------- LM against Adam on sin(x)
def epochs_to_target(model, step, target=1e-4, max_epochs=3000):
    x, y = sine_data()
    for epoch in range(1, max_epochs + 1):
        step(model, x, y)
        if float(np.mean((model_output(model, x) - y) ** 2)) < target:
            return epoch
    return None


def test_lm_fits_sine_to_1e_4_in_fewer_epochs_than_adam():
    lm_model = tanh_net(seed=0)
    lm = LevenbergMarquardt(lm_model.parameters())
    lm_epochs = epochs_to_target(
        lm_model, lambda m, x, y: lm.train_step(m, nn.MSELoss(), x, y)[0], max_epochs=200
    )

    adam_model = tanh_net(seed=0)
    adam = dp.optim.Adam(adam_model.parameters(), lr=0.01)

    def adam_step(m, x, y):
        adam.zero_grad()
        nn.MSELoss()(m(dp.Tensor(x)), dp.Tensor(y)).backward()
        adam.step()

    adam_epochs = epochs_to_target(adam_model, adam_step, max_epochs=3000)
    assert lm_epochs is not None and lm_epochs <= 50
    assert adam_epochs is None or lm_epochs < adam_epochs


def test_lm_through_deltaprop_fit():
    x, y = sine_data()
    model = tanh_net(seed=0)
    opt = by_name("lm", model.parameters())
    history = dp.fit(model, x, y, loss="mse", optimizer=opt, epochs=100, target_loss=1e-4, progress=False)
    assert history.history["loss"][-1] <= 1e-4
    assert history.epochs_run < 100
    assert float(np.mean((model_output(model, x) - y) ** 2)) < 1e-4


def test_fit_stops_when_lm_reaches_mu_max():
    """A linear model on exactly linear data: after the exact step nothing lowers the loss, mu climbs."""
    x = np.random.default_rng(0).normal(size=(30, 2))
    y = x @ np.array([[2.0], [-1.0]]) + 0.5
    model = nn.Linear(2, 1, dtype=np.float64)
    opt = LevenbergMarquardt(model.parameters(), mu=1e-3, mu_max=1e2)
    history = dp.fit(model, x, y, loss="mse", optimizer=opt, epochs=50, progress=False)
    assert history.epochs_run < 50
    assert "LevenbergMarquardt" in history.stopped_reason and "mu_max" in history.stopped_reason
    np.testing.assert_allclose(model.weight.array, [[2.0, -1.0]], atol=1e-8)


def test_fit_gives_lbfgs_the_whole_training_set():
    """fit's default batch_size=32 must not split L-BFGS's data: same losses as a hand loop, full batch."""
    x, y = sine_data(50)
    losses = []
    for through_fit in (True, False):
        model = tanh_net(5, seed=0)
        opt = LBFGS(model.parameters())
        if through_fit:
            losses.append(dp.fit(model, x, y, loss="mse", optimizer=opt, epochs=5, progress=False)["loss"])
            continue

        def closure(model=model, opt=opt):
            opt.zero_grad()
            loss = nn.MSELoss()(model(dp.Tensor(x)), dp.Tensor(y))
            loss.backward()
            return loss

        losses.append([float(opt.step(closure)) for _ in range(5)])
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-5)
    assert losses[0][-1] < 1e-3 * losses[0][0]


def test_gauss_newton_with_line_search_fits_sine():
    x, y = sine_data()
    model = tanh_net(seed=0)
    opt = GaussNewton(model.parameters())
    losses = [opt.train_step(model, nn.MSELoss(), x, y)[0] for _ in range(60)]
    assert losses[-1] < 1e-3 < losses[0]
    assert all(b <= a for a, b in zip(losses, losses[1:], strict=False))  # line search never goes up


# --------------------------------------------------------------------------- classification
def blobs(n=80, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, size=n)
    centers = np.array([[0.0, 2.0], [2.0, -1.0], [-2.0, -1.0]])
    x = (centers[labels] + rng.normal(scale=0.8, size=(n, 2))).astype(np.float32)
    return x, labels.astype(np.int64)


def ce_loss(model, x, labels):
    return float(nn.CrossEntropyLoss()(model(dp.Tensor(x)), dp.Tensor(labels)).item())


@pytest.mark.parametrize("fisher", ["kfac", "empirical"])
def test_natural_gradient_decreases_cross_entropy(fisher):
    x, labels = blobs()
    model = tanh_net(hidden=8, seed=1, inputs=2, outputs=3)
    opt = NaturalGradient(model.parameters(), lr=0.2, fisher=fisher)
    start = ce_loss(model, x, labels)
    for _ in range(15):
        opt.train_step(model, nn.CrossEntropyLoss(), x, labels)
    assert ce_loss(model, x, labels) < 0.5 * start


@pytest.mark.parametrize("line_search", [None, "strong_wolfe"])
def test_lbfgs_decreases_cross_entropy(line_search):
    x, labels = blobs()
    model = tanh_net(hidden=8, seed=1, inputs=2, outputs=3)
    opt = LBFGS(model.parameters(), line_search_fn=line_search, lr=1 if line_search else 0.5)
    start = ce_loss(model, x, labels)

    def closure():
        opt.zero_grad()
        loss = nn.CrossEntropyLoss()(model(dp.Tensor(x)), dp.Tensor(labels))
        loss.backward()
        return loss

    for _ in range(3):
        opt.step(closure)
    assert ce_loss(model, x, labels) < 0.5 * start


@pytest.mark.parametrize("cls", [LevenbergMarquardt, GaussNewton])
def test_generalized_gauss_newton_for_cross_entropy(cls):
    x, labels = blobs()
    model = tanh_net(hidden=6, seed=2, inputs=2, outputs=3)
    opt = cls(model.parameters())
    start = ce_loss(model, x, labels)
    losses = [opt.train_step(model, nn.CrossEntropyLoss(), x, labels)[0] for _ in range(10)]
    assert losses[0] == pytest.approx(start)
    assert all(b < a for a, b in zip(losses, losses[1:], strict=False))  # every accepted step lowers it
    assert ce_loss(model, x, labels) < 0.4 * start


def test_ggn_gradient_equals_backprop_gradient_for_cross_entropy_and_bce():
    from deltaprop.optim.levenberg_marquardt import gauss_newton_system

    x, labels = blobs(20)
    for loss_fn, k, target in [
        (nn.CrossEntropyLoss(reduction="sum"), 3, labels),
        (
            nn.BCEWithLogitsLoss(reduction="sum"),
            1,
            (labels == 0).astype(np.float64).reshape(-1, 1),
        ),
    ]:
        model = tanh_net(hidden=4, seed=3, inputs=2, outputs=k).double()
        xd = x.astype(np.float64)
        out, J = residual_jacobian(model, xd)
        curvature = loss_fn.output_curvature()
        G, g = gauss_newton_system(curvature, out, curvature.targets(target, out), J)
        model.zero_grad()
        loss_fn(model(dp.Tensor(xd)), dp.Tensor(target)).backward()
        backprop = np.concatenate([p.grad_array.ravel() for p in model.parameters()])
        np.testing.assert_allclose(g, backprop, rtol=1e-9)
        assert np.all(np.linalg.eigvalsh(G) > -1e-9)  # positive semidefinite


def test_unsupported_loss_names_the_supported_ones():
    model = tanh_net()
    x, y = sine_data(10)
    with pytest.raises(TypeError, match="L1Loss.*MSELoss, SquaredErrorLoss, CrossEntropyLoss"):
        LevenbergMarquardt(model.parameters()).train_step(model, nn.L1Loss(), x, y)


def test_bad_hyperparameters_are_rejected():
    model = tanh_net()
    with pytest.raises(ValueError, match="mu_inc must be > 1"):
        LevenbergMarquardt(model.parameters(), mu_inc=0.5)
    with pytest.raises(ValueError, match="max_jacobian_rows"):
        LevenbergMarquardt(model.parameters(), max_jacobian_rows=0)
    with pytest.raises(ValueError, match="fisher must be"):
        NaturalGradient(model.parameters(), fisher="full")
    with pytest.raises(ValueError, match="strong_wolfe"):
        LBFGS(model.parameters(), line_search_fn="armijo")


def test_registry_names():
    model = tanh_net()
    assert isinstance(by_name("gauss-newton", model.parameters()), GaussNewton)
    assert isinstance(by_name("natural_gradient", model.parameters()), NaturalGradient)
    assert isinstance(by_name("lbfgs", model.parameters(), history_size=5), LBFGS)


def test_lm_state_dict_keeps_mu():
    model, x, y = near_teacher()
    opt = LevenbergMarquardt(model.parameters())
    opt.train_step(model, nn.MSELoss(), x, y)
    other = LevenbergMarquardt(model.parameters())
    other.load_state_dict(opt.state_dict())
    assert other.param_groups[0]["mu"] == opt.param_groups[0]["mu"] == pytest.approx(1e-4)


# --------------------------------------------------------------------------- L-BFGS against PyTorch
@pytest.mark.parametrize("line_search", [None, "strong_wolfe"])
def test_lbfgs_matches_torch_trajectory(line_search):
    torch = pytest.importorskip("torch")
    x, labels = blobs(30, seed=4)
    x = x.astype(np.float64)
    model = tanh_net(hidden=5, seed=4, inputs=2, outputs=3).double()
    tparams = [torch.tensor(p.array.copy(), requires_grad=True) for p in model.parameters()]
    ours = LBFGS(model.parameters(), max_iter=5, history_size=4, line_search_fn=line_search, lr=0.8)
    theirs = torch.optim.LBFGS(tparams, max_iter=5, history_size=4, line_search_fn=line_search, lr=0.8)
    tx, ty = torch.tensor(x), torch.tensor(labels)

    def our_closure():
        ours.zero_grad()
        loss = nn.CrossEntropyLoss()(model(dp.Tensor(x)), dp.Tensor(labels))
        loss.backward()
        return loss

    def their_closure():
        theirs.zero_grad()
        W1, b1, W2, b2 = tparams
        loss = torch.nn.functional.cross_entropy(torch.tanh(tx @ W1.T + b1) @ W2.T + b2, ty)
        loss.backward()
        return loss

    for _ in range(3):
        a = float(ours.step(our_closure))
        b = float(theirs.step(their_closure).detach())
        assert a == pytest.approx(b, rel=1e-9)
        for p, t in zip(model.parameters(), tparams, strict=True):
            np.testing.assert_allclose(p.array, t.detach().numpy(), rtol=1e-7, atol=1e-9)
