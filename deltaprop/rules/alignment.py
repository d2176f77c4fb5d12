"""How far a rule's update is from the true gradient: the angle between them, layer by layer.

For one batch, the true gradient g (backpropagation) and the rule's update u
(what it put in ``.grad``) of one layer's weights and bias, flattened, make
the angle

    angle = arccos( <u, g> / (|u| |g|) )   in degrees.

0 means the rule follows the gradient exactly, below 90 its update still
descends the loss (to first order), 90 carries no information about it. A
zero update (a synthetic-gradient model that has not learned yet) has no
direction and is counted as 90.

`measured_gradients` computes both on the same batch: it backpropagates
first, keeps the gradients, rewinds the package random generator and lets the
rule run, so dropout masks are the same for both and training draws exactly
what it would have drawn without the measurement.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from deltaprop import backend
from deltaprop.optim.optimizer import backprop
from deltaprop.random import get_rng_state, set_rng_state
from deltaprop.rules.blocks import Block


def angle_degrees(u: Any, g: Any) -> float:
    """The angle between two flat vectors, in degrees (90 when either is zero)."""
    u = np.asarray(backend.to_numpy(u), dtype=np.float64)
    g = np.asarray(backend.to_numpy(g), dtype=np.float64)
    norms = float(np.linalg.norm(u)) * float(np.linalg.norm(g))
    if norms == 0.0 or not math.isfinite(norms):
        return 90.0
    cosine = float(np.dot(u, g)) / norms
    return math.degrees(math.acos(min(1.0, max(-1.0, cosine))))


def block_gradient(block: Block) -> Any:
    """The block's weight and bias gradients as one flat float64 NumPy vector (zeros where None)."""
    parts = []
    for p in block.params:
        grad = p.grad_array
        flat = np.zeros(p.array.size) if grad is None else backend.to_numpy(grad).astype(np.float64).ravel()
        parts.append(flat)
    return np.concatenate(parts)


def measured_gradients(
    rule: Any, model: Any, loss_fn: Any, x: Any, y: Any
) -> tuple[float, Any, dict[str, float]]:
    """(loss value, output, {layer name: angle}) for one batch; the rule's update is left in ``.grad``."""
    blocks = rule.network.blocks
    params = list(model.parameters())
    for p in params:
        p.grad_array = None
    state = get_rng_state()
    value, _ = backprop(model, loss_fn, x, y)
    true = [block_gradient(block) for block in blocks] if value - value == 0 else None
    for p in params:
        p.grad_array = None
    set_rng_state(state)
    value, output = rule.gradients(model, loss_fn, x, y)
    if true is None or value - value != 0:
        return value, output, {}
    angles = {b.name: angle_degrees(block_gradient(b), g) for b, g in zip(blocks, true, strict=True)}
    return value, output, angles
