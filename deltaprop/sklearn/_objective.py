"""The loss scikit-learn's MLPs minimise, term for term, as a loss function `deltaprop.fit` can use.

scikit-learn scales each part of its objective in its own way, and the
learning rate means the same thing only if ours is scaled the same way:

- softmax (multiclass): cross-entropy, averaged over examples;
- logistic (binary, multilabel): binary cross-entropy summed over the
  labels, averaged over examples;
- identity (squared_error): half the squared error, averaged over examples
  and outputs; but scikit-learn's gradient is that of the error summed over
  the outputs (its output delta is ``prediction - y`` whatever their
  number), so with several outputs the loss reported here is scikit-learn's
  and the gradient is scikit-learn's too: the sum's, shifted in value by a
  constant (`_as_reported`);
- exp (poisson): half the Poisson deviance, summed over outputs, averaged
  over examples (constant term included, so ``loss_`` matches);
- plus ``alpha / 2 * sum ||W||^2 / n`` over the weight matrices (not the
  biases), n being the batch's size (or its total sample weight).

With sample weights, fit gets targets with one more column holding each
example's weight, so they travel with their rows through shuffling and
batching; averages become weighted averages, as in scikit-learn.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from deltaprop import ops
from deltaprop.nn import functional as F
from deltaprop.nn.curvature import SigmoidCrossEntropy, SoftmaxCrossEntropy, SquaredResiduals
from deltaprop.tensor import Tensor

#: scikit-learn's ``out_activation_`` for each kind of output
OUT_ACTIVATIONS = ("softmax", "logistic", "identity", "exp")


class SklearnObjective:
    """``objective(output, target) -> loss``: scikit-learn's data term for ``out_activation``, plus L2."""

    def __init__(self, out_activation: str, weights: list[Any], alpha: float, weighted: bool = False) -> None:
        if out_activation not in OUT_ACTIVATIONS:
            raise ValueError(f"SklearnObjective: out_activation must be one of {OUT_ACTIVATIONS}, "
                             f"got {out_activation!r}")
        self.out_activation = out_activation
        self.weights = list(weights)
        self.alpha = float(alpha)
        self.weighted = bool(weighted)

    def __call__(self, output: Tensor, target: Tensor) -> Tensor:
        if self.weighted:
            loss, total_weight = self._weighted_data_term(output, target)
        else:
            loss, total_weight = self._data_term(output, target), output.shape[0]
        if self.alpha and self.weights:
            loss = loss + ops.l2_penalty(*self.weights, scale=self.alpha / total_weight)
        return loss

    # ------------------------------------------------------------------ the data term
    def _data_term(self, output: Tensor, target: Tensor) -> Tensor:
        kind, n, k = self.out_activation, output.shape[0], output.shape[1]
        if kind == "softmax":
            return F.cross_entropy(output, target)
        if kind == "logistic":
            if k == 1:
                return F.binary_cross_entropy_with_logits(output, target)
            return F.binary_cross_entropy_with_logits(output, target, reduction="sum") * (1.0 / n)
        if kind == "identity":
            return _as_reported(F.squared_error_loss(output, target), k)
        return _poisson(output, target.array).sum() * (1.0 / n) + _poisson_constant(target.array) / n

    def _weighted_data_term(self, output: Tensor, target: Tensor) -> tuple[Tensor, float]:
        """(weighted average of the per-example data term, total weight of the batch)."""
        array = target.array
        y, w = array[:, :-1], array[:, -1]
        total = float(w.sum())
        if total <= 0:
            raise ValueError(
                "the sample weights of a batch sum to 0, so its weighted mean loss is undefined; give "
                "positive weights, or a larger batch_size so that every batch holds a weighted example"
            )
        kind, k = self.out_activation, output.shape[1]
        if kind == "softmax":
            per_example = F.cross_entropy(output, Tensor._wrap(y[:, 0].astype(np.int64)), reduction="none")
        elif kind == "logistic":
            per_example = F.binary_cross_entropy_with_logits(output, Tensor._wrap(y), reduction="none")
            per_example = per_example.sum(axis=1)
        elif kind == "identity":
            per_example = F.squared_error_loss(output, Tensor._wrap(y), "none")
            return _as_reported((per_example * Tensor._wrap(w / total)).sum(), k), total
        else:
            constant = float(np.sum(w * _poisson_per_example_constant(y)))
            per_example = _poisson(output, y).sum(axis=1)
            return (per_example * Tensor._wrap(w / total)).sum() + constant / total, total
        return (per_example * Tensor._wrap(w / total)).sum(), total

    # ------------------------------------------------------------------ for second-order solvers
    def output_curvature(self) -> Any:
        """The data term's curvature in the outputs (deltaprop.nn.curvature), for Levenberg-Marquardt.

        Its objective is the data term whose gradient scikit-learn follows,
        summed over examples; `penalty_scale` gives the L2 term alongside it.
        """
        if self.weighted:
            return None
        return {"softmax": SoftmaxCrossEntropy(), "logistic": SigmoidCrossEntropy(),
                "identity": SquaredResiduals()}.get(self.out_activation)

    def penalty_scale(self) -> float:
        """The L2 strength in the curvature's objective (the data term summed over examples): alpha."""
        return self.alpha


def _as_reported(summed: Tensor, n_outputs: int) -> Tensor:
    """The squared error summed over outputs (for its gradient), valued as scikit-learn reports it (mean)."""
    if n_outputs == 1:
        return summed
    return summed + summed.item() * (1.0 / n_outputs - 1.0)


def _poisson(output: Tensor, y: Any) -> Tensor:
    """exp(z) - y z per element: half the Poisson deviance of mean exp(z), less its constant part."""
    return ops.exp(output) - output * Tensor._wrap(y)


def _poisson_per_example_constant(y: np.ndarray) -> np.ndarray:
    """sum over outputs of y log y - y: the part of the deviance that does not depend on the model."""
    from scipy.special import xlogy

    return np.sum(xlogy(y, y) - y, axis=1)


def _poisson_constant(y: Any) -> float:
    return float(np.sum(_poisson_per_example_constant(np.asarray(y, dtype=np.float64))))
