"""Loss modules: thin wrappers over the fused loss ops in `deltaprop.ops.losses`, with PyTorch's signatures.

As in PyTorch, the first positional argument of most losses is the
deprecated ``size_average`` (and of the weighted ones, ``weight``), so pass
``reduction=`` by keyword; a reduction given by position is refused with
that advice rather than misread. Class weights are buffers (they move with
``.to()`` and appear in ``state_dict``), as in PyTorch.
"""

from __future__ import annotations

import inspect
from typing import Any

from deltaprop.nn import functional as F
from deltaprop.nn.curvature import SigmoidCrossEntropy, SoftmaxCrossEntropy, SquaredResiduals
from deltaprop.nn.module import Module
from deltaprop.ops.losses import legacy_reduction
from deltaprop.tensor import Tensor

_REDUCTIONS = ("mean", "sum", "none")


class _Loss(Module):
    def __init__(self, size_average: Any = None, reduce: Any = None, reduction: str = "mean") -> None:
        super().__init__()
        reduction = legacy_reduction(size_average, reduce, reduction, type(self).__name__)
        if reduction not in _REDUCTIONS:
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

    def get_config(self) -> dict[str, Any]:
        """The constructor's arguments but the deprecated size_average/reduce; weights as lists of numbers."""
        config: dict[str, Any] = {}
        for name in inspect.signature(type(self).__init__).parameters:
            if name in ("self", "size_average", "reduce"):
                continue
            value = getattr(self, name)
            config[name] = value.tolist() if isinstance(value, Tensor) else value
        return config


class _WeightedLoss(_Loss):
    weight: Tensor | None
    pos_weight: Tensor | None

    def __init__(self, weight: Any = None, size_average: Any = None, reduce: Any = None,
                 reduction: str = "mean") -> None:  # fmt: skip
        if isinstance(weight, str):  # CrossEntropyLoss('sum'): PyTorch's first argument is weight
            raise ValueError(
                f"{type(self).__name__}: reduction must be passed by keyword (reduction={weight!r}); "
                "the first positional argument is weight"
            )
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", None if weight is None else _as_tensor(weight))


def _as_tensor(value: Any) -> Tensor:
    return value if isinstance(value, Tensor) else Tensor(value)


class MSELoss(_Loss):
    """Mean of (prediction - target)^2 over every element."""

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return F.mse_loss(input, target, reduction=self.reduction)

    def output_curvature(self) -> SquaredResiduals:
        return SquaredResiduals()


class SquaredErrorLoss(_Loss):
    """The textbook E = 1/2 ||target - prediction||^2, averaged over examples (deltaprop's own)."""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)

    def forward(self, prediction: Tensor, target: Tensor) -> Tensor:
        return F.squared_error_loss(prediction, target, self.reduction)

    def output_curvature(self) -> SquaredResiduals:
        return SquaredResiduals()


class L1Loss(_Loss):
    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return F.l1_loss(input, target, reduction=self.reduction)


class HuberLoss(_Loss):
    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction=reduction)
        self.delta = delta

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return F.huber_loss(input, target, reduction=self.reduction, delta=self.delta)


class SmoothL1Loss(_Loss):
    """Huber's loss divided by ``beta`` (PyTorch's SmoothL1Loss)."""

    def __init__(self, size_average: Any = None, reduce: Any = None, reduction: str = "mean",
                 beta: float = 1.0) -> None:  # fmt: skip
        super().__init__(size_average, reduce, reduction)
        self.beta = beta

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return F.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class CrossEntropyLoss(_WeightedLoss):
    """Softmax + cross-entropy from raw scores; targets are labels (N,) or probabilities (N, C)."""

    def __init__(self, weight: Any = None, size_average: Any = None, ignore_index: int = -100,
                 reduce: Any = None, reduction: str = "mean",
                 label_smoothing: float = 0.0) -> None:  # fmt: skip
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        # positional (the order of PyTorch's signature): this runs at every training step
        return F.cross_entropy(input, target, self.weight, None, self.ignore_index, None, self.reduction,
                               self.label_smoothing)  # fmt: skip

    def output_curvature(self) -> SoftmaxCrossEntropy | None:
        if self.weight is not None:
            return None  # class weights change the curvature; second-order optimizers refuse the loss
        return _AllLabelsKept(self.label_smoothing, self.ignore_index)


class _AllLabelsKept(SoftmaxCrossEntropy):
    """Softmax cross-entropy's curvature, refusing labels equal to ``ignore_index`` (it has no such case)."""

    def __init__(self, label_smoothing: float, ignore_index: int) -> None:
        super().__init__(label_smoothing)
        self.ignore_index = ignore_index

    def targets(self, y: Any, output: Any) -> Any:
        if y.dtype.kind in "iu" and bool((y == self.ignore_index).any()):
            raise ValueError(
                f"CrossEntropyLoss: labels equal to ignore_index={self.ignore_index} are not supported by "
                "second-order optimizers; drop those examples, or train with a first-order optimizer"
            )
        return super().targets(y, output)


class NLLLoss(_WeightedLoss):
    def __init__(self, weight: Any = None, size_average: Any = None, ignore_index: int = -100,
                 reduce: Any = None, reduction: str = "mean") -> None:  # fmt: skip
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return F.nll_loss(input, target, self.weight, ignore_index=self.ignore_index,
                          reduction=self.reduction)  # fmt: skip


class BCELoss(_WeightedLoss):
    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return F.binary_cross_entropy(input, target, self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(_WeightedLoss):
    def __init__(self, weight: Any = None, size_average: Any = None, reduce: Any = None,
                 reduction: str = "mean", pos_weight: Any = None) -> None:  # fmt: skip
        super().__init__(weight, size_average, reduce, reduction)
        self.register_buffer("pos_weight", None if pos_weight is None else _as_tensor(pos_weight))

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return F.binary_cross_entropy_with_logits(input, target, self.weight, reduction=self.reduction,
                                                  pos_weight=self.pos_weight)  # fmt: skip

    def output_curvature(self) -> SigmoidCrossEntropy | None:
        return SigmoidCrossEntropy() if self.weight is None and self.pos_weight is None else None


LOSSES: dict[str, type[_Loss]] = {
    "mse": MSELoss,
    "squared_error": SquaredErrorLoss,
    "l1": L1Loss,
    "huber": HuberLoss,
    "smooth_l1": SmoothL1Loss,
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
