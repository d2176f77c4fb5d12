"""Containers of modules or parameters: Sequential, ModuleList, ModuleDict, ParameterList, ParameterDict."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from deltaprop.nn.module import Module
from deltaprop.nn.parameter import Parameter


class Sequential(Module):
    """Modules applied one after another; layers are named '0', '1', ... or by an OrderedDict."""

    _modules: dict[str, Module]  # type: ignore[assignment]  # holds modules only (PyTorch declares it so too)

    def __init__(self, *layers: Module | OrderedDict) -> None:
        super().__init__()
        if len(layers) == 1 and isinstance(layers[0], OrderedDict):
            for name, layer in layers[0].items():
                self.add_module(name, layer)
        else:
            for index, layer in enumerate(layers):
                if not isinstance(layer, Module):
                    raise TypeError(
                        f"Sequential: argument {index} is a {type(layer).__name__}, not a Module"
                    )
                self.add_module(str(index), layer)

    def forward(self, x: Any) -> Any:
        for layer in self._modules.values():
            # layer(x) without the extra call frame when the layer has no hooks to run
            x = layer(x) if layer._has_hooks else layer.forward(x)
        return x

    def __getitem__(self, index: int | slice) -> Module:
        layers = list(self._modules.values())
        if isinstance(index, slice):
            return Sequential(*layers[index])
        return layers[index]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def append(self, layer: Module) -> Sequential:
        self.add_module(str(len(self)), layer)
        return self

    def chain(self) -> list[Module]:
        return list(self._modules.values())

    def get_config(self) -> dict[str, Any]:
        """The layers in order, and their names unless they are '0', '1', ..."""
        names = list(self._modules)
        config: dict[str, Any] = {"layers": list(self._modules.values())}
        if names != [str(i) for i in range(len(names))]:
            config["names"] = names
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Sequential:
        layers, names = list(config["layers"]), config.get("names")
        if names is None:
            return cls(*layers)
        if len(names) != len(layers) or len(set(names)) != len(names) or not all(
            isinstance(name, str) and name and "." not in name for name in names
        ):
            raise ValueError(
                f"Sequential: 'names' must be {len(layers)} distinct non-empty strings without '.', one "
                f"per layer, got {names!r}"
            )
        return cls(OrderedDict(zip(names, layers, strict=True)))


class ModuleList(Module):
    """A list of modules whose parameters are registered (a plain list would hide them).

    Indexing, slicing (a new ModuleList), ``append``, ``extend``, ``insert``,
    assignment and ``del``, as in PyTorch; the sub-modules are named '0', '1', ...
    """

    _modules: dict[str, Module]  # type: ignore[assignment]  # holds modules only (PyTorch declares it so too)

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def _index(self, index: int) -> str:
        size = len(self._modules)
        if not -size <= index < size:
            raise IndexError(f"ModuleList index {index} is out of range for {size} modules")
        return str(index % size)

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return ModuleList(list(self._modules.values())[index])
        return self._modules[self._index(index)]

    def __setitem__(self, index: int, module: Module) -> None:
        self.add_module(self._index(index), module)

    def __delitem__(self, index: int | slice) -> None:
        kept = list(self._modules.values())
        del kept[index]
        self._renumber(kept)

    def _renumber(self, modules: list[Module]) -> None:
        for name in list(self._modules):
            delattr(self, name)
        for i, module in enumerate(modules):
            self.add_module(str(i), module)

    def append(self, module: Module) -> ModuleList:
        self.add_module(str(len(self._modules)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        if isinstance(modules, Module) and not isinstance(modules, ModuleList):
            raise TypeError(f"ModuleList.extend: expected an iterable of modules, got {modules!r}")
        for module in modules:
            self.append(module)
        return self

    def insert(self, index: int, module: Module) -> None:
        modules = list(self._modules.values())
        modules.insert(index, module)
        self._renumber(modules)

    def __iadd__(self, modules: Iterable[Module]) -> ModuleList:
        return self.extend(modules)

    def __add__(self, other: Iterable[Module]) -> ModuleList:
        return ModuleList([*self, *other])

    def get_config(self) -> dict[str, Any]:
        return {"modules": list(self._modules.values())}

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())


class _Keyed(Module):
    """What ModuleDict and ParameterDict share: a dict's reading methods over one of the module's tables."""

    def _table(self) -> dict[str, Any]:
        raise NotImplementedError

    def __delitem__(self, key: str) -> None:
        delattr(self, key)

    def __contains__(self, key: object) -> bool:
        return key in self._table()

    def __len__(self) -> int:
        return len(self._table())

    def __iter__(self) -> Iterator[str]:
        return iter(self._table())

    def keys(self) -> Any:
        return self._table().keys()

    def values(self) -> Any:
        return self._table().values()

    def items(self) -> Any:
        return self._table().items()

    def update(self, entries: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> None:
        pairs = entries.items() if isinstance(entries, Mapping) else entries
        for key, value in pairs:
            self[key] = value  # type: ignore[index]  # ModuleDict and ParameterDict define __setitem__


class ModuleDict(_Keyed):
    """A dict of modules whose parameters are registered, in insertion order, as PyTorch's ModuleDict."""

    _modules: dict[str, Module]  # type: ignore[assignment]  # holds modules only (PyTorch declares it so too)

    def __init__(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.update(modules)

    def _table(self) -> dict[str, Any]:
        return self._modules

    def __getitem__(self, key: str) -> Module:
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        self.add_module(key, module)

    def pop(self, key: str) -> Module:
        module = self._modules[key]
        del self[key]
        return module

    def clear(self) -> None:
        for key in list(self._modules):
            del self[key]

    def get_config(self) -> dict[str, Any]:
        return {"modules": dict(self._modules)}


class ParameterList(Module):
    """A list of Parameters, each registered (as '0', '1', ...), as PyTorch's ParameterList.

    Values that are not Parameters are wrapped into one, as PyTorch does.
    """

    _parameters: dict[str, Parameter]  # type: ignore[assignment]  # holds Parameters only, never None

    def __init__(self, values: Iterable[Any] | None = None) -> None:
        super().__init__()
        if values is not None:
            self.extend(values)

    def __getitem__(self, index: int) -> Parameter:
        size = len(self._parameters)
        if not -size <= index < size:
            raise IndexError(f"ParameterList index {index} is out of range for {size} parameters")
        return self._parameters[str(index % size)]

    def __setitem__(self, index: int, value: Any) -> None:
        self[index]  # the bounds check
        self.register_parameter(str(index % len(self)), _as_parameter(value))

    def append(self, value: Any) -> ParameterList:
        self.register_parameter(str(len(self._parameters)), _as_parameter(value))
        return self

    def extend(self, values: Iterable[Any]) -> ParameterList:
        for value in values:
            self.append(value)
        return self

    def __len__(self) -> int:
        return len(self._parameters)

    def __iter__(self) -> Iterator[Parameter]:
        return iter(self._parameters.values())

    def get_config(self) -> dict[str, Any]:
        """Each parameter's shape and dtype; the values travel in the state_dict."""
        return {"shapes": [tuple(p.shape) for p in self], "dtypes": [p.dtype for p in self]}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ParameterList:
        shapes, dtypes = config.get("shapes", []), config.get("dtypes", [])
        pairs = zip(shapes, dtypes, strict=True)
        return cls(Parameter(np.empty(tuple(shape), dtype=dtype)) for shape, dtype in pairs)


class ParameterDict(_Keyed):
    """A dict of Parameters, each registered under its key, as PyTorch's ParameterDict."""

    _parameters: dict[str, Parameter]  # type: ignore[assignment]  # holds Parameters only, never None

    def __init__(self, parameters: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None) -> None:
        super().__init__()
        if parameters is not None:
            self.update(parameters)

    def _table(self) -> dict[str, Any]:
        return self._parameters

    def __getitem__(self, key: str) -> Parameter:
        return self._parameters[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.register_parameter(key, _as_parameter(value))

    def get_config(self) -> dict[str, Any]:
        return {
            "shapes": {k: tuple(p.shape) for k, p in self.items()},
            "dtypes": {k: p.dtype for k, p in self.items()},
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ParameterDict:
        shapes, dtypes = config.get("shapes", {}), config.get("dtypes", {})
        return cls({k: Parameter(np.empty(tuple(shape), dtype=dtypes[k])) for k, shape in shapes.items()})


def _as_parameter(value: Any) -> Parameter:
    return value if isinstance(value, Parameter) else Parameter(value)
