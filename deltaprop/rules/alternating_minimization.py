"""`AlternatingMinimization`: optimise auxiliary codes per layer, then fit each layer to its codes.

Choromanska, Cowen, Kumaravel, Luss, Rigotti, Rish, Diachille, Gurev,
Kingsbury, Tejwani, Bouneffouf, "Beyond Backprop: Online Alternating
Minimization with Auxiliary Variables", ICML 2019 (official code:
github.com/IBM/online-alt-min).

Each hidden layer's output before its activation, c_i = W_i f_{i-1}(c_{i-1})
(c_0 the input, f_i the layer's activation), becomes a free variable, a code.
The network's training problem is relaxed to

    L(y, W_L f(c_{L-1})) + mu sum_i || c_i - W_i f(c_{i-1}) ||^2

and solved online, per mini-batch, alternating two steps:

- codes, from the top down, starting at the forward pass's values, each by a
  few steps of SGD with Nesterov momentum:
      c_{L-1} <- argmin (1/mu) L(y, W_L f(c_{L-1})) + ||c_{L-1} - c_{L-1}^0||^2
      c_i     <- argmin ||W_{i+1} f(c_i) - c_{i+1}||^2 + ||c_i - c_i^0||^2
- weights, every layer on its own local problem with the codes held fixed
  (this rule puts their gradients in ``.grad``; the optimizer applies them):
      hidden layer i:  ||W_i f(c_{i-1}) - c_i||^2
      output layer:    L(y, W_L f(c_{L-1}))

(squared errors are means over all entries, as in the official code). Each
layer's weight update needs only its own input and target codes: no gradient
is carried through the layers above. The codes live for one batch (the online
version); what carries over is mu, which grows by ``mu_growth`` per batch up to
``mu_max`` and is checkpointed.

Defaults: mu = 0.01 (the official code starts at 0.003 for batches of 200),
5 code steps of SGD at ``code_lr`` = 0.3 with momentum 0.9 (the official values).
"""

from __future__ import annotations

from typing import Any

from deltaprop.optim.sgd import SGD
from deltaprop.rules.base import Rule, check_count, check_positive
from deltaprop.rules.blocks import Block
from deltaprop.rules.local import as_tensor, finite, frozen, loss_value
from deltaprop.tensor import Tensor, no_grad


def _mean_squared(a: Tensor, b: Any) -> Tensor:
    diff = a - b
    return (diff * diff).mean()


class AlternatingMinimization(Rule):
    """Online alternating minimisation with per-layer auxiliary codes (Choromanska et al. 2019)."""

    name = "alternating-minimization"

    def __init__(self, mu: float = 0.01, mu_growth: float = 0.0, mu_max: float | None = None,
                 code_steps: int = 5, code_lr: float = 0.3, code_momentum: float = 0.9,
                 alignment_every: int = 10) -> None:
        super().__init__(alignment_every)
        owner = "AlternatingMinimization"
        self.mu = check_positive(owner, "mu", mu)
        self.mu_growth = check_positive(owner, "mu_growth", mu_growth, allow_zero=True)
        self.mu_max = check_positive(owner, "mu_max", mu_max if mu_max is not None else 10 * self.mu)
        self.code_steps = check_count(owner, "code_steps", code_steps)
        self.code_lr = check_positive(owner, "code_lr", code_lr)
        if not 0 <= code_momentum < 1:
            raise ValueError(f"{owner}: code_momentum must be in [0, 1), got {code_momentum!r}")
        self.code_momentum = float(code_momentum)
        self.current_mu = self.mu

    def setup(self, network: Any) -> None:
        self.current_mu = self.mu

    def gradients(self, model: Any, loss_fn: Any, x: Any, y: Any) -> tuple[float, Any]:
        network = self.bound(self.network)
        blocks = network.blocks
        inputs = network.prepare(as_tensor(x))
        codes, output = self._forward_codes(inputs)
        value = loss_value(loss_fn(output, y))
        if not finite(value):
            return value, output
        with frozen(list(model.parameters())):
            for index in range(len(codes) - 1, -1, -1):
                codes[index] = self._update_code(index, codes, loss_fn, y)
        for index, block in enumerate(blocks):
            below = inputs if index == 0 else self._activate(blocks[index - 1], codes[index - 1])
            out = block.affine(below)
            if index < len(blocks) - 1:
                _mean_squared(out, codes[index]).backward()
            else:
                loss_fn(block.after(out), y).backward()
        self.current_mu = min(self.current_mu + self.mu_growth, self.mu_max)
        return value, output

    def _forward_codes(self, inputs: Tensor) -> tuple[list[Any], Tensor]:
        """The forward pass without a graph: each hidden pre-activation (its initial code), and the output."""
        codes, h = [], inputs
        with no_grad():
            for block in self.bound(self.network).blocks:
                a = block.affine(h)
                codes.append(a.array)
                h = block.after(a)
        return codes[:-1], h

    @staticmethod
    def _activate(block: Block, code: Any) -> Tensor:
        with no_grad():
            return block.after(Tensor._wrap(code))

    def _update_code(self, index: int, codes: list[Any], loss_fn: Any, y: Any) -> Any:
        """A few Nesterov-SGD steps on code ``index`` (the codes above it already updated)."""
        blocks = self.bound(self.network).blocks
        start = codes[index]
        code = Tensor(start.copy(), requires_grad=True)
        optimizer = SGD([code], lr=self.code_lr, momentum=self.code_momentum, nesterov=True)
        upper = blocks[index + 1]
        last = index + 1 == len(blocks) - 1
        for _ in range(self.code_steps):
            optimizer.zero_grad()
            out = upper.affine(blocks[index].after(code))
            if last:
                fit_above = loss_fn(upper.after(out), y) * (1.0 / self.current_mu)
            else:
                fit_above = _mean_squared(out, codes[index + 1])
            (fit_above + _mean_squared(code, start)).backward()
            optimizer.step()
        return code.array

    def extra_state(self) -> dict[str, Any]:
        return {"mu": self.current_mu}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.current_mu = float(state["mu"])

    def __repr__(self) -> str:
        return (f"AlternatingMinimization(mu={self.mu:g}, mu_growth={self.mu_growth:g}, "
                f"code_steps={self.code_steps}, code_lr={self.code_lr:g})")
