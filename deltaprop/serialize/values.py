"""Trees of values <-> JSON plus arrays: how state dicts, optimizer state and checkpoints are stored.

JSON holds what it can (None, bools, numbers, strings, lists, dicts with
string keys); everything else is a tagged object ``{"$type": ...}``: arrays
and NumPy scalars become references to entries of the zip, tuples and dicts
with other keys are spelled out. The architecture of a model uses the same
tags plus ``module`` and ``dtype`` (see `architecture`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from deltaprop import backend
from deltaprop.tensor import Tensor

TYPE = "$type"

# array dtypes a file may hold: real floating point, integers and bools (no objects: they are pickles)
ARRAY_KINDS = "fiub"


def check_array_dtype(dtype: np.dtype, where: str) -> None:
    if dtype.kind not in ARRAY_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise TypeError(
            f"save: '{where}' is an array of dtype {dtype}; deltaprop files hold real floating-point, "
            "integer and bool arrays only (convert it, e.g. a complex array to its real and imaginary parts)"
        )


def encode(value: Any, key: str, arrays: dict[str, np.ndarray]) -> Any:
    """JSON for ``value``; arrays (and NumPy scalars, to keep their dtype) go into ``arrays``."""
    if isinstance(value, Tensor):
        value = value.array
    if isinstance(value, np.generic):
        check_array_dtype(value.dtype, key)
        arrays[key] = np.asarray(value)
        return {TYPE: "scalar", "key": key}
    if isinstance(value, np.ndarray) or type(value).__module__.startswith("cupy"):
        array = backend.to_numpy(value)
        if array.dtype.kind == "O":
            raise TypeError(f"save: '{key}' is an object array; only numeric arrays are stored")
        check_array_dtype(array.dtype, key)
        arrays[key] = array
        return {TYPE: "array", "key": key}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, tuple):
        return {TYPE: "tuple", "items": [encode(v, f"{key}/{i}", arrays) for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [encode(v, f"{key}/{i}", arrays) for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        if all(isinstance(k, str) for k in value) and TYPE not in value:
            return {k: encode(v, f"{key}/{k}", arrays) for k, v in value.items()}
        return {
            TYPE: "dict",
            "items": [[encode(k, f"{key}/#k{i}", arrays), encode(v, f"{key}/{k}", arrays)]
                      for i, (k, v) in enumerate(value.items())],
        }
    raise TypeError(
        f"save: cannot store a value of type {type(value).__name__} at '{key}'; deltaprop files hold "
        "arrays, numbers, strings, bools, None, and lists, tuples and dicts of those"
    )


def referenced_keys(node: Any) -> list[str]:
    """The zip entries a JSON tree refers to, in order, each once (read before anything is decoded)."""
    found: dict[str, None] = {}
    pending = [node]
    while pending:
        item = pending.pop()
        if isinstance(item, list):
            pending.extend(reversed(item))
        elif isinstance(item, dict):
            if item.get(TYPE) in ("array", "scalar"):
                key = item.get("key")
                if not isinstance(key, str):
                    raise ValueError(f"an array reference has key {key!r}, not a string")
                found[key] = None
            else:
                pending.extend(reversed(list(item.values())))
    return list(found)


def decode(node: Any, array: Callable[[str], Any]) -> Any:
    """The value a JSON tree written by `encode` stands for; ``array(key)`` gives a zip entry."""
    if isinstance(node, list):
        return [decode(v, array) for v in node]
    if not isinstance(node, dict):
        return node
    tag = node.get(TYPE)
    if tag is None:
        return {k: decode(v, array) for k, v in node.items()}
    if tag == "array":
        return array(node["key"])
    if tag == "scalar":
        value = array(node["key"])
        if getattr(value, "ndim", 0) != 0:
            raise ValueError(f"the scalar '{node['key']}' is stored as an array of shape {value.shape}")
        return value[()]
    if tag == "tuple":
        return tuple(decode(v, array) for v in _items(node))
    if tag == "dict":
        pairs = [(decode(k, array), decode(v, array)) for k, v in _pairs(node)]
        return {_hashable(k): v for k, v in pairs}
    raise ValueError(f"unknown entry type {tag!r} in the file's JSON")


def _items(node: dict) -> list:
    items = node.get("items")
    if not isinstance(items, list):
        raise ValueError(f"a {node[TYPE]!r} entry has no list of items")
    return items


def _pairs(node: dict) -> list:
    items = _items(node)
    if not all(isinstance(pair, list) and len(pair) == 2 for pair in items):
        raise ValueError("a 'dict' entry holds items that are not [key, value] pairs")
    return items


def _hashable(key: Any) -> Any:
    if isinstance(key, list):
        return tuple(_hashable(k) for k in key)
    if isinstance(key, dict | np.ndarray):
        raise ValueError(f"a dict key in the file is a {type(key).__name__}, which cannot be a key")
    return key
