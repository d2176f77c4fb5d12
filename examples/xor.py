"""XOR: the function a single neuron cannot learn, learned by a 2-4-1 network with backprop.

Full-batch gradient descent on the four XOR cases; the hidden layer builds
the features that make XOR linearly separable. Saves the decision boundary
if a path is given and matplotlib is installed.

    python examples/xor.py [out.png]
"""

import sys

import numpy as np

import deltaprop as dp
from deltaprop import nn


def main(path: str | None = None, epochs: int = 2000, lr: float = 2.0, seed: int = 0) -> np.ndarray:
    dp.manual_seed(seed)
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
    y = np.array([[0], [1], [1], [0]], dtype=np.float64)
    model = nn.Sequential(
        nn.Linear(2, 4, dtype=np.float64), nn.Tanh(), nn.Linear(4, 1, dtype=np.float64), nn.Sigmoid()
    )
    loss_fn = nn.SquaredErrorLoss()
    for epoch in range(epochs):
        loss = loss_fn(model(dp.Tensor(X)), dp.Tensor(y))
        model.zero_grad()
        loss.backward()
        for p in model.parameters():
            p.data -= lr * p.grad  # PyTorch's idiom: .data shares memory, autograd does not see it
        if epoch % (epochs // 4) == 0:
            print(f"epoch {epoch:5d}: loss {float(loss.array):.6f}")
    with dp.no_grad():
        out = model(dp.Tensor(X)).array
    for xi, oi in zip(X, out, strict=False):
        print(f"{int(xi[0])} xor {int(xi[1])} -> {oi[0]:.3f}")
    if path is not None:
        try:
            from deltaprop.inspect.plots import plot_decision_boundary

            plot_decision_boundary(model, X, y, path)
        except ImportError as exc:
            print(f"(no plot: {exc})")
    return out


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
