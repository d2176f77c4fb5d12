"""Check backpropagation against central finite differences, in float64.

For a scalar f, (f(x + eps e_i) - f(x - eps e_i)) / (2 eps) approximates
df/dx_i with error O(eps^2); a backward that disagrees with it beyond
``atol + rtol * |numeric|`` has a bug. Non-scalar outputs are reduced with a
fixed random projection <v, f(x)>, which checks the full vector-Jacobian
product with one backward.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from deltaprop.errors import GradcheckError
from deltaprop.tensor import Tensor, no_grad


def gradcheck(
    fn: Callable[..., Tensor],
    *inputs,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    seed: int = 0,
) -> bool:
    """Return True if backprop's gradient of ``fn`` matches finite differences, else raise.

    ``inputs`` may be Tensors or arrays; floating ones are copied to float64
    and differentiated, others are passed through. The error names the input,
    the element index, both values and the difference.
    """
    tensors = [_float64_leaf(x) for x in inputs]
    output = fn(*tensors)
    if not isinstance(output, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, got {type(output).__name__}")
    if output.array.size == 1:  # a scalar: check its own gradient, so errors show true derivatives
        projection = np.ones(output.shape)
    else:
        projection = np.random.default_rng(seed).standard_normal(output.shape)

    def scalar(out: Tensor) -> float:
        return float((np.asarray(out.array, dtype=np.float64) * projection).sum())

    if not output.requires_grad:
        raise GradcheckError("gradcheck: the output does not depend on any differentiable input")
    output.backward(projection.astype(output.dtype))

    for position, t in enumerate(tensors):
        if not isinstance(t, Tensor) or not t.requires_grad:
            continue
        analytic = np.zeros(t.shape) if t.grad_array is None else np.asarray(t.grad_array, dtype=np.float64)
        flat = t.array.reshape(-1)
        with no_grad():
            for i in range(flat.size):
                original = flat[i]
                flat[i] = original + eps
                plus = scalar(fn(*tensors))
                flat[i] = original - eps
                minus = scalar(fn(*tensors))
                flat[i] = original
                numeric = (plus - minus) / (2 * eps)
                backprop = analytic.reshape(-1)[i]
                if not abs(backprop - numeric) <= atol + rtol * abs(numeric):
                    index = tuple(int(k) for k in np.unravel_index(i, t.shape)) if t.shape else ()
                    raise GradcheckError(
                        f"gradcheck: input {position} (shape {t.shape}), element {index}: "
                        f"backprop gives {backprop:.10g}, finite differences give {numeric:.10g} "
                        f"(error {abs(backprop - numeric):.3g} > atol {atol} + rtol {rtol} * "
                        f"|numeric|)"
                    )
    return True


def _float64_leaf(x):
    if isinstance(x, Tensor):
        if x.dtype.kind != "f":
            return x
        return Tensor(np.array(x.array, dtype=np.float64), requires_grad=x.requires_grad or True)
    array = np.asarray(x)
    if array.dtype.kind != "f":
        return x
    return Tensor(array.astype(np.float64), requires_grad=True)
