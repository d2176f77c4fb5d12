"""A network as the learning rules see it: a chain of blocks, each one affine layer and what follows it.

Every rule here except backprop assigns credit layer by layer, so it needs to
know where one layer ends and the next begins. It asks the layers the
structural questions of `deltaprop.nn.Module` instead of checking classes:

- ``module.chain()``: the sub-modules in order, when forward is their
  composition (``nn.Sequential``; nested ones are opened too);
- ``module.affine_parameters()``: ``(weight, bias)`` when the layer computes
  ``x @ weight.T + bias`` on its last axis (``nn.Linear``).

A block is one affine layer followed by every parameter-free module up to the
next affine layer (activations, dropout, ...): ``a = layer(h_in)``,
``h = tail(a)``. Parameter-free modules before the first affine layer
(a ``Flatten``) form the head, applied to the input. A module with parameters
that is not affine (a normalisation layer, a convolution) cannot be split this
way, and `split_blocks` refuses it by name.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from deltaprop.tensor import Tensor


@dataclass
class Block:
    """One affine layer (its module name, weight, bias) and the parameter-free modules after it."""

    name: str
    layer: Any
    weight: Any
    bias: Any
    tail: list[Any] = field(default_factory=list)

    @property
    def params(self) -> list[Any]:
        return [self.weight] if self.bias is None else [self.weight, self.bias]

    @property
    def width(self) -> int:
        """Units of this block's output (rows of the weight)."""
        return int(self.weight.shape[0])

    def affine(self, x: Tensor) -> Tensor:
        """The layer itself (so its hooks run): ``x @ weight.T + bias``."""
        return self.layer(x)

    def after(self, a: Tensor) -> Tensor:
        """The tail: activation, dropout, ... applied to the layer's output."""
        for module in self.tail:
            a = module(a)
        return a

    def activation(self, a: Tensor) -> Tensor:
        """Only the tail's elementwise modules (no dropout): what an inverse maps into (target prop)."""
        for module in self.tail:
            if module.elementwise:
                a = module(a)
        return a


@dataclass
class Network:
    """The head (parameter-free modules before the first affine layer) and the blocks, in order."""

    head: list[Any]
    blocks: list[Block]

    def prepare(self, x: Tensor) -> Tensor:
        for module in self.head:
            x = module(x)
        return x

    @property
    def hidden(self) -> list[Block]:
        return self.blocks[:-1]

    @property
    def output(self) -> Block:
        return self.blocks[-1]


def split_blocks(model: Any, rule: str) -> Network:
    """The model as head + blocks, or a ValueError naming the layer ``rule`` cannot handle."""
    head: list[Any] = []
    blocks: list[Block] = []
    for name, module in _leaves(model, "", rule):
        pair = module.affine_parameters()
        if pair is not None:
            weight, bias = pair
            blocks.append(Block(name or type(module).__name__, module, weight, bias))
        elif next(iter(module.parameters()), None) is not None:
            raise ValueError(
                f"{rule}: layer '{name}' ({type(module).__name__}) has parameters but is not affine "
                "(it does not compute x @ weight.T + bias), so the rule cannot assign it credit; "
                f"{rule} trains chains of affine layers (nn.Linear) with parameter-free layers "
                "(activations, dropout) between them: remove that layer or train with Backprop()"
            )
        elif blocks:
            blocks[-1].tail.append(module)
        else:
            head.append(module)
    if not blocks:
        raise ValueError(
            f"{rule}: the model has no affine layer (nn.Linear) to train; build it as "
            "nn.Sequential(nn.Linear(...), nn.ReLU(), ..., nn.Linear(...))"
        )
    return Network(head, blocks)


def _leaves(module: Any, name: str, rule: str) -> Iterator[tuple[str, Any]]:
    """The non-container modules of a chain in forward order, with their dotted names."""
    if module.affine_parameters() is not None:
        yield name, module
        return
    parts = module.chain()
    if parts is None:
        if name or next(iter(module.parameters()), None) is None:
            yield name, module  # a layer inside the chain: split_blocks decides whether it can be trained
            return
        raise ValueError(
            f"{rule}: the model ({type(module).__name__}) is not a chain of layers (its chain() is None), "
            "so the rule cannot see its layers in order; build the network as nn.Sequential of layers, "
            "or train it with Backprop()"
        )
    names = {id(child): child_name for child_name, child in module.named_children()}
    for child in parts:
        child_name = names.get(id(child), "?")
        yield from _leaves(child, f"{name}.{child_name}" if name else child_name, rule)
