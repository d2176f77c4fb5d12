"""A 2-input sigmoid neuron trained to output 0.7 from inputs 0.1 and 0.4.

Plain gradient descent on E = 1/2 (0.7 - prediction)^2, using deltaprop's
engine for the gradients: the error falls towards 0 and the prediction
climbs to the target. Saves the error-by-iteration and prediction-by-
iteration plots if a path is given and matplotlib is installed.

    python examples/sigmoid_neuron_target_07.py [out_prefix]
"""

import sys

import numpy as np

import deltaprop as dp
from deltaprop import nn


def main(prefix: str | None = None, iterations: int = 3000, lr: float = 0.5) -> dict:
    model = nn.Sequential(nn.Linear(2, 1, dtype=np.float64), nn.Sigmoid())
    model[0].weight.array[...] = [[0.5, 0.2]]  # a fixed start so every run prints the same numbers
    model[0].bias.array[...] = 0.0
    x, t = dp.Tensor(np.array([[0.1, 0.4]])), dp.Tensor(np.array([[0.7]]))
    loss_fn = nn.SquaredErrorLoss()
    errors, predictions = [], []
    for it in range(iterations):
        prediction = model(x)
        error = loss_fn(prediction, t)
        model.zero_grad()
        error.backward()
        for p in model.parameters():
            p.array -= lr * p.grad
        errors.append(float(error.array))
        predictions.append(float(prediction.array[0, 0]))
        if it % (iterations // 5) == 0 or it == iterations - 1:
            print(f"iteration {it + 1:5d}: prediction {predictions[-1]:.6f}, error {errors[-1]:.3e}")
    if prefix is not None:
        try:
            from deltaprop.inspect.plots import plot_error_by_iteration, plot_prediction_by_iteration

            plot_error_by_iteration(errors, f"{prefix}_error.png")
            plot_prediction_by_iteration(predictions, 0.7, f"{prefix}_prediction.png")
        except ImportError as exc:
            print(f"(no plot: {exc})")
    return {"errors": errors, "predictions": predictions}


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
