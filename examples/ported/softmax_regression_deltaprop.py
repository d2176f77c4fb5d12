"""Softmax regression from scratch, as d2l's chapter writes it: own softmax, own loss, own SGD step.

Ten Gaussian clusters in 20 dimensions stand in for an image data set. The
model is ``softmax(X @ W + b)``; the loss picks ``-log y_hat[range(n), y]``;
the update is ``param -= lr * param.grad / batch_size`` under ``no_grad``.
Batches come in a NumPy-shuffled order, so this file and
``softmax_regression_deltaprop.py`` (which differs only in its import lines)
see the same data and reach the same loss.
"""

# ruff: noqa: I001 - the two copies keep their import lines in the same places
from __future__ import annotations

import argparse

import numpy as np
import deltaprop as torch

NUM_INPUTS, NUM_OUTPUTS = 20, 10


def synthetic_data(n, rng):
    centers = rng.normal(0, 1.5, (NUM_OUTPUTS, NUM_INPUTS))
    labels = rng.integers(0, NUM_OUTPUTS, n)
    features = centers[labels] + rng.normal(0, 1.0, (n, NUM_INPUTS))
    return features.astype(np.float32), labels


def data_iter(batch_size, features, labels, rng):
    order = rng.permutation(len(features))
    for start in range(0, len(features), batch_size):
        rows = torch.tensor(order[start : start + batch_size])
        yield features[rows], labels[rows]


def softmax(X):
    X_exp = torch.exp(X - X.max(dim=1, keepdim=True).values)
    partition = X_exp.sum(1, keepdim=True)
    return X_exp / partition


def net(X, W, b):
    return softmax(torch.matmul(X.reshape((-1, W.shape[0])), W) + b)


def cross_entropy(y_hat, y):
    return -torch.log(y_hat[range(len(y_hat)), y])


def accuracy(y_hat, y):
    return float((y_hat.argmax(axis=1).type(y.dtype) == y).type(torch.float32).sum())


def sgd(params, lr, batch_size):
    with torch.no_grad():
        for param in params:
            param -= lr * param.grad / batch_size
            param.grad.zero_()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--samples", type=int, default=1000)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(2)
    features_np, labels_np = synthetic_data(args.samples, rng)
    features, labels = torch.from_numpy(features_np), torch.from_numpy(labels_np)

    W = torch.tensor(rng.normal(0, 0.01, (NUM_INPUTS, NUM_OUTPUTS)).astype(np.float32), requires_grad=True)
    b = torch.zeros(NUM_OUTPUTS, requires_grad=True)
    lr, batch_size = 0.1, 32

    for epoch in range(args.epochs):
        for X, y in data_iter(batch_size, features, labels, rng):
            loss = cross_entropy(net(X, W, b), y)
            loss.sum().backward()
            sgd([W, b], lr, len(y))
        with torch.no_grad():
            y_hat = net(features, W, b)
            train_loss = cross_entropy(y_hat, labels).mean()
            share = accuracy(y_hat, labels) / len(labels)
            print(f"epoch {epoch + 1}, loss {train_loss:.6f}, accuracy {share:.3f}")
    return float(train_loss)


if __name__ == "__main__":
    main()
