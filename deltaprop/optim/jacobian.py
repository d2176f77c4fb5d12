"""The Jacobian of a network's outputs with respect to its parameters, by backpropagation.

Second-order training (Levenberg-Marquardt, Gauss-Newton, natural gradient)
needs, for every example n and output unit k, the row

    J[n*K + k, :] = d y[n, k] / d w        (w: all parameters, flattened)

Backpropagation computes ``delta = dC/dz`` for a whole batch in one sweep, and
for a dense layer the per-example gradient is an outer product,
``dy[n,k]/dW = delta[n] a[n]^T``. So the Jacobian needs one sweep per *output
unit* (K of them), never one per example. Three routes, fastest first:

1. `Sequential` of `Linear` and elementwise activations: the matrix-form delta
   recursion in NumPy, all K output units at once (``D`` below has shape
   (N, K, width)); no graph is built.
2. Any model whose parameters all belong to `Linear` layers: one forward with
   the graph, then one ``backward`` per output unit; each Linear's input ``a``
   and the delta at its output are captured and combined into per-example rows.
3. Anything else: one ``backward`` per row (N*K of them). Correct for any
   model, slow for big data.

Columns follow the order of ``params`` (default ``model.parameters()``), each
parameter flattened in C order, as `flatten_params` does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from deltaprop.nn.activation import ACTIVATIONS
from deltaprop.nn.containers import Sequential
from deltaprop.nn.layers import Identity
from deltaprop.nn.linear import Linear
from deltaprop.nn.module import Module
from deltaprop.tensor import Tensor, enable_grad, no_grad

_ELEMENTWISE = tuple(set(ACTIVATIONS.values())) + (Identity,)


# --------------------------------------------------------------------------- flat parameter vectors
def flatten_params(params: Sequence[Tensor]) -> np.ndarray:
    """All parameter values in one float64 vector (the column order of every Jacobian here)."""
    return np.concatenate([np.asarray(p.data, dtype=np.float64).ravel() for p in params])


def assign_params(params: Sequence[Tensor], flat: np.ndarray) -> None:
    """Write a flat vector back into the parameters, in place, in each parameter's dtype."""
    offset = 0
    for p in params:
        size = p.data.size
        p.data[...] = flat[offset : offset + size].reshape(p.data.shape)
        offset += size
    if offset != flat.size:
        raise ValueError(f"assign_params: vector has {flat.size} entries, the parameters hold {offset}")


def _offsets(params: Sequence[Tensor]) -> dict[int, tuple[int, int]]:
    table, offset = {}, 0
    for p in params:
        table[id(p)] = (offset, offset + p.data.size)
        offset += p.data.size
    return table


# --------------------------------------------------------------------------- public entry points
def residual_jacobian(
    model: Module, X: Any, params: Sequence[Tensor] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(output, J)``: the model's output on X as (N, K) and d output / d params as (N*K, P).

    Row ``n*K + k`` is the gradient of output unit k on example n. For a
    residual ``e = output - y`` this is also de/dw, hence the name. Arrays are
    in the parameters' dtype; pass a float64 model for finite-difference checks.
    """
    params = list(model.parameters()) if params is None else list(params)
    if not params:
        raise ValueError(f"residual_jacobian: {type(model).__name__} has no parameters to differentiate")
    x = X.data if isinstance(X, Tensor) else np.asarray(X)
    if x.ndim == 1:
        raise ValueError(
            f"residual_jacobian: X has shape {x.shape}; give a batch of shape (N, features), "
            "e.g. X.reshape(-1, 1) for one input feature"
        )
    if _is_dense_sequential(model) and x.ndim == 2:
        return _jacobian_dense_sequential(model, x, params)
    if x.ndim == 2 and _all_params_in_linear(model, params):
        return _jacobian_by_output_unit(model, x, params)
    return _jacobian_by_row(model, x, params)


def jacobian(model: Module, X: Any, params: Sequence[Tensor] | None = None) -> np.ndarray:
    """d model(X) / d params as an (N*K, P) array (see `residual_jacobian`)."""
    return residual_jacobian(model, X, params)[1]


def output_jacobian(output: Tensor, params: Sequence[Tensor]) -> np.ndarray:
    """(M, P) Jacobian of every element of an already computed ``output`` (built with the graph).

    One backward per element: the general route, for closures that return
    residuals of an arbitrary computation (curve fitting, ...).
    """
    params = list(params)
    flat_out = output.data.ravel()
    rows = np.zeros((flat_out.size, sum(p.data.size for p in params)), dtype=np.float64)
    if not output.requires_grad:
        raise ValueError(
            "output_jacobian: the residuals do not depend on the parameters (requires_grad=False); "
            "compute them from the parameters, outside no_grad()"
        )
    with _saved_grads(params):
        seed = np.zeros_like(output.data)
        flat_seed = seed.reshape(-1)
        for i in range(flat_out.size):
            for p in params:
                p.grad = None
            flat_seed[i] = 1
            output.backward(seed, retain_graph=True)
            flat_seed[i] = 0
            rows[i] = np.concatenate(
                [np.zeros(p.data.size) if p.grad is None else np.ravel(p.grad) for p in params]
            )
    return rows


# --------------------------------------------------------------------------- route 1: dense Sequential
def _is_dense_sequential(model: Module) -> bool:
    layers = list(model) if isinstance(model, Sequential) else [model]
    return all(isinstance(layer, Linear) or type(layer) in _ELEMENTWISE for layer in layers)


def _activation_and_slope(layer: Module, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """f(z) and f'(z) for an elementwise activation, taken from the engine's own backward."""
    t = Tensor(z, requires_grad=True)
    with enable_grad():
        a = layer(t)
        a.backward(np.ones_like(z))
    return a.data, t.grad


def _jacobian_dense_sequential(
    model: Module, x: np.ndarray, params: Sequence[Tensor]
) -> tuple[np.ndarray, np.ndarray]:
    layers = list(model) if isinstance(model, Sequential) else [model]
    dtype = next(p.data.dtype for p in params)
    a = x.astype(dtype, copy=False)
    # Forward, keeping each Linear's input and each activation's slope.
    trail: list[tuple[str, Module, np.ndarray]] = []  # ('linear', layer, input) | ('act', layer, slope)
    for layer in layers:
        if isinstance(layer, Linear):
            trail.append(("linear", layer, a))
            a = a @ layer.weight.data.T
            if layer.bias is not None:
                a = a + layer.bias.data
        else:
            a, slope = _activation_and_slope(layer, a)
            trail.append(("act", layer, slope))
    output = a.reshape(len(x), -1)
    n, k = output.shape
    table = _offsets(params)
    J = np.zeros((n, k, sum(p.data.size for p in params)), dtype=dtype)
    # D[n, k, j] = d output[n, k] / d (current layer value)[n, j]; starts as the identity.
    D = np.broadcast_to(np.eye(k, dtype=dtype), (n, k, k))
    for kind, layer, saved in reversed(trail):
        if kind == "act":
            D = D * saved[:, None, :]
            continue
        _place(J, table, layer.weight, (D[:, :, :, None] * saved[:, None, None, :]).reshape(n, k, -1))
        if layer.bias is not None:
            _place(J, table, layer.bias, D)
        D = D @ layer.weight.data
    return output, J.reshape(n * k, -1)


def _place(J: np.ndarray, table: dict, p: Tensor, block: np.ndarray) -> None:
    span = table.get(id(p))
    if span is not None:  # a parameter not being optimized has no column
        J[..., span[0] : span[1]] += block


# ------------------------------------------------------------------- route 2: one backward per output unit
def _all_params_in_linear(model: Module, params: Sequence[Tensor]) -> bool:
    owned = set()
    for module in model.modules():
        if isinstance(module, Linear):
            owned.update(id(p) for p in module.parameters())
    return all(id(p) in owned for p in params)


@contextmanager
def _capture_linear(model: Module):
    """Record (layer, input array, output tensor) for every Linear call while the block runs."""
    calls: list[tuple[Linear, np.ndarray, Tensor]] = []
    patched = []
    for module in model.modules():
        if isinstance(module, Linear) and "forward" not in module.__dict__:

            def forward(x, _layer=module):
                z = type(_layer).forward(_layer, x)
                z.retain_grad()
                calls.append((_layer, x.data if isinstance(x, Tensor) else np.asarray(x), z))
                return z

            object.__setattr__(module, "forward", forward)
            patched.append(module)
    try:
        yield calls
    finally:
        for module in patched:
            del module.__dict__["forward"]


@contextmanager
def _saved_grads(params: Iterable[Tensor]):
    """Leave every parameter's .grad as it was (the Jacobian sweeps must not touch it)."""
    params = list(params)
    before = [p.grad for p in params]
    for p in params:  # backward adds into an existing .grad in place: start each sweep from None
        p.grad = None
    try:
        yield
    finally:
        for p, g in zip(params, before, strict=True):
            p.grad = g


def _jacobian_by_output_unit(
    model: Module, x: np.ndarray, params: Sequence[Tensor]
) -> tuple[np.ndarray, np.ndarray]:
    table = _offsets(params)
    with enable_grad(), _capture_linear(model) as calls, _saved_grads(params):
        out = model(Tensor(x))
        output = out.data.reshape(len(x), -1)
        n, k = output.shape
        J = np.zeros((n, k, sum(p.data.size for p in params)), dtype=output.dtype)
        seed = np.zeros_like(out.data)
        seed2 = seed.reshape(n, k)
        for unit in range(k):
            for _, _, z in calls:
                z.grad = None
            seed2[:, unit] = 1
            out.backward(seed, retain_graph=unit < k - 1)
            seed2[:, unit] = 0
            for layer, a, z in calls:
                delta = np.zeros(z.data.shape, z.data.dtype) if z.grad is None else z.grad
                block = (delta[:, :, None] * a[:, None, :]).reshape(n, -1)
                _place(J[:, unit], table, layer.weight, block)
                if layer.bias is not None:
                    _place(J[:, unit], table, layer.bias, delta)
    return output, J.reshape(n * k, -1)


# --------------------------------------------------------------------------- route 3: one backward per row
def _jacobian_by_row(model: Module, x: np.ndarray, params: Sequence[Tensor]) -> tuple[np.ndarray, np.ndarray]:
    with enable_grad():
        out = model(Tensor(x))
    rows = output_jacobian(out, params)
    output = out.data.reshape(len(x), -1)
    return output, rows.astype(output.dtype, copy=False)


def model_output(model: Module, X: Any) -> np.ndarray:
    """The model's output on X as an (N, K) array, without recording a graph."""
    with no_grad():
        out = model(X if isinstance(X, Tensor) else Tensor(np.asarray(X)))
    return out.data.reshape(out.data.shape[0], -1)
