"""Learning rules on the command line: ``deltaprop train --rule NAME`` and what ``compare-rules`` shares.

The rules live in `deltaprop.rules`; this module turns a ``--rule`` name into
one (refusing optimizers that compute their own step), and reports what the
run measured about it: the angle between each layer's update and the true
gradient, per epoch (``history.json``: ``angle/<layer>``).
"""

from __future__ import annotations

import argparse
from typing import Any

from deltaprop.cli.common import check_choice
from deltaprop.cli.errors import CLIError

RULE_HELP = (
    "learning rule: backprop (default), feedback-alignment, direct-feedback-alignment, "
    "difference-target-propagation, hsic-bottleneck, synthetic-gradients, alternating-minimization "
    "(their defaults train the digits as they are; see docs/rules.md)"
)


def add_rule_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rule", default="backprop", metavar="NAME", help=RULE_HELP)


def first_order_optimizers() -> list[str]:
    """The optimizers that apply given gradients (the others compute their own step from the network)."""
    from deltaprop.optim import OPTIMIZERS, Optimizer

    return [name for name, cls in OPTIMIZERS.items() if cls.train_step is Optimizer.train_step]


def check_rule(name: str, optimizer: str) -> str:
    """The rule's canonical name; a CLIError for an unknown one or an optimizer that cannot apply it."""
    from deltaprop.rules import RULES

    name = check_choice("--rule", name.lower().replace("_", "-"), RULES)
    if name != "backprop" and optimizer not in first_order_optimizers():
        raise CLIError(
            f"--rule {name} gives updates for a first-order optimizer to apply, but --optimizer {optimizer} "
            f"computes its own step; use one of: {', '.join(first_order_optimizers())}"
        )
    return name


def make_rule(name: str) -> Any:
    from deltaprop.rules import by_name

    return by_name(name)


def angle_layers(history: dict[str, list[float]]) -> list[str]:
    """The layers with an alignment series, in network order."""
    names = [key.split("/", 1)[1] for key in history if key.startswith("angle/")]
    return sorted(names, key=lambda name: [int(p) if p.isdigit() else p for p in name.split(".")])


def mean_hidden_angle(history: dict[str, list[float]], epoch: int = -1) -> float | None:
    """The mean angle of the hidden layers (all but the output one) at ``epoch``; None when not measured."""
    layers = angle_layers(history)
    hidden = layers[:-1] or layers
    if not hidden:
        return None
    return sum(history[f"angle/{name}"][epoch] for name in hidden) / len(hidden)


def print_alignment(history: dict[str, list[float]], rule: str) -> None:
    """One line: the last epoch's angle to the true gradient, layer by layer."""
    layers = angle_layers(history)
    if not layers:
        return
    parts = ", ".join(f"layer {name} {history[f'angle/{name}'][-1]:.1f}" for name in layers)
    print(f"{rule}: angle between its update and the true gradient (last epoch, degrees): {parts}",
          flush=True)
