"""Every loss module against torch.nn.functional (values and gradients), for each reduction."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
import deltaprop.nn as nn

REDUCTIONS = ["mean", "sum", "none"]
rng = np.random.default_rng(0)
PRED = rng.standard_normal((5, 3))
TARGET = rng.standard_normal((5, 3))
PROB = rng.uniform(0.05, 0.95, (5, 3))
BINARY = (rng.uniform(size=(5, 3)) > 0.5).astype(np.float64)
LABELS = np.array([0, 2, 1, 2, 0])


def _compare(ours_out, ours_leaf, theirs_out, theirs_leaf, torch, seed_shape) -> None:
    v = np.random.default_rng(1).standard_normal(seed_shape)
    ours_out.backward(v)
    theirs_out.backward(torch.tensor(v))
    np.testing.assert_allclose(ours_out.array, theirs_out.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours_leaf.grad, theirs_leaf.grad.numpy(), rtol=1e-9, atol=1e-12)


CASES = [
    ("mse", lambda r: nn.MSELoss(reduction=r), lambda F, p, t, r: F.mse_loss(p, t, reduction=r), PRED,
     TARGET),
    ("l1", lambda r: nn.L1Loss(reduction=r), lambda F, p, t, r: F.l1_loss(p, t, reduction=r), PRED, TARGET),
    (
        "huber",
        lambda r: nn.HuberLoss(r, delta=0.7),
        lambda F, p, t, r: F.huber_loss(p, t, reduction=r, delta=0.7),
        PRED,
        TARGET,
    ),
    (
        "bce",
        lambda r: nn.BCELoss(reduction=r),
        lambda F, p, t, r: F.binary_cross_entropy(p, t, reduction=r),
        PROB,
        BINARY,
    ),
    (
        "bce_logits",
        lambda r: nn.BCEWithLogitsLoss(reduction=r),
        lambda F, p, t, r: F.binary_cross_entropy_with_logits(p, t, reduction=r),
        PRED * 10,
        BINARY,
    ),
    (
        "cross_entropy",
        lambda r: nn.CrossEntropyLoss(reduction=r),
        lambda F, p, t, r: F.cross_entropy(p, t, reduction=r),
        PRED,
        LABELS,
    ),
    (
        "cross_entropy_smoothed",
        lambda r: nn.CrossEntropyLoss(reduction=r, label_smoothing=0.2),
        lambda F, p, t, r: F.cross_entropy(p, t, reduction=r, label_smoothing=0.2),
        PRED,
        LABELS,
    ),
    (
        "cross_entropy_probabilities",
        lambda r: nn.CrossEntropyLoss(reduction=r),
        lambda F, p, t, r: F.cross_entropy(p, t, reduction=r),
        PRED,
        PROB / PROB.sum(1, keepdims=True),
    ),
    (
        "cross_entropy_probabilities_smoothed",
        lambda r: nn.CrossEntropyLoss(reduction=r, label_smoothing=0.1),
        lambda F, p, t, r: F.cross_entropy(p, t, reduction=r, label_smoothing=0.1),
        PRED,
        PROB / PROB.sum(1, keepdims=True),
    ),
    (
        "nll",
        lambda r: nn.NLLLoss(reduction=r),
        lambda F, p, t, r: F.nll_loss(p, t, reduction=r),
        PRED - np.log(np.exp(PRED).sum(1, keepdims=True)),
        LABELS,
    ),
]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name, ours, theirs, pred, target", CASES, ids=[c[0] for c in CASES])
def test_loss_matches_torch(name, ours, theirs, pred, target, reduction) -> None:
    torch = pytest.importorskip("torch")
    p = dp.tensor(pred, requires_grad=True)
    out = ours(reduction)(p, dp.tensor(target))
    tp = torch.tensor(pred, requires_grad=True)
    tout = theirs(torch.nn.functional, tp, torch.tensor(target), reduction)
    assert out.shape == tuple(tout.shape)
    _compare(out, p, tout, tp, torch, out.shape)


@pytest.mark.parametrize("name, ours, theirs, pred, target", CASES, ids=[c[0] for c in CASES])
def test_loss_gradient_passes_gradcheck(name, ours, theirs, pred, target) -> None:
    loss = ours("mean")
    assert dp.gradcheck(lambda p: loss(p, dp.tensor(target)), pred)


def test_squared_error_loss_is_half_the_summed_square_per_example() -> None:
    p = dp.tensor(PRED, requires_grad=True)
    out = nn.SquaredErrorLoss()(p, dp.tensor(TARGET))
    assert out.item() == pytest.approx(0.5 * ((PRED - TARGET) ** 2).sum(axis=1).mean(), rel=1e-12)
    out.backward()
    np.testing.assert_allclose(p.grad, (PRED - TARGET) / len(PRED), rtol=1e-12)
    per = nn.SquaredErrorLoss("none")(dp.tensor(PRED), dp.tensor(TARGET))
    np.testing.assert_allclose(per.array, 0.5 * ((PRED - TARGET) ** 2).sum(axis=1), rtol=1e-12)


def test_loss_target_gradients_where_torch_gives_them() -> None:
    torch = pytest.importorskip("torch")
    p, t = dp.tensor(PRED), dp.tensor(TARGET, requires_grad=True)
    nn.MSELoss()(p, t).backward()
    tt = torch.tensor(TARGET, requires_grad=True)
    torch.nn.functional.mse_loss(torch.tensor(PRED), tt).backward()
    np.testing.assert_allclose(t.grad, tt.grad.numpy(), rtol=1e-10)


def test_losses_keep_float32() -> None:
    p = dp.tensor(PRED.astype(np.float32), requires_grad=True)
    for loss, target in [
        (nn.MSELoss(), TARGET),
        (nn.CrossEntropyLoss(), LABELS),
        (nn.BCEWithLogitsLoss(), BINARY),
    ]:
        out = loss(p, dp.tensor(target) if target is LABELS else target)
        assert out.dtype == np.float32, loss
        p.grad = None
        out.backward()
        assert p.grad.dtype == np.float32


def test_loss_errors_name_the_loss_shapes_and_fix() -> None:
    with pytest.raises(ValueError, match="reduction must be"):
        nn.MSELoss("avg")
    with pytest.raises(dp.ShapeError, match=r"mse_loss.*\(5, 3\).*\(5,\).*reshape"):
        nn.MSELoss()(dp.tensor(PRED), dp.tensor(TARGET[:, 0]))
    with pytest.raises(ValueError, match="binary_cross_entropy.*probabilities"):
        nn.BCELoss()(dp.tensor(PRED * 5), dp.tensor(BINARY))
    with pytest.raises(ValueError, match="label_smoothing"):
        nn.CrossEntropyLoss(label_smoothing=1.5)(dp.tensor(PRED), dp.tensor(LABELS))


def test_loss_by_name() -> None:
    assert isinstance(nn.loss_by_name("cross-entropy"), nn.CrossEntropyLoss)
    assert set(nn.LOSSES) >= {"mse", "cross_entropy", "bce", "bce_with_logits", "nll", "l1", "huber"}
    with pytest.raises(ValueError, match="unknown loss 'nope'"):
        nn.loss_by_name("nope")
