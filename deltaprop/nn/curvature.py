"""What second-order training needs to know about a loss: its curvature in the network's outputs.

Gauss-Newton and Levenberg-Marquardt minimise a summed objective E(z) of the
network's outputs z (N examples x K outputs) and approximate its Hessian in
the weights by ``J^T H J``, where J = dz/dw and H = d^2E/dz^2 is the Hessian
in the outputs. So each loss that supports them describes, for its own
output-space objective:

- ``targets(y, output)``: the targets as an (N, K) float64 array (class labels
  become one-hot rows, label smoothing included);
- ``objective(output, q)``: E summed over examples;
- ``gradient(output, q)``: dE/dz, (N, K);
- ``hessian_times(output, q, J3)``: ``H_n J_n`` for every example, with J3 of
  shape (N, K, P), computed without forming the K x K matrices H_n.

A loss module returns one of these from ``output_curvature()`` (None means
"not supported": second-order optimizers then refuse it by name). The
optimizers never look at the loss's class, so a new loss gains second-order
training by giving its curvature here.
"""

from __future__ import annotations

import numpy as np


class SquaredResiduals:
    """E = 1/2 sum (z - q)^2: H is the identity, so J^T H J = J^T J (classic LM)."""

    def targets(self, y: np.ndarray, output: np.ndarray) -> np.ndarray:
        return np.asarray(y, dtype=np.float64).reshape(output.shape)

    def objective(self, output: np.ndarray, q: np.ndarray) -> float:
        e = output.astype(np.float64, copy=False) - q
        return 0.5 * float(np.sum(e * e))

    def gradient(self, output: np.ndarray, q: np.ndarray) -> np.ndarray:
        return output.astype(np.float64, copy=False) - q

    def hessian_times(self, output: np.ndarray, q: np.ndarray, J3: np.ndarray) -> np.ndarray:
        return J3


class SoftmaxCrossEntropy:
    """E = sum_n [logsumexp(z_n) sum_k q_nk - z_n . q_n]: H_n = diag(p_n) - p_n p_n^T (scaled by sum q_n)."""

    def __init__(self, label_smoothing: float = 0.0) -> None:
        self.label_smoothing = float(label_smoothing)

    def targets(self, y: np.ndarray, output: np.ndarray) -> np.ndarray:
        if y.ndim == 1 or y.dtype.kind in "iub":
            labels = y.reshape(-1).astype(np.int64)
            q = np.zeros(output.shape, dtype=np.float64)
            q[np.arange(len(labels)), labels] = 1.0
        else:
            q = np.asarray(y, dtype=np.float64).reshape(output.shape)
        eps = self.label_smoothing
        return q * (1 - eps) + eps / output.shape[1] if eps else q

    def objective(self, output: np.ndarray, q: np.ndarray) -> float:
        z = output.astype(np.float64, copy=False)
        zmax = z.max(axis=1, keepdims=True)
        lse = zmax[:, 0] + np.log(np.exp(z - zmax).sum(axis=1))
        return float(np.sum(lse * q.sum(axis=1) - np.sum(z * q, axis=1)))

    def gradient(self, output: np.ndarray, q: np.ndarray) -> np.ndarray:
        return _softmax(output) * q.sum(axis=1, keepdims=True) - q

    def hessian_times(self, output: np.ndarray, q: np.ndarray, J3: np.ndarray) -> np.ndarray:
        p = _softmax(output)
        # (diag(p) - p p^T) J = p * (J - p^T J), one example at a time, all at once
        return p[:, :, None] * (J3 - np.einsum("nk,nkp->np", p, J3)[:, None, :])


class SigmoidCrossEntropy:
    """E = sum log(1 + e^z) - q z per output: H = diag(s (1 - s)) with s = sigmoid(z)."""

    def targets(self, y: np.ndarray, output: np.ndarray) -> np.ndarray:
        return np.asarray(y, dtype=np.float64).reshape(output.shape)

    def objective(self, output: np.ndarray, q: np.ndarray) -> float:
        z = output.astype(np.float64, copy=False)
        return float(np.sum(np.logaddexp(0.0, z) - q * z))

    def gradient(self, output: np.ndarray, q: np.ndarray) -> np.ndarray:
        return _sigmoid(output) - q

    def hessian_times(self, output: np.ndarray, q: np.ndarray, J3: np.ndarray) -> np.ndarray:
        s = _sigmoid(output)
        return J3 * (s * (1 - s))[:, :, None]


def _softmax(output: np.ndarray) -> np.ndarray:
    z = output.astype(np.float64, copy=False)
    p = np.exp(z - z.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True)


def _sigmoid(output: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-output.astype(np.float64, copy=False)))
