"""The floor for convolutional nets: a hand-written NumPy training step, every buffer allocated once.

Why it exists: `benchmarks/cnn_throughput.py` reports deltaprop (and PyTorch)
as a ratio against it; the goal is deltaprop within 1.2x. It is the lean way
to write a CNN with NumPy alone:

- activations channels-last (NHWC), so a window's numbers are contiguous;
- convolution by im2col: the (zero-padded) input's windows are copied
  (through a sliding-window view) into a preallocated matrix whose last
  column is all ones, so one GEMM gives ``X_cols @ [W; b]``: the bias is folded in;
- the backward: ``dW_b = X_cols^T delta`` (bias gradient included),
  ``dX_cols = delta W^T`` and col2im as one slab add per kernel offset;
  the first layer skips its input gradient;
- 2x2 max pooling by reshape (``(N, H/2, 2, W/2, 2, C)``, max over the 2s),
  its backward through the mask ``x == max`` (ties share, which a floor may do);
- dense layers, softmax cross-entropy and SGD with momentum as in `lean_numpy_mlp`,
  all parameters in one flat array so the update is four NumPy calls.

A network is a list of layers: ``("conv", c_in, c_out, k, padding)``,
``("pool",)`` (2x2, stride 2), ``("relu",)``, ``("flatten",)``, ``("fc", n_in, n_out)``.
`LENET5` and `MNIST_EXAMPLE` are the two nets of the benchmark. Flattening is
in (h, w, c) order here; `tests/test_lean_floor.py` checks the step equals
deltaprop's (NCHW flatten) once the first dense weight is permuted to match.
"""

from __future__ import annotations

import numpy as np

LENET5 = [
    ("conv", 1, 6, 5, 2), ("relu",), ("pool",),
    ("conv", 6, 16, 5, 0), ("relu",), ("pool",),
    ("flatten",), ("fc", 400, 120), ("relu",), ("fc", 120, 84), ("relu",), ("fc", 84, 10),
]  # fmt: skip
MNIST_EXAMPLE = [  # PyTorch's examples/mnist net, without its dropout
    ("conv", 1, 32, 3, 0), ("relu",), ("conv", 32, 64, 3, 0), ("relu",), ("pool",),
    ("flatten",), ("fc", 9216, 128), ("relu",), ("fc", 128, 10),
]  # fmt: skip


class LeanCNN:
    """``step(x, labels)`` trains on one (N, H, W, C) minibatch; buffers sized for ``max_batch``."""

    def __init__(self, spec, input_hwc, max_batch, *, lr=0.01, momentum=0.9, dtype=np.float32, seed=0):
        rng = np.random.default_rng(seed)
        self.spec, self.lr, self.momentum, self.n = spec, lr, momentum, max_batch
        shapes, plan, (h, w, c) = [], [], input_hwc
        for layer in spec:  # first pass: the parameter shapes and each layer's geometry
            kind = layer[0]
            if kind == "conv":
                _, cin, cout, k, p = layer
                ho, wo = h + 2 * p - k + 1, w + 2 * p - k + 1
                shapes.append((k * k * cin + 1, cout))  # [W; b]: the bias is the last row
                plan.append(dict(kind=kind, k=k, p=p, hwc=(h, w, c), out=(ho, wo, cout)))
                h, w, c = ho, wo, cout
            elif kind == "pool":
                plan.append(dict(kind=kind, hwc=(h, w, c)))
                h, w = h // 2, w // 2
            elif kind == "fc":
                shapes.append((layer[1] + 0, layer[2]))
                shapes.append((layer[2],))
                plan.append(dict(kind=kind))
            else:
                plan.append(dict(kind=kind, hwc=(h, w, c)))
        total = sum(int(np.prod(s)) for s in shapes)
        self.flat_params, self.flat_grads = np.empty(total, dtype), np.zeros(total, dtype)
        self.flat_v = np.zeros(total, dtype)
        params, grads, offset = [], [], 0
        for s in shapes:
            size = int(np.prod(s))
            params.append(self.flat_params[offset:offset + size].reshape(s))
            grads.append(self.flat_grads[offset:offset + size].reshape(s))
            offset += size
        self._allocate(plan, params, grads, rng, dtype)

    def _allocate(self, plan, params, grads, rng, dtype):
        n, it_p, it_g = self.n, iter(params), iter(grads)
        for layer in plan:
            kind = layer["kind"]
            if kind == "conv":
                (h, w, c), (ho, wo, cout), k, p = layer["hwc"], layer["out"], layer["k"], layer["p"]
                W, dW = next(it_p), next(it_g)
                fan_in = k * k * c
                W[...] = rng.uniform(-1, 1, W.shape) / np.sqrt(fan_in)  # PyTorch's bound, weight and bias
                layer.update(W=W, dW=dW, K=k * k * c)
                layer["padded"] = np.zeros((n, h + 2 * p, w + 2 * p, c), dtype)  # borders stay zero
                layer["cols"] = np.empty((n * ho * wo, k * k * c + 1), dtype)
                layer["cols"][:, -1] = 1.0
                layer["z"] = np.empty((n * ho * wo, cout), dtype)
                layer["dpadded"] = np.empty((n, h + 2 * p, w + 2 * p, c), dtype)
            elif kind == "pool":
                h, w, c = layer["hwc"]
                layer["out"] = np.empty((n, h // 2, w // 2, c), dtype)
                layer["mask"] = np.empty((n, h // 2, 2, w // 2, 2, c), bool)
                layer["back"] = np.empty((n, h, w, c), dtype)
            elif kind == "fc":
                W, b = next(it_p), next(it_p)
                layer.update(W=W, b=b, dW=next(it_g), db=next(it_g))
                bound = 1.0 / np.sqrt(W.shape[0])
                W[...] = rng.uniform(-bound, bound, W.shape)  # stored (in, out): x @ W
                b[...] = rng.uniform(-bound, bound, b.shape)
                layer["z"] = np.empty((n, W.shape[1]), dtype)
        self.plan = plan

    # ------------------------------------------------------------------ the step
    def step(self, x: np.ndarray, labels: np.ndarray) -> float:
        n = x.shape[0]
        a, saved = x, []
        for layer in self.plan:
            a = self._forward(layer, a, n, saved)
        loss, delta = _softmax_cross_entropy(a, labels)
        for index in range(len(self.plan) - 1, -1, -1):
            delta = self._backward(self.plan[index], delta, n, saved.pop(), first=index == 0)
        self.flat_v *= self.momentum
        self.flat_v += self.flat_grads
        np.multiply(self.flat_v, self.lr, out=self.flat_grads)
        self.flat_params -= self.flat_grads
        return loss

    def _forward(self, layer, a, n, saved):
        kind = layer["kind"]
        if kind == "conv":
            (h, w, c), (ho, wo, cout), k, p = layer["hwc"], layer["out"], layer["k"], layer["p"]
            padded = layer["padded"][:n]
            if p:
                padded[:, p:p + h, p:p + w, :] = a
            else:
                padded = a
            cols = layer["cols"][: n * ho * wo]
            windows = np.lib.stride_tricks.sliding_window_view(padded, (k, k), axis=(1, 2))  # (n,ho,wo,c,k,k)
            np.copyto(cols[:, :-1].reshape(n, ho, wo, k, k, c), windows.transpose(0, 1, 2, 4, 5, 3))
            z = layer["z"][: n * ho * wo]
            np.matmul(cols, layer["W"], out=z)
            saved.append(cols)
            return z.reshape(n, ho, wo, cout)
        if kind == "relu":
            np.maximum(a, 0, out=a)
            saved.append(a)
            return a
        if kind == "pool":
            h, w, c = layer["hwc"]
            view = a.reshape(n, h // 2, 2, w // 2, 2, c)
            out = layer["out"][:n]
            np.max(view, axis=(2, 4), out=out)
            mask = layer["mask"][:n]
            np.equal(view, out[:, :, None, :, None, :], out=mask)
            saved.append(mask)
            return out
        if kind == "flatten":
            saved.append(a.shape)
            return a.reshape(n, -1)
        z = layer["z"][:n]  # fc
        np.matmul(a, layer["W"], out=z)
        z += layer["b"]
        saved.append(a)
        return z

    def _backward(self, layer, delta, n, saved, first):
        kind = layer["kind"]
        if kind == "fc":
            np.matmul(saved.T, delta, out=layer["dW"])
            np.add.reduce(delta, axis=0, out=layer["db"])
            return None if first else delta @ layer["W"].T
        if kind == "relu":
            delta *= saved > 0
            return delta
        if kind == "flatten":
            return delta.reshape(saved)
        if kind == "pool":
            h, w, c = layer["hwc"]
            back = layer["back"][:n]
            np.multiply(saved, delta[:, :, None, :, None, :], out=back.reshape(saved.shape))
            return back
        (h, w, c), (ho, wo, cout), k, p = layer["hwc"], layer["out"], layer["k"], layer["p"]
        d2 = delta.reshape(n * ho * wo, cout)
        np.matmul(saved.T, d2, out=layer["dW"])  # [dW; db] at once
        if first:
            return None
        dcols = (d2 @ layer["W"][:-1].T).reshape(n, ho, wo, k, k, c)
        dpad = layer["dpadded"][:n]
        dpad[...] = 0
        for i in range(k):
            for j in range(k):
                dpad[:, i:i + ho, j:j + wo, :] += dcols[:, :, :, i, j, :]
        return dpad[:, p:p + h, p:p + w, :]


def _softmax_cross_entropy(z: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy and its gradient (p - onehot) / N, in place on z."""
    n = len(z)
    rows = np.arange(n)
    z -= z.max(axis=1, keepdims=True)
    picked = z[rows, labels].copy()
    np.exp(z, out=z)
    total = z.sum(axis=1, keepdims=True)
    loss = float((np.log(total[:, 0]) - picked).mean())
    z /= total * n
    z[rows, labels] -= 1.0 / n
    return loss, z
