"""A two-layer MLP separating two moons with a max-margin (hinge) loss, as in micrograd's demo.

Labels are -1 and +1; the score's sign is the prediction. The loss is the
mean of relu(1 - y * score) plus an L2 penalty, and the weights are updated
by hand (``p.data -= lr * p.grad``) with a learning rate that decays. This
file and ``moons_deltaprop.py`` differ only in their import lines.
"""

# ruff: noqa: I001 - the two copies keep their import lines in the same places
from __future__ import annotations

import argparse

import numpy as np
import torch
import torch.nn as nn


def make_moons(n, noise, rng):
    """Two interleaving half circles (the classic toy problem), labels -1 and +1."""
    half = n // 2
    outer = np.linspace(0, np.pi, half)
    inner = np.linspace(0, np.pi, n - half)
    X = np.concatenate([np.stack([np.cos(outer), np.sin(outer)], 1),
                        np.stack([1 - np.cos(inner), 0.5 - np.sin(inner)], 1)])  # fmt: skip
    X += rng.normal(0, noise, X.shape)
    y = np.concatenate([-np.ones(half), np.ones(n - half)])
    return X.astype(np.float32), y.astype(np.float32)


class MLP(nn.Module):
    def __init__(self, hidden=16):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(2, hidden), nn.Linear(hidden, hidden), nn.Linear(hidden, 1)])

    def forward(self, x):
        for layer in self.layers[:-1]:
            x = layer(x).relu()
        return self.layers[-1](x).squeeze(1)


def shared_start(model, rng):
    """Weights drawn by NumPy, so both libraries begin at the same point."""
    with torch.no_grad():
        for p in model.parameters():
            bound = 1.0 / np.sqrt(p.shape[-1]) if p.dim() > 1 else 0.1
            p.copy_(torch.from_numpy(rng.uniform(-bound, bound, tuple(p.shape)).astype(np.float32)))


def loss_and_accuracy(model, X, y, alpha=1e-4):
    scores = model(X)
    losses = (1 + -y * scores).relu()  # the hinge: zero once the margin is met
    data_loss = losses.mean()
    reg_loss = alpha * sum((p * p).sum() for p in model.parameters())
    accuracy = ((y > 0) == (scores > 0)).float().mean()
    return data_loss + reg_loss, accuracy


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--samples", type=int, default=100)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(1)
    X_np, y_np = make_moons(args.samples, 0.1, rng)
    X, y = torch.tensor(X_np), torch.tensor(y_np)
    model = MLP()
    shared_start(model, rng)
    print(f"{sum(p.numel() for p in model.parameters())} parameters")

    for k in range(args.steps):
        total_loss, accuracy = loss_and_accuracy(model, X, y)
        model.zero_grad()
        total_loss.backward()
        learning_rate = 1.0 - 0.9 * k / args.steps
        for p in model.parameters():
            p.data -= learning_rate * p.grad
        if k % 10 == 0 or k == args.steps - 1:
            print(f"step {k} loss {total_loss.item():.6f}, accuracy {accuracy.item() * 100:.1f}%")
    return total_loss.item()


if __name__ == "__main__":
    main()
