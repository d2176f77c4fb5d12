"""`HSICBottleneck`: each hidden layer trained on an information objective, no backward pass between layers.

Ma, Lewis, Kleijn, "The HSIC Bottleneck: Deep Learning without
Back-Propagation", AAAI 2020 (official code: github.com/choasma/HSIC-bottleneck).

The Hilbert-Schmidt independence criterion of two batches A, B of m rows,
with Gaussian kernel matrices K_A, K_B and the centring matrix H = I - 11^T/m:

    HSIC(A, B) = (m - 1)^-2 tr(K_A H K_B H),   K(a, a') = exp(-|a - a'|^2 / (2 sigma^2 d))

(d: the number of columns; dividing by d, as the official code does, lets one
sigma serve layers of any width). Each hidden layer's output Z_i, computed from
the detached output of the layer below, is trained on

    min over layer i's weights:  HSIC(Z_i, X) - beta HSIC(Z_i, Y)

keep what predicts the labels Y (one-hot rows), forget the rest of the input
X. No gradient crosses a layer. The paper then appends an output layer
trained with SGD on the loss ("format training"); here the output layer is
trained on the loss at every step, from the detached last hidden layer, so one
run does both (the paper trains it after the HSIC phase, on frozen features).

``normalized=True`` (the default) uses the normalized criterion
nHSIC(A, B) = HSIC(A, B) / sqrt(HSIC(A, A) HSIC(B, B)), a kernel correlation
in [0, 1], so beta weighs two numbers of the same scale whatever the width or
the kernel; the paper's experiments use a normalized HSIC too (the official code's
CCA-style variant, which needs an m x m matrix inverse, is not implemented).
``normalized=False`` is the plain estimator above.

Defaults: ``sigma`` = 5 (the official configs' kernel width), ``beta`` = 2;
trained with Adam (the CLI default), whose step size does not depend on the
objective's small scale.
"""

from __future__ import annotations

import math
from typing import Any

from deltaprop.rules.base import Rule, check_positive
from deltaprop.rules.local import (
    affine_backward,
    finite,
    forward_and_loss,
    output_delta,
    targets_as_rows,
)
from deltaprop.tensor import Tensor, no_grad


def gaussian_gram(z: Tensor, sigma: float) -> Tensor:
    """K_ij = exp(-|z_i - z_j|^2 / (2 sigma^2 d)) for the rows of z (d = its columns)."""
    squares = (z * z).sum(axis=1, keepdims=True)
    distances = squares + squares.T - 2.0 * (z @ z.T)
    return (distances * (-1.0 / (2.0 * sigma * sigma * z.shape[1]))).exp()


def centred(k: Tensor) -> Tensor:
    """H K H: the kernel matrix with its row and column means removed."""
    return k - k.mean(axis=0, keepdims=True) - k.mean(axis=1, keepdims=True) + k.mean()


def hsic(k_a: Tensor, centred_b: Tensor) -> Tensor:
    """HSIC from K_A and H K_B H: tr(K_A H K_B H) / (m-1)^2, i.e. sum(K_A * H K_B H) / (m-1)^2."""
    m = k_a.shape[0]
    return (k_a * centred_b).sum() / ((m - 1) ** 2)


class HSICBottleneck(Rule):
    """Hidden layers minimise HSIC(Z, X) - beta HSIC(Z, Y); the output layer learns the loss (Ma et al.)."""

    name = "hsic-bottleneck"

    def __init__(self, beta: float = 2.0, sigma: float = 5.0, normalized: bool = True,
                 alignment_every: int = 10) -> None:
        super().__init__(alignment_every)
        self.beta = check_positive("HSICBottleneck", "beta", beta, allow_zero=True)
        self.sigma = check_positive("HSICBottleneck", "sigma", sigma)
        self.normalized = bool(normalized)

    def gradients(self, model: Any, loss_fn: Any, x: Any, y: Any) -> tuple[float, Any]:
        passes, output, loss, value = forward_and_loss(self.bound(self.network), loss_fn, x, y)
        if not finite(value):
            return value, output
        affine_backward(passes[-1], output_delta(passes[-1], loss))
        if len(passes) == 1:
            return value, output
        m = output.shape[0]
        if m < 2:
            raise ValueError("HSICBottleneck: HSIC needs batches of at least 2 examples; use batch_size >= 2")
        inputs = passes[0].x.array.reshape(m, -1)
        labels = targets_as_rows(y, self.bound(self.network).output.width, inputs.dtype, "HSICBottleneck")
        with no_grad():
            input_kernel = centred(gaussian_gram(Tensor._wrap(inputs), self.sigma))
            label_kernel = centred(gaussian_gram(Tensor._wrap(labels), self.sigma))
        for p in passes[:-1]:
            objective = self.objective(p.h.reshape(m, -1), input_kernel, label_kernel)
            objective.backward()
            affine_backward(p, p.a_leaf.grad_array)
        return value, output

    def objective(self, z: Tensor, input_kernel: Tensor, label_kernel: Tensor) -> Tensor:
        """HSIC(Z, X) - beta HSIC(Z, Y) (normalized or plain) for one layer's output rows Z."""
        k = gaussian_gram(z, self.sigma)
        to_inputs, to_labels = hsic(k, input_kernel), hsic(k, label_kernel)
        if not self.normalized:
            return to_inputs - self.beta * to_labels
        self_term = hsic(k, centred(k)).clip(min=1e-12).sqrt()  # > 0 even for a constant layer
        scale_x = math.sqrt(max(hsic(input_kernel, input_kernel).item(), 1e-30))
        scale_y = math.sqrt(max(hsic(label_kernel, label_kernel).item(), 1e-30))
        return (to_inputs / scale_x - self.beta * to_labels / scale_y) / self_term

    def __repr__(self) -> str:
        return f"HSICBottleneck(beta={self.beta:g}, sigma={self.sigma:g}, normalized={self.normalized})"
