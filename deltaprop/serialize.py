"""Saving and loading models, state dicts and training checkpoints, without pickle.

A deltaprop file is an ordinary ``.npz`` (a zip of ``.npy`` arrays) plus one
entry, ``__deltaprop__.json``, holding a JSON document stored as a uint8
array. The JSON describes everything that is not an array: the architecture
of a saved model (as plain data, see `module_config`), numbers, strings and
the shape of nested dicts. Arrays inside the JSON are references
(``{"$type": "array", "key": ...}``) to entries of the zip.

Why not pickle: unpickling runs arbitrary code, so a model downloaded from a
stranger could own the machine. Here every file is read with
``np.load(allow_pickle=False)`` and the JSON can only name classes from a
registry of known layers, so loading a file never runs code it brings along.

Every write is atomic: the bytes go to a temporary file in the same folder,
which is renamed over the target (``os.replace``) only once complete, so a
crash or a full disk mid-write leaves the previous file intact.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import tempfile
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import numpy as np

from deltaprop import backend
from deltaprop.random import get_rng_state, set_rng_state
from deltaprop.tensor import Tensor

__all__ = [
    "build_module",
    "load",
    "load_checkpoint",
    "module_config",
    "register_module",
    "save",
    "save_checkpoint",
]

FORMAT = "deltaprop"
VERSION = 1
META_KEY = "__deltaprop__.json"

# --------------------------------------------------------------------------- architecture registry


def _registry() -> dict[str, type]:
    """Layers whose architecture can be written as JSON: their __init__ arguments are attributes."""
    from deltaprop import nn

    classes = [nn.Identity, nn.Flatten, nn.Dropout, nn.Softmax, nn.LogSoftmax]
    classes += list(nn.ACTIVATIONS.values())
    table = {cls.__name__: cls for cls in classes}
    table.update(_USER_CLASSES)
    return table


_USER_CLASSES: dict[str, type] = {}


def register_module(cls: type) -> type:
    """Allow `save`/`load` to describe a custom layer (usable as a class decorator).

    The layer's ``__init__`` arguments must be stored as attributes of the same
    names holding JSON values (numbers, strings, bools, None, lists), and its
    parameters must be created by ``__init__``. The class must also be
    registered in the process that loads the file: the file names the class,
    it never carries code.
    """
    _USER_CLASSES[cls.__name__] = cls
    return cls


def module_config(module: Any, path: str = "") -> dict[str, Any]:
    """The architecture of ``module`` as JSON-ready data (no weights).

    Raises TypeError for a module whose structure lives only in its Python
    code (a custom ``Module`` subclass): save its ``state_dict()`` instead.
    """
    from deltaprop import nn

    kind = type(module)
    where = f"'{path}' " if path else ""
    if kind is nn.Sequential or kind is nn.ModuleList:
        names = [name for name, _ in module.named_children()]
        config: dict[str, Any] = {
            "type": kind.__name__,
            "layers": [
                module_config(child, f"{path}.{name}" if path else name)
                for name, child in module.named_children()
            ],
        }
        if names != [str(i) for i in range(len(names))]:
            config["names"] = names
        return config
    if kind is nn.Linear:
        return {
            "type": "Linear",
            "in_features": int(module.in_features),
            "out_features": int(module.out_features),
            "bias": module.bias is not None,
            "dtype": str(module.weight.dtype),
        }
    registry = _registry()
    if registry.get(kind.__name__) is not kind:
        raise TypeError(
            f"save: cannot describe the architecture of module {where}of type {kind.__name__}: it is "
            "custom code, and deltaprop files never store code (that is what makes loading safe). "
            "Save its weights instead with deltaprop.save(model.state_dict(), path), rebuild the model "
            "in code and call model.load_state_dict(deltaprop.load(path)); or, if its __init__ "
            "arguments are kept as attributes of the same names, register it with "
            "deltaprop.serialize.register_module"
        )
    config = {"type": kind.__name__}
    for name, parameter in inspect.signature(kind.__init__).parameters.items():
        if name == "self" or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        if not hasattr(module, name):
            raise TypeError(
                f"save: module {where}of type {kind.__name__} does not keep its argument '{name}' as "
                "an attribute, so its architecture cannot be written; save its state_dict instead"
            )
        value = getattr(module, name)
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, tuple):
            value = list(value)
        config[name] = value
    return config


def build_module(config: Mapping[str, Any]) -> Any:
    """Rebuild a module from `module_config` output (weights freshly initialised).

    Only registered classes can be built; a file cannot name anything else.
    """
    from deltaprop import nn

    if not isinstance(config, Mapping) or not isinstance(config.get("type"), str):
        raise ValueError(f"load: malformed architecture entry {config!r}: expected a dict with a 'type'")
    kind = config["type"]
    if kind in ("Sequential", "ModuleList"):
        layers = [build_module(layer) for layer in config.get("layers", [])]
        names = config.get("names")
        if kind == "ModuleList":
            return nn.ModuleList(layers)
        if names is not None:
            return nn.Sequential(OrderedDict(zip(names, layers, strict=True)))
        return nn.Sequential(*layers)
    if kind == "Linear":
        return nn.Linear(
            int(config["in_features"]),
            int(config["out_features"]),
            bias=bool(config.get("bias", True)),
            dtype=np.dtype(config.get("dtype", "float32")),
        )
    registry = _registry()
    if kind not in registry:
        raise ValueError(
            f"load: the file names a layer type {kind!r} that this process does not know; known: "
            f"{sorted(registry) + ['Linear', 'ModuleList', 'Sequential']} (a custom layer must be "
            "registered with deltaprop.serialize.register_module before loading)"
        )
    arguments = {key: value for key, value in config.items() if key != "type"}
    return registry[kind](**arguments)


# --------------------------------------------------------------------------- value trees <-> JSON + arrays

_TYPE = "$type"


def _encode(value: Any, key: str, arrays: dict[str, np.ndarray]) -> Any:
    """JSON for ``value``; arrays (and NumPy scalars, to keep their dtype) go into ``arrays``."""
    if isinstance(value, Tensor):
        value = value.data
    if isinstance(value, np.generic):
        arrays[key] = np.asarray(value)
        return {_TYPE: "scalar", "key": key}
    if isinstance(value, np.ndarray) or type(value).__module__.startswith("cupy"):
        array = backend.to_numpy(value)
        if array.dtype.kind == "O":
            raise TypeError(f"save: '{key}' is an object array; only numeric and string arrays are stored")
        arrays[key] = array
        return {_TYPE: "array", "key": key}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, tuple):
        return {_TYPE: "tuple", "items": [_encode(v, f"{key}/{i}", arrays) for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [_encode(v, f"{key}/{i}", arrays) for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        if all(isinstance(k, str) for k in value) and _TYPE not in value:
            return {k: _encode(v, f"{key}/{k}", arrays) for k, v in value.items()}
        return {
            _TYPE: "dict",
            "items": [[_encode(k, f"{key}/#k{i}", arrays), _encode(v, f"{key}/{k}", arrays)]
                      for i, (k, v) in enumerate(value.items())],
        }
    raise TypeError(
        f"save: cannot store a value of type {type(value).__name__} at '{key}'; deltaprop files hold "
        "arrays, numbers, strings, bools, None, and lists, tuples and dicts of those"
    )


def _decode(node: Any, arrays: Mapping[str, np.ndarray]) -> Any:
    if isinstance(node, list):
        return [_decode(v, arrays) for v in node]
    if not isinstance(node, dict):
        return node
    tag = node.get(_TYPE)
    if tag is None:
        return {k: _decode(v, arrays) for k, v in node.items()}
    if tag == "array":
        return arrays[node["key"]]
    if tag == "scalar":
        return arrays[node["key"]][()]
    if tag == "tuple":
        return tuple(_decode(v, arrays) for v in node["items"])
    if tag == "dict":
        return {_hashable(_decode(k, arrays)): _decode(v, arrays) for k, v in node["items"]}
    raise ValueError(f"load: unknown entry type {tag!r} in the file's JSON")


def _hashable(key: Any) -> Any:
    return tuple(key) if isinstance(key, list) else key


# --------------------------------------------------------------------------- files


def _atomic_write_npz(path: str | os.PathLike, arrays: Mapping[str, np.ndarray], meta: dict) -> None:
    """Write arrays + meta JSON to ``path`` via a temporary file renamed into place."""
    target = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(target))
    entries = dict(arrays)
    entries[META_KEY] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    fd, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            # _encode refused object arrays, so nothing here can be pickled
            np.savez(handle, **entries)
            handle.flush()
            os.fsync(handle.fileno())
        mode = os.stat(target).st_mode & 0o777 if os.path.exists(target) else 0o644
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def _read_npz(path: str | os.PathLike) -> tuple[dict, dict[str, np.ndarray]]:
    """(meta, arrays) of a deltaprop file, refusing pickles and foreign files with a clear error."""
    target = os.fspath(path)
    try:
        with open(target, "rb") as f:
            magic = f.read(6)
    except FileNotFoundError:
        raise FileNotFoundError(f"load: no such file '{target}'") from None
    # NumPy reads anything that is neither .npz (a zip) nor .npy as a pickle; look first, so a text
    # or foreign file gets the right message instead of "contains pickled data".
    if not (magic.startswith(b"PK\x03\x04") or magic.startswith(b"\x93NUMPY") or magic[:1] == b"\x80"):
        raise ValueError(
            f"load: '{target}' is not a deltaprop file (expected the .npz archive deltaprop.save writes; "
            f"it starts with {magic!r})"
        )
    try:
        handle = np.load(target, allow_pickle=False)
    except ValueError as exc:
        raise ValueError(
            f"load: refusing '{target}': it contains pickled Python objects ({exc}). deltaprop files never "
            "do, and unpickling could run code, so this file was not written by deltaprop.save"
        ) from None
    if not isinstance(handle, np.lib.npyio.NpzFile):
        raise ValueError(f"load: '{target}' is a single .npy array, not a deltaprop .npz file")
    with handle:
        if META_KEY not in handle.files:
            raise ValueError(
                f"load: '{target}' is an .npz without the '{META_KEY}' entry, so not a deltaprop file; "
                "read plain arrays with numpy.load(path, allow_pickle=False)"
            )
        arrays: dict[str, np.ndarray] = {}
        for name in handle.files:
            try:
                arrays[name] = handle[name]
            except ValueError as exc:
                raise ValueError(
                    f"load: refusing '{target}': entry '{name}' holds pickled Python objects ({exc}); "
                    "deltaprop files never do, and unpickling could run code"
                ) from None
    meta = json.loads(arrays.pop(META_KEY).tobytes().decode("utf-8"))
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"load: '{target}' does not hold a deltaprop document")
    if int(meta.get("version", 0)) > VERSION:
        raise ValueError(
            f"load: '{target}' was written by a newer deltaprop (format version {meta['version']}, this "
            f"one reads up to {VERSION}); upgrade deltaprop"
        )
    return meta, arrays


def save(obj: Any, path: str | os.PathLike) -> None:
    """Save a `Module` (architecture as JSON + weights) or a state dict / nested dict of arrays.

    The file is written exactly at ``path`` (no extension is added; ``.npz``
    is the convention) and atomically. Use `load` to read it back.
    """
    from deltaprop.nn import Module

    arrays: dict[str, np.ndarray] = {}
    if isinstance(obj, Module):
        meta = {
            "format": FORMAT,
            "version": VERSION,
            "kind": "module",
            "architecture": module_config(obj),
            "state": _encode(obj.state_dict(), "state", arrays),
        }
    elif isinstance(obj, Mapping):
        meta = {"format": FORMAT, "version": VERSION, "kind": "tree", "tree": _encode(obj, "tree", arrays)}
    else:
        raise TypeError(
            f"save: expected a Module or a dict (e.g. model.state_dict()), got {type(obj).__name__}"
        )
    _atomic_write_npz(path, arrays, meta)


def load(path: str | os.PathLike) -> Any:
    """Read a file written by `save`: the rebuilt `Module`, or the saved dict.

    Rebuilding a module leaves the package random generator untouched, so
    loading a model in the middle of a seeded script does not change what
    follows.
    """
    meta, arrays = _read_npz(path)
    kind = meta.get("kind")
    if kind == "tree":
        return _decode(meta["tree"], arrays)
    if kind == "module":
        state = get_rng_state()
        try:
            model = build_module(meta["architecture"])
        finally:
            set_rng_state(state)
        model.load_state_dict(_decode(meta["state"], arrays))
        return model
    if kind == "checkpoint":
        raise ValueError(
            f"load: '{os.fspath(path)}' is a training checkpoint; read it with "
            "deltaprop.serialize.load_checkpoint or continue training with fit(..., resume_from=path)"
        )
    raise ValueError(f"load: unknown kind {kind!r} in '{os.fspath(path)}'")


# --------------------------------------------------------------------------- checkpoints


def save_checkpoint(
    path: str | os.PathLike,
    model: Any,
    optimizer: Any,
    epoch: int,
    history: Any,
    rng_state: Mapping[str, Any],
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Write everything needed to continue training exactly, atomically, in one file.

    ``history`` is a `History` (or anything with ``to_dict()``) or a dict;
    ``extra`` holds further state (fit arguments, scheduler and callback
    state), any tree of arrays and JSON values.
    """
    if hasattr(history, "to_dict"):
        history = history.to_dict()
    tree = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "epoch": int(epoch),
        "history": history,
        "rng_state": dict(rng_state),
        "extra": dict(extra or {}),
    }
    arrays: dict[str, np.ndarray] = {}
    meta = {"format": FORMAT, "version": VERSION, "kind": "checkpoint", "tree": _encode(tree, "ckpt", arrays)}
    _atomic_write_npz(path, arrays, meta)


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """The dict written by `save_checkpoint`: model, optimizer, epoch, history, rng_state, extra."""
    meta, arrays = _read_npz(path)
    if meta.get("kind") != "checkpoint":
        raise ValueError(
            f"load_checkpoint: '{os.fspath(path)}' is a saved {meta.get('kind')}, not a training checkpoint"
        )
    return _decode(meta["tree"], arrays)
