"""`gradient_cost`: why backpropagation, and not one finite difference per weight.

A forward pass of a dense net costs F multiply-adds, about W (one per
weight). Backprop gets *all* W gradients for about 3F: the forward pass, then
per layer one product for delta^(l-1) = (W^l)^T delta^l and one for
dC/dW^l = delta^l (a^(l-1))^T. The naive way perturbs each weight in turn
and reruns the forward pass: W + 1 forward passes, about W^2 multiply-adds.
So backprop's cost grows linearly in W and the naive method's quadratically.

This module does both computations for real, with NumPy, counting every
multiply-add of the matrix products as it performs them (activations and
additions are O(units), not O(weights), and are left out of the count), and
timing them. The two gradients are also compared, so the table shows that
the cheap method is not an approximation.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from deltaprop import nn
from deltaprop.inspect.trace import activation_derivative, dense_layers
from deltaprop.tensor import Tensor, no_grad

__all__ = ["CostRow", "CostTable", "gradient_cost"]


@dataclass
class CostRow:
    sizes: tuple[int, ...]
    weights: int  # W: every weight and bias
    backprop_macs: int
    naive_macs: int
    backprop_seconds: float
    naive_seconds: float
    max_difference: float  # max |backprop - finite difference| over all gradients


@dataclass
class CostTable:
    rows: list[CostRow]
    n_examples: int

    def __str__(self) -> str:
        head = (
            f"Cost of all weight gradients of one batch of {self.n_examples} example(s): "
            "backprop vs one forward difference per weight\n"
            "(MACs = multiply-adds counted in the matrix products; forward pass ~ W MACs)\n"
        )
        cols = (
            f"{'network':<12} {'W':>6} {'backprop MACs':>14} {'/ W':>6} {'naive MACs':>13} "
            f"{'/ W^2':>6} {'backprop ms':>12} {'naive ms':>10} {'max |diff|':>10}"
        )
        lines = [head + cols, "-" * len(cols)]
        for r in self.rows:
            lines.append(
                f"{'-'.join(map(str, r.sizes)):<12} {r.weights:>6} {r.backprop_macs:>14,} "
                f"{r.backprop_macs / r.weights:>6.2f} {r.naive_macs:>13,} "
                f"{r.naive_macs / r.weights**2:>6.2f} "
                f"{r.backprop_seconds * 1e3:>12.3f} {r.naive_seconds * 1e3:>10.1f} {r.max_difference:>10.1e}"
            )
        return "\n".join(lines)

    def to_markdown(self) -> str:
        lines = [
            "| network | weights W | backprop MACs | MACs / W | naive MACs | MACs / W^2 "
            "| backprop ms | naive ms |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in self.rows:
            lines.append(
                f"| {'-'.join(map(str, r.sizes))} | {r.weights} | {r.backprop_macs:,} | "
                f"{r.backprop_macs / r.weights:.2f} | {r.naive_macs:,} | {r.naive_macs / r.weights**2:.2f} | "
                f"{r.backprop_seconds * 1e3:.3f} | {r.naive_seconds * 1e3:.1f} |"
            )
        return "\n".join(lines)


class _Net:
    """A dense net as plain float64 arrays, with a multiply-add counter."""

    def __init__(self, model: nn.Module) -> None:
        self.layers = []
        for _, linear, _, act in dense_layers(model):
            W = np.array(linear.weight.array, dtype=np.float64)
            b = np.zeros(W.shape[0]) if linear.bias is None else np.array(linear.bias.array, dtype=np.float64)
            self.layers.append((W, b, act))
        self.macs = 0

    def params(self) -> list[np.ndarray]:
        return [p for W, b, _ in self.layers for p in (W, b)]

    def _act(self, act, z):
        if act is None:
            return z
        with no_grad():
            return np.asarray(act(Tensor(z)).array, dtype=np.float64)

    def loss(self, x: np.ndarray, y: np.ndarray) -> float:
        a = x
        for W, b, act in self.layers:
            self.macs += a.shape[0] * W.size
            a = self._act(act, a @ W.T + b)
        return 0.5 * float(np.sum((a - y) ** 2)) / x.shape[0]

    def backprop(self, x: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
        cache, a = [], x
        for W, b, act in self.layers:
            self.macs += a.shape[0] * W.size
            z = a @ W.T + b
            out = self._act(act, z)
            cache.append((a, z, out))
            a = out
        upstream = (a - y) / x.shape[0]
        grads: list[np.ndarray] = []
        for k in range(len(self.layers) - 1, -1, -1):
            W, _, act = self.layers[k]
            a_in, z, out = cache[k]
            fprime = activation_derivative(act, z, out)
            delta = np.einsum("nij,ni->nj", fprime, upstream) if fprime.ndim == 3 else fprime * upstream
            self.macs += a_in.shape[0] * W.size  # dC/dW = delta^T a
            grads[:0] = [delta.T @ a_in, delta.sum(axis=0)]
            if k > 0:  # the input's gradient is not needed
                self.macs += a_in.shape[0] * W.size
                upstream = delta @ W
        return grads

    def naive(self, x: np.ndarray, y: np.ndarray, eps: float) -> list[np.ndarray]:
        """Forward differences: one extra forward pass per weight."""
        base = self.loss(x, y)
        grads = []
        for p in self.params():
            g = np.empty_like(p)
            flat, gflat = p.reshape(-1), g.reshape(-1)
            for i in range(flat.size):
                keep = flat[i]
                flat[i] = keep + eps
                gflat[i] = (self.loss(x, y) - base) / eps
                flat[i] = keep
            grads.append(g)
        return grads


def _mlp(sizes: tuple[int, ...], rng: np.random.Generator) -> nn.Sequential:
    layers: list[nn.Module] = []
    for k, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=False)):
        linear = nn.Linear(n_in, n_out, dtype=np.float64)
        linear.weight.array[...] = rng.uniform(-1, 1, (n_out, n_in)) / np.sqrt(n_in)
        layers.append(linear)
        if k < len(sizes) - 2:
            layers.append(nn.Sigmoid())
    return nn.Sequential(*layers)


def _measure(model: nn.Module, x: np.ndarray, y: np.ndarray, eps: float) -> CostRow:
    net = _Net(model)
    start = time.perf_counter()
    exact = net.backprop(x, y)
    backprop_seconds, backprop_macs = time.perf_counter() - start, net.macs
    net.macs = 0
    start = time.perf_counter()
    approx = net.naive(x, y, eps)
    naive_seconds, naive_macs = time.perf_counter() - start, net.macs
    diff = max(float(np.max(np.abs(e - a))) for e, a in zip(exact, approx, strict=False))
    sizes = (net.layers[0][0].shape[1],) + tuple(W.shape[0] for W, _, _ in net.layers)
    weights = sum(p.size for p in net.params())
    return CostRow(sizes, weights, backprop_macs, naive_macs, backprop_seconds, naive_seconds, diff)


def gradient_cost(
    model: nn.Module | None = None,
    *,
    sizes: list[tuple[int, ...]] | None = None,
    n_examples: int = 1,
    eps: float = 1e-6,
    seed: int = 0,
) -> CostTable:
    """Multiply-adds and seconds of backprop versus naive finite differences.

    With ``model`` (a `Sequential` of Linear + activations) one row for that
    net; otherwise one row per entry of ``sizes`` (default: nets n-n-1 for
    n = 2, 4, ..., 64, so W grows from 9 to 4,225). The loss is the squared
    error on random inputs and targets (``n_examples`` of them).
    """
    rng = np.random.default_rng(seed)
    models = (
        [model]
        if model is not None
        else [_mlp(tuple(s), rng) for s in (sizes or [(n, n, 1) for n in (2, 4, 8, 16, 32, 64)])]
    )
    rows = []
    for m in models:
        layers = dense_layers(m)
        x = rng.normal(size=(n_examples, layers[0][1].in_features))
        y = rng.normal(size=(n_examples, layers[-1][1].out_features))
        rows.append(_measure(m, x, y, eps))
    return CostTable(rows, n_examples)
