"""All parameters as one vector and back (PyTorch's ``parameters_to_vector`` / ``vector_to_parameters``).

Second-order methods and hand-written line searches want the weights as a
single vector. ``parameters_to_vector`` is differentiable (a concatenation
of reshapes); ``vector_to_parameters`` points each parameter's ``.data`` at
its slice of the vector, as PyTorch's does (so later changes to the vector
show in the parameters).
"""

from __future__ import annotations

from collections.abc import Iterable

from deltaprop import ops
from deltaprop.errors import ShapeError
from deltaprop.tensor import Tensor


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """The parameters flattened and joined, in order, into one 1-D tensor."""
    params = list(parameters)
    if not params:
        raise ValueError("parameters_to_vector: got no parameters")
    _same_device(params, "parameters_to_vector")
    return ops.cat([ops.reshape(p, (-1,)) for p in params])


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Slice ``vec`` into the parameters' shapes and make each slice that parameter's ``.data``."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"vector_to_parameters: expected vec to be a Tensor, got {type(vec).__name__}")
    params = list(parameters)
    total = sum(p.numel() for p in params)
    if vec.ndim != 1 or vec.numel() != total:
        raise ShapeError(
            f"vector_to_parameters: vec has shape {vec.shape} but the parameters hold {total} numbers; "
            "pass a 1-D tensor of that length (e.g. from parameters_to_vector)"
        )
    _same_device([vec, *params], "vector_to_parameters")
    offset = 0
    for p in params:
        size = p.numel()
        p.data = vec.array[offset : offset + size].reshape(p.shape)
        offset += size


def _same_device(tensors: list[Tensor], op: str) -> None:
    kinds = {type(t.array) for t in tensors}
    if len(kinds) > 1:
        raise TypeError(f"{op}: the tensors live on different devices; move them to one first")
