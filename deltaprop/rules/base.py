"""`Rule`: the interface every learning rule implements, and its bookkeeping.

A learning rule is what turns one batch into a change of the weights. In
deltaprop it does exactly one thing: it fills ``.grad`` of the model's
parameters with the update direction it believes in, the way backpropagation
does. Any first-order optimizer then applies it, so a rule runs with SGD,
Adam or RMSprop, schedulers, clipping, callbacks and checkpoints unchanged::

    rule = FeedbackAlignment()
    loss_value, output = optimizer.train_step(model, loss_fn, x, y, gradients=rule)
    # or: deltaprop.fit(model, X, y, loss=..., optimizer=..., rule=rule)

A subclass writes:

- ``setup(network)``: create what the rule keeps for this model (fixed
  feedback matrices, synthetic-gradient models, learned inverses). It runs
  once, when the rule first meets a model; ``network`` is the model split into
  blocks (`deltaprop.rules.blocks`);
- ``gradients(model, loss_fn, x, y) -> (loss value, output)``: fill ``.grad``
  (gradients accumulate, as with ``backward()``; the optimizer cleared them
  before). Return before writing anything when the loss is not finite;
- ``extra_state()`` / ``load_extra_state(state)`` when it keeps state (arrays,
  numbers, strings and lists only, so a checkpoint stores it without pickle).

Random draws (feedback matrices, noise) come from the package generator
(`deltaprop.random`), so ``manual_seed`` and checkpoints cover them.
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

from deltaprop.rules.blocks import Network, split_blocks

T = TypeVar("T")


class Rule:
    """Base class of the learning rules (see the module docstring for what a subclass writes).

    ``alignment_every``: when trained by `deltaprop.fit`, every that many
    batches (the first of each epoch included) the rule's update is compared
    with the true gradient of the same batch, and the mean angle per layer is
    recorded as ``history['angle/<layer>']``; 0 turns the measurement off.
    """

    #: the name ``deltaprop train --rule`` knows it by
    name: ClassVar[str] = ""
    #: False when the rule's update is the gradient itself (Backprop): nothing to measure
    measures_alignment: ClassVar[bool] = True

    def __init__(self, alignment_every: int = 10) -> None:
        if isinstance(alignment_every, bool) or not isinstance(alignment_every, int) or alignment_every < 0:
            raise ValueError(
                f"{type(self).__name__}: alignment_every must be a whole number of batches >= 0 "
                f"(0: do not measure), got {alignment_every!r}"
            )
        self.alignment_every = alignment_every
        self.model: Any = None
        self.network: Network | None = None

    # ------------------------------------------------------------------ binding to a model
    def bind(self, model: Any) -> None:
        """Split ``model`` into blocks and create the rule's state for it (fit calls this once)."""
        network = split_blocks(model, type(self).__name__)
        self.setup(network)
        self.model, self.network = model, network

    def setup(self, network: Network) -> None:
        """Create what the rule keeps for this network (nothing by default)."""

    def bound(self, made: T | None) -> T:
        """``made`` (the network, or what `setup` created for it); a clear error before `bind`."""
        if made is None:
            raise RuntimeError(
                f"{type(self).__name__}: the rule has not met its model yet; call rule.bind(model) first "
                "(fit and the rule's __call__ do)"
            )
        return made

    # ------------------------------------------------------------------ the update
    def __call__(self, model: Any, loss_fn: Any, x: Any, y: Any) -> tuple[float, Any]:
        """The ``gradients`` function of the training-step protocol (binds to a new model first)."""
        if self.model is not model:
            self.bind(model)
        return self.gradients(model, loss_fn, x, y)

    def gradients(self, model: Any, loss_fn: Any, x: Any, y: Any) -> tuple[float, Any]:
        raise NotImplementedError(f"{type(self).__name__} must define gradients(model, loss_fn, x, y)")

    # ------------------------------------------------------------------ state for checkpoints
    def state_dict(self) -> dict[str, Any]:
        """The rule's name and its state (what `deltaprop.fit` checkpoints)."""
        return {"rule": type(self).__name__, "state": self.extra_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        saved = state.get("rule")
        if saved != type(self).__name__:
            raise ValueError(
                f"{type(self).__name__}.load_state_dict: the state was saved by {saved}; "
                f"load it into a {saved}(...)"
            )
        if self.network is None:
            raise RuntimeError(
                f"{type(self).__name__}.load_state_dict: bind the rule to its model first "
                "(rule.bind(model)), so the state has somewhere to go"
            )
        self.load_extra_state(state.get("state") or {})

    def extra_state(self) -> dict[str, Any]:
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        """Restore what `extra_state` returned (nothing by default)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def check_count(owner: str, name: str, value: Any, low: int = 1) -> int:
    """A whole number >= ``low``, or a ValueError naming the rule and the setting."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{owner}: {name} must be a whole number >= {low}, got {value!r}")
    return value


def check_positive(owner: str, name: str, value: Any, allow_zero: bool = False) -> float:
    """A finite number > 0 (or >= 0), or a ValueError naming the rule and the setting."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{owner}: {name} must be a number, got {value!r}") from None
    ok = number >= 0 if allow_zero else number > 0
    if not ok or number == float("inf"):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{owner}: {name} must be a finite number {bound}, got {value!r}")
    return number
