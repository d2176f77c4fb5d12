"""`MLP`: the ``MLP.train`` / ``MLP.predict`` interface of a widely read from-scratch NumPy tutorial.

Readers of that book's companion code can keep their calls::

    from deltaprop.compat import MLP
    trained = MLP.train(x=x, y=y, net_arch=[7, 5, 4], max_iter=500, learning_rate=0.7, debug=True)
    MLP.predict(trained, x)

``net_arch`` lists the *hidden* layer sizes; the input size comes from ``x``
and the output size from ``y``. Every layer is sigmoid, the error is
E = 1/2 sum (prediction - y)^2 averaged over samples, trained by full-batch
gradient descent. Unlike the original code: the gradients come from
deltaprop's backprop (checked by `deltaprop.gradcheck` in the tests), ``x``
may hold many samples (rows) and ``y`` many outputs, every layer has a
bias, bad shapes raise `ShapeError`, nothing is plotted inside ``train``
(use `deltaprop.inspect.plots.plot_error_by_iteration(trained["network_error"])`),
and it runs on NumPy 2.

Weights follow `Linear`: ``trained["w"][l]`` has shape (out, in).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from deltaprop import ops
from deltaprop.errors import ShapeError
from deltaprop.ops.losses import squared_error_loss
from deltaprop.random import generator
from deltaprop.tensor import Tensor, no_grad

__all__ = ["MLP"]


def _as_2d(x: Any, name: str) -> np.ndarray:
    array = np.asarray(x, dtype=np.float64)
    if array.ndim == 0:
        array = array.reshape(1, 1)
    elif array.ndim == 1:
        array = array.reshape(1, -1)  # one sample, as the tutorial passes it
    elif array.ndim != 2:
        raise ShapeError(
            f"MLP: {name} must be 1-D (one sample) or 2-D (samples, features), got shape {array.shape}"
        )
    if not np.all(np.isfinite(array)):
        raise ValueError(f"MLP: {name} contains NaN or Inf")
    return array


class MLP:
    """Namespace of static functions, as in the tutorial (no instances)."""

    @staticmethod
    def forward(params: list[Tensor], x: Tensor) -> Tensor:
        """Sigmoid layers: params is [W1, b1, W2, b2, ...] with W of shape (out, in)."""
        a = x
        for k in range(0, len(params), 2):
            a = ops.sigmoid(ops.linear(a, params[k], params[k + 1]))
        return a

    @staticmethod
    def network_error(params: list[Tensor], x: Any, y: Any) -> Tensor:
        """E = 1/2 sum over outputs of (prediction - y)^2, averaged over samples (a scalar Tensor)."""
        x_t = x if isinstance(x, Tensor) else Tensor(_as_2d(x, "x"))
        y_t = y if isinstance(y, Tensor) else Tensor(_as_2d(y, "y"))
        return squared_error_loss(MLP.forward(params, x_t), y_t)

    @staticmethod
    def train(
        x: Any,
        y: Any,
        net_arch: list[int] | tuple[int, ...] = (),
        max_iter: int = 500,
        learning_rate: float = 0.7,
        debug: bool = False,
        seed: int | None = None,
    ) -> dict[str, Any]:
        """Train by gradient descent; returns the tutorial's dict (plus 'b', 'prediction', 'in_out')."""
        x2, y2 = _as_2d(x, "x"), _as_2d(y, "y")
        if np.ndim(y) == 1 and x2.shape[0] > 1 and np.asarray(y).size == x2.shape[0]:
            y2 = y2.reshape(-1, 1)  # one target per sample
        if x2.shape[0] != y2.shape[0]:
            raise ShapeError(
                f"MLP.train: x has {x2.shape[0]} samples (shape {x2.shape}) but y has {y2.shape[0]} "
                f"(shape {y2.shape}); give one target row per sample"
            )
        arch = [int(n) for n in net_arch]
        if any(n <= 0 for n in arch):
            raise ValueError(f"MLP.train: net_arch must hold positive layer sizes, got {list(net_arch)}")
        if max_iter < 1 or not learning_rate > 0:
            raise ValueError(
                f"MLP.train: need max_iter >= 1 and learning_rate > 0, got {max_iter}, {learning_rate}"
            )
        rng = np.random.default_rng(seed) if seed is not None else generator()
        sizes = [x2.shape[1], *arch, y2.shape[1]]
        params = []
        for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=False):
            params.append(Tensor(rng.uniform(-0.1, 0.1, (n_out, n_in)), requires_grad=True))
            params.append(Tensor(np.zeros(n_out), requires_grad=True))
        errors, predictions = [], []
        x_t, y_t = Tensor(x2), Tensor(y2)
        report_every = max(1, max_iter // 10)
        start = time.perf_counter()
        for it in range(max_iter):
            error = MLP.network_error(params, x_t, y_t)
            for p in params:
                p.grad_array = None
            error.backward()
            with no_grad():
                for p in params:
                    p.array -= learning_rate * p.grad_array
            errors.append(float(error.array))
            if debug and (it % report_every == 0 or it == max_iter - 1):
                print(f"MLP.train: iteration {it + 1}/{max_iter}, network error {errors[-1]:.9f}")
            with no_grad():
                predictions.append(MLP.forward(params, x_t).array.copy())
        elapsed = time.perf_counter() - start
        deltas = MLP._deltas(params, x2, y2)
        return {
            "w": [p.array.copy() for p in params[0::2]],
            "b": [p.array.copy() for p in params[1::2]],
            "network_error": np.array(errors),
            "prediction": np.array(predictions),
            "derivative_chain": deltas,
            "training_time_sec": elapsed,
            "elapsed_iter": max_iter,
            "in_out": (x2.shape[1], y2.shape[1]),
            "net_arch": arch,
        }

    @staticmethod
    def _deltas(params: list[Tensor], x: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
        """delta^l = dE/dz^l per layer (one row per sample) at the trained weights, via `trace`."""
        from deltaprop import nn
        from deltaprop.inspect.trace import trace

        layers: list[nn.Module] = []
        for k in range(0, len(params), 2):
            linear = nn.Linear(params[k].shape[1], params[k].shape[0], dtype=np.float64)
            linear.weight.array[...] = params[k].array
            linear.bias.array[...] = params[k + 1].array
            layers += [linear, nn.Sigmoid()]
        tr = trace(nn.Sequential(*layers), x, y, "squared_error")
        return [np.atleast_2d(layer.delta) for layer in tr.layers]

    @staticmethod
    def predict(trained: dict[str, Any], x: Any) -> np.ndarray:
        """Outputs for x: shape (samples, outputs)."""
        x2 = _as_2d(x, "x")
        n_in = trained["w"][0].shape[1]
        if x2.shape[1] != n_in:
            raise ShapeError(
                f"MLP.predict: the network was trained on {n_in} features, x has shape {x2.shape}"
            )
        params = [Tensor(a) for pair in zip(trained["w"], trained["b"], strict=False) for a in pair]
        with no_grad():
            return MLP.forward(params, Tensor(x2)).array
