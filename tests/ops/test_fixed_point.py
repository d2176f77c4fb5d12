"""`fixed_point` (recurrent backpropagation) and the `PinedaRNN` built on it.

The implicit (Almeida-Pineda) gradient must equal backpropagation through the
unrolled relaxation at convergence, and central finite differences, in float64.
"""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn, ops

H, I, N = 5, 3, 4


def _problem(seed: int = 0, norm: float = 0.8):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((H, H))
    w *= norm / np.linalg.norm(w, 2)  # spectral norm below 1 with tanh: a contraction
    return w, rng.standard_normal((H, I)), rng.standard_normal(H), rng.standard_normal((N, I))


def _relaxed(w, u, b, x, **options):
    drive = ops.linear(x, u, b)
    return dp.fixed_point(lambda s: dp.tanh(ops.linear(s, w) + drive), np.zeros((N, H)), return_info=True,
                          **options)


def _gradients(backward: str, solver: str = "iterate"):
    leaves = [dp.tensor(a, requires_grad=True) for a in _problem()]
    z, info = _relaxed(*leaves, tol=1e-13, max_iter=5000, backward=backward, solver=solver)
    ((z - 0.3) ** 2).sum().backward()
    return [leaf.grad.numpy() for leaf in leaves], info, z.numpy()


@pytest.mark.parametrize("solver", ["iterate", "anderson"])
def test_implicit_gradient_equals_backprop_through_the_unrolled_relaxation(solver) -> None:
    implicit, info, z = _gradients("implicit", solver)
    unrolled, unrolled_info, z_unrolled = _gradients("unroll")
    np.testing.assert_allclose(z, z_unrolled, atol=1e-12)
    for a, b in zip(implicit, unrolled, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6, rtol=1e-6)
    assert info.converged and info.iterations == len(info.residuals) and info.residuals[-1] < 1e-13
    assert info.backward_iterations > 0 and info.backward_residuals[-1] < 1e-13
    if solver == "anderson":  # mixing needs fewer steps than plain iteration
        assert info.iterations < unrolled_info.iterations


def test_implicit_gradient_matches_finite_differences() -> None:
    def relaxed(w, u, b, x):
        return _relaxed(w, u, b, x, tol=1e-14, max_iter=5000)[0]

    assert dp.gradcheck(relaxed, *_problem(1), eps=1e-6, atol=1e-8, rtol=1e-6)


def _recorded(root) -> int:
    """How many recorded (non-leaf) nodes lie below ``root``."""
    seen, stack = set(), [root]
    while stack:
        for parent in stack.pop()._parents:
            if parent is not None and parent._backward is not None and id(parent) not in seen:
                seen.add(id(parent))
                stack.append(parent)
    return len(seen)


def test_the_implicit_backward_keeps_one_application_of_f_not_the_iterations() -> None:
    leaves = [dp.tensor(a, requires_grad=True) for a in _problem()]
    z, info = _relaxed(*leaves, tol=1e-12)
    unrolled, _ = _relaxed(*leaves, tol=1e-12, backward="unroll")
    assert info.iterations > 10
    assert z._op == "fixed_point" and _recorded(z) == 1  # below z: only drive = linear(x, u, b)
    assert _recorded(z._saved[0]) == 3  # what its backward keeps: one f (linear, add, tanh) over drive
    assert _recorded(unrolled) >= 3 * info.iterations  # backward='unroll': every iteration is in the graph


def test_no_convergence_raises_with_the_spectral_norm_hint() -> None:
    w, u, b, x = _problem(norm=3.0)
    with pytest.raises(dp.FixedPointError, match="spectral norm of W") as caught:
        _relaxed(dp.tensor(w), u, b, x * 0 + 5, tol=1e-12, max_iter=40)
    assert "did not converge in 40 iterations" in str(caught.value)


def test_a_fixed_point_without_parameters_is_a_constant() -> None:
    z = dp.fixed_point(lambda s: 0.5 * s + 1.0, np.zeros(3), tol=1e-12)
    np.testing.assert_allclose(z.numpy(), 2.0)
    assert not z.requires_grad
    with pytest.raises(ValueError, match="solver"):
        dp.fixed_point(lambda s: s, np.zeros(3), solver="newton")
    with pytest.raises(ValueError, match="shape"):
        dp.fixed_point(lambda s: dp.tensor(np.zeros(2)), np.zeros(3))


def test_pineda_network_learns_and_reports_its_relaxation(tmp_path) -> None:
    dp.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 2)).astype(np.float32)
    y = (np.sin(x[:, :1]) * np.cos(x[:, 1:])).astype(np.float32)
    model = nn.Sequential(nn.PinedaRNN(2, 16, tol=1e-5, solver="anderson", max_iter=500), nn.Linear(16, 1))
    history = dp.fit(model, x, y, loss="mse", optimizer=dp.optim.Adam(model.parameters(), lr=0.02), epochs=15,
                     batch_size=16, progress=False)
    assert history.history["loss"][-1] < 0.3 * history.history["loss"][0]
    assert model[0].last_info.converged and model[0].last_info.iterations > 1
    dp.save(model, str(tmp_path / "pineda.npz"))
    loaded = dp.load(str(tmp_path / "pineda.npz"))
    np.testing.assert_allclose(loaded(x).numpy(), model(x).numpy(), rtol=1e-5, atol=1e-6)
    assert loaded[0].get_config() == model[0].get_config()
