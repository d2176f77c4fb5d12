"""The Jacobian of a network's outputs with respect to its parameters, by backpropagation.

Second-order training (Levenberg-Marquardt, Gauss-Newton, natural gradient)
needs, for every example n and output unit k, the row

    J[n*K + k, :] = d y[n, k] / d w        (w: all parameters, flattened)

Backpropagation computes ``delta = dC/dz`` for a whole batch in one sweep, and
for a dense layer the per-example gradient is an outer product,
``dy[n,k]/dW = delta[n] a[n]^T``. So the Jacobian needs one sweep per *output
unit* (K of them), never one per example. Three routes, fastest first:

1. A chain of affine layers and elementwise activations (a `Sequential` of
   `Linear` and activations): the matrix-form delta recursion in NumPy, all K
   output units at once (``D`` below has shape (N, K, width)); no graph is built.
2. Any model whose parameters all belong to affine layers: one forward with
   the graph, then one ``backward`` per output unit; a forward hook captures
   each affine layer's input ``a`` and output, whose delta after the backward
   gives the per-example rows.
3. Anything else: one ``backward`` per row (N*K of them). Correct for any
   model, slow for big data.

This file sits below `nn` in the house, so it never checks layer classes: it
asks each module the structural questions of `deltaprop.nn.Module`:
``module.chain()`` (its sub-modules in order, if forward is their
composition), ``module.affine_parameters()`` (``(weight, bias)`` if it computes
``x @ weight.T + bias``) and ``module.elementwise`` (it maps each element on
its own). A new layer that answers them gets the fast routes for free.

Columns follow the order of ``params`` (default ``model.parameters()``), each
parameter flattened in C order, as `flatten_params` does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from deltaprop.tensor import Tensor, enable_grad, no_grad

Module = Any  # a deltaprop.nn.Module; not imported, as nn sits above optim


# --------------------------------------------------------------------------- flat parameter vectors
def flatten_params(params: Sequence[Tensor]) -> np.ndarray:
    """All parameter values in one float64 vector (the column order of every Jacobian here)."""
    return np.concatenate([np.asarray(p.array, dtype=np.float64).ravel() for p in params])


def assign_params(params: Sequence[Tensor], flat: np.ndarray) -> None:
    """Write a flat vector back into the parameters, in place, in each parameter's dtype."""
    offset = 0
    for p in params:
        size = p.array.size
        p.array[...] = flat[offset : offset + size].reshape(p.array.shape)
        offset += size
    if offset != flat.size:
        raise ValueError(f"assign_params: vector has {flat.size} entries, the parameters hold {offset}")


def _offsets(params: Sequence[Tensor]) -> dict[int, tuple[int, int]]:
    table, offset = {}, 0
    for p in params:
        table[id(p)] = (offset, offset + p.array.size)
        offset += p.array.size
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
    x = X.array if isinstance(X, Tensor) else np.asarray(X)
    if x.ndim == 1:
        raise ValueError(
            f"residual_jacobian: X has shape {x.shape}; give a batch of shape (N, features), "
            "e.g. X.reshape(-1, 1) for one input feature"
        )
    if x.ndim == 2 and dense_chain(model) is not None:
        return _jacobian_dense_chain(model, x, params)
    if x.ndim == 2 and _all_params_affine(model, params):
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
    flat_out = output.array.ravel()
    rows = np.zeros((flat_out.size, sum(p.array.size for p in params)), dtype=np.float64)
    if not output.requires_grad:
        raise ValueError(
            "output_jacobian: the residuals do not depend on the parameters (requires_grad=False); "
            "compute them from the parameters, outside no_grad()"
        )
    with _saved_grads(params):
        seed = np.zeros_like(output.array)
        flat_seed = seed.reshape(-1)
        for i in range(flat_out.size):
            for p in params:
                p.grad_array = None
            flat_seed[i] = 1
            output.backward(seed, retain_graph=True)
            flat_seed[i] = 0
            rows[i] = np.concatenate(
                [np.zeros(p.array.size) if p.grad_array is None else np.ravel(p.grad_array) for p in params]
            )
    return rows


# --------------------------------------------------------------------------- route 1: dense chain
def dense_chain(model: Module) -> list[Module] | None:
    """The layers of ``model`` if it is a chain of affine layers and elementwise activations, else None."""
    layers = model.chain() or [model]
    if all(layer.affine_parameters() is not None or layer.elementwise for layer in layers):
        return layers
    return None


def _activation_and_slope(layer: Module, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """f(z) and f'(z) for an elementwise activation, taken from the engine's own backward."""
    t = Tensor(z, requires_grad=True)
    with enable_grad():
        a = layer(t)
        a.backward(np.ones_like(z))
    return a.array, t.grad_array


def _jacobian_dense_chain(
    model: Module, x: np.ndarray, params: Sequence[Tensor]
) -> tuple[np.ndarray, np.ndarray]:
    layers = dense_chain(model) or []
    dtype = next(p.array.dtype for p in params)
    a = x.astype(dtype, copy=False)
    # Forward, keeping each Linear's input and each activation's slope.
    trail: list[tuple[str, Any, np.ndarray]] = []  # ('affine', (W, b), input) | ('act', layer, slope)
    for layer in layers:
        affine = layer.affine_parameters()
        if affine is not None:
            weight, bias = affine
            trail.append(("affine", affine, a))
            a = a @ weight.array.T
            if bias is not None:
                a = a + bias.array
        else:
            a, slope = _activation_and_slope(layer, a)
            trail.append(("act", layer, slope))
    output = a.reshape(len(x), -1)
    n, k = output.shape
    table = _offsets(params)
    J = np.zeros((n, k, sum(p.array.size for p in params)), dtype=dtype)
    # D[n, k, j] = d output[n, k] / d (current layer value)[n, j]; starts as the identity.
    D = np.broadcast_to(np.eye(k, dtype=dtype), (n, k, k))
    for kind, what, saved in reversed(trail):
        if kind == "act":
            D = D * saved[:, None, :]
            continue
        weight, bias = what
        _place(J, table, weight, (D[:, :, :, None] * saved[:, None, None, :]).reshape(n, k, -1))
        if bias is not None:
            _place(J, table, bias, D)
        D = D @ weight.array
    return output, J.reshape(n * k, -1)


def _place(J: np.ndarray, table: dict, p: Tensor, block: np.ndarray) -> None:
    span = table.get(id(p))
    if span is not None:  # a parameter not being optimized has no column
        J[..., span[0] : span[1]] += block


# ------------------------------------------------------------------- route 2: one backward per output unit
def _all_params_affine(model: Module, params: Sequence[Tensor]) -> bool:
    owned: set[int] = set()
    for module in model.modules():
        affine = module.affine_parameters()
        if affine is not None:
            owned.update(id(p) for p in affine if p is not None)
    return all(id(p) in owned for p in params)


@contextmanager
def capture_affine(model: Module):
    """Record ``(module, input array, output tensor)`` for every affine layer call in the block.

    A forward hook per affine layer (removed on exit) marks each output with
    ``retain_grad``, so after a backward its ``.grad`` is the delta at the
    layer's output; with the input that gives per-example weight gradients.
    Other hooks (the non-finite guard, GradientFlow) can be active at the same time.
    """
    calls: list[tuple[Any, np.ndarray, Tensor]] = []

    def record(module: Any, args: tuple, output: Tensor) -> None:
        x = args[0]
        output.retain_grad()
        calls.append((module, x.array if isinstance(x, Tensor) else np.asarray(x), output))

    handles = [m.register_forward_hook(record) for m in model.modules() if m.affine_parameters() is not None]
    try:
        yield calls
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def _saved_grads(params: Iterable[Tensor]):
    """Leave every parameter's .grad as it was (the Jacobian sweeps must not touch it)."""
    params = list(params)
    before = [p.grad_array for p in params]
    for p in params:  # backward adds into an existing .grad in place: start each sweep from None
        p.grad_array = None
    try:
        yield
    finally:
        for p, g in zip(params, before, strict=True):
            p.grad_array = g


def _jacobian_by_output_unit(
    model: Module, x: np.ndarray, params: Sequence[Tensor]
) -> tuple[np.ndarray, np.ndarray]:
    table = _offsets(params)
    with enable_grad(), capture_affine(model) as calls, _saved_grads(params):
        out = model(Tensor(x))
        output = out.array.reshape(len(x), -1)
        n, k = output.shape
        J = np.zeros((n, k, sum(p.array.size for p in params)), dtype=output.dtype)
        seed = np.zeros_like(out.array)
        seed2 = seed.reshape(n, k)
        for unit in range(k):
            for _, _, z in calls:
                z.grad_array = None
            seed2[:, unit] = 1
            out.backward(seed, retain_graph=unit < k - 1)
            seed2[:, unit] = 0
            for layer, a, z in calls:
                delta = np.zeros(z.array.shape, z.array.dtype) if z.grad_array is None else z.grad_array
                weight, bias = layer.affine_parameters()
                block = (delta[:, :, None] * a[:, None, :]).reshape(n, -1)
                _place(J[:, unit], table, weight, block)
                if bias is not None:
                    _place(J[:, unit], table, bias, delta)
    return output, J.reshape(n * k, -1)


# --------------------------------------------------------------------------- route 3: one backward per row
def _jacobian_by_row(model: Module, x: np.ndarray, params: Sequence[Tensor]) -> tuple[np.ndarray, np.ndarray]:
    with enable_grad():
        out = model(Tensor(x))
    rows = output_jacobian(out, params)
    output = out.array.reshape(len(x), -1)
    return output, rows.astype(output.dtype, copy=False)


def model_output(model: Module, X: Any) -> np.ndarray:
    """The model's output on X as an (N, K) array, without recording a graph."""
    with no_grad():
        out = model(X if isinstance(X, Tensor) else Tensor(np.asarray(X)))
    return out.array.reshape(out.array.shape[0], -1)
