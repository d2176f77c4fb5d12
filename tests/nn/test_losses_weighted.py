"""PyTorch's loss options (weight=, ignore_index=, pos_weight=, smooth_l1's beta, N-d class scores):
values and gradients against torch.nn.functional, and against finite differences in float64."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.nn import functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional
rng = np.random.default_rng(5)
LOGITS = rng.standard_normal((6, 4))
LABELS = np.array([0, 3, -100, 1, 3, 2])
WEIGHT = np.array([0.5, 2.0, 1.0, 3.0])
PROBS = rng.dirichlet(np.ones(4), 6)
PRED, TARGET = rng.standard_normal((6, 4)), rng.standard_normal((6, 4))
BINARY = (rng.uniform(size=(6, 4)) > 0.5).astype(np.float64)
SPATIAL = rng.standard_normal((2, 4, 3, 2))
SPATIAL_LABELS = np.array([[[0, 1], [3, -100], [2, 2]], [[1, 1], [0, 3], [-100, 2]]])


def _w(lib):
    return lib.tensor(WEIGHT)


CASES = {  # name: (loss(L, f, x, reduction) for L = torch or deltaprop, f = its functional, input)
    "ce_weight": (
        lambda L, f, x, r: f.cross_entropy(x, L.tensor(np.abs(LABELS) % 4), weight=_w(L), reduction=r),
        LOGITS,
    ),
    "ce_ignore": (lambda L, f, x, r: f.cross_entropy(x, L.tensor(LABELS), reduction=r), LOGITS),
    "ce_ignore_custom": (
        lambda L, f, x, r: f.cross_entropy(x, L.tensor(np.abs(LABELS) % 4), ignore_index=3, reduction=r),
        LOGITS,
    ),
    "ce_weight_ignore_smoothing": (
        lambda L, f, x, r: f.cross_entropy(
            x, L.tensor(LABELS), weight=_w(L), label_smoothing=0.15, reduction=r
        ),
        LOGITS,
    ),
    "ce_probabilities_weight": (
        lambda L, f, x, r: f.cross_entropy(x, L.tensor(PROBS), weight=_w(L), reduction=r),
        LOGITS,
    ),
    "ce_unnormalised_probabilities": (
        lambda L, f, x, r: f.cross_entropy(x, L.tensor(PROBS * 3), reduction=r),
        LOGITS,
    ),
    "ce_spatial": (
        lambda L, f, x, r: f.cross_entropy(x, L.tensor(SPATIAL_LABELS), weight=_w(L), reduction=r),
        SPATIAL,
    ),
    "ce_unbatched": (lambda L, f, x, r: f.cross_entropy(x[0], L.tensor(2), reduction=r), LOGITS),
    "nll_weight_ignore": (
        lambda L, f, x, r: f.nll_loss(f.log_softmax(x, 1), L.tensor(LABELS), weight=_w(L), reduction=r),
        LOGITS,
    ),
    "nll_spatial": (
        lambda L, f, x, r: f.nll_loss(f.log_softmax(x, 1), L.tensor(SPATIAL_LABELS), reduction=r),
        SPATIAL,
    ),
    "smooth_l1": (lambda L, f, x, r: f.smooth_l1_loss(x, L.tensor(TARGET), beta=0.6, reduction=r), PRED),
    "smooth_l1_beta_0": (
        lambda L, f, x, r: f.smooth_l1_loss(x, L.tensor(TARGET), beta=0.0, reduction=r),
        PRED,
    ),
    "mse_weight": (
        lambda L, f, x, r: f.mse_loss(x, L.tensor(TARGET), weight=L.tensor(np.abs(TARGET)), reduction=r),
        PRED,
    ),
    "l1_weight": (
        lambda L, f, x, r: f.l1_loss(x, L.tensor(TARGET), weight=L.tensor(np.abs(TARGET)), reduction=r),
        PRED,
    ),
    "huber_weight": (
        lambda L, f, x, r: f.huber_loss(
            x, L.tensor(TARGET), delta=0.5, weight=L.tensor(np.abs(TARGET)), reduction=r
        ),
        PRED,
    ),
    "bce_weight": (
        lambda L, f, x, r: f.binary_cross_entropy(x.sigmoid(), L.tensor(BINARY), weight=_w(L), reduction=r),
        PRED,
    ),
    "bce_logits_weight_pos_weight": (
        lambda L, f, x, r: f.binary_cross_entropy_with_logits(
            x, L.tensor(BINARY), weight=_w(L), pos_weight=_w(L) + 1, reduction=r
        ),
        PRED,
    ),
}


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_loss_option_matches_torch(name, reduction):
    fn, x = CASES[name]
    ours_x, theirs_x = dp.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ours, theirs = fn(dp, F, ours_x, reduction), fn(torch, TF, theirs_x, reduction)
    assert ours.shape == tuple(theirs.shape)
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-10, atol=1e-12)
    v = np.random.default_rng(0).standard_normal(ours.shape)
    ours.backward(v)
    theirs.backward(torch.tensor(v))
    np.testing.assert_allclose(ours_x.grad, theirs_x.grad.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", sorted(CASES))
def test_loss_option_gradient_passes_gradcheck(name):
    fn, x = CASES[name]
    assert dp.gradcheck(lambda t: fn(dp, F, t, "mean"), x)


def test_weighted_losses_as_modules_keep_their_weights_as_buffers():
    loss = dp.nn.CrossEntropyLoss(weight=dp.tensor(WEIGHT), ignore_index=3)
    assert "weight" in loss.state_dict() and loss.output_curvature() is None
    assert loss.get_config()["weight"] == WEIGHT.astype(np.float32).tolist()
    value = loss(dp.tensor(LOGITS), dp.tensor(np.abs(LABELS) % 4))
    labels = np.abs(LABELS) % 4
    expected = TF.cross_entropy(
        torch.tensor(LOGITS), torch.tensor(labels), weight=torch.tensor(WEIGHT), ignore_index=3
    )
    assert value.item() == pytest.approx(expected.item(), rel=1e-6)
    with pytest.raises(ValueError, match="reduction must be passed by keyword"):
        dp.nn.NLLLoss("sum")


def test_second_order_training_refuses_ignored_labels_rather_than_misreading_them():
    curvature = dp.nn.CrossEntropyLoss().output_curvature()
    with pytest.raises(ValueError, match="ignore_index=-100 are not supported by second-order"):
        curvature.targets(np.array([0, -100]), np.zeros((2, 3)))
