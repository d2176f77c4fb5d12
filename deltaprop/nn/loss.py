"""Loss modules: thin wrappers over the fused loss ops in `deltaprop.ops.losses`."""

from __future__ import annotations

from deltaprop.nn import functional as F
from deltaprop.nn.curvature import SigmoidCrossEntropy, SoftmaxCrossEntropy, SquaredResiduals
from deltaprop.nn.module import Module
from deltaprop.tensor import Tensor


class _Loss(Module):
    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(
                f"{type(self).__name__}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}"
            )
        self.reduction = reduction

    def output_curvature(self) -> SquaredResiduals | SoftmaxCrossEntropy | SigmoidCrossEntropy | None:
        """This loss's objective and Hessian in the network's outputs, for second-order optimizers.

        None: the loss does not support Gauss-Newton curvature (see deltaprop.nn.curvature).
        """
        return None

    def extra_repr(self) -> str:
        return "" if self.reduction == "mean" else f"reduction={self.reduction!r}"


class MSELoss(_Loss):
    """Mean of (prediction - target)^2 over every element."""

    def forward(self, prediction: Tensor, target: Tensor) -> Tensor:
        return F.mse_loss(prediction, target, self.reduction)

    def output_curvature(self) -> SquaredResiduals:
        return SquaredResiduals()


class SquaredErrorLoss(_Loss):
    """The textbook E = 1/2 ||target - prediction||^2, averaged over examples."""

    def forward(self, prediction: Tensor, target: Tensor) -> Tensor:
        return F.squared_error_loss(prediction, target, self.reduction)

    def output_curvature(self) -> SquaredResiduals:
        return SquaredResiduals()


class L1Loss(_Loss):
    def forward(self, prediction: Tensor, target: Tensor) -> Tensor:
        return F.l1_loss(prediction, target, self.reduction)


class HuberLoss(_Loss):
    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction)
        self.delta = delta

    def forward(self, prediction: Tensor, target: Tensor) -> Tensor:
        return F.huber_loss(prediction, target, self.reduction, self.delta)


class CrossEntropyLoss(_Loss):
    """Softmax + cross-entropy from raw scores; targets are labels (N,) or probabilities (N, C)."""

    def __init__(self, reduction: str = "mean", label_smoothing: float = 0.0) -> None:
        super().__init__(reduction)
        self.label_smoothing = label_smoothing

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        return F.cross_entropy(logits, target, self.reduction, self.label_smoothing)

    def output_curvature(self) -> SoftmaxCrossEntropy:
        return SoftmaxCrossEntropy(self.label_smoothing)


class NLLLoss(_Loss):
    def forward(self, log_probs: Tensor, target: Tensor) -> Tensor:
        return F.nll_loss(log_probs, target, self.reduction)


class BCELoss(_Loss):
    def forward(self, probability: Tensor, target: Tensor) -> Tensor:
        return F.binary_cross_entropy(probability, target, self.reduction)


class BCEWithLogitsLoss(_Loss):
    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        return F.binary_cross_entropy_with_logits(logits, target, self.reduction)

    def output_curvature(self) -> SigmoidCrossEntropy:
        return SigmoidCrossEntropy()


LOSSES: dict[str, type[_Loss]] = {
    "mse": MSELoss,
    "squared_error": SquaredErrorLoss,
    "l1": L1Loss,
    "huber": HuberLoss,
    "cross_entropy": CrossEntropyLoss,
    "nll": NLLLoss,
    "bce": BCELoss,
    "bce_with_logits": BCEWithLogitsLoss,
    "log_loss": BCEWithLogitsLoss,
}


def loss_by_name(name: str) -> _Loss:
    """The loss module for a name such as 'cross_entropy' (for configs and the CLI)."""
    key = name.lower().replace("-", "_")
    if key not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose one of {sorted(LOSSES)}")
    return LOSSES[key]()
