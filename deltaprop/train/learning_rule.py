"""fit's side of a learning rule (``fit(..., rule=FeedbackAlignment())``).

`prepare` checks the rule and returns a `RuleRecorder`, which fit binds to
the model once the validation split is drawn (so every rule sees the same
split as backprop; the rule's own random draws come after). It is a callback
that

- is the ``gradients`` function fit hands to ``optimizer.train_step`` (the
  rule itself, plus the alignment measurement every ``rule.alignment_every``
  batches, see `deltaprop.rules.alignment`);
- adds the epoch's mean angle per layer to the logs as ``angle/<layer>``
  (so History, the progress line and the plots show them);
- carries the rule's state (feedback matrices, synthetic-gradient models,
  learned inverses, ...) in and out of checkpoints, as callbacks' state does.
"""

from __future__ import annotations

from typing import Any

from deltaprop.optim.optimizer import backprop
from deltaprop.rules import Backprop, Rule
from deltaprop.rules.alignment import measured_gradients
from deltaprop.train.callbacks import Callback


class RuleRecorder(Callback):
    """A learning rule inside fit: its gradients, its alignment angles, its checkpointed state."""

    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        self.every = rule.alignment_every if rule.measures_alignment else 0
        self.batch = 0
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        # Backprop passes the engine's own function, so fit(rule=Backprop()) is plain fit
        # (and second-order optimizers, which accept only backprop, still take it)
        self.gradients = backprop if isinstance(rule, Backprop) else self._gradients

    def _gradients(self, model: Any, loss_fn: Any, x: Any, y: Any) -> tuple[float, Any]:
        self.batch += 1
        if not self.every or (self.batch - 1) % self.every:
            return self.rule(model, loss_fn, x, y)
        value, output, angles = measured_gradients(self.rule, model, loss_fn, x, y)
        for name, angle in angles.items():
            self.sums[name] = self.sums.get(name, 0.0) + angle
            self.counts[name] = self.counts.get(name, 0) + 1
        return value, output

    def on_epoch_begin(self, run: Any) -> None:
        self.batch = 0
        self.sums, self.counts = {}, {}

    def on_epoch_end(self, run: Any) -> None:
        for name, total in self.sums.items():
            run.logs[f"angle/{name}"] = total / self.counts[name]

    def bind(self, model: Any) -> RuleRecorder:
        """Bind the rule to ``model`` unless it already is (a second fit call continues its state)."""
        if self.rule.model is not model:
            self.rule.bind(model)
        return self

    def state_dict(self) -> dict[str, Any]:
        return {"rule": self.rule.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rule.load_state_dict(state["rule"])


def prepare(rule: Any, fit_args: dict[str, Any]) -> RuleRecorder | None:
    """Check ``rule`` and record its name in ``fit_args`` (None when there is no rule); `bind` comes later."""
    if rule is None:
        return None
    if not isinstance(rule, Rule):
        raise TypeError(
            f"fit: rule must be a learning rule from deltaprop.rules (e.g. rule=FeedbackAlignment()), "
            f"got {rule!r}; for your own update, subclass deltaprop.rules.Rule"
        )
    fit_args["rule"] = type(rule).__name__
    return RuleRecorder(rule)


def gradients_of(recorder: RuleRecorder | None) -> Any:
    """The ``gradients`` function of fit's step: the rule's, or backpropagation."""
    return backprop if recorder is None else recorder.gradients
