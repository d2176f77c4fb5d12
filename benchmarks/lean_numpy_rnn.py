"""The floor for recurrent training steps: RNN, LSTM and GRU written by hand in lean NumPy.

What a careful NumPy programmer writes without a framework: the input
projection of all T steps as one GEMM, the gates of a step fused into one
weight matrix (one h @ W_hh^T per step), the backward through time by hand
over the saved gates (one GEMM per step for dC/dh_{t-1}, then one GEMM each
for the weight gradients over all steps), buffers preallocated, and plain
SGD. The elementwise work is the textbook one, a call per operation
(sigmoid as 1 / (1 + exp(-z))), which is what `rnn_throughput.py` measures
deltaprop's fused op against. The loss is the MSE of the last hidden state
against a target, as in the benchmark.

    floor = LeanRecurrent("lstm", input_size=8, hidden=64, steps=50, batch=32)
    loss = floor.step(x, target)   # x (T, N, I), target (N, H)
"""

from __future__ import annotations

import numpy as np

GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def _sigmoid(z: np.ndarray) -> np.ndarray:
    np.negative(z, out=z)
    np.exp(z, out=z)
    z += 1.0
    np.reciprocal(z, out=z)
    return z


class LeanRecurrent:
    """One layer, float32, weights as PyTorch lays them out (w_ih (G*H, I), w_hh (G*H, H), two biases)."""

    def __init__(self, kind: str, input_size: int, hidden: int, steps: int, batch: int, lr: float = 0.01,
                 seed: int = 0) -> None:
        self.kind, self.H, self.T, self.N, self.lr = kind, hidden, steps, batch, lr
        rows, bound = GATES[kind] * hidden, 1.0 / np.sqrt(hidden)
        rng = np.random.default_rng(seed)
        draw = lambda *shape: rng.uniform(-bound, bound, shape).astype(np.float32)  # noqa: E731
        self.w_ih, self.w_hh = draw(rows, input_size), draw(rows, hidden)
        self.b_ih, self.b_hh = draw(rows), draw(rows)
        T, N, H = steps, batch, hidden
        self.h = np.zeros((T + 1, N, H), np.float32)  # h[0] = 0
        self.gates = np.empty((T, N, rows), np.float32)
        self.dz = np.empty((T, N, rows), np.float32)
        self.dh = np.empty((N, H), np.float32)
        self.tmp = np.empty((N, H), np.float32)
        self.rec = np.empty((N, rows), np.float32)
        if kind == "lstm":
            self.c = np.zeros((T + 1, N, H), np.float32)
            self.tc = np.empty((T, N, H), np.float32)
            self.dc = np.empty((N, H), np.float32)
        if kind == "gru":
            self.hn = np.empty((T, N, H), np.float32)

    # ------------------------------------------------------------------ one training step
    def step(self, x: np.ndarray, target: np.ndarray) -> float:
        getattr(self, f"_{self.kind}_forward")(x)
        h_last = self.h[self.T]
        diff = h_last - target
        loss = float(np.mean(diff * diff))
        np.multiply(diff, 2.0 / diff.size, out=self.dh)
        getattr(self, f"_{self.kind}_backward")()
        self._update(x)
        return loss

    def _project(self, x: np.ndarray, bias: np.ndarray) -> None:
        T, N, I = x.shape
        np.matmul(x.reshape(T * N, I), self.w_ih.T, out=self.gates.reshape(T * N, -1))
        self.gates += bias

    def _update(self, x: np.ndarray) -> None:
        T, N, I = x.shape
        dz = self.dz.reshape(T * N, -1)
        lr = self.lr
        self.w_ih -= lr * (dz.T @ x.reshape(T * N, I))
        self.w_hh -= lr * (dz.T @ self.h[:T].reshape(T * N, -1)) if self.kind != "gru" else \
            lr * (self._dhn_rows().T @ self.h[:T].reshape(T * N, -1))
        db = dz.sum(axis=0)
        self.b_ih -= lr * db
        self.b_hh -= lr * (db if self.kind != "gru" else self._dhn_rows().sum(axis=0))

    # ------------------------------------------------------------------ tanh RNN
    def _rnn_forward(self, x):
        self._project(x, self.b_ih + self.b_hh)
        for t in range(self.T):
            out = self.h[t + 1]
            np.matmul(self.h[t], self.w_hh.T, out=out)
            out += self.gates[t]
            np.tanh(out, out=out)

    def _rnn_backward(self):
        dh = self.dh
        for t in range(self.T - 1, -1, -1):
            h = self.h[t + 1]
            np.multiply(h, h, out=self.tmp)
            np.subtract(1.0, self.tmp, out=self.tmp)
            np.multiply(dh, self.tmp, out=self.dz[t])
            np.matmul(self.dz[t], self.w_hh, out=dh)

    # ------------------------------------------------------------------ LSTM (gates i, f, g, o)
    def _lstm_forward(self, x):
        H = self.H
        self._project(x, self.b_ih + self.b_hh)
        for t in range(self.T):
            z = self.gates[t]
            np.matmul(self.h[t], self.w_hh.T, out=self.rec)
            z += self.rec
            _sigmoid(z[:, : 2 * H])
            np.tanh(z[:, 2 * H : 3 * H], out=z[:, 2 * H : 3 * H])
            _sigmoid(z[:, 3 * H :])
            i, f, g, o = z[:, :H], z[:, H : 2 * H], z[:, 2 * H : 3 * H], z[:, 3 * H :]
            c = self.c[t + 1]
            np.multiply(f, self.c[t], out=c)
            np.multiply(i, g, out=self.tmp)
            c += self.tmp
            np.tanh(c, out=self.tc[t])
            np.multiply(o, self.tc[t], out=self.h[t + 1])

    def _lstm_backward(self):
        H, dh, dc, tmp = self.H, self.dh, self.dc, self.tmp
        dc[...] = 0.0
        for t in range(self.T - 1, -1, -1):
            z, dz, tc = self.gates[t], self.dz[t], self.tc[t]
            i, f, g, o = z[:, :H], z[:, H : 2 * H], z[:, 2 * H : 3 * H], z[:, 3 * H :]
            di, df, dg, do = dz[:, :H], dz[:, H : 2 * H], dz[:, 2 * H : 3 * H], dz[:, 3 * H :]
            np.multiply(dh, tc, out=do)  # dC/do, then through the sigmoid: o (1 - o)
            np.subtract(1.0, o, out=tmp)
            tmp *= o
            do *= tmp
            np.multiply(tc, tc, out=tmp)  # dC/dc += dh o (1 - tanh(c)^2)
            np.subtract(1.0, tmp, out=tmp)
            tmp *= o
            tmp *= dh
            dc += tmp
            np.multiply(dc, g, out=di)  # dC/di = dc g, times i (1 - i)
            np.subtract(1.0, i, out=tmp)
            tmp *= i
            di *= tmp
            np.multiply(dc, self.c[t], out=df)  # dC/df = dc c_{t-1}, times f (1 - f)
            np.subtract(1.0, f, out=tmp)
            tmp *= f
            df *= tmp
            np.multiply(g, g, out=tmp)  # dC/dg = dc i, times 1 - g^2
            np.subtract(1.0, tmp, out=tmp)
            tmp *= i
            np.multiply(dc, tmp, out=dg)
            dc *= f  # dC/dc_{t-1}
            np.matmul(dz, self.w_hh, out=dh)

    # ------------------------------------------------------------------ GRU (gates r, z, n; PyTorch's form)
    def _gru_forward(self, x):
        H = self.H
        bias = self.b_ih.copy()
        bias[: 2 * H] += self.b_hh[: 2 * H]
        self._project(x, bias)
        b_hn = self.b_hh[2 * H :]
        for t in range(self.T):
            z, hp = self.gates[t], self.h[t]
            np.matmul(hp, self.w_hh.T, out=self.rec)
            z[:, : 2 * H] += self.rec[:, : 2 * H]
            _sigmoid(z[:, : 2 * H])
            hn = self.hn[t]
            np.add(self.rec[:, 2 * H :], b_hn, out=hn)
            np.multiply(z[:, :H], hn, out=self.tmp)
            n = z[:, 2 * H :]
            n += self.tmp
            np.tanh(n, out=n)
            h = self.h[t + 1]
            np.subtract(hp, n, out=h)
            h *= z[:, H : 2 * H]
            h += n

    def _gru_backward(self):
        H, dh, tmp = self.H, self.dh, self.tmp
        self.dhn = np.empty((self.T, self.N, 3 * self.H), np.float32)  # W_hh's view: [dz_r, dz_z, d(hn)]
        for t in range(self.T - 1, -1, -1):
            z, dz, hp, dr = self.gates[t], self.dz[t], self.h[t], self.dhn[t]
            r, u, n = z[:, :H], z[:, H : 2 * H], z[:, 2 * H :]
            dzr, dzu, dzn = dz[:, :H], dz[:, H : 2 * H], dz[:, 2 * H :]
            np.subtract(hp, n, out=dzu)  # dC/du = dh (h_{t-1} - n), times u (1 - u)
            dzu *= dh
            np.subtract(1.0, u, out=tmp)
            tmp *= u
            dzu *= tmp
            np.subtract(1.0, u, out=dzn)  # dC/da_n = dh (1 - u) (1 - n^2)
            dzn *= dh
            np.multiply(n, n, out=tmp)
            np.subtract(1.0, tmp, out=tmp)
            dzn *= tmp
            np.multiply(dzn, self.hn[t], out=dzr)  # dC/dr = da_n hn, times r (1 - r)
            np.subtract(1.0, r, out=tmp)
            tmp *= r
            dzr *= tmp
            dr[:, : 2 * H] = dz[:, : 2 * H]
            np.multiply(dzn, r, out=dr[:, 2 * H :])  # dC/d(hn) = da_n r
            np.multiply(dh, u, out=tmp)  # the direct path h_{t-1} -> h_t
            np.matmul(dr, self.w_hh, out=dh)
            dh += tmp

    def _dhn_rows(self) -> np.ndarray:
        return self.dhn.reshape(self.T * self.N, -1)
