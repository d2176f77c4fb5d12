"""The last layer a loss expects, and what the network's outputs then mean.

A model file records the meaning ('logits', 'probabilities', 'log_probabilities'
or 'values') so that predict turns outputs into class probabilities correctly,
whatever the loss was.
"""

from __future__ import annotations

from typing import Any

# classification losses that want something other than raw scores from the network
_HEADS = {"nll": ("LogSoftmax", "log_probabilities"), "bce": ("Sigmoid", "probabilities")}


def output_layer(task: str, loss: str) -> tuple[Any, str]:
    """(module to append or None, meaning of the outputs) for a task and a loss name."""
    from deltaprop import nn

    if task != "classify":
        return None, "values"
    if loss not in _HEADS:
        return None, "logits"
    layer, meaning = _HEADS[loss]
    return getattr(nn, layer)(), meaning
