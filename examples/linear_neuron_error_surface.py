"""The error surface of a linear neuron over its two weights, for the training case (1, 1, 0).

y = w1 x1 + w2 x2 and E = (t - y)^2; with x = (1, 1) and t = 0 this is
E = (w1 + w2)^2, a parabolic cylinder: every point of the line w1 = -w2 is a
minimum, and gradient descent moves straight across the trough. Prints a
few values and, if matplotlib is installed, saves the surface as PNG.

    python examples/linear_neuron_error_surface.py [out.png]
"""

import sys

import numpy as np

import deltaprop as dp


def error(w1: float, w2: float, case=(1.0, 1.0, 0.0)) -> dp.Tensor:
    x1, x2, t = case
    w = dp.tensor([w1, w2], dtype="float64", requires_grad=True)
    return (t - (w[0] * x1 + w[1] * x2)) ** 2, w


def main(path: str | None = None) -> np.ndarray:
    print("   w1    w2   E=(w1+w2)^2   dE/dw1   dE/dw2")
    rows = []
    for w1, w2 in [(1.0, 1.0), (1.0, -1.0), (-0.5, 2.0), (2.0, 0.0)]:
        e, w = error(w1, w2)
        e.backward()
        rows.append([w1, w2, float(e.array), *w.grad])
        print(f"{w1:5.1f} {w2:5.1f} {float(e.array):12.4f} {w.grad[0]:8.3f} {w.grad[1]:8.3f}")
    try:
        from deltaprop.inspect.plots import plot_error_surface

        plot_error_surface((1, 1, 0), path)
    except ImportError as exc:
        print(f"(no plot: {exc})")
    return np.array(rows)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "error_surface.png")
