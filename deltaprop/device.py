"""`device`: where a tensor's numbers live, with PyTorch's spelling (``dp.device('cuda')``, ``t.device``).

A device is a name that `deltaprop.backend.device_module` knows: ``'cpu'``
(NumPy), ``'cuda'`` (CuPy), or one registered with
`backend.register_device` (the tests' CPU stand-in, ``'standin'``). PyTorch's
``cuda:0`` is the current CuPy device; other indices are refused, since
deltaprop drives one GPU per process.
"""

from __future__ import annotations

from typing import Any

from deltaprop import backend


class device:  # noqa: N801 - PyTorch's name
    """A device name with PyTorch's ``type`` and ``index``; compares equal to its string (``'cpu'``)."""

    __slots__ = ("type", "index")
    type: str
    index: int | None

    def __init__(self, type: Any, index: int | None = None) -> None:  # noqa: A002 - PyTorch's name
        if isinstance(type, device):
            type, index = type.type, type.index if index is None else index
        elif isinstance(type, int) and not isinstance(type, bool):  # dp.device(0): the first GPU
            type, index = "cuda", type
        elif not isinstance(type, str):
            raise TypeError(f"device: expected a name such as 'cpu' or 'cuda', got {type!r}")
        if ":" in type:
            if index is not None:
                raise ValueError(f"device: {type!r} already names an index; drop index={index}")
            type, _, number = type.partition(":")
            if not number.isdigit():
                raise ValueError(f"device: invalid device string {type}:{number!r}; e.g. 'cuda:0'")
            index = int(number)
        if type == "cuda" and index not in (None, 0):
            raise ValueError(
                f"device: cuda:{index} is not supported; deltaprop uses the current CuPy device "
                "(choose it with cupy.cuda.Device(n).use() or CUDA_VISIBLE_DEVICES)"
            )
        if type != "cuda":  # (CuPy is imported only when an array moves there)
            backend.device_module(type)  # an unknown name raises here, listing the known ones
        self.type, self.index = type, index

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        index = "" if self.index is None else f", index={self.index}"
        return f"device(type={self.type!r}{index})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            try:
                other = device(other)
            except (TypeError, ValueError):
                return False
        if not isinstance(other, device):
            return NotImplemented
        return self.type == other.type and (self.index or 0) == (other.index or 0)

    def __hash__(self) -> int:
        return hash((self.type, self.index or 0))

    @property
    def namespace(self) -> Any:
        """The array namespace behind this device (numpy, cupy, ...)."""
        return backend.device_module(self.type)


def as_device(where: Any) -> device:
    """A `device` from a device, a name ('cpu', 'cuda:0') or a GPU index."""
    return where if isinstance(where, device) else device(where)


def is_device(value: Any) -> bool:
    """Whether ``value`` names a device (for ``Tensor.to``'s positional argument)."""
    if isinstance(value, device):
        return True
    if isinstance(value, int) and not isinstance(value, bool):
        return True
    if isinstance(value, str):
        try:
            device(value)
        except (TypeError, ValueError):
            return False
        return True
    return False


def device_of(array: Any) -> device:
    """The device holding ``array``."""
    name = backend.device_name(backend.array_module(array))
    return device(name, 0) if name == "cuda" else device(name)
