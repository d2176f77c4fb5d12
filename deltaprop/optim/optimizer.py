"""`Optimizer`: the base every optimizer shares (param groups, state, state_dict).

An optimizer turns the gradients that backpropagation left in ``p.grad`` into
a change of ``p.data``. The rules differ (SGD, Adam, ...); the bookkeeping does
not, so it lives here, in the same shape PyTorch users know:

- ``param_groups``: a list of dicts, each with ``'params'`` (a list of
  Parameters) and its own hyperparameters (``'lr'``, ...). A scheduler changes
  ``group['lr']`` between steps and the next step reads it.
- ``state``: per-parameter buffers (momentum, moment estimates, step counts),
  created lazily on the first step in which the parameter has a gradient.
- ``state_dict()`` / ``load_state_dict()``: the same information with
  parameters replaced by their position, holding only arrays, numbers, strings,
  bools and lists, so a checkpoint stores it as ``.npz`` + JSON without pickle.

Subclasses write two small methods: ``_init_state(p, group)`` and
``_update(p, grad, state, group)``, which changes ``p.data`` in place. Updates
reuse preallocated buffers (``np.multiply(a, b, out=buf)``): after the first
step an optimizer allocates no new arrays.

The training-step protocol. `deltaprop.fit` (and anything else that trains:
the distributed wrapper, the scikit-learn estimators) asks an optimizer for
one update on a batch through a single method::

    loss_value, output = optimizer.train_step(model, loss_fn, x, y,
                                              gradients=backprop, after_backward=None)

The default here is the first-order step: clear the gradients, let
``gradients(model, loss_fn, x, y)`` compute them (backpropagation by
default; a learning rule from `deltaprop.rules` or a distributed all-reduce
can be passed instead), call ``after_backward(loss_value, output)`` (fit's
callbacks and gradient checks), then `step`. An optimizer that needs more
than gradients overrides `train_step`: L-BFGS wraps the same pieces in a
closure, Levenberg-Marquardt, Gauss-Newton and natural gradient compute their
own curvature. Two more documented parts complete the protocol: the class
attribute ``full_batch`` (fit feeds the whole training set at every step) and
`should_stop()` (a reason to end training, or None).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from deltaprop import backend
from deltaprop.errors import ShapeError
from deltaprop.optim.flat import FlatGroup
from deltaprop.tensor import Tensor, enable_grad

#: ``gradients(model, loss_fn, x, y) -> (loss value, output)``: fills ``.grad`` of the parameters.
GradientFn = Callable[[Any, Any, Any, Any], tuple[float, Any]]
#: ``after_backward(loss value, output)``: called between the gradients and the update.
AfterBackward = Callable[[float, Any], None]


def backprop(model: Any, loss_fn: Any, x: Any, y: Any) -> tuple[float, Any]:
    """The gradients of ``loss_fn(model(x), y)`` by backpropagation, added to each parameter's ``.grad``.

    Returns the loss value and the model's output. A non-finite loss returns
    before the backward, so the model is left exactly as it was for the
    diagnosis that follows.
    """
    output = model(x)
    loss = loss_fn(output, y)
    value = loss.array.item()
    if value - value == 0:  # finite (NaN - NaN and inf - inf are NaN); cheaper than math.isfinite
        loss.backward()
    return value, output


class Optimizer:
    """Base class: holds param groups and state; subclasses define the update rule.

    ``params`` is an iterable of Parameters, or of dicts (param groups) each with
    a ``'params'`` entry and optional per-group hyperparameters that override
    ``defaults``.
    """

    #: True: `deltaprop.fit` feeds the whole training set at every step.
    full_batch: bool = False

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        name = type(self).__name__
        if isinstance(params, Tensor):
            raise TypeError(
                f"{name}: params should be an iterable of Parameters or of dicts (param groups), "
                "got a single Tensor; pass [tensor] or model.parameters()"
            )
        if hasattr(params, "parameters") and callable(params.parameters):
            raise TypeError(f"{name}: got a {type(params).__name__} module; pass model.parameters() instead")
        self.defaults = dict(defaults)
        self.state: dict[Tensor, dict[str, Any]] = {}
        self.param_groups: list[dict[str, Any]] = []
        # Scratch arrays per parameter for intermediate results of an update.
        # They hold no information between steps, so they are not in `state`.
        self._scratch: dict[Tensor, list[Any]] = {}
        # Flat buffers per param group (see deltaprop.optim.flat), keyed by id(group); not state.
        self._layouts: dict[int, FlatGroup | None] = {}
        groups = list(params)
        if not groups:
            raise ValueError(
                f"{name}: got an empty parameter list; pass model.parameters() of a model that has "
                "parameters (did you build the layers before creating the optimizer?)"
            )
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # ------------------------------------------------------------------ groups
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own hyperparameters (defaults fill the rest)."""
        name = type(self).__name__
        if not isinstance(param_group, dict):
            raise TypeError(
                f"{name}: a param group must be a dict with a 'params' entry, got "
                f"{type(param_group).__name__}; mix of Parameters and dicts is not allowed"
            )
        group = dict(param_group)
        params = group.get("params")
        if params is None:
            raise ValueError(f"{name}: param group {group!r} has no 'params' entry")
        params = [params] if isinstance(params, Tensor) else list(params)
        if not params:
            raise ValueError(f"{name}: param group {len(self.param_groups)} has an empty 'params' list")
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: can only optimize Tensors/Parameters, got {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(
                    f"{name}: can't optimize a non-leaf Tensor (made by op {p.grad_fn}); "
                    "optimize the Parameters it was computed from"
                )
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if len({id(p) for p in params}) != len(params) or seen & {id(p) for p in params}:
            raise ValueError(f"{name}: some parameters appear in more than one place in the param groups")
        group["params"] = params
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self._check_group(group)
        self.param_groups.append(group)

    def _check_group(self, group: dict[str, Any]) -> None:
        """Raise ValueError for hyperparameters outside their range (subclasses extend)."""
        check_nonnegative(type(self).__name__, "lr", group.get("lr", 0.0), "a learning rate is a step size")

    # ------------------------------------------------------------------ the training-step protocol
    def train_step(
        self,
        model: Any,
        loss_fn: Any,
        x: Any,
        y: Any,
        *,
        gradients: GradientFn = backprop,
        after_backward: AfterBackward | None = None,
    ) -> tuple[float, Any]:
        """One update on the batch (x, y); returns (the loss before the update, the model's output).

        A non-finite loss returns before any update (see `backprop`).
        """
        self.zero_grad()
        value, output = gradients(model, loss_fn, x, y)
        if value - value != 0:
            return value, output
        if after_backward is not None:
            after_backward(value, output)
        self.step()
        return value, output

    def should_stop(self) -> str | None:
        """Why training should end now (e.g. no step lowers the loss any more), or None to go on."""
        return None

    # ------------------------------------------------------------------ stepping
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every parameter's gradient (to None, or to zeros in place)."""
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none:
                    p.grad_array = None
                elif p.grad_array is not None:
                    p.grad_array[...] = 0

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; returns ``closure()``'s loss if given."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            self._step_group(group)
        return loss

    def _step_group(self, group: dict[str, Any]) -> None:
        """Update the group's parameters that have a gradient: all at once when the layout allows it.

        With a `FlatGroup` the rule runs once on the whole group's flat arrays
        (same arithmetic, far fewer calls); otherwise once per parameter.
        """
        params = group["params"]
        stateful = self._needs_state(group)
        all_state = self.state if stateful else None
        layout = self._layouts.get(id(group))
        verdict = layout.check(all_state) if layout is not None else FlatGroup.MOVED
        if verdict is FlatGroup.MOVED:
            layout = self._rebuild_layout(group)
            verdict = layout.check(all_state) if layout is not None else FlatGroup.SKIP
        # STALE and READY come only from a layout's check (the `is not None` tells the type checker)
        if verdict is FlatGroup.STALE and layout is not None and layout.sync_state(
            self._states_of(params, group)
        ):
            verdict = FlatGroup.READY
        if verdict is FlatGroup.READY and layout is not None:
            self._update(layout.param, layout.grad, layout.state if stateful else {}, group)
            if stateful:
                layout.finish()
            return
        for p in params:
            grad = p.grad_array
            if grad is None:
                continue
            state = self.state.get(p) if stateful else {}
            if state is None:
                state = self.state[p] = self._init_state(p, group)
            self._update(p, grad, state, group)

    def _needs_state(self, group: dict[str, Any]) -> bool:
        """False for rules that keep nothing between steps (plain SGD): no state entries are made."""
        return True

    def _states_of(self, params: list[Tensor], group: dict[str, Any]) -> list[dict[str, Any]]:
        all_state = self.state
        states = []
        for p in params:
            state = all_state.get(p)
            if state is None:
                state = all_state[p] = self._init_state(p, group)
            states.append(state)
        return states

    def _rebuild_layout(self, group: dict[str, Any]) -> FlatGroup | None:
        """A fresh flat layout for the group when possible, else None (per-parameter updates)."""
        old = self._layouts.get(id(group))
        if old is not None:
            old.release()
        layout = FlatGroup(group["params"]) if FlatGroup.possible(group["params"]) else None
        self._layouts[id(group)] = layout
        return layout

    def _init_state(self, p: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        return {}

    def _update(self, p: Tensor, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        raise NotImplementedError(f"{type(self).__name__} must define _update(p, grad, state, group)")

    # ------------------------------------------------------------------ helpers for subclasses
    def _buffers(self, p: Tensor, grad: Any) -> list[Any]:
        """Two scratch arrays shaped like ``p``, made on first use and reused every step.

        Also checks that ``grad`` has ``p``'s shape: written into a buffer, a
        smaller gradient would otherwise be broadcast silently.
        """
        bufs = self._scratch.get(p)
        data = p.array
        if bufs is None or bufs[0].shape != data.shape or bufs[0].dtype != data.dtype:
            bufs = self._scratch[p] = [np.empty_like(data), np.empty_like(data)]
        if grad.shape != data.shape:
            raise ShapeError(
                f"{type(self).__name__}.step: a parameter of shape {data.shape} has a gradient of shape "
                f"{grad.shape}; p.grad must have the parameter's shape (was it set by hand?)"
            )
        return bufs

    def _effective_grad(self, p: Tensor, grad: Any, group: dict[str, Any], out: Any) -> Any:
        """The gradient the rule uses: ``-grad`` when maximizing, plus ``weight_decay * p`` (L2).

        Returns ``grad`` itself when neither applies, else writes into ``out``.
        """
        weight_decay = group.get("weight_decay", 0)
        maximize = group.get("maximize", False)
        if weight_decay != 0:
            np.multiply(p.array, weight_decay, out=out)
            if maximize:
                out -= grad
            else:
                out += grad
            return out
        if maximize:
            return np.negative(grad, out=out)
        return grad

    # ------------------------------------------------------------------ saving
    def state_dict(self) -> dict[str, Any]:
        """State and hyperparameters with parameters replaced by their index (copies of arrays)."""
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            entry = {k: _plain(v) for k, v in group.items() if k != "params"}
            entry["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(entry)
        state = {}
        for p, values in self.state.items():
            if id(p) in index:
                state[index[id(p)]] = {k: _copy(v) for k, v in values.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore state and hyperparameters saved by `state_dict` (from any optimizer of this kind)."""
        name = type(self).__name__
        saved_groups = state_dict["param_groups"]
        _check_same_kind(self, saved_groups)
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"{name}.load_state_dict: the saved state has {len(saved_groups)} param groups, "
                f"this optimizer has {len(self.param_groups)}; "
                "build the optimizer the same way as the saved one"
            )
        by_index: dict[int, Tensor] = {}
        for i, (group, saved) in enumerate(zip(self.param_groups, saved_groups, strict=True)):
            if len(group["params"]) != len(saved["params"]):
                raise ValueError(
                    f"{name}.load_state_dict: param group {i} has {len(group['params'])} parameters but "
                    f"the saved group has {len(saved['params'])}; the model does not match the saved one"
                )
            for p, j in zip(group["params"], saved["params"], strict=True):
                by_index[int(j)] = p
        new_state: dict[Tensor, dict[str, Any]] = {}
        for key, values in state_dict["state"].items():
            p = by_index.get(int(key))
            if p is None:
                raise ValueError(
                    f"{name}.load_state_dict: state for parameter index {key} matches no parameter"
                )
            new_state[p] = {k: _restore(v, p) for k, v in values.items()}
        for group, saved in zip(self.param_groups, saved_groups, strict=True):
            for key, value in saved.items():
                if key != "params":
                    group[key] = tuple(value) if isinstance(value, list) and key == "betas" else value
        self.state = new_state

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(k for k in group if k != "params"):
                lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)


# --------------------------------------------------------------------------- small helpers


def refuse_other_rules(optimizer: Optimizer, gradients: GradientFn) -> None:
    """Second-order optimizers build their step from the model itself, so only backprop can feed them."""
    if gradients is not backprop:
        raise TypeError(
            f"{type(optimizer).__name__} computes its own step from the network's Jacobian and curvature, "
            "so it cannot apply the gradients of another learning rule "
            f"({getattr(gradients, '__name__', gradients)!r}); "
            "use a first-order optimizer (SGD, Adam) with that rule"
        )



def check_nonnegative(owner: str, name: str, value: Any, why: str = "") -> None:
    """Raise a ValueError naming ``owner`` when ``value`` is negative or not a finite number."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{owner}: {name} must be a number, got {value!r}") from None
    if not number >= 0 or math.isinf(number):
        hint = f" ({why})" if why else ""
        raise ValueError(f"{owner}: {name} must be a finite number >= 0, got {value!r}{hint}")


def check_range(owner: str, name: str, value: Any, low: float, high: float) -> None:
    """Raise a ValueError unless ``low <= value < high``."""
    if not (low <= float(value) < high):
        raise ValueError(f"{owner}: {name} must be in [{low}, {high}), got {value!r}")


def _plain(value: Any) -> Any:
    """Hyperparameters as JSON-friendly values (tuples become lists)."""
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _copy(value: Any) -> Any:
    if isinstance(value, np.ndarray) or type(value).__module__.startswith("cupy"):
        return backend.to_numpy(value).copy()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _restore(value: Any, p: Tensor) -> Any:
    """A saved state entry on ``p``'s backend, in its own dtype (lists and tuples entry by entry).

    The dtype is kept, not cast to the parameter's: L-BFGS history and K-FAC
    factors are float64 by design beside float32 weights, and rounding them on
    load is what made a resumed run drift from the uninterrupted one.
    """
    if isinstance(value, np.ndarray):
        xp = backend.array_module(p.array)
        return xp.array(value, copy=True)
    if isinstance(value, (list, tuple)):
        return type(value)(_restore(v, p) for v in value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def _check_same_kind(optimizer: Optimizer, saved_groups: list[dict[str, Any]]) -> None:
    """Refuse state saved by another kind of optimizer (SGD's momenta are no use to Adam).

    Told apart by the hyperparameter names in the groups: each optimizer has its
    own set, and state read with the wrong rule fails much later (a KeyError in step).
    """
    if not saved_groups or not optimizer.param_groups:
        return
    saved = set(saved_groups[0]) - {"params", "initial_lr"}
    mine = set(optimizer.param_groups[0]) - {"params", "initial_lr"}
    missing, foreign = set(optimizer.defaults) - saved, saved - mine
    if missing and foreign:
        name = type(optimizer).__name__
        maker = _optimizer_with(saved)
        raise ValueError(
            f"{name}.load_state_dict: the state was saved by {maker or 'another kind of optimizer'} "
            f"(hyperparameters {', '.join(sorted(saved))}), not by {name} ({', '.join(sorted(mine))}); "
            f"load it into {maker or 'the optimizer that saved it'}, or start {name} afresh"
        )


def _optimizer_with(hyperparameters: set[str]) -> str | None:
    """The name of the registered optimizer whose hyperparameters these are, if exactly one has them."""
    import inspect

    from deltaprop.optim.registry import OPTIMIZERS

    matches = sorted({cls.__name__ for cls in OPTIMIZERS.values()
                      if set(inspect.signature(cls).parameters) - {"params"} == hyperparameters})
    return " or ".join(matches) if matches else None
