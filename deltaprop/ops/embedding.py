"""``embedding``: row lookup ``weight[indices]``, whose gradient adds each output's gradient to its row.

An embedding is a Linear layer applied to one-hot inputs, computed without
the one-hot matrix: the forward picks rows, the backward scatters (and sums,
for an index used more than once) the incoming gradient into those rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from deltaprop.errors import ShapeError
from deltaprop.tensor import Tensor, as_tensor, make_result


def embedding(indices: Any, weight: Tensor, padding_idx: int | None = None,
              scale_grad_by_freq: bool = False) -> Tensor:
    """``weight[indices]``: shape indices.shape + (embedding_dim,); row ``padding_idx`` gets no gradient."""
    weight = as_tensor(weight)
    index = indices.array if isinstance(indices, Tensor) else weight.xp.asarray(indices)
    if index.dtype.kind == "f" and bool((index == index.round()).all()):
        index = index.astype(np.int64)  # whole numbers as floats: fit turns integer features into floats
    if index.dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be integers, got dtype {index.dtype} holding fractions; "
                        "pass token ids (e.g. ids.astype(int64))")
    rows = weight.shape[0]
    if index.size and (int(index.min()) < 0 or int(index.max()) >= rows):
        raise ShapeError(f"embedding: indices must be in [0, {rows}) (num_embeddings={rows}), got values "
                         f"from {int(index.min())} to {int(index.max())}")
    out = weight.array[index]
    return make_result(out, (weight,), _embedding_backward, (index, weight.shape, padding_idx,
                                                             scale_grad_by_freq), "embedding")


def _embedding_backward(g, saved, parents):
    index, shape, padding_idx, by_freq = saved
    from deltaprop.backend import array_module

    xp = array_module(g)
    flat, grads = index.reshape(-1), g.reshape(-1, shape[1])
    if by_freq:  # PyTorch's scale_grad_by_freq: each row's gradient divided by its count in the batch
        counts = xp.bincount(flat, minlength=shape[0]).astype(g.dtype)
        grads = grads / counts[flat][:, None]
    out = xp.zeros(shape, dtype=g.dtype)
    xp.add.at(out, flat, grads)  # sums the gradients of an id used more than once
    if padding_idx is not None:
        out[padding_idx] = 0
    return (out,)
