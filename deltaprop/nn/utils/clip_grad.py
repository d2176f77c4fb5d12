"""Gradient clipping: keep one bad batch from throwing the weights far away.

Call between ``loss.backward()`` and ``optimizer.step()``:

- `clip_grad_norm_` rescales all gradients together so their combined norm is
  at most ``max_norm`` (the direction of the step is kept);
- `clip_grad_value_` clamps each gradient entry to ``[-clip_value, clip_value]``.

Both change ``p.grad`` in place, as PyTorch's functions of the same names do,
and `clip_grad_norm_` returns the total norm before clipping as a 0-d tensor
(``norm.item()``, ``float(norm)``), as PyTorch's does.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from deltaprop import backend
from deltaprop.errors import NonFiniteError
from deltaprop.tensor import Tensor


def _grads(parameters: Tensor | Iterable[Tensor]) -> list[Any]:
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad_array for p in parameters if p.grad_array is not None]


def clip_grad_norm_(
    parameters: Tensor | Iterable[Tensor],
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach: bool | None = None,
) -> Tensor:
    """Scale gradients so that their total ``norm_type``-norm is at most ``max_norm``; return the norm before.

    The total norm treats all gradients as one long vector (``inf``: the largest
    absolute entry). When it exceeds ``max_norm`` every gradient is multiplied by
    ``max_norm / (total_norm + 1e-6)``, exactly as ``torch.nn.utils.clip_grad_norm_``.
    """
    max_norm, norm_type = float(max_norm), float(norm_type)
    if not max_norm >= 0:
        raise ValueError(f"clip_grad_norm_: max_norm must be >= 0, got {max_norm!r}")
    if not norm_type > 0:
        raise ValueError(
            "clip_grad_norm_: norm_type must be > 0 (2.0 for the Euclidean norm, inf for max), "
            f"got {norm_type!r}"
        )
    grads = _grads(parameters)
    if not grads:
        return Tensor._wrap(np.zeros((), dtype=np.float32))
    if math.isinf(norm_type):
        total = max(float(np.max(np.abs(g))) if g.size else 0.0 for g in grads)
    elif norm_type == 2.0:
        # sqrt of the sum of squared per-tensor norms; ravel of a contiguous grad is a view, so no copy
        total = math.sqrt(sum(float(np.dot(g.ravel(), g.ravel())) for g in grads))
    else:
        norms = [float(np.sum(np.abs(g) ** norm_type)) ** (1.0 / norm_type) for g in grads]
        total = float(np.sum(np.asarray(norms) ** norm_type)) ** (1.0 / norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise NonFiniteError(
            f"clip_grad_norm_: the total gradient norm is {total}, so the gradients hold NaN or Inf; "
            "find where they come from (deltaprop.detect_anomaly()) or pass error_if_nonfinite=False",
            where="clip_grad_norm_",
        )
    coef = max_norm / (total + 1e-6)
    if coef < 1.0:
        for g in grads:
            g *= coef
    xp = backend.array_module(grads[0])
    return Tensor._wrap(xp.asarray(total, dtype=grads[0].dtype))


def clip_grad_value_(
    parameters: Tensor | Iterable[Tensor], clip_value: float, foreach: bool | None = None
) -> None:
    """Clamp every gradient entry to ``[-clip_value, clip_value]`` in place."""
    clip_value = float(clip_value)
    if not clip_value >= 0:
        raise ValueError(f"clip_grad_value_: clip_value must be >= 0, got {clip_value!r}")
    for g in _grads(parameters):
        np.clip(g, -clip_value, clip_value, out=g)
