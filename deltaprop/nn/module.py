"""`Module`: the base of every layer and network, with PyTorch's familiar surface.

Parameters and sub-modules register themselves when assigned as attributes
(``self.fc = Linear(2, 3)``), so ``parameters()``, ``state_dict()`` and
``train()/eval()`` can walk the tree without the layer listing anything.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from deltaprop import backend
from deltaprop.errors import ShapeError
from deltaprop.nn.parameter import Parameter
from deltaprop.tensor import Tensor


class Module:
    """Base class: subclass it, assign layers and Parameters in ``__init__``, write ``forward``."""

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "training", True)

    # ------------------------------------------------------------------ registration
    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"{type(self).__name__}: call super().__init__() before assigning attributes"
            )
        for table in (self._parameters, self._modules, self._buffers):
            table.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        for table in (self._parameters, self._modules, self._buffers):
            table.pop(name, None)
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        if param is None:
            object.__setattr__(self, name, None)
            self._parameters.pop(name, None)
        else:
            setattr(self, name, param)

    def register_buffer(self, name: str, array: Any) -> None:
        """State that is saved with the model but not trained (e.g. running statistics)."""
        object.__setattr__(self, name, array)
        self._buffers[name] = name

    def add_module(self, name: str, module: Module | None) -> None:
        setattr(self, name, module)

    # ------------------------------------------------------------------ calling
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # ------------------------------------------------------------------ walking the tree
    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        yield prefix, self
        for name, child in self._modules.items():
            if child is not None:
                yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self) -> Iterator[Module]:
        for _, module in self.named_modules():
            yield module

    def named_children(self) -> Iterator[tuple[str, Module]]:
        for name, child in self._modules.items():
            if child is not None:
                yield name, child

    def children(self) -> Iterator[Module]:
        for _, child in self.named_children():
            yield child

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        seen: set[int] = set()
        for module_name, module in self.named_modules(prefix):
            for name, param in module._parameters.items():
                if param is not None and id(param) not in seen:
                    seen.add(id(param))
                    yield (f"{module_name}.{name}" if module_name else name), param

    def parameters(self) -> Iterator[Parameter]:
        for _, param in self.named_parameters():
            yield param

    def num_parameters(self) -> int:
        """Total count of trainable numbers."""
        return sum(p.size for p in self.parameters())

    def named_buffers(self) -> Iterator[tuple[str, Any]]:
        for module_name, module in self.named_modules():
            for name in module._buffers:
                yield (f"{module_name}.{name}" if module_name else name), getattr(module, name)

    # ------------------------------------------------------------------ modes and grads
    def train(self, mode: bool = True) -> Module:
        """Training mode (dropout active); returns self so calls chain."""
        for module in self.modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self) -> Module:
        """Evaluation mode (dropout off); returns self."""
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for param in self.parameters():
            if set_to_none or param.grad is None:
                param.grad = None
            else:
                param.grad[...] = 0

    def requires_grad_(self, flag: bool = True) -> Module:
        for param in self.parameters():
            param.requires_grad = flag
        return self

    def apply(self, fn) -> Module:
        """Call ``fn(module)`` on every sub-module (children first) and on self."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    def to(self, device: str) -> Module:
        """Move every parameter and buffer to ``'cpu'`` or ``'cuda'`` in place."""
        xp = np if device == "cpu" else backend._cupy()
        for param in self.parameters():
            param.data = backend.to_module(param.data, xp)
            if param.grad is not None:
                param.grad = backend.to_module(param.grad, xp)
        for module in self.modules():
            for name in module._buffers:
                object.__setattr__(module, name, backend.to_module(getattr(module, name), xp))
        return self

    def astype(self, dtype: Any) -> Module:
        """Cast every parameter (e.g. to float64 for gradient checks); returns self."""
        for param in self.parameters():
            param.data = param.data.astype(dtype)
            param.grad = None
        return self

    def double(self) -> Module:
        return self.astype(np.float64)

    def float(self) -> Module:
        return self.astype(np.float32)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, np.ndarray]:
        """Every parameter and buffer by dotted name, as NumPy arrays (copies)."""
        state = {name: backend.to_numpy(p.data).copy() for name, p in self.named_parameters()}
        for name, value in self.named_buffers():
            state[name] = backend.to_numpy(np.asarray(value) if np.isscalar(value) else value).copy()
        return state

    def load_state_dict(self, state: dict[str, Any], strict: bool = True) -> Module:
        """Copy arrays into the parameters in place; with strict, names must match exactly."""
        own = dict(self.named_parameters())
        buffers = dict(self.named_buffers())
        missing = [k for k in [*own, *buffers] if k not in state]
        unexpected = [k for k in state if k not in own and k not in buffers]
        if strict and (missing or unexpected):
            raise KeyError(
                f"load_state_dict: missing keys {missing}, unexpected keys {unexpected}; "
                "the saved model has another architecture (pass strict=False to load the overlap)"
            )
        for name, param in own.items():
            if name not in state:
                continue
            value = np.asarray(state[name])
            if value.shape != param.shape:
                raise ShapeError(
                    f"load_state_dict: '{name}' has shape {value.shape} in the state but "
                    f"{param.shape} in the model"
                )
            param.data[...] = backend.to_module(value, param.xp)
        for name in buffers:
            if name in state:
                owner, _, attr = name.rpartition(".")
                module = self.get_submodule(owner) if owner else self
                current = getattr(module, attr)
                value = np.asarray(state[name])
                if isinstance(current, np.ndarray) or hasattr(current, "shape"):
                    current[...] = backend.to_module(value, backend.array_module(current))
                else:
                    object.__setattr__(module, attr, value.item())
        return self

    def get_submodule(self, target: str) -> Module:
        module: Module = self
        for part in target.split(".") if target else []:
            if part not in module._modules:
                raise AttributeError(f"{type(module).__name__} has no sub-module '{part}'")
            module = module._modules[part]
        return module

    # ------------------------------------------------------------------ printing
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        children = list(self.named_children())
        if not children:
            return lines[0] + ")"
        for name, child in children:
            child_text = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {child_text}")
        return "\n".join(lines) + "\n)"


def check_input(module: Module, x: Tensor, features: int, axis: int = -1) -> None:
    """Raise a ShapeError naming the layer when x does not have ``features`` on ``axis``."""
    if x.ndim == 0 or x.shape[axis] != features:
        raise ShapeError(
            f"{type(module).__name__}: expected {features} features on axis {axis}, got input of "
            f"shape {x.shape}; fix the layer's input size or the data's columns"
        )
