"""`Parameter`: a leaf tensor that a `Module` registers as something to train."""

from __future__ import annotations

from typing import Any

from deltaprop.tensor import Tensor


class Parameter(Tensor):
    """A tensor that always requires grad and is found by ``Module.parameters()``."""

    __slots__ = ()

    def __init__(self, data: Any, requires_grad: bool = True) -> None:
        if isinstance(data, Tensor):
            data = data.array
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()
