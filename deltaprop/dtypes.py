"""The dtype objects PyTorch code names (``dp.float32``, ``dp.long``, ...) and how names become dtypes.

Why NumPy dtypes and not a class of our own: a tensor's ``.dtype`` is its
array's NumPy dtype, so ``t.dtype == dp.float32`` and ``t.dtype is
dp.float32`` hold with no translation, and the same objects go straight into
NumPy and CuPy calls (``np.zeros(3, dtype=dp.float64)``). PyTorch's spellings
map onto them: ``dp.long`` is int64, ``dp.int`` int32, ``dp.float`` float32,
``dp.double`` float64. Half precision and bfloat16 are not offered: the
engine computes in float32 and float64.
"""

from __future__ import annotations

from typing import Any

import numpy as np

float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
int64 = np.dtype(np.int64)
int32 = np.dtype(np.int32)
int16 = np.dtype(np.int16)
int8 = np.dtype(np.int8)
uint8 = np.dtype(np.uint8)
bool_ = np.dtype(np.bool_)

# PyTorch's other names for the same types
ALIASES: dict[str, np.dtype] = {
    "float": float32, "double": float64, "long": int64, "int": int32, "short": int16,
    "bool": bool_, "float32": float32, "float64": float64, "int64": int64, "int32": int32,
    "int16": int16, "int8": int8, "uint8": uint8,
}  # fmt: skip

# the legacy type names of ``Tensor.type()`` ('deltaprop.FloatTensor'), as PyTorch spells them
TYPE_NAMES: dict[np.dtype, str] = {
    float32: "FloatTensor", float64: "DoubleTensor", int64: "LongTensor", int32: "IntTensor",
    int16: "ShortTensor", int8: "CharTensor", uint8: "ByteTensor", bool_: "BoolTensor",
}  # fmt: skip
_BY_TYPE_NAME = {name: dtype for dtype, name in TYPE_NAMES.items()}


def as_dtype(dtype: Any) -> np.dtype:
    """A NumPy dtype from a dtype, a NumPy type, Python's float/int/bool, or a name ('long', 'float32').

    Also accepts the legacy type names of ``Tensor.type`` ('torch.FloatTensor',
    'deltaprop.LongTensor'). Anything else raises a TypeError that lists the names.
    """
    if isinstance(dtype, np.dtype):
        return dtype
    if isinstance(dtype, str):
        name = dtype.rsplit(".", 1)[-1]
        if name in ALIASES:
            return ALIASES[name]
        if name in _BY_TYPE_NAME:
            return _BY_TYPE_NAME[name]
        if name.startswith("torch.") or "Tensor" in name:
            raise TypeError(f"unknown tensor type {dtype!r}; use one of {sorted(_BY_TYPE_NAME)}")
    try:
        return np.dtype(dtype)
    except TypeError:
        raise TypeError(
            f"{dtype!r} is not a dtype; use deltaprop.float32, float64, int64 (long), int32 (int) or bool"
        ) from None


def type_name(dtype: np.dtype, on_device: bool) -> str:
    """``Tensor.type()``'s answer: 'deltaprop.FloatTensor', or 'deltaprop.cuda.FloatTensor' off the CPU."""
    name = TYPE_NAMES.get(np.dtype(dtype), f"{np.dtype(dtype).name}Tensor")
    return f"deltaprop.{'cuda.' if on_device else ''}{name}"


def is_floating_point(dtype: np.dtype) -> bool:
    return np.dtype(dtype).kind == "f"
