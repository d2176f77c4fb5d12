"""`DifferenceTargetPropagation`: each layer moves toward a target, propagated down by learned inverses.

Lee, Zhang, Fischer, Bengio, "Difference Target Propagation", ECML-PKDD 2015
(arXiv:1412.7525; official Theano code: github.com/donghyunlee/dtp).

Layers h_i = f_i(h_{i-1}) for i = 1..M (h_0 the input, layer M the output)
and, for the hidden layers i = 2..M-1, inverses g_i(h_i) = s(V_i h_i + c_i)
trained to undo f_i, with s the activation of layer i-1. Per batch:

    first target:  t_{M-1} = h_{M-1} - eta * dL/dh_{M-1}        (a gradient step on the top hidden layer)
    targets below: t_{i-1} = h_{i-1} + g_i(t_i) - g_i(h_i)      (the difference correction)
    hidden layers: L_i = || f_i(h_{i-1}) - t_i ||^2, i = 1..M-1  (h_{i-1} and t_i held fixed)
    output layer:  the loss L itself
    inverses:      L_inv_i = || g_i(f_i(h_{i-1} + e)) - (h_{i-1} + e) ||^2,  e ~ N(0, sigma^2)

The update of each layer is the gradient of its own loss with respect to its
own weights only, so no error is carried through W^T. The difference term
makes t_{i-1} = h_{i-1} when t_i = h_i even for an imperfect inverse, which is
what makes imperfect inverses usable. Squared errors are summed over units and
averaged over the batch, as in the official code. With one hidden layer there
is no inverse and the hidden layer's update is 2 eta times the gradient.

The inverses are trained inside the rule (targets are computed before they
learn from the batch, as the paper's Algorithm 1 orders it) with their own
RMSprop, like the official code; the network's own optimizer applies the
layers' updates.

Defaults: eta (``target_lr``) = 0.3 and sigma (``noise``) = 0.36, close to the
official code's tuned values (0.328 and 0.360); ``inverse_lr`` = 1e-3 for the
inverses' RMSprop (the official code: 0.005 with its own RMSprop variant).
"""

from __future__ import annotations

from typing import Any

from deltaprop import nn
from deltaprop import random as dprandom
from deltaprop.optim.rmsprop import RMSprop
from deltaprop.rules.base import Rule, check_positive
from deltaprop.rules.blocks import Block, Network
from deltaprop.rules.local import (
    affine_backward,
    backward_through,
    finite,
    forward_and_loss,
    output_delta,
    place_like,
)
from deltaprop.tensor import Tensor, no_grad


class Inverse(nn.Module):
    """g_i: from layer i's units back to layer i-1's, through layer i-1's activation."""

    def __init__(self, upper: Block, lower: Block) -> None:
        super().__init__()
        self.linear = nn.Linear(upper.width, lower.width, dtype=upper.weight.dtype)
        self._lower = lower  # not a sub-module: its activation modules belong to the network

    def forward(self, h: Tensor) -> Tensor:
        return self._lower.activation(self.linear(h))


def _squared_error(a: Tensor, b: Any) -> Tensor:
    """|| a - b ||^2 summed over units, averaged over the batch (the official code's mse)."""
    diff = a - b
    return (diff * diff).sum() / a.shape[0]


class DifferenceTargetPropagation(Rule):
    """Layer-local targets propagated by learned inverses with the difference correction (Lee et al. 2015)."""

    name = "difference-target-propagation"

    def __init__(self, target_lr: float = 0.3, noise: float = 0.36, inverse_lr: float = 1e-3,
                 alignment_every: int = 10) -> None:
        super().__init__(alignment_every)
        owner = "DifferenceTargetPropagation"
        self.target_lr = check_positive(owner, "target_lr", target_lr)
        self.noise = check_positive(owner, "noise", noise, allow_zero=True)
        self.inverse_lr = check_positive(owner, "inverse_lr", inverse_lr)
        self.inverses: nn.ModuleList | None = None
        self.inverse_optimizer: RMSprop | None = None

    def setup(self, network: Network) -> None:
        blocks = network.blocks
        # inverses[k] inverts hidden block k + 1 (the first hidden layer needs none)
        inverses = [Inverse(blocks[i], blocks[i - 1]) for i in range(1, len(blocks) - 1)]
        self.inverses = place_like(nn.ModuleList(inverses), blocks[0].weight)
        params = list(self.inverses.parameters())
        self.inverse_optimizer = RMSprop(params, lr=self.inverse_lr) if params else None

    def gradients(self, model: Any, loss_fn: Any, x: Any, y: Any) -> tuple[float, Any]:
        network = self.bound(self.network)
        passes, output, loss, value = forward_and_loss(network, loss_fn, x, y, len(network.blocks) - 1)
        if not finite(value):
            return value, output
        affine_backward(passes[-1], output_delta(passes[-1], loss))  # the output layer: the loss itself
        if len(passes) == 1:
            return value, output
        targets = self._targets(passes)
        for p, target in zip(passes[:-1], targets, strict=True):
            h = p.h.array
            backward_through(p, 2.0 * (h - target) / h.shape[0])  # d/dh of || h - t ||^2 / batch
        self._train_inverses(passes)
        return value, output

    def _targets(self, passes: list[Any]) -> list[Any]:
        """t_i for every hidden layer, from the top one down (computed before the inverses learn)."""
        top = passes[-1].x  # the output block's input: h_{M-1}, with dL/dh_{M-1} in its .grad
        targets = [top.array - self.target_lr * top.grad_array]
        inverses = self.bound(self.inverses)
        with no_grad():
            for index in range(len(passes) - 2, 0, -1):
                inverse = inverses[index - 1]
                h_below = passes[index - 1].h.array
                upper_h, upper_t = passes[index].h.detach(), Tensor._wrap(targets[0])
                targets.insert(0, h_below + inverse(upper_t).array - inverse(upper_h).array)
        return targets

    def _train_inverses(self, passes: list[Any]) -> None:
        """One step of each inverse on its reconstruction loss around the current activations."""
        if self.inverse_optimizer is None:
            return
        self.inverse_optimizer.zero_grad()
        inverses = self.bound(self.inverses)
        for index in range(1, len(passes) - 1):
            below = passes[index - 1].h.array
            corrupted = below + dprandom.normal(below.shape, 0.0, self.noise, dtype=below.dtype,
                                                xp=passes[index].h.xp) if self.noise else below
            with no_grad():
                block = passes[index].block
                lifted = block.after(block.affine(Tensor._wrap(corrupted)))
            _squared_error(inverses[index - 1](lifted), corrupted).backward()
        self.inverse_optimizer.step()

    def extra_state(self) -> dict[str, Any]:
        return {"inverses": self.bound(self.inverses).state_dict(),
                "optimizer": None if self.inverse_optimizer is None else self.inverse_optimizer.state_dict()}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.bound(self.inverses).load_state_dict(state["inverses"])
        if self.inverse_optimizer is not None and state.get("optimizer") is not None:
            self.inverse_optimizer.load_state_dict(state["optimizer"])

    def __repr__(self) -> str:
        return (f"DifferenceTargetPropagation(target_lr={self.target_lr:g}, noise={self.noise:g}, "
                f"inverse_lr={self.inverse_lr:g})")
