"""Fit a polynomial by gradient descent, in the style of PyTorch's ``regression`` example.

The target is y = w . (x, x^2, x^3, x^4) + b with fixed coefficients; a
single ``nn.Linear(4, 1)`` learns them from random batches with the Smooth L1
loss and a hand-written update of ``param.data``. This file and its twin
(``regression_torch.py`` / ``regression_deltaprop.py``) differ only in their
import lines; the data and the starting weights come from NumPy, so both
libraries train from the same point and reach the same loss.
"""

# ruff: noqa: I001 - the two copies keep their import lines in the same places
from __future__ import annotations

import argparse

import numpy as np
import deltaprop as torch
import deltaprop.nn.functional as F

POLY_DEGREE = 4
W_TARGET = np.array([0.5, -1.2, 0.8, 0.3], dtype=np.float32)
B_TARGET = 0.7


def make_features(x):
    """(x, x^2, x^3, x^4) as the columns of a matrix."""
    x = x.unsqueeze(1)
    return torch.cat([x**i for i in range(1, POLY_DEGREE + 1)], 1)


def target(x):
    return x.mm(torch.from_numpy(W_TARGET).unsqueeze(1)) + B_TARGET


def get_batch(rng, batch_size=32):
    raw = torch.from_numpy(rng.uniform(-1, 1, batch_size).astype(np.float32))
    x = make_features(raw)
    return x, target(x)


def describe(weights, bias):
    terms = " ".join(f"{w:+.2f} x^{i}" for i, w in enumerate(weights.view(-1).tolist(), 1))
    return f"y = {terms} {bias.item():+.2f}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--lr", type=float, default=0.1)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)

    fc = torch.nn.Linear(POLY_DEGREE, 1)
    with torch.no_grad():  # a start both libraries share
        fc.weight.copy_(torch.from_numpy(rng.uniform(-0.5, 0.5, (1, POLY_DEGREE)).astype(np.float32)))
        fc.bias.zero_()

    for step in range(1, args.steps + 1):
        batch_x, batch_y = get_batch(rng)
        fc.zero_grad()
        loss = F.smooth_l1_loss(fc(batch_x), batch_y)
        loss.backward()
        for param in fc.parameters():
            param.data.add_(-args.lr * param.grad)
        if step % 500 == 0:
            print(f"step {step}: loss {loss.item():.6f}")
        if loss.item() < 1e-4:
            break

    print(f"Loss: {loss.item():.6f} after {step} batches")
    print("Learned function:", describe(fc.weight, fc.bias))
    print("Actual function: ", describe(torch.from_numpy(W_TARGET), torch.tensor(B_TARGET)))
    return loss.item()


if __name__ == "__main__":
    main()
