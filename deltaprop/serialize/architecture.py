"""A model's architecture as plain data, and the model rebuilt from it, carefully.

Writing: each module says how to rebuild itself through `Module.get_config`
(see its docstring for the convention); this file turns that into JSON:

    {"type": "Linear", "config": {"in_features": 4, "out_features": 2, "bias": true,
                                   "dtype": {"$type": "dtype", "name": "float32"}}}

A module inside a config (the layers of a `Sequential`, say) is the same
object tagged ``{"$type": "module", "type": ..., "config": ...}``; tuples and
non-string-keyed dicts are tagged as in `values`. ``type`` is the name the
`registry` gives the class.

Reading trusts nothing: only registered classes can be named; every value is
checked (finite numbers, no arrays, arguments the constructor takes, of the
types its annotations name) before ``from_config`` runs; every layer is built
inside `nn.init.no_initialisation`, and the bytes of weights and buffers built
so far are charged to a `Budget` after each layer, so a file declaring more
than it could hold is refused after at most one over-sized layer whose pages
were never touched.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from deltaprop.errors import ModelFileError
from deltaprop.nn import init
from deltaprop.nn.module import Module
from deltaprop.serialize import registry
from deltaprop.serialize.values import ARRAY_KINDS, TYPE


class Budget:
    """Bytes of weights and buffers the layers built from one file may hold, charged as they are built."""

    def __init__(self, limit: int, path: str) -> None:
        self.limit, self.path, self.used = limit, path, 0
        self._seen: set[int] = set()

    def charge(self, module: Module, where: str) -> None:
        for tensor in [*module.parameters(), *module.buffers()]:
            if id(tensor) not in self._seen:
                self._seen.add(id(tensor))
                self.used += int(tensor.array.nbytes)
        if self.used > self.limit:
            raise ModelFileError(
                f"load: '{self.path}' declares layers holding more than {self.limit:,} bytes of weights "
                f"and buffers ({self.used:,} by {where}), more than a file of this size can hold "
                "(deltaprop stores arrays uncompressed); the file is damaged or crafted. If you trust "
                "it, pass a larger max_bytes to load",
                path=self.path,
            )


# --------------------------------------------------------------------------- writing


def module_config(module: Any, path: str = "") -> dict[str, Any]:
    """The architecture of ``module`` as JSON-ready data (no weights).

    Raises TypeError for a layer that is not registered (its structure lives
    only in its Python code) or whose `get_config` holds something a file
    cannot: the message names the layer and the fix.
    """
    where = f"'{path}' " if path else ""
    name = registry.name_for(type(module))
    if name is None:
        raise TypeError(
            f"save: cannot describe the architecture of module {where}of type {type(module).__name__}: "
            "it is custom code, and deltaprop files never store code (that is what makes loading safe). "
            "Save its weights instead with deltaprop.save(model.state_dict(), path), rebuild the model in "
            "code and call model.load_state_dict(deltaprop.load(path)); or register the class with "
            "deltaprop.serialize.register_module (its get_config() must describe its __init__ arguments)"
        )
    config = module.get_config()
    if not isinstance(config, Mapping) or not all(isinstance(key, str) for key in config):
        raise TypeError(f"save: {type(module).__name__}.get_config() must return a dict with string keys")
    children = {id(child): child_name for child_name, child in module.named_children()}
    return {
        "type": name,
        "config": {
            key: _encode(value, _Where(module, path, key, children)) for key, value in config.items()
        },
    }


class _Where:
    """Where a config value sits, for messages and for naming the modules inside it."""

    def __init__(self, module: Module, path: str, argument: str, children: dict[int, str]) -> None:
        self.module, self.path, self.argument, self.children = module, path, argument, children

    def child_path(self, child: Module) -> str:
        name = self.children.get(id(child), self.argument)
        return f"{self.path}.{name}" if self.path else name

    def refuse(self, value: Any, why: str) -> TypeError:
        kind = type(self.module).__name__
        layer = f"layer '{self.path}' ({kind})" if self.path else f"the {kind}"
        return TypeError(
            f"save: {layer}: get_config() argument '{self.argument}' {why} ({type(value).__name__}); a "
            "configuration holds None, bools, finite numbers, strings, dtypes, modules, and tuples, lists "
            "and dicts of those. Weights travel in state_dict() anyway: give the constructor argument that "
            f"rebuilds it (a size, a bool), or override {kind}.get_config() and from_config()"
        )


def _encode(value: Any, where: _Where) -> Any:
    if isinstance(value, Module):
        return {TYPE: "module", **module_config(value, where.child_path(value))}
    if isinstance(value, np.generic) and value.dtype.kind in "biuf":
        value = value.item()
    if isinstance(value, np.dtype) or (isinstance(value, type) and issubclass(value, np.generic)):
        return {TYPE: "dtype", "name": np.dtype(value).name}
    if isinstance(value, float) and not math.isfinite(value):
        raise where.refuse(value, f"is {value}, not a finite number")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, tuple):
        return {TYPE: "tuple", "items": [_encode(v, where) for v in value]}
    if isinstance(value, list):
        return [_encode(v, where) for v in value]
    if isinstance(value, Mapping):
        if all(isinstance(k, str) for k in value) and TYPE not in value:
            return {k: _encode(v, where) for k, v in value.items()}
        return {TYPE: "dict", "items": [[_encode(k, where), _encode(v, where)] for k, v in value.items()]}
    raise where.refuse(value, "cannot be written to a file")


# --------------------------------------------------------------------------- reading


def from_version_1(node: Any) -> Any:
    """A format-1 architecture in today's form.

    Version 1 wrote ``{"type": ..., <argument>: <value>, ...}`` and knew the
    containers by name: their children sat untagged under ``"layers"``.
    """
    if not isinstance(node, Mapping) or not isinstance(node.get("type"), str):
        return node  # the builder reports it
    arguments = {key: value for key, value in node.items() if key != "type"}
    if node["type"] in ("Sequential", "ModuleList") and isinstance(arguments.get("layers"), list):
        layers = [{TYPE: "module", **from_version_1(layer)} for layer in arguments["layers"]]
        if node["type"] == "ModuleList":
            arguments = {"modules": layers}
        else:
            arguments = {"layers": layers, **({"names": arguments["names"]} if "names" in arguments else {})}
    return {"type": node["type"], "config": arguments}


def build_module(config: Mapping[str, Any]) -> Module:
    """Rebuild a module from `module_config` output, with freshly initialised weights.

    Only registered classes can be built; a file cannot name anything else.
    ``deltaprop.load`` uses `build_from_file`, which checks more and skips
    the initialisation it would overwrite.
    """
    return _Builder(path="<config>", budget=None).module(config, "")


def build_from_file(config: Any, path: str, budget: Budget) -> Module:
    """The architecture a file declares, built uninitialised, checked against ``budget`` layer by layer."""
    with init.no_initialisation():
        return _Builder(path, budget).module(config, "")


class _Builder:
    """Builds a module tree from a file's JSON; ``path`` names a layer by where it sits in the configs."""

    def __init__(self, path: str, budget: Budget | None) -> None:
        self.path, self.budget = path, budget

    def fail(self, place: str, problem: str) -> ModelFileError:
        return ModelFileError(f"load: '{self.path}': {place}: {problem}", path=self.path)

    def module(self, node: Any, path: str) -> Module:
        place = f"layer '{path}'" if path else "the model"
        if not _is_module_node(node):
            raise self.fail(place, f"malformed entry {_short(node)}: expected {{'type': .., 'config': {{}}}}")
        kind = node["type"]
        cls = registry.class_for(kind)
        if cls is None:
            raise self.fail(
                place,
                f"the file names a layer type {kind!r} that this process does not know; known: "
                f"{registry.known_names()} (a layer of your own must be registered with "
                "deltaprop.serialize.register_module before loading)",
            )
        place = f"{place} ({kind})"
        config = {
            key: self.value(value, f"{path}.{key}" if path else key, f"{place}, argument '{key}'")
            for key, value in node.get("config", {}).items()
        }
        self.check_arguments(cls, config, place)
        try:
            module = cls.from_config(config)
        except ModelFileError:
            raise
        except Exception as exc:  # any failure to build from a file's data is the file's problem
            raise self.fail(
                place, f"{kind}.from_config({_short(config)}) failed: {type(exc).__name__}: {exc}"
            ) from exc
        if not isinstance(module, cls):
            raise self.fail(place, f"{kind}.from_config returned a {type(module).__name__}, not a {kind}")
        if self.budget is not None:
            self.budget.charge(module, place)
        return module

    def value(self, node: Any, path: str, place: str) -> Any:
        """A config value; ``path`` locates modules inside it, ``place`` names it in messages."""
        if isinstance(node, list):
            return [self.value(v, f"{path}[{i}]", place) for i, v in enumerate(node)]
        if isinstance(node, float) and not math.isfinite(node):
            raise self.fail(place, f"{node} is not a finite number")
        if not isinstance(node, dict):
            return node
        tag = node.get(TYPE)
        if tag is None:
            return {k: self.value(v, f"{path}[{k!r}]", place) for k, v in node.items()}
        if tag == "module":
            return self.module(node, path)
        if tag == "dtype":
            return self.dtype(node, place)
        items = node.get("items")
        if tag == "tuple" and isinstance(items, list):
            return tuple(self.value(v, f"{path}[{i}]", place) for i, v in enumerate(items))
        if tag == "dict" and isinstance(items, list) and all(
            isinstance(p, list) and len(p) == 2 and isinstance(p[0], str | int | bool | None) for p in items
        ):
            return {k: self.value(v, f"{path}[{k!r}]", place) for k, v in items}
        raise self.fail(place, f"a configuration cannot hold {_short(node)}")

    def dtype(self, node: Mapping, place: str) -> np.dtype:
        try:
            dtype = np.dtype(node.get("name"))
        except (TypeError, ValueError) as exc:
            raise self.fail(place, f"{node.get('name')!r} is not a dtype ({exc})") from None
        if dtype.kind not in ARRAY_KINDS or dtype.fields is not None or dtype.subdtype is not None:
            raise self.fail(place, f"dtype {dtype} is not a real floating, integer or bool type")
        return dtype

    def check_arguments(self, cls: type[Module], config: dict[str, Any], place: str) -> None:
        """Arguments the constructor takes, of the types its annotations name (when they are plain)."""
        signature = inspect.signature(cls.__init__)
        parameters = {k: v for k, v in signature.parameters.items() if k != "self"}
        open_ended = any(p.kind == p.VAR_KEYWORD for p in parameters.values())
        below_module = cls.__mro__[: cls.__mro__.index(Module)]
        own_from_config = any("from_config" in vars(base) for base in below_module)
        if not open_ended and not own_from_config:
            unknown = sorted(set(config) - set(parameters))
            if unknown:
                raise self.fail(
                    place, f"{cls.__name__} takes no argument(s) {unknown}; it takes {sorted(parameters)}"
                )
        for name, value in config.items():
            parameter = parameters.get(name)
            if parameter is None or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
                continue
            if not _matches(parameter.annotation, value):
                raise self.fail(
                    place,
                    f"argument '{name}' is {_short(value)}, but it must be "
                    f"{_annotation_text(parameter.annotation)}",
                )


def _is_module_node(node: Any) -> bool:
    return (
        isinstance(node, Mapping)
        and not set(node) - {TYPE, "type", "config"}
        and isinstance(node.get("type"), str)
        and isinstance(node.get("config", {}), Mapping)
    )


# an annotation's plain parts and the values each admits; anything else is not checked
_PLAIN = {
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "float": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "bool": lambda v: isinstance(v, bool),
    "str": lambda v: isinstance(v, str),
    "None": lambda v: v is None,
    "tuple": lambda v: isinstance(v, tuple),
    "list": lambda v: isinstance(v, list),
    "dict": lambda v: isinstance(v, dict),
}


def _annotation_text(annotation: Any) -> str:
    if isinstance(annotation, type):
        return annotation.__name__
    return annotation if isinstance(annotation, str) else str(annotation)


def _matches(annotation: Any, value: Any) -> bool:
    if annotation is inspect.Parameter.empty:
        return True
    parts, depth, current = [], 0, ""
    for char in _annotation_text(annotation):
        depth += {"[": 1, "]": -1}.get(char, 0)
        if char == "|" and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    bases = [part.split("[")[0].strip() for part in [*parts, current]]
    if not all(base in _PLAIN for base in bases):
        return True
    return any(_PLAIN[base](value) for base in bases)


def _short(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
