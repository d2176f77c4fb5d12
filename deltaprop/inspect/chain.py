"""`derivative_chain`: the chain-rule factors behind one weight's gradient, and its update.

For weight W^l[i, j] of a dense net the chain rule gives

    dC/dW^l[i,j] = dC/da^l[i] * da^l[i]/dz^l[i] * dz^l[i]/dW^l[i,j]
                 = (upstream gradient)  *  f'(z^l[i])  *  a^(l-1)[j]

where the upstream gradient is the loss's own derivative dC/da^L for the
last layer and ((W^(l+1))^T delta^(l+1))[i] below it. For the single sigmoid
neuron with E = 1/2 (t - p)^2 the three factors are the familiar
dE/dprediction = p - t, dprediction/ds = p (1 - p) and ds/dw_j = x_j. For a
bias the last factor is dz/db = 1. Through a softmax the first two factors
cannot be separated (its Jacobian is not diagonal), so they are shown as one,
dC/dz^l[i].

For a batch, each factor has one value per example and the gradient is the
sum over examples of their products (the loss's reduction is already inside
dC/da^L).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from deltaprop.inspect.trace import Trace, dense_trace

__all__ = ["DerivativeChain", "Factor", "derivative_chain"]


@dataclass
class Factor:
    """One local derivative in the chain: its symbol, what it is, and its value(s)."""

    symbol: str
    meaning: str
    value: Any  # float for one example, ndarray (N,) for a batch


@dataclass
class DerivativeChain:
    parameter: str  # e.g. '0.weight'
    index: tuple[int, ...]
    value: float  # the weight before the update
    factors: list[Factor]
    product: float  # sum over examples of the product of the factors
    gradient: float  # the same number read from the checked trace
    lr: float
    updated: float  # value - lr * gradient
    trace: Trace

    def __str__(self) -> str:
        name = f"{self.parameter}[{', '.join(map(str, self.index))}]"
        lines = [f"Chain rule for {name} (value {self.value:.11g}):"]
        for f in self.factors:
            shown = (
                f"{f.value:.9g}"
                if np.ndim(f.value) == 0
                else np.array2string(np.asarray(f.value), precision=9)
            )
            lines.append(f"  {f.symbol:<22} = {shown:<14}  ({f.meaning})")
        lines.append(f"  product (dC/d{name})   = {self.product:.9g}")
        lines.append(f"  update: {self.value:.11g} - {self.lr:g} * {self.gradient:.9g} = {self.updated:.11g}")
        return "\n".join(lines)


def derivative_chain(
    model,
    x,
    y,
    loss: Any = "squared_error",
    weight: tuple[str, tuple[int, ...]] = ("0.weight", (0, 0)),
    lr: float = 0.01,
) -> DerivativeChain:
    """The factors of dC/dw for one weight ``(parameter name, index)``, their product and the update.

    ``weight`` names a parameter as ``model.named_parameters()`` does
    ('0.weight', '2.bias', ...) and an index into it: (row i, column j) for a
    weight (row i = output node, column j = input node, as `Linear` stores
    W), (i,) for a bias.
    """
    name, index = weight
    index = tuple(int(k) for k in np.atleast_1d(index))
    tr = dense_trace(model, x, y, loss)
    prefix, _, kind = name.rpartition(".")
    matches = [layer for layer in tr.layers if layer.linear_name == prefix]
    if kind not in ("weight", "bias") or not matches:
        known = sorted(tr.gradients())
        raise KeyError(f"derivative_chain: no parameter {name!r}; the model's parameters are {known}")
    layer = matches[0]
    param = layer.weight if kind == "weight" else layer.bias
    if (
        param is None
        or len(index) != param.ndim
        or any(not 0 <= k < s for k, s in zip(index, param.shape, strict=False))
    ):
        shape = None if param is None else param.shape
        raise IndexError(
            f"derivative_chain: index {index} does not fit {name} of shape {shape}; give (i, j) for a "
            "weight (i = output node, j = input node) or (i,) for a bias"
        )
    i = index[0]
    batched = lambda v: np.atleast_2d(v) if v.ndim <= 1 else v  # noqa: E731
    a_prev, fprime, delta = batched(layer.a_prev), layer.fprime, batched(layer.delta)
    l, last = layer.index, layer.index == len(tr.layers)
    factors: list[Factor] = []
    if fprime.ndim == (3 if not tr.single else 2):  # a softmax Jacobian: da/dz is a full matrix
        factors.append(Factor(f"dC/dz^{l}[{i}]", "through the softmax Jacobian", delta[:, i]))
    else:
        fprime = batched(fprime)
        if last:
            upstream = batched(tr.output_grad)[:, i]
            factors.append(Factor(f"dC/da^{l}[{i}]", "the loss's derivative in the prediction", upstream))
        else:
            above = tr.layers[l]
            upstream = (batched(above.delta) @ above.weight)[:, i]
            factors.append(Factor(f"dC/da^{l}[{i}]", f"((W^{l + 1})^T delta^{l + 1})[{i}]", upstream))
        factors.append(Factor(f"da^{l}[{i}]/dz^{l}[{i}]", f"{layer.activation}'(z^{l}[{i}])", fprime[:, i]))
    if kind == "weight":
        j = index[1]
        factors.append(Factor(f"dz^{l}[{i}]/dW^{l}[{i},{j}]", f"the input a^{l - 1}[{j}]", a_prev[:, j]))
    else:
        factors.append(Factor(f"dz^{l}[{i}]/db^{l}[{i}]", "z = W a + b, so 1", np.ones(a_prev.shape[0])))
    product = float(np.sum(np.prod([f.value for f in factors], axis=0)))
    grad = layer.grad_weight if kind == "weight" else layer.grad_bias
    assert grad is not None  # a layer with a bias has its gradient (param is None was refused above)
    gradient = float(grad[index])
    if tr.single:
        for f in factors:
            f.value = float(f.value[0])
    value = float(param[index])
    return DerivativeChain(
        parameter=name,
        index=index,
        value=value,
        factors=factors,
        product=product,
        gradient=gradient,
        lr=lr,
        updated=value - lr * gradient,
        trace=tr,
    )
