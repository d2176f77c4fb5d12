"""The floor: a hand-written NumPy MLP training step with every buffer allocated once.

Why it exists: any autodiff engine built on NumPy pays at least this much
per minibatch (the same matrix products, the same elementwise passes); what
an engine costs on top of it is bookkeeping. `benchmarks/mlp_throughput.py`
reports every other implementation as a ratio against this one.

The network is Linear -> ReLU -> ... -> Linear with softmax cross-entropy,
weights W of shape (out, in) like `deltaprop.nn.Linear`. In matrix form, for
a minibatch A0 of shape (N, in), the four backpropagation equations are

    BP1  delta_L = (softmax(Z_L) - Y) / N            (output error, softmax + CE)
    BP2  delta_l = (delta_{l+1} W_{l+1}) * relu'(Z_l) (error one layer back)
    BP3  dC/db_l = sum over rows of delta_l
    BP4  dC/dW_l = delta_l^T A_{l-1}

and the update is SGD with (PyTorch-style) momentum, v = mu v + g, W -= lr v,
or Adam, all in place.
"""

from __future__ import annotations

import numpy as np


class LeanMLP:
    """ReLU MLP + softmax cross-entropy; ``step(x, labels)`` trains on one minibatch.

    Buffers are sized for ``max_batch`` rows; a smaller (last) batch uses the
    leading rows of each buffer, which are still contiguous.
    """

    def __init__(
        self,
        sizes: list[int],
        max_batch: int,
        *,
        lr: float = 0.01,
        momentum: float = 0.9,
        optimizer: str = "sgd",
        dtype=np.float32,
        seed: int = 0,
    ) -> None:
        rng = np.random.default_rng(seed)
        self.lr, self.momentum, self.optimizer = lr, momentum, optimizer
        self.W, self.b = [], []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
            bound = 1.0 / np.sqrt(fan_in)
            self.W.append(rng.uniform(-bound, bound, (fan_out, fan_in)).astype(dtype))
            self.b.append(rng.uniform(-bound, bound, fan_out).astype(dtype))
        # forward values: Z (pre-activation) and A (activation) per layer; A of the last layer
        # holds the softmax probabilities, which BP1 turns into delta in place
        self.Z = [np.empty((max_batch, n), dtype) for n in sizes[1:]]
        self.A = [np.empty((max_batch, n), dtype) for n in sizes[1:]]
        self.delta = [np.empty((max_batch, n), dtype) for n in sizes[1:]]
        self.dW = [np.empty_like(w) for w in self.W]
        self.db = [np.empty_like(b) for b in self.b]
        self.rowmax = np.empty((max_batch, 1), dtype)
        self.rows = np.arange(max_batch)
        params = self.W + self.b
        self.grads = self.dW + self.db
        self.v = [np.zeros_like(p) for p in params]  # momentum / Adam first moment
        self.s = [np.zeros_like(p) for p in params]  # Adam second moment
        self.tmp = [np.empty_like(p) for p in params]
        self.params = params
        self.t = 0

    def step(self, x: np.ndarray, labels: np.ndarray) -> float:
        """Forward, backward (BP1-BP4) and one optimizer update; returns the batch's mean loss."""
        n = x.shape[0]
        layers = len(self.W)
        Z = [z[:n] for z in self.Z]
        A = [a[:n] for a in self.A]
        D = [d[:n] for d in self.delta]

        # ---- forward: Z_l = A_{l-1} W_l^T + b_l, A_l = relu(Z_l)
        a_prev = x
        for layer in range(layers):
            np.matmul(a_prev, self.W[layer].T, out=Z[layer])
            Z[layer] += self.b[layer]
            if layer < layers - 1:
                np.maximum(Z[layer], 0, out=A[layer])
                a_prev = A[layer]

        # ---- softmax cross-entropy, stable: p = exp(z - max) / sum
        probs, rowmax = A[-1], self.rowmax[:n]
        np.max(Z[-1], axis=1, keepdims=True, out=rowmax)
        np.subtract(Z[-1], rowmax, out=probs)
        np.exp(probs, out=probs)
        total = probs.sum(axis=1, keepdims=True)
        probs /= total
        rows = self.rows[:n]
        loss = float(-np.log(probs[rows, labels]).mean())

        # ---- BP1: delta_L = (p - onehot(y)) / N
        out = D[-1]
        np.multiply(probs, 1.0 / n, out=out)
        out[rows, labels] -= 1.0 / n

        # ---- BP2-BP4, last layer first
        for layer in range(layers - 1, -1, -1):
            delta = D[layer]
            a_in = x if layer == 0 else A[layer - 1]
            np.matmul(delta.T, a_in, out=self.dW[layer])  # BP4
            np.sum(delta, axis=0, out=self.db[layer])  # BP3
            if layer > 0:  # BP2: delta_{l-1} = delta_l W_l * relu'(Z_{l-1})
                back = D[layer - 1]
                np.matmul(delta, self.W[layer], out=back)
                back *= Z[layer - 1] > 0

        self._update()
        return loss

    def _update(self) -> None:
        if self.optimizer == "sgd":
            for p, g, v in zip(self.params, self.grads, self.v, strict=True):
                v *= self.momentum
                v += g
                np.multiply(v, self.lr, out=g)  # g is free now: reuse it for lr * v
                p -= g
            return
        # Adam (beta1=0.9, beta2=0.999, eps=1e-8), bias-corrected step size
        self.t += 1
        b1, b2, eps = 0.9, 0.999, 1e-8
        step = self.lr * np.sqrt(1 - b2**self.t) / (1 - b1**self.t)
        for p, g, m, s, tmp in zip(self.params, self.grads, self.v, self.s, self.tmp, strict=True):
            m *= b1
            m += (1 - b1) * g
            s *= b2
            np.multiply(g, g, out=tmp)
            tmp *= 1 - b2
            s += tmp
            np.sqrt(s, out=tmp)
            tmp += eps
            np.divide(m, tmp, out=tmp)
            tmp *= step
            p -= tmp

    def predict(self, x: np.ndarray) -> np.ndarray:
        a = x
        for layer, (w, b) in enumerate(zip(self.W, self.b, strict=True)):
            a = a @ w.T + b
            if layer < len(self.W) - 1:
                a = np.maximum(a, 0)
        return a.argmax(axis=1)


def train_epoch(model: LeanMLP, X: np.ndarray, y: np.ndarray, batch_size: int, rng) -> float:
    """One shuffled epoch; the minibatch is gathered into a preallocated buffer. Returns last loss."""
    order = rng.permutation(len(X))
    xbuf = np.empty((batch_size, X.shape[1]), X.dtype)
    loss = 0.0
    for start in range(0, len(X), batch_size):
        idx = order[start : start + batch_size]
        xb = xbuf[: len(idx)]
        np.take(X, idx, axis=0, out=xb)
        loss = model.step(xb, y[idx])
    return loss
