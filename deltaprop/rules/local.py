"""Forward and backward passes one block at a time: the pieces every layer-local rule is built from.

Backpropagation records one graph from the input to the loss. The rules here
cut it at every block instead: each block's input is a fresh leaf (the values
of the block below, detached), and inside a block the graph is cut once more
between the affine layer and its tail. So a rule can choose what gradient
enters each block (a random projection of the error, a synthetic gradient,
the gradient of a local loss) and the engine still does the differentiation
of each layer and activation, with the layers' own ops and hooks.

For one block, with ``a = layer(x)`` and ``h = tail(a)``:

- `tail_backward` (p, dC/dh) -> dC/da (the "delta" of the textbooks);
- `affine_backward` (p, dC/da) adds dC/dW and dC/db to ``.grad`` (and, when
  the pass was made with ``input_grad=True``, dC/dx to ``p.x.grad``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from deltaprop import backend
from deltaprop.rules.blocks import Block, Network
from deltaprop.tensor import Tensor


@dataclass
class LayerPass:
    """One block's forward: its input leaf, the layer output, the same values as a leaf, the tail output."""

    block: Block
    x: Tensor
    a: Tensor
    a_leaf: Tensor
    h: Tensor


def as_tensor(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def run_block(block: Block, h_in: Any, input_grad: bool = False) -> LayerPass:
    """Forward one block from the values ``h_in`` (a Tensor or array), cut off from what made them."""
    array = h_in.array if isinstance(h_in, Tensor) else h_in
    x = Tensor._wrap(array).requires_grad_(input_grad) if input_grad else Tensor._wrap(array)
    a = block.affine(x)
    a_leaf = Tensor._wrap(a.array).requires_grad_()
    h = block.after(a_leaf) if block.tail else a_leaf
    return LayerPass(block, x, a, a_leaf, h)


def forward_pass(network: Network, x: Any, input_grad_from: int | None = None) -> list[LayerPass]:
    """Every block's `LayerPass`, each block fed the (detached) output of the one below.

    Blocks from index ``input_grad_from`` on also compute dC/d(their input) in their backward.
    """
    h = network.prepare(as_tensor(x))
    passes = []
    for index, block in enumerate(network.blocks):
        passes.append(run_block(block, h, input_grad_from is not None and index >= input_grad_from))
        h = passes[-1].h
    return passes


def forward_and_loss(network: Network, loss_fn: Any, x: Any, y: Any,
                     input_grad_from: int | None = None) -> tuple[list[LayerPass], Tensor, Tensor, float]:
    """(passes, output, loss, its value): the forward pass and the loss that every rule starts from."""
    passes = forward_pass(network, x, input_grad_from)
    output = passes[-1].h
    loss = loss_fn(output, y)
    return passes, output, loss, loss_value(loss)


def tail_backward(p: LayerPass, grad_h: Any) -> Any:
    """dC/da from dC/dh through the block's tail (activation derivative, dropout mask)."""
    if p.h is p.a_leaf:
        return grad_h
    p.h.backward(grad_h)
    return p.a_leaf.grad_array


def affine_backward(p: LayerPass, delta: Any) -> None:
    """Add the layer's parameter gradients for dC/da = ``delta`` (and dC/dx if asked for)."""
    p.a.backward(delta)


def backward_through(p: LayerPass, grad_h: Any) -> Any:
    """Both steps: the block's parameter gradients for dC/dh = ``grad_h``; returns dC/da."""
    delta = tail_backward(p, grad_h)
    affine_backward(p, delta)
    return delta


def output_delta(p: LayerPass, loss: Tensor) -> Any:
    """Backpropagate the loss into the output block's tail only: dL/da of the last affine layer."""
    loss.backward()
    return p.a_leaf.grad_array


def loss_value(loss: Tensor) -> float:
    return loss.array.item()


def finite(value: float) -> bool:
    return value - value == 0  # NaN - NaN and inf - inf are NaN


@contextmanager
def frozen(params: list[Any]) -> Iterator[None]:
    """The parameters need no gradient inside (a rule differentiating with respect to something else)."""
    flags = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad = False
    try:
        yield
    finally:
        for p, flag in zip(params, flags, strict=True):
            p.requires_grad = flag


def targets_as_rows(y: Any, n_out: int, dtype: Any, owner: str) -> Any:
    """Targets as one row per example in ``dtype``: class indices become one-hot rows of ``n_out`` columns."""
    array = y.array if isinstance(y, Tensor) else y
    xp = as_tensor(array).xp
    if array.ndim == 1 and array.dtype.kind in "iu":
        rows = xp.zeros((array.shape[0], n_out), dtype=dtype)
        rows[xp.arange(array.shape[0]), array] = 1
        return rows
    if array.ndim == 1:
        return array.reshape(-1, 1).astype(dtype)
    if array.ndim != 2:
        raise ValueError(f"{owner}: targets must be class indices (N,) or rows (N, K), not {array.shape}")
    return array.astype(dtype, copy=False)


def place_like(module: Any, like: Tensor) -> Any:
    """Move a rule's own module (gradient models, inverses) to the array module of ``like``."""
    xp = like.xp
    for p in module.parameters():
        if backend.array_module(p.array) is not xp:
            p.array = backend.to_module(p.array, xp)
    return module
