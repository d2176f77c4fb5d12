"""Logistic regression's gradient on one example: dC/dw = (p - y) x, dC/db = p - y.

With p = sigmoid(w.x + b) and the cross-entropy C = -(y log p + (1 - y) log(1 - p)),
the sigmoid's derivative p(1 - p) cancels the loss's 1 / (p(1 - p)), leaving
the famous (p - y) x. deltaprop's derivative chain shows the three factors
and that their product is exactly that.

    python examples/logistic_regression_gradient.py
"""

import numpy as np

from deltaprop import nn
from deltaprop.inspect import derivative_chain


def main() -> dict:
    x, y = np.array([1.0, 2.0, -1.0]), 1.0
    model = nn.Sequential(nn.Linear(3, 1, dtype=np.float64), nn.Sigmoid())
    model[0].weight.array[...] = [[0.2, -0.4, 0.1]]
    model[0].bias.array[...] = 0.3
    p = 1 / (1 + np.exp(-(model[0].weight.array[0] @ x + 0.3)))
    print(f"p = sigmoid(w.x + b) = {p:.9f}, y = {y}")
    grads = []
    for j in range(3):
        chain = derivative_chain(model, x, y, nn.BCELoss(), ("0.weight", (0, j)))
        if j == 0:
            print(chain)
        grads.append(chain.gradient)
        print(f"dC/dw{j + 1} = {chain.gradient:.9f}   (p - y) x{j + 1} = {(p - y) * x[j]:.9f}")
    return {"p": p, "grad": np.array(grads), "formula": (p - y) * x}


if __name__ == "__main__":
    main()
