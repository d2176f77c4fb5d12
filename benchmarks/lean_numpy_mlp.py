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
or Adam, all in place, once for all parameters (they live in one flat array).
"""

from __future__ import annotations

import numpy as np


class LeanMLP:
    """ReLU MLP + softmax cross-entropy; ``step(x, labels)`` trains on one minibatch.

    As lean as hand-written NumPy gets: every weight, bias, gradient and
    optimizer buffer is a view into one flat array per kind, so the SGD update
    is four NumPy calls for the whole network; every activation and delta
    buffer is allocated once, and the row views of a full batch are made
    once. Buffers are sized for ``max_batch`` rows; a smaller (last) batch
    uses the leading rows of each buffer, which are still contiguous.
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
        shapes = [(o, i) for i, o in zip(sizes[:-1], sizes[1:], strict=True)]
        shapes += [(o,) for o in sizes[1:]]
        total = sum(int(np.prod(shape)) for shape in shapes)
        self.flat_params = np.empty(total, dtype)
        self.flat_grads = np.empty(total, dtype)
        self.flat_v = np.zeros(total, dtype)  # momentum / Adam first moment
        self.flat_s = np.zeros(total, dtype)  # Adam second moment
        self.flat_tmp = np.empty(total, dtype)
        params = self._views(self.flat_params, shapes)
        self.grads = self._views(self.flat_grads, shapes)
        layers = len(sizes) - 1
        self.W, self.b = params[:layers], params[layers:]
        self.dW, self.db = self.grads[:layers], self.grads[layers:]
        for w, b in zip(self.W, self.b, strict=True):
            bound = 1.0 / np.sqrt(w.shape[1])
            w[...] = rng.uniform(-bound, bound, w.shape)
            b[...] = rng.uniform(-bound, bound, b.shape)
        # forward values: Z (pre-activation) and A (activation) per layer; A of the last layer
        # holds the softmax probabilities, which BP1 turns into delta in place
        self.Z = [np.empty((max_batch, n), dtype) for n in sizes[1:]]
        self.A = [np.empty((max_batch, n), dtype) for n in sizes[1:]]
        self.delta = [np.empty((max_batch, n), dtype) for n in sizes[1:]]
        self.mask = [np.empty((max_batch, n), bool) for n in sizes[1:-1]]
        self.rowmax = np.empty((max_batch, 1), dtype)
        self.rowsum = np.empty((max_batch, 1), dtype)
        self.rows = np.arange(max_batch)
        self.max_batch = max_batch
        self._full = self._rows_of(max_batch)
        self.t = 0

    @staticmethod
    def _views(flat: np.ndarray, shapes: list[tuple[int, ...]]) -> list[np.ndarray]:
        views, offset = [], 0
        for shape in shapes:
            size = int(np.prod(shape))
            views.append(flat[offset : offset + size].reshape(shape))
            offset += size
        return views

    def _rows_of(self, n: int) -> tuple:
        return (
            [z[:n] for z in self.Z], [a[:n] for a in self.A], [d[:n] for d in self.delta],
            [m[:n] for m in self.mask], self.rowmax[:n], self.rowsum[:n], self.rows[:n],
        )  # fmt: skip

    def step(self, x: np.ndarray, labels: np.ndarray) -> float:
        """Forward, backward (BP1-BP4) and one optimizer update; returns the batch's mean loss."""
        n = x.shape[0]
        Z, A, D, M, rowmax, rowsum, rows = self._full if n == self.max_batch else self._rows_of(n)
        W, b, last = self.W, self.b, len(self.W) - 1

        # ---- forward: Z_l = A_{l-1} W_l^T + b_l, A_l = relu(Z_l)
        a_prev = x
        for layer in range(last + 1):
            z = Z[layer]
            np.matmul(a_prev, W[layer].T, out=z)
            z += b[layer]
            if layer < last:
                np.maximum(z, 0, out=A[layer])
                a_prev = A[layer]

        # ---- softmax cross-entropy, stable: p = exp(z - max) / sum; loss = log(sum) - (z - max)[y]
        probs = A[-1]
        np.maximum.reduce(Z[-1], axis=1, keepdims=True, out=rowmax)
        np.subtract(Z[-1], rowmax, out=probs)
        picked = probs[rows, labels]
        np.exp(probs, out=probs)
        np.add.reduce(probs, axis=1, keepdims=True, out=rowsum)
        probs /= rowsum
        loss = float((np.log(rowsum[:, 0]) - picked).mean())

        # ---- BP1: delta_L = (p - onehot(y)) / N
        out = D[-1]
        np.multiply(probs, 1.0 / n, out=out)
        out[rows, labels] -= 1.0 / n

        # ---- BP2-BP4, last layer first
        for layer in range(last, -1, -1):
            delta = D[layer]
            np.matmul(delta.T, x if layer == 0 else A[layer - 1], out=self.dW[layer])  # BP4
            np.add.reduce(delta, axis=0, out=self.db[layer])  # BP3
            if layer > 0:  # BP2: delta_{l-1} = delta_l W_l * relu'(Z_{l-1})
                back = D[layer - 1]
                np.matmul(delta, W[layer], out=back)
                np.greater(Z[layer - 1], 0, out=M[layer - 1])
                back *= M[layer - 1]

        self._update()
        return loss

    def _update(self) -> None:
        p, g, v = self.flat_params, self.flat_grads, self.flat_v
        if self.optimizer == "sgd":
            v *= self.momentum
            v += g
            np.multiply(v, self.lr, out=g)  # g is free now: reuse it for lr * v
            p -= g
            return
        # Adam (beta1=0.9, beta2=0.999, eps=1e-8), bias corrections placed exactly as PyTorch does
        self.t += 1
        b1, b2, eps = 0.9, 0.999, 1e-8
        step = self.lr / (1 - b1**self.t)
        root_bias2 = np.sqrt(1 - b2**self.t)
        s, tmp = self.flat_s, self.flat_tmp
        v *= b1
        np.multiply(g, 1 - b1, out=tmp)
        v += tmp
        s *= b2
        np.multiply(g, g, out=tmp)
        tmp *= 1 - b2
        s += tmp
        np.sqrt(s, out=tmp)
        tmp /= root_bias2
        tmp += eps
        np.divide(v, tmp, out=tmp)
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
