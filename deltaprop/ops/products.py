"""Products and running sums: prod, cumsum, with their backward beside them.

The gradient of a product with respect to one factor is the product of all
the others. Dividing the product by that factor fails at zero, so the
backward multiplies the running products from the left and from the right
instead: exact with zeros among the factors, as PyTorch's is.
"""

from __future__ import annotations

import numpy as np

from deltaprop.ops.dims import axes as many_axes
from deltaprop.ops.dims import axis as one_axis
from deltaprop.ops.dims import no_out, pick, pick_keepdim
from deltaprop.tensor import Tensor, as_tensor, make_result


# ----------------------------------------------------------------- prod
def prod(input, dim=None, keepdim=False, *, dtype=None, axis=None, keepdims=None, out=None) -> Tensor:  # noqa: A002
    """The product of all entries, or along ``dim``."""
    no_out(out, "prod")
    a = as_tensor(input)
    dim = pick(dim, axis, "prod")
    keep = pick_keepdim(keepdim, keepdims, "prod")
    reduced = many_axes(dim, a.ndim, "prod")
    out = a.array.prod(axis=reduced, keepdims=keep, dtype=dtype) if reduced else a.array.copy()
    return make_result(a.xp.asarray(out), (a,), _prod_backward, (a.array, reduced), "prod")


def _prod_backward(g, saved, parents):
    a, reduced = saved
    if not reduced:
        return (g * np.ones_like(a),)
    kept = [d for d in range(a.ndim) if d not in reduced]
    # reduced axes last, flattened into one: each row's "product of the others", then back
    moved = a.transpose(kept + list(reduced))
    rows = moved.reshape(moved.shape[: len(kept)] + (-1,))
    ones = np.ones_like(rows[..., :1])
    left = np.concatenate([ones, np.cumprod(rows[..., :-1], axis=-1)], axis=-1)
    right = np.flip(np.cumprod(np.flip(rows[..., 1:], -1), axis=-1), -1)
    right = np.concatenate([right, ones], axis=-1)
    others = (left * right).reshape(moved.shape)
    inverse = np.argsort(kept + list(reduced)).tolist()
    g = g.reshape([a.shape[d] if d in kept else 1 for d in range(a.ndim)])
    return (g * others.transpose(inverse),)


# ----------------------------------------------------------------- cumsum
def cumsum(input, dim=None, *, dtype=None, axis=None, out=None) -> Tensor:  # noqa: A002
    """Running sums along ``dim`` (PyTorch requires it; NumPy's axis=None flattens first, also accepted)."""
    no_out(out, "cumsum")
    a = as_tensor(input)
    dim = pick(dim, axis, "cumsum")
    if dim is None:
        a = a.reshape(-1)
        dim = 0
    d = one_axis(dim, a.ndim, "cumsum")
    array = a.array if a.ndim else a.array.reshape(1)
    out = np.cumsum(array, axis=d, dtype=dtype).reshape(a.shape)
    return make_result(out, (a,), _cumsum_backward, (d, a.shape), "cumsum")


def _cumsum_backward(g, saved, parents):
    d, shape = saved
    if not shape:
        return (g,)
    # each input adds to every later output: the gradient is the running sum from the end
    return (np.flip(np.cumsum(np.flip(g, d), axis=d), d),)
