"""``einsum`` and the named matrix products (``mm``, ``bmm``, ``dot``, ``outer``), differentiable.

The backward of an einsum is another einsum: the gradient of operand k is
the output gradient contracted with every other operand, written back into
operand k's subscripts. A letter that appears only in operand k (summed away
inside it) is absent from that contraction, so its gradient is broadcast
back along it. Two cases are refused rather than guessed: a letter repeated
within one operand (a diagonal or trace; write ``torch.diagonal`` instead)
and ``...`` dimensions that broadcast against each other.
"""

from __future__ import annotations

import string

import numpy as np

from deltaprop.errors import ShapeError
from deltaprop.ops.linalg import matmul
from deltaprop.tensor import Tensor, as_tensor, make_result


def einsum(equation: str, *operands) -> Tensor:
    """``einsum('ij,jk->ik', a, b)``; operands may also be given as one list, as PyTorch allows."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    tensors = _same_dtype([as_tensor(t) for t in operands])
    inputs, output = _explicit(equation.replace(" ", ""), tensors)
    for subscripts, t in zip(inputs, tensors, strict=True):
        if len(set(subscripts)) != len(subscripts):
            raise NotImplementedError(
                f"einsum: the repeated index in '{subscripts}' (a diagonal or trace) has no gradient here; "
                "use diagonal() or a sum over an eye() mask"
            )
        if len(subscripts) != t.ndim:
            raise ShapeError(
                f"einsum: '{subscripts}' names {len(subscripts)} dims of a tensor of shape {t.shape}"
            )
    _check_sizes(inputs, tensors)
    explicit = ",".join(inputs) + "->" + output
    out = np.einsum(explicit, *[t.array for t in tensors], optimize=len(tensors) > 2)
    arrays = tuple(t.array for t in tensors)
    return make_result(out, tuple(tensors), _einsum_backward, (inputs, output, arrays), "einsum")


def _einsum_backward(g, saved, parents):
    inputs, output, arrays = saved
    grads = []
    for k, (subscripts, parent) in enumerate(zip(inputs, parents, strict=True)):
        if parent is None:
            grads.append(None)
            continue
        others = [(s, a) for i, (s, a) in enumerate(zip(inputs, arrays, strict=True)) if i != k]
        present = set(output).union(*(set(s) for s, _ in others))
        reachable = "".join(c for c in subscripts if c in present)
        equation = ",".join([output, *(s for s, _ in others)]) + "->" + reachable
        grad = np.einsum(equation, g, *(a for _, a in others), optimize=len(others) > 1)
        if reachable != subscripts:  # letters summed inside this operand only: broadcast back along them
            shape = [arrays[k].shape[i] if c in present else 1 for i, c in enumerate(subscripts)]
            grad = np.broadcast_to(grad.reshape(shape), arrays[k].shape)
        grads.append(grad)
    return tuple(grads)


def _same_dtype(tensors: list[Tensor]) -> list[Tensor]:
    target = np.result_type(*[t.dtype for t in tensors])
    return [t if t.dtype == target else t.astype(target) for t in tensors]


def _explicit(equation: str, tensors: list[Tensor]) -> tuple[list[str], str]:
    """The equation with ``...`` spelled out in unused letters and the output given (implicit mode too)."""
    left, arrow, right = equation.partition("->")
    inputs = left.split(",")
    if len(inputs) != len(tensors):
        raise ValueError(f"einsum: '{equation}' names {len(inputs)} operands, got {len(tensors)}")
    free = [c for c in string.ascii_letters if c not in equation]
    widest = 0
    for s, t in zip(inputs, tensors, strict=True):
        if "..." in s:
            widest = max(widest, t.ndim - (len(s) - 3))
    ellipsis = "".join(free[:widest])
    spelled = []
    for s, t in zip(inputs, tensors, strict=True):
        if "..." in s:
            count = t.ndim - (len(s) - 3)
            s = s.replace("...", ellipsis[widest - count :] if count else "")
        spelled.append(s)
    if arrow:
        out = right.replace("...", ellipsis)
    else:  # implicit: the letters used once, in alphabetical order, after the ellipsis
        letters = "".join(spelled)
        out = ellipsis + "".join(
            sorted(c for c in set(letters) if letters.count(c) == 1 and c not in ellipsis)
        )
    return spelled, out


def _check_sizes(inputs: list[str], tensors: list[Tensor]) -> None:
    seen: dict[str, int] = {}
    for subscripts, t in zip(inputs, tensors, strict=True):
        for c, n in zip(subscripts, t.shape, strict=True):
            if seen.setdefault(c, n) != n:
                raise ShapeError(
                    f"einsum: index '{c}' has size {seen[c]} in one operand and {n} in another "
                    "(broadcasting between operands is not differentiated here; expand() them first)"
                )


# ----------------------------------------------------------------- named products
def mm(input, mat2) -> Tensor:  # noqa: A002
    """The product of two matrices (2-D only, as ``torch.mm``)."""
    a, b = as_tensor(input), as_tensor(mat2)
    if a.ndim != 2 or b.ndim != 2:
        raise ShapeError(f"mm: expected two matrices (2-D), got shapes {a.shape} and {b.shape}; use matmul")
    return matmul(a, b)


def bmm(input, mat2) -> Tensor:  # noqa: A002
    """Batched matrix products of (B, n, m) and (B, m, p), as ``torch.bmm`` (no broadcasting)."""
    a, b = as_tensor(input), as_tensor(mat2)
    if a.ndim != 3 or b.ndim != 3 or a.shape[0] != b.shape[0]:
        raise ShapeError(
            f"bmm: expected (B, n, m) and (B, m, p) with the same B, got {a.shape} and {b.shape}"
        )
    return matmul(a, b)


def dot(input, other) -> Tensor:  # noqa: A002
    """The inner product of two 1-D tensors (``torch.dot`` refuses anything else)."""
    a, b = as_tensor(input), as_tensor(other)
    if a.ndim != 1 or b.ndim != 1 or a.shape != b.shape:
        raise ShapeError(f"dot: expected two 1-D tensors of one length, got {a.shape} and {b.shape}")
    return matmul(a, b)


def outer(input, vec2) -> Tensor:  # noqa: A002
    a, b = as_tensor(input), as_tensor(vec2)
    if a.ndim != 1 or b.ndim != 1:
        raise ShapeError(f"outer: expected two 1-D tensors, got {a.shape} and {b.shape}")
    return einsum("i,j->ij", a, b)
