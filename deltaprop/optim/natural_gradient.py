"""Natural gradient: precondition the gradient by the (damped) Fisher information.

    w <- w - lr * (F + damping I)^{-1} grad

The Fisher F measures how much the model's predictive distribution moves
when w moves, so the step is steepest descent in the space of predictions,
not of raw weights: it undoes bad scaling between layers. Two approximations:

- ``fisher='empirical'``: F = (1/N) sum_n g_n g_n^T from the per-example
  gradients g_n of the loss (one P x P solve; small nets only).
- ``fisher='kfac'``: per `Linear` layer, F ~= S kron A with A = E[a a^T]
  (inputs, with a 1 appended for the bias) and S = E[d d^T] (per-example
  loss gradients at the layer's output). Inverting the two small factors
  gives ``update = (S + sqrt(damping) I)^{-1} grad_W (A + sqrt(damping) I)^{-1}``;
  A and S are running averages over steps (``stat_decay``). This is the
  "empirical" K-FAC: d comes from the targets, not from samples of the model.

Per-example quantities come from one backward: for a dense layer the
per-example gradient is ``d_n a_n^T``, so the layer's input and the delta at
its output are all that is needed. Every optimized parameter must therefore
belong to an affine layer (`Linear`). Works on mini-batches through
``deltaprop.fit`` (it overrides ``train_step``, the training-step protocol).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from deltaprop.optim.jacobian import capture_affine
from deltaprop.optim.optimizer import (
    AfterBackward,
    GradientFn,
    Optimizer,
    backprop,
    check_nonnegative,
    refuse_other_rules,
)
from deltaprop.tensor import Tensor, enable_grad


class NaturalGradient(Optimizer):
    """Natural-gradient descent with an empirical or Kronecker-factored (K-FAC) Fisher."""

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 0.1,
        damping: float = 1e-2,
        fisher: str = "kfac",
        stat_decay: float = 0.95,
    ) -> None:
        defaults = dict(lr=lr, damping=damping, fisher=fisher, stat_decay=stat_decay)
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        check_nonnegative(
            "NaturalGradient", "damping", group["damping"], "added to the Fisher before inverting"
        )
        if group["fisher"] not in ("empirical", "kfac"):
            raise ValueError(
                f"NaturalGradient: fisher must be 'empirical' or 'kfac', got {group['fisher']!r}"
            )
        if not 0 <= group["stat_decay"] < 1:
            raise ValueError(f"NaturalGradient: stat_decay must be in [0, 1), got {group['stat_decay']!r}")

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        raise NotImplementedError(
            "NaturalGradient needs each Linear layer's inputs and deltas, which step() cannot see; "
            "call opt.train_step(model, loss_fn, X, y) or train with deltaprop.fit(..., optimizer=opt)"
        )

    def train_step(
        self,
        model: Any,
        loss_fn: Any,
        X: Any,
        y: Any,
        *,
        gradients: GradientFn = backprop,
        after_backward: AfterBackward | None = None,
    ) -> tuple[float, Any]:
        """Forward, backward, and one natural-gradient update; returns (the loss before it, the output)."""
        refuse_other_rules(self, gradients)
        layers = self._layers(model)
        x = X if isinstance(X, Tensor) else Tensor(np.asarray(X))
        for group in self.param_groups:
            for p in group["params"]:
                p.grad_array = None
        with enable_grad(), capture_affine(model) as calls:
            output = model(x)
            loss = loss_fn(output, y if isinstance(y, Tensor) else Tensor(np.asarray(y)))
            value = float(loss.item())
            if value - value != 0:  # non-finite: leave the model as it is, for fit's diagnosis
                return value, output
            loss.backward()
        if after_backward is not None:
            after_backward(value, output)
        n = len(x.array)
        # Per-example loss gradients at each layer's output: the mean reduction divided them by n.
        seen: dict[int, tuple[list[np.ndarray], list[np.ndarray]]] = {}
        for layer, a, z in calls:
            d = np.zeros(z.array.shape) if z.grad_array is None else z.grad_array * n
            ins, deltas = seen.setdefault(id(layer), ([], []))
            ins.append(np.asarray(a, dtype=np.float64))
            deltas.append(np.asarray(d, dtype=np.float64))
        for group in self.param_groups:
            if group["fisher"] == "kfac":
                self._kfac_update(group, layers, seen, n)
            else:
                self._empirical_update(group, layers, seen, n)
        return value, output

    # ------------------------------------------------------------------ helpers
    def _layers(self, model: Any) -> dict[int, Any]:
        """Map id(parameter) -> the affine layer that owns it; a clear error for any other parameter."""
        owner: dict[int, Any] = {}
        kinds: dict[int, str] = {}
        for name, module in model.named_modules():
            affine = module.affine_parameters()
            label = f"'{name}' ({type(module).__name__})" if name else type(module).__name__
            for p in module._parameters.values():
                if p is not None:
                    kinds.setdefault(id(p), label)
            if affine is not None:
                for p in affine:
                    if p is not None:
                        owner[id(p)] = module
        for group in self.param_groups:
            for p in group["params"]:
                if id(p) not in owner:
                    raise TypeError(
                        f"NaturalGradient: the parameter of shape {p.shape} in layer "
                        f"{kinds.get(id(p), '(not in this model)')} is not the weight or bias of an affine "
                        "layer (like Linear); the Fisher approximation here is built from affine layers "
                        "only. Optimize only those parameters with it, or use LevenbergMarquardt / Adam"
                    )
        return owner

    def _empirical_update(self, group: dict, layers: dict, seen: dict, n: int) -> None:
        params = [p for p in group["params"] if p.grad_array is not None]
        blocks = []  # per-example gradient of each parameter, (n, size)
        for p in params:
            layer = layers[id(p)]
            ins, deltas = seen.get(id(layer), ([], []))
            per = np.zeros((n, p.array.size))
            is_weight = p is layer.affine_parameters()[0]
            for a, d in zip(ins, deltas, strict=True):
                per += (d[:, :, None] * a[:, None, :]).reshape(n, -1) if is_weight else d
            blocks.append(per)
        if not blocks:
            return
        G = np.concatenate(blocks, axis=1)
        grad = np.concatenate([np.asarray(p.grad_array, dtype=np.float64).ravel() for p in params])
        F = G.T @ G / n + group["damping"] * np.eye(G.shape[1])
        update = np.linalg.solve(F, grad)
        offset = 0
        for p in params:
            size = p.array.size
            p.array -= (group["lr"] * update[offset : offset + size]).reshape(p.shape).astype(p.array.dtype)
            offset += size

    def _kfac_update(self, group: dict, layers: dict, seen: dict, n: int) -> None:
        mine = {id(p) for p in group["params"]}
        done = set()
        for p in group["params"]:
            layer = layers[id(p)]
            if id(layer) in done or id(layer) not in seen or layer.affine_parameters()[0].grad_array is None:
                continue
            done.add(id(layer))
            weight, bias = layer.affine_parameters()
            ins, deltas = seen[id(layer)]
            a = np.concatenate(ins)
            d = np.concatenate(deltas)
            has_bias = bias is not None
            if has_bias:
                a = np.concatenate([a, np.ones((len(a), 1))], axis=1)
            A, S = a.T @ a / len(a), d.T @ d / len(d)
            state = self.state.setdefault(weight, {})
            if "A" in state:  # running averages across steps (mini-batches)
                beta = group["stat_decay"]
                A = beta * state["A"] + (1 - beta) * A
                S = beta * state["S"] + (1 - beta) * S
            state["A"], state["S"] = A, S
            root = float(np.sqrt(group["damping"]))
            grad = np.asarray(weight.grad_array, dtype=np.float64)
            if has_bias:
                bias_grad = np.zeros(len(grad)) if bias.grad_array is None else bias.grad_array
                grad = np.concatenate([grad, np.asarray(bias_grad, dtype=np.float64)[:, None]], axis=1)
            left = np.linalg.solve(S + root * np.eye(len(S)), grad)
            update = np.linalg.solve(A + root * np.eye(len(A)), left.T).T  # A is symmetric
            lr = group["lr"]
            if id(weight) in mine:
                weight.array -= (lr * update[:, : weight.shape[1]]).astype(weight.array.dtype)
            if has_bias and id(bias) in mine:
                bias.array -= (lr * update[:, -1]).astype(bias.array.dtype)
