"""``deltaprop explain --conv``: one small convolution through the forward and the backward, by hand.

A 4x4 input, a 2x2 kernel and a bias (stride 1, or ``--stride 2``), the
loss E = 1/2 sum (y - t)^2 against a target map t. Every number is computed
twice: once by the explicit sums printed here (loops over the positions,
written out term by term), once by deltaprop's own ``conv2d`` op and its
backward (im2col, matrix products, col2im); the walk-through ends by
checking that the two agree, and raises `GradcheckError` if they do not.

The three sums backpropagation needs (derived in `deltaprop.ops.conv`):

- forward      y[p,q]    = b + sum_ij w[i,j] x[s p + i, s q + j]
- weights      dE/dw[i,j] = sum_pq delta[p,q] x[s p + i, s q + j]   (input correlated with the delta)
- input        dE/dx[r,c] = sum_ij delta[(r - i)/s, (c - j)/s] w[i,j]  (the delta, spread by the
  stride and padded with k - 1 zeros, correlated with the kernel flipped: a transposed convolution)
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from deltaprop.errors import GradcheckError
from deltaprop.tensor import Tensor

__all__ = ["explain_convolution"]


def _number(v: float, width: int = 0) -> str:
    text = f"{v:{width}.3f}"
    return text.replace("-0.000", " 0.000" if width else "0.000")


def _grid(a: np.ndarray, indent: str = "   ") -> str:
    rows = ["  ".join(_number(v, 7) for v in row) for row in np.atleast_2d(a)]
    return "\n".join(indent + "[" + row + "]" for row in rows)


def _term(a: float, b: float) -> str:
    def factor(v: float) -> str:
        text = _number(v)
        return f"({text})" if text.startswith("-") else text

    return f"{factor(a)}*{factor(b)}"


def _example(seed: int, size: int, k: int, stride: int) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.round(rng.uniform(-1, 1, (size, size)), 1)
    w = np.round(rng.uniform(-1, 1, (k, k)), 1)
    out = (size - k) // stride + 1
    t = np.round(rng.uniform(-1, 1, (out, out)), 1)
    return x, w, 0.1, t


def explain_convolution(stride: int = 1, seed: int = 0, size: int = 4, kernel: int = 2, out: Any = None
                        ) -> dict[str, Any]:
    """Print the walk-through; return every number (x, w, b, t, y, delta, dw, db, dx, max_difference)."""
    out = out or sys.stdout
    say = lambda text="": print(text, file=out)  # noqa: E731
    if stride not in (1, 2) or not 2 <= kernel <= size:
        raise ValueError(f"--conv walks stride 1 or 2 and a kernel of 2..{size}, got stride {stride}, "
                         f"kernel {kernel}")
    x, w, b, t = _example(seed, size, kernel, stride)
    n_out, k, s = t.shape[0], kernel, stride
    say(f"Backpropagation through one convolution ({size}x{size} input, {k}x{k} kernel, stride {s}), by hand")
    say("=" * 78)
    say(f"input x ({size}x{size}):")
    say(_grid(x))
    say(f"kernel w ({k}x{k}):")
    say(_grid(w))
    say(f"bias b = {b}; target t ({n_out}x{n_out}); error E = 1/2 sum over p,q of (y[p,q] - t[p,q])^2")
    say(_grid(t))

    say()
    say(f"1. forward: y[p,q] = b + sum_ij w[i,j] x[{s}p + i, {s}q + j]  (slide the kernel over x, no flip)")
    y = np.zeros((n_out, n_out))
    for p in range(n_out):
        for q in range(n_out):
            terms = [(w[i, j], x[s * p + i, s * q + j]) for i in range(k) for j in range(k)]
            y[p, q] = b + sum(a * c for a, c in terms)
            say(f"   y[{p},{q}] = {b} + " + " + ".join(_term(a, c) for a, c in terms) + f" = {y[p, q]:.4f}")

    say()
    delta = y - t
    error = 0.5 * float((delta**2).sum())
    say(f"2. error E = {error:.6f}; the output's error term delta = dE/dy = y - t:")
    say(_grid(delta))

    say()
    say(f"3. weights: dE/dw[i,j] = sum_pq delta[p,q] x[{s}p + i, {s}q + j]")
    say("   (the input correlated with delta: each weight met every output, so it sums over them)")
    dw = np.zeros((k, k))
    for i in range(k):
        for j in range(k):
            terms = [(delta[p, q], x[s * p + i, s * q + j]) for p in range(n_out) for q in range(n_out)]
            dw[i, j] = sum(a * c for a, c in terms)
            say(f"   dE/dw[{i},{j}] = " + " + ".join(_term(a, c) for a, c in terms) + f" = {dw[i, j]:.4f}")
    db = float(delta.sum())
    say(f"   dE/db = sum of delta = {db:.4f}  (the bias is added to every output)")

    say()
    dx = _input_gradient(say, x, w, delta, s, k)
    difference = _check_against_engine(x, w, b, t, s, y, dw, db, dx)
    say()
    say("5. checked against deltaprop's conv2d (im2col, one matrix product forward, two backward, col2im):")
    say(f"   y, dE/dw, dE/db and dE/dx agree to {difference:.1e}")
    say()
    say("6. the same as matrices (how deltaprop computes it): copy each window of x into a row of X_cols")
    say(f"   ({n_out * n_out} windows x {k * k} weights); then y = X_cols w + b, dE/dw = X_cols^T delta,")
    say("   dE/dX_cols = delta w^T, and col2im adds each row back onto the pixels it was copied from.")
    return dict(x=x, w=w, b=b, t=t, y=y, error=error, delta=delta, dw=dw, db=db, dx=dx,
                max_difference=difference)


def _input_gradient(say, x, w, delta, s: int, k: int) -> np.ndarray:
    """Step 4: dE/dx as the flipped-kernel correlation of the spread, padded delta; printed term by term."""
    size = x.shape[0]
    spread = np.zeros(((delta.shape[0] - 1) * s + 1,) * 2)
    spread[::s, ::s] = delta  # stride s: s - 1 zeros between the deltas
    padded = np.zeros((size + k - 1,) * 2)
    padded[k - 1:k - 1 + spread.shape[0], k - 1:k - 1 + spread.shape[1]] = spread
    flipped = w[::-1, ::-1]
    say("4. input: dE/dx[r,c] = sum over the outputs x[r,c] fed of delta[p,q] w[r - sp, c - sq]")
    say(f"   = the delta{' spread by the stride,' if s > 1 else ''} padded with {k - 1} zero(s) all round,")
    say("     correlated with the kernel flipped (rotated 180 degrees): a transposed convolution")
    say("   padded delta:")
    say(_grid(padded, "     "))
    say("   flipped kernel:")
    say(_grid(flipped, "     "))
    dx = np.zeros_like(x)
    for r in range(size):
        for c in range(size):
            terms = [(padded[r + i, c + j], flipped[i, j]) for i in range(k) for j in range(k)]
            dx[r, c] = sum(a * f for a, f in terms)
            shown = [_term(a, f) for a, f in terms if a != 0] or ["0"]
            say(f"   dE/dx[{r},{c}] = " + " + ".join(shown) + f" = {dx[r, c]:.4f}")
    return dx


def _check_against_engine(x, w, b, t, s, y, dw, db, dx) -> float:
    """The engine's own forward and backward on the same numbers; GradcheckError if any differs."""
    from deltaprop.nn.functional_conv import conv2d

    xt = Tensor(x[None, None], requires_grad=True)
    wt = Tensor(w[None, None], requires_grad=True)
    bt = Tensor(np.array([b]), requires_grad=True)
    yt = conv2d(xt, wt, bt, stride=s)
    loss = (0.5 * ((yt - Tensor(t[None, None])) ** 2)).sum()
    loss.backward()
    grads = [np.asarray(t.grad_array) for t in (wt, bt, xt)]
    pairs = {"y": (y, yt.numpy()[0, 0]), "dE/dw": (dw, grads[0][0, 0]), "dE/db": (np.array([db]), grads[1]),
             "dE/dx": (dx, grads[2][0, 0])}
    worst = 0.0
    for name, (mine, engine) in pairs.items():
        difference = float(np.max(np.abs(mine - engine)))
        if not difference <= 1e-12:
            raise GradcheckError(f"explain --conv: the hand-computed {name} differs from the engine's by "
                                 f"{difference:.3g}")
        worst = max(worst, difference)
    return worst
