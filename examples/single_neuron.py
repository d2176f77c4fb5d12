"""The single-neuron worked example: one forward pass, the chain rule, one update.

Inputs 0.1 and 0.3, weights 0.5 and 0.2, bias 1.83, target 0.03, sigmoid,
E = 1/2 (t - prediction)^2, learning rate 0.01. Prints the same walk-through
as ``deltaprop explain`` and returns the gradients.

    python examples/single_neuron.py
"""

import numpy as np

from deltaprop import nn
from deltaprop.inspect import derivative_chain
from deltaprop.inspect.explain import single_neuron


def main() -> dict:
    errors = single_neuron(np.array([0.1, 0.3]), np.array([0.5, 0.2]), 1.83, 0.03, lr=0.01)
    model = nn.Sequential(nn.Linear(2, 1, dtype=np.float64), nn.Sigmoid())
    model[0].weight.array[...] = [[0.5, 0.2]]
    model[0].bias.array[...] = 1.83
    grads = {
        name: derivative_chain(model, [0.1, 0.3], 0.03, "squared_error", (param, index)).gradient
        for name, param, index in [
            ("w1", "0.weight", (0, 0)),
            ("w2", "0.weight", (0, 1)),
            ("b", "0.bias", (0,)),
        ]
    }
    return {"errors": errors, **grads}


if __name__ == "__main__":
    main()
