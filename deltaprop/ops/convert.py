"""Moving a tensor to another device or dtype inside a graph, with the gradient coming back.

``(x * 2).to('cpu')`` in the middle of a computation is an op like any
other: its backward moves the gradient back to where x lives (or casts it
back to x's dtype), so ``((x*3) + (x*2).to('cpu')).sum().backward()`` gives
x the gradient 5, as in PyTorch. A cast to an integer or bool dtype has no
derivative; its result is a constant (PyTorch's integer tensors cannot
require grad either).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from deltaprop import backend
from deltaprop.ops.arithmetic import astype
from deltaprop.tensor import Tensor, as_tensor, make_result


def to_module(input, xp: Any) -> Tensor:  # noqa: A002
    """``input`` moved to the array namespace ``xp`` (the same tensor if it is there already)."""
    a = as_tensor(input)
    source = a.xp
    if source is xp:
        return a
    return make_result(backend.to_module(a.array, xp), (a,), _move_back, (source,), "to")


def _move_back(g, saved, parents):
    (source,) = saved
    return (backend.to_module(g, source),)


def cast(input, dtype: Any) -> Tensor:  # noqa: A002
    """``input`` in ``dtype`` (itself if it has it): differentiable to float dtypes, else a constant."""
    a = as_tensor(input)
    dtype = np.dtype(dtype)
    if a.array.dtype == dtype:
        return a
    if dtype.kind != "f" or a.array.dtype.kind != "f":
        return Tensor._wrap(a.array.astype(dtype))
    return astype(a, dtype)


def clone(input) -> Tensor:  # noqa: A002
    """A copy with its own memory; the gradient passes through unchanged."""
    a = as_tensor(input)
    return make_result(a.array.copy(), (a,), _clone_backward, (), "clone")


def _clone_backward(g, saved, parents):
    return (g,)
