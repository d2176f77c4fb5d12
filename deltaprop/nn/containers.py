"""Containers that hold other modules: `Sequential` and `ModuleList`."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator
from typing import Any

from deltaprop.nn.module import Module


class Sequential(Module):
    """Modules applied one after another; layers are named '0', '1', ... or by an OrderedDict."""

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
    """A list of modules whose parameters are registered (a plain list would hide them)."""

    def __init__(self, modules: Iterable[Module] = ()) -> None:
        super().__init__()
        for module in modules:
            self.append(module)

    def append(self, module: Module) -> ModuleList:
        self.add_module(str(len(self._modules)), module)
        return self

    def __getitem__(self, index: int) -> Module:
        return list(self._modules.values())[index]

    def get_config(self) -> dict[str, Any]:
        return {"modules": list(self._modules.values())}

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())
