"""Saving and loading models, state dicts and training checkpoints: no pickle, bounded memory.

The format. A deltaprop file is an ordinary ``.npz`` (a zip of ``.npy``
arrays, stored uncompressed) plus one entry, ``__deltaprop__.json``, a JSON
document stored as a uint8 array. The JSON holds everything that is not an
array: for a model its architecture (see below) and the names of its weights,
for a tree (a state dict, any nested dict) or a checkpoint its shape.
Arrays are references (``{"$type": "array", "key": ...}``) to entries of the
zip. Format version 2 changed only how architectures are written; trees and
checkpoints are still written as version 1, and version-1 files of every kind
load.

Why no pickle: unpickling runs arbitrary code, so a model downloaded from a
stranger could own the machine. Here no byte of a file is ever unpickled, and
the JSON can only name layer classes that the loading process registered.

How a layer is saved: the per-layer configuration convention. A model's
architecture is the tree of its layers, each written as
``{"type": <registered name>, "config": layer.get_config()}`` and rebuilt
with ``cls.from_config(config)``; the weights and buffers then come from its
``state_dict``. `Module.get_config` by default reads each ``__init__``
argument from the attribute of the same name, and `Module.from_config` calls
``cls(**config)``, so most layers need nothing. A config value may be None, a
bool, a finite number, a string, a NumPy dtype, a tuple, list or dict of
those, or a module (or a list or dict of modules): that is how containers
(`Sequential`, `ModuleList`) describe their children. Nothing here knows any
particular layer. To add a layer:

- keep each ``__init__`` argument as an attribute of the same name, or
  override ``get_config`` (`Linear` does: its ``bias`` attribute is a
  Parameter, its config says ``bias=True``), and ``from_config`` when
  ``cls(**config)`` cannot rebuild it;
- create parameters with ``Parameter(np.empty(...))`` filled by
  `deltaprop.nn.init` and buffers with ``register_buffer``; loading builds
  the layer inside `nn.init.no_initialisation`, so weights it is about to
  overwrite are never drawn or touched;
- a layer defined under ``deltaprop.nn`` is registered automatically; one of
  your own with `register_module` (in the process that saves and in the one
  that loads: the file names the class, it never carries its code).

How a hostile file is kept in bounds (`load` validates before it allocates).
The path must be a regular file (a FIFO or device is refused, never read).
The zip's declared sizes must add up to at most ``max_bytes``, by default a
small constant times the file's real size (`archive.default_limit`): the
arrays of a real deltaprop file are about as big as the file. The JSON is
bounded in size and its depth counted before it is parsed. Only the arrays
the document refers to are read, each after its header has been checked
against the zip entry's real size and its dtype against real floating,
integer and bool. The architecture is built layer by layer without
initialisation (an untouched ``np.empty`` costs no memory), and after each
layer the bytes of weights and buffers built so far must fit ``max_bytes``:
a 2 KB file declaring a 12000 x 12000 `Linear` is refused before a page of
that layer is touched. Then every declared weight's name and shape is
compared with the model's before any is read. Whatever goes wrong, the error
is a `ModelFileError` (a ValueError) naming the file and the problem.

Writes are atomic and tidy: see `writing`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from deltaprop.errors import ModelFileError
from deltaprop.random import get_rng_state, set_rng_state
from deltaprop.serialize import values
from deltaprop.serialize.architecture import (
    Budget,
    build_from_file,
    build_module,
    from_version_1,
    module_config,
)
from deltaprop.serialize.archive import META_KEY, Archive, reading
from deltaprop.serialize.registry import register_module, unregister_module
from deltaprop.serialize.writing import atomic_write_npz, remove_stale_temporaries

__all__ = [
    "META_KEY",
    "ModelFileError",
    "build_module",
    "load",
    "load_checkpoint",
    "module_config",
    "register_module",
    "remove_stale_temporaries",
    "save",
    "save_checkpoint",
    "unregister_module",
]

FORMAT = "deltaprop"
VERSION = 2  # the newest version this release reads and writes (architectures); trees stay at 1
TREE_VERSION = 1


# --------------------------------------------------------------------------- models and trees


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
            "state": values.encode(obj.state_dict(), "state", arrays),
        }
    elif isinstance(obj, Mapping):
        meta = {"format": FORMAT, "version": TREE_VERSION, "kind": "tree",
                "tree": values.encode(obj, "tree", arrays)}
    else:
        raise TypeError(
            f"save: expected a Module or a dict (e.g. model.state_dict()), got {type(obj).__name__}"
        )
    atomic_write_npz(path, arrays, meta)


def load(
    path: str | os.PathLike,
    map_location: Any = None,
    *,
    max_bytes: int | None = None,
    weights_only: bool | None = None,
    mmap: bool | None = None,
) -> Any:
    """Read a file written by `save`: the rebuilt `Module`, or the saved dict.

    Files from untrusted sources are safe to load: nothing in them runs, and
    they may make `load` allocate at most ``max_bytes`` (default: a small
    multiple of the file's size; see the module docstring). A damaged or
    crafted file raises `ModelFileError` naming the file and the problem.
    Rebuilding a module leaves the package random generator untouched.

    PyTorch's ``torch.load`` arguments are accepted: ``map_location`` moves a
    loaded Module to that device (a state dict's arrays come back on the
    host, and ``load_state_dict`` copies them to the model's device);
    ``weights_only`` needs no flag here, as a file never holds code; ``mmap``
    is ignored.
    """
    obj = _load(path, max_bytes)
    where = str(map_location) if type(map_location).__name__ in ("str", "device") else None
    if where is not None and not isinstance(obj, Mapping):  # a Module goes to the named device
        obj = obj.to(where)
    return obj


def _load(path: str | os.PathLike, max_bytes: int | None) -> Any:
    with reading(path, "load", max_bytes) as archive:
        meta = _document(archive)
        kind = meta.get("kind")
        if kind == "tree":
            return _read_tree(archive, meta.get("tree"))
        if kind == "module":
            return _read_module(archive, meta)
        if kind == "checkpoint":
            raise archive.error(
                "is a training checkpoint; read it with deltaprop.serialize.load_checkpoint or continue "
                "training with fit(..., resume_from=path)"
            )
        raise archive.error(f"holds an unknown kind of document {kind!r}")


def _document(archive: Archive) -> dict[str, Any]:
    meta = archive.document()
    version = meta.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise archive.error(f"has an invalid format version {version!r}")
    if version > VERSION:
        raise archive.error(
            f"was written by a newer deltaprop (format version {version}, this one reads up to "
            f"{VERSION}); upgrade deltaprop"
        )
    return meta


def _read_tree(archive: Archive, node: Any) -> Any:
    keys = values.referenced_keys(node)
    for key in keys:  # every header checked before any data is read
        archive.entry(key)
    arrays = {key: archive.read(key) for key in keys}
    return values.decode(node, arrays.__getitem__)


def _read_module(archive: Archive, meta: dict[str, Any]) -> Any:
    architecture = meta.get("architecture")
    if meta["version"] == 1:
        architecture = from_version_1(architecture)
    declared = _declared_state(archive, meta.get("state"))
    rng = get_rng_state()
    try:
        model = build_from_file(architecture, archive.path, Budget(archive.limit, archive.path))
    finally:
        set_rng_state(rng)
    _check_state(archive, model, declared)
    # each weight is read straight into the freshly built (untouched) tensor where the layout allows,
    # so a model costs its own size once; load_state_dict then checks the names and copies in place
    tensors = dict([*model.named_parameters(), *model.named_buffers()])
    state = {}
    for name, entry in declared.items():
        own = tensors[name].array
        state[name] = archive.read(entry.key, out=own if archive.fits(entry.key, own) else None)
    try:
        model.load_state_dict(state)
    except (KeyError, ValueError) as exc:
        raise archive.error(f"holds weights that do not fit its architecture: {exc}") from exc
    return model


def _declared_state(archive: Archive, node: Any) -> dict[str, Any]:
    """The weights a model file declares, name -> checked header; no data is read."""
    if not isinstance(node, dict) or not all(
        isinstance(ref, dict) and ref.get(values.TYPE) == "array" and isinstance(ref.get("key"), str)
        for ref in node.values()
    ):
        raise archive.error("has a malformed 'state': expected a flat dict of array references")
    return {name: archive.entry(ref["key"]) for name, ref in node.items()}


def _check_state(archive: Archive, model: Any, declared: dict[str, Any]) -> None:
    """Every declared weight must be one the model has, of its shape and kind, before any is read."""
    tensors = [*model.named_parameters(), *model.named_buffers()]
    shapes = {name: (tuple(tensor.shape), tensor.dtype) for name, tensor in tensors}
    unexpected = [name for name in declared if name not in shapes]
    missing = [name for name, _ in model.named_parameters() if name not in declared]
    if unexpected or missing:
        raise archive.error(
            f"holds weights that do not match its architecture: missing {missing}, unexpected {unexpected}"
        )
    for name, entry in declared.items():
        shape, dtype = shapes[name]
        if tuple(entry.shape) != tuple(shape) or (entry.dtype.kind == "f") != (dtype.kind == "f"):
            raise archive.error(
                f"declares '{name}' as {entry.dtype} of shape {entry.shape}, but its architecture gives "
                f"{dtype} of shape {tuple(shape)}"
            )


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
    state), any tree of arrays and JSON values. A successful save also
    removes the temporary files earlier, killed saves of ``path`` left.
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
    meta = {"format": FORMAT, "version": TREE_VERSION, "kind": "checkpoint",
            "tree": values.encode(tree, "ckpt", arrays)}
    atomic_write_npz(path, arrays, meta)


def load_checkpoint(path: str | os.PathLike, *, max_bytes: int | None = None) -> dict[str, Any]:
    """The dict written by `save_checkpoint`: model, optimizer, epoch, history, rng_state, extra."""
    with reading(path, "load_checkpoint", max_bytes) as archive:
        meta = _document(archive)
        if meta.get("kind") != "checkpoint":
            raise archive.error(f"is a saved {meta.get('kind')}, not a training checkpoint")
        state = _read_tree(archive, meta.get("tree"))
        if not isinstance(state, dict) or not {"model", "epoch", "rng_state"} <= set(state):
            raise archive.error("is a checkpoint without its model, epoch and rng_state")
        return state
