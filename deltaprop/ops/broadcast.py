"""Undo NumPy broadcasting in the backward pass.

If ``x`` of shape (3, 1) was broadcast against (4, 3, 5), every element of x
was used 4 * 5 times, so its gradient is the output gradient summed over the
axes broadcasting added or stretched. This one helper does that for every op.
"""

from __future__ import annotations

from typing import Any


def unbroadcast(grad: Any, shape: tuple[int, ...]) -> Any:
    """Sum ``grad`` down to ``shape``: over leading axes, then over stretched size-1 axes."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad
