"""The L2 penalty as one op: ``scale/2 * (sum of the squares of every element of every tensor)``.

Weight decay written as a term of the loss (as scikit-learn's MLPs and the
textbooks write it) is a few tensors' sums of squares added to the data loss.
Built from ``mul`` and ``sum`` that is two nodes per weight matrix and a chain
of additions, each with Python overhead that a small network feels on every
step; as one node it costs one forward (an inner product per tensor) and one
backward that hands each tensor ``scale * g * t``.
"""

from __future__ import annotations

from deltaprop.tensor import Tensor, make_result


def l2_penalty(*tensors: Tensor, scale: float = 1.0) -> Tensor:
    """``scale * 0.5 * sum_t ||t||^2`` over the given tensors, a 0-d tensor of their dtype.

    Its gradient with respect to each tensor ``t`` is ``scale * t``. Give the
    tensors the penalty applies to (usually the weight matrices, not the
    biases); ``scale`` is the penalty strength (scikit-learn's ``alpha /
    n_samples``).
    """
    if not tensors:
        raise ValueError("l2_penalty: give at least one tensor, e.g. l2_penalty(layer.weight)")
    for t in tensors:
        if not isinstance(t, Tensor):
            raise TypeError(f"l2_penalty: every argument must be a Tensor, got {type(t).__name__}")
    first = tensors[0].array
    xp = tensors[0].xp
    total = xp.zeros((), dtype=first.dtype)
    for t in tensors:
        flat = t.array.reshape(-1)
        total = total + xp.dot(flat, flat)
    scale = float(scale)
    out = xp.asarray(total * (0.5 * scale), dtype=first.dtype)
    arrays = tuple(t.array for t in tensors)
    return make_result(out, tensors, _l2_penalty_backward, (scale, arrays), "l2_penalty")


def _l2_penalty_backward(g, saved, parents):
    # A fresh array, not the optimizer's slot (`gradient_buffer`): the weights' own layers write
    # their gradients there, and with tensor hooks alive the engine holds a leaf's partial
    # gradients until all have arrived, so a second writer into the slot would overwrite the first.
    scale, arrays = saved
    factor = g * scale
    return tuple(None if p is None else array * factor for p, array in zip(parents, arrays, strict=True))
