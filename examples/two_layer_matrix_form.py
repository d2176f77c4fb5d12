"""A two-layer sigmoid network's gradients in matrix form.

z1 = W1 x + b1, a1 = s(z1), z2 = W2 a1 + b2, a2 = s(z2), C = 1/2 ||a2 - t||^2:

    delta2 = (a2 - t) * s'(z2)          dC/dW2 = delta2 a1^T
    delta1 = (W2^T delta2) * s'(z1)     dC/dW1 = delta1 x^T

`deltaprop.inspect.trace` computes each of these and checks them against
the engine's backward; this script also writes the four lines out by hand.

    python examples/two_layer_matrix_form.py
"""

import numpy as np

from deltaprop import nn
from deltaprop.inspect import trace


def main() -> dict:
    model = nn.Sequential(
        nn.Linear(2, 2, dtype=np.float64), nn.Sigmoid(), nn.Linear(2, 2, dtype=np.float64), nn.Sigmoid()
    )
    model[0].weight.array[...] = [[0.15, 0.20], [0.25, 0.30]]
    model[0].bias.array[...] = 0.35
    model[2].weight.array[...] = [[0.40, 0.45], [0.50, 0.55]]
    model[2].bias.array[...] = 0.60
    x, t = np.array([0.05, 0.10]), np.array([0.01, 0.99])
    tr = trace(model, x, t)
    print(tr)
    s = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    a1 = s(model[0].weight.array @ x + 0.35)
    a2 = s(model[2].weight.array @ a1 + 0.60)
    delta2 = (a2 - t) * a2 * (1 - a2)
    delta1 = (model[2].weight.array.T @ delta2) * a1 * (1 - a1)
    by_hand = {"dW2": np.outer(delta2, a1), "dW1": np.outer(delta1, x)}
    print(
        "\nby hand: dC/dW2 =",
        by_hand["dW2"].round(9).tolist(),
        "\n         dC/dW1 =",
        by_hand["dW1"].round(9).tolist(),
    )
    return {"trace": tr, **by_hand}


if __name__ == "__main__":
    main()
