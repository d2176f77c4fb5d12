"""`SyntheticGradients`: each hidden layer updates from a locally predicted gradient, without waiting.

Jaderberg, Czarnecki, Osindero, Vinyals, Graves, Silver, Kavukcuoglu,
"Decoupled Neural Interfaces using Synthetic Gradients", ICML 2017.

Every hidden layer i has a small model M_i (a decoupled neural interface)
that predicts the gradient of the loss at its output from that output alone
(and, "conditioned", the label): s_i = M_i(h_i, y) ~ dL/dh_i. Per batch, in
forward order:

    layer i forward:  h_i = f_i(h_{i-1})
    layer i update:   dW_i = (dh_i/dW_i)^T s_i                  (right away: nothing above is needed)
    M_{i-1} target:   d_{i-1} = (dh_i/dh_{i-1})^T s_i           (s_i carried back through layer i only)
    M_{i-1} update:   min || M_{i-1}(h_{i-1}, y) - d_{i-1} ||^2
    output layer:     the true gradient of the loss; its backward gives M_{L-1}'s target dL/dh_{L-1}

So layer i's update is final before layer i+1 has even run its forward: the
layers are unlocked (the paper's "update locking" removed). ``rule.trace``
records the order of events of the last batch; `unlocked_step` goes one step
further and lets the optimizer apply each layer's update the moment it is
ready, and gives the same weights as the usual single optimizer step.

The synthetic-gradient models predict m * dL/dh (m: the batch size, i.e. the
per-example gradient of a mean loss, whose scale does not depend on m); the
layers use s / m. They are zero-initialised, as in the paper, so training
starts with zero updates below the output layer, and each has its own Adam.

Defaults: linear models (``hidden=0``) conditioned on the one-hot label
(cDNI, the paper's best variant for feed-forward nets), Adam with ``lr`` = 1e-3.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from deltaprop import nn, ops
from deltaprop.optim.adam import Adam
from deltaprop.rules.base import Rule, check_count, check_positive
from deltaprop.rules.blocks import Block, Network
from deltaprop.rules.local import (
    affine_backward,
    as_tensor,
    backward_through,
    finite,
    loss_value,
    output_delta,
    place_like,
    run_block,
    targets_as_rows,
)
from deltaprop.tensor import Tensor, no_grad


class GradientModel(nn.Module):
    """M_i: (h_i, one-hot label) -> m * dL/dh_i; its last layer starts at zero (zero synthetic gradients)."""

    def __init__(self, width: int, n_labels: int, hidden: int, dtype: Any) -> None:
        super().__init__()
        inputs = width + n_labels
        layers = [nn.Linear(inputs, hidden, dtype=dtype), nn.ReLU()] if hidden else []
        last = nn.Linear(hidden or inputs, width, dtype=dtype)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        self.net = nn.Sequential(*layers, last)

    def forward(self, h: Tensor, labels: Tensor | None) -> Tensor:
        return self.net(h if labels is None else ops.concatenate([h, labels], axis=1))


class SyntheticGradients(Rule):
    """Per-layer gradient models (decoupled neural interfaces): layers update without waiting (DNI, 2017)."""

    name = "synthetic-gradients"

    def __init__(self, lr: float = 1e-3, conditioned: bool = True, hidden: int = 0,
                 alignment_every: int = 10) -> None:
        super().__init__(alignment_every)
        self.lr = check_positive("SyntheticGradients", "lr", lr)
        self.conditioned = bool(conditioned)
        self.hidden = check_count("SyntheticGradients", "hidden", hidden, low=0)
        self.models: nn.ModuleList | None = None
        self.optimizers: list[Adam] = []
        #: the last batch's events in order: (event, layer name), event one of
        #: 'forward', 'backward', 'gradient' (the layer's update is final), 'step' (applied,
        #: only in unlocked_step), 'loss', 'train-sg' (that layer's gradient model learned)
        self.trace: list[tuple[str, str]] = []

    def setup(self, network: Network) -> None:
        n_labels = network.output.width if self.conditioned else 0
        dtype = network.output.weight.dtype
        models = [place_like(GradientModel(b.width, n_labels, self.hidden, dtype), b.weight)
                  for b in network.hidden]
        self.models = nn.ModuleList(models)
        self.optimizers = [Adam(m.parameters(), lr=self.lr) for m in self.models]

    def gradients(self, model: Any, loss_fn: Any, x: Any, y: Any) -> tuple[float, Any]:
        return self._run(loss_fn, x, y, None)

    def unlocked_step(self, model: Any, loss_fn: Any, x: Any, y: Any, optimizer: Any) -> tuple[float, Any]:
        """One training step in which ``optimizer`` applies each layer's update as soon as it is ready.

        Each hidden layer steps right after its own forward and backward, before the
        layers above have run; ``trace`` then shows 'step' events interleaved with the
        forwards. For a first-order optimizer whose update of a parameter depends only
        on that parameter (SGD, Adam, RMSprop, ...) the weights equal those of
        ``optimizer.train_step(model, loss_fn, x, y, gradients=rule)``. The loss is known
        only at the top, after the hidden layers have stepped: a non-finite one stops
        only the output layer's step (that is what unlocked means).
        """
        if self.model is not model:
            self.bind(model)
        optimizer.zero_grad()

        def apply(block: Block) -> None:
            optimizer.step()  # only this block has gradients now: only it moves
            for p in block.params:
                p.grad_array = None
            self.trace.append(("step", block.name))

        return self._run(loss_fn, x, y, apply)

    def _run(self, loss_fn: Any, x: Any, y: Any, apply: Callable[[Block], None] | None) -> tuple[float, Any]:
        network, models = self.bound(self.network), self.bound(self.models)
        blocks = network.blocks
        trace: list[tuple[str, str]] = []
        self.trace = trace
        h = network.prepare(as_tensor(x))
        m = h.shape[0]
        labels = self._labels(y, h.array.dtype)
        for index, block in enumerate(blocks):
            p = run_block(block, h, input_grad=index > 0)
            trace.append(("forward", block.name))
            if index < len(blocks) - 1:
                with no_grad():
                    synthetic = models[index](p.h.detach(), labels).array
                backward_through(p, synthetic / m)
            else:
                loss = loss_fn(p.h, y)
                value = loss_value(loss)
                trace.append(("loss", block.name))
                if not finite(value):
                    if apply is None:  # the protocol: no update from a non-finite loss
                        for param in self.model.parameters():
                            param.grad_array = None
                    return value, p.h
                affine_backward(p, output_delta(p, loss))
            trace += [("backward", block.name), ("gradient", block.name)]
            if apply is not None:
                apply(block)
            if index:
                self._train_model(index - 1, h, m * p.x.grad_array, labels)
                trace.append(("train-sg", blocks[index - 1].name))
            h = p.h
        return value, h

    def _labels(self, y: Any, dtype: Any) -> Tensor | None:
        if not self.conditioned:
            return None
        width = self.bound(self.network).output.width
        return Tensor._wrap(targets_as_rows(y, width, dtype, "SyntheticGradients"))

    def _train_model(self, index: int, h: Tensor, target: Any, labels: Tensor | None) -> None:
        """One Adam step of M_index toward the gradient that came back from the layer above."""
        if not finite(float(target.sum())):  # a NaN upstream must not poison the gradient model
            return
        optimizer = self.optimizers[index]
        optimizer.zero_grad()
        diff = self.bound(self.models)[index](h.detach(), labels) - target
        (diff * diff).mean().backward()
        optimizer.step()

    def extra_state(self) -> dict[str, Any]:
        return {"models": self.bound(self.models).state_dict(),
                "optimizers": [o.state_dict() for o in self.optimizers]}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.bound(self.models).load_state_dict(state["models"])
        saved = state.get("optimizers") or []
        if len(saved) != len(self.optimizers):
            raise ValueError(
                f"SyntheticGradients.load_state_dict: the state has {len(saved)} gradient-model optimizers "
                f"but this network needs {len(self.optimizers)}; it was saved for another architecture"
            )
        for optimizer, optimizer_state in zip(self.optimizers, saved, strict=True):
            optimizer.load_state_dict(optimizer_state)

    def __repr__(self) -> str:
        return f"SyntheticGradients(lr={self.lr:g}, conditioned={self.conditioned}, hidden={self.hidden})"
