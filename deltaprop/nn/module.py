"""`Module`: the base of every layer and network, with PyTorch's familiar surface.

Parameters and sub-modules register themselves when assigned as attributes
(``self.fc = Linear(2, 3)``), so ``parameters()``, ``state_dict()`` and
``train()/eval()`` can walk the tree without the layer listing anything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from deltaprop import backend
from deltaprop.errors import ShapeError
from deltaprop.hooks import RemovableHandle, add_hook
from deltaprop.nn.module_hooks import call_with_hooks
from deltaprop.nn.parameter import Parameter
from deltaprop.tensor import Tensor


class Module:
    """Base class: subclass it, assign layers and Parameters in ``__init__``, write ``forward``.

    Attributes are kept in ordinary instance attributes (so reading
    ``self.weight`` in ``forward`` costs nothing extra) and, by kind, in three
    tables that ``parameters()``, ``buffers()``, ``state_dict()`` and friends
    walk: ``_parameters``, ``_buffers`` and ``_modules``. Assigning to a name
    keeps its kind: a registered buffer stays a buffer when ``forward`` writes
    ``self.running_mean = new_value``, as in PyTorch.
    """

    training: bool
    # The tables `__init__` creates (annotated here for type checkers; set with object.__setattr__)
    _parameters: dict[str, Parameter | None]
    _buffers: dict[str, Tensor | None]
    _non_persistent_buffers: set[str]
    _modules: dict[str, Module | None]
    _forward_pre_hooks: dict[int, Callable[..., Any]]
    _forward_pre_hooks_with_kwargs: dict[int, bool]
    _forward_hooks: dict[int, Callable[..., Any]]
    _forward_hooks_with_kwargs: dict[int, bool]
    _forward_hooks_always_called: dict[int, bool]
    _backward_pre_hooks: dict[int, Callable[..., Any]]
    _backward_hooks: dict[int, Callable[..., Any]]
    _has_hooks: bool
    #: True for layers that apply one function to every element on its own (activations,
    #: Identity): curvature code takes f'(z) from them. See docs/architecture.md.
    elementwise: bool = False

    def __init__(self) -> None:
        setattr_ = object.__setattr__
        setattr_(self, "_parameters", {})
        setattr_(self, "_buffers", {})
        setattr_(self, "_non_persistent_buffers", set())
        setattr_(self, "_modules", {})
        setattr_(self, "_forward_pre_hooks", {})
        setattr_(self, "_forward_pre_hooks_with_kwargs", {})
        setattr_(self, "_forward_hooks", {})
        setattr_(self, "_forward_hooks_with_kwargs", {})
        setattr_(self, "_forward_hooks_always_called", {})
        setattr_(self, "_backward_pre_hooks", {})
        setattr_(self, "_backward_hooks", {})
        setattr_(self, "_has_hooks", False)
        setattr_(self, "training", True)

    # ------------------------------------------------------------------ registration
    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"{type(self).__name__}: call super().__init__() before assigning attributes"
            )
        if isinstance(value, Parameter):
            self._forget(name)
            self._parameters[name] = value
        elif name in self._parameters:
            if value is not None:
                raise TypeError(
                    f"{type(self).__name__}: cannot assign a {type(value).__name__} to parameter "
                    f"'{name}' (a Parameter or None expected); to change its values in place use "
                    f"self.{name}.data[...] = ..."
                )
            self._parameters[name] = None
        elif isinstance(value, Module):
            self._forget(name)
            self._modules[name] = value
        elif name in self._modules:
            if value is not None:
                raise TypeError(
                    f"{type(self).__name__}: cannot assign a {type(value).__name__} to sub-module "
                    f"'{name}' (a Module or None expected)"
                )
            self._modules[name] = None
        elif name in self._buffers:
            value = _as_buffer(self, name, value)
            self._buffers[name] = value
        object.__setattr__(self, name, value)

    def _forget(self, name: str) -> None:
        """Drop ``name`` from every table (it is about to be registered as another kind)."""
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        self._buffers.pop(name, None)
        self._non_persistent_buffers.discard(name)

    def __delattr__(self, name: str) -> None:
        self._forget(name)
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register ``param`` (or an empty slot, None) under ``name``, like ``self.name = param``."""
        _check_name(self, name, "parameter")
        if param is None:
            self._forget(name)
            self._parameters[name] = None
            object.__setattr__(self, name, None)
        elif not isinstance(param, Parameter):
            raise TypeError(
                f"{type(self).__name__}.register_parameter: '{name}' must be a Parameter or None, got "
                f"{type(param).__name__}; wrap it: nn.Parameter(tensor)"
            )
        else:
            setattr(self, name, param)

    def register_buffer(self, name: str, tensor: Any, persistent: bool = True) -> None:
        """State saved with the model but not trained (running statistics, counters, masks).

        ``tensor`` may be a Tensor, an array (wrapped into a Tensor) or None.
        A persistent buffer is part of `state_dict` (and so of saved files and
        checkpoints); ``persistent=False`` keeps it out. Either way it moves
        with the model (`to`) and survives reassignment.
        """
        _check_name(self, name, "buffer")
        if name in self.__dict__ and name not in self._buffers:
            raise KeyError(f"{type(self).__name__}.register_buffer: attribute '{name}' already exists")
        value = _as_buffer(self, name, tensor)
        self._buffers[name] = value
        if persistent:
            self._non_persistent_buffers.discard(name)
        else:
            self._non_persistent_buffers.add(name)
        object.__setattr__(self, name, value)

    def add_module(self, name: str, module: Module | None) -> None:
        if module is not None and not isinstance(module, Module):
            raise TypeError(
                f"{type(self).__name__}.add_module: '{name}' is a {type(module).__name__}, not a Module"
            )
        _check_name(self, name, "module")
        self._forget(name)
        self._modules[name] = module
        object.__setattr__(self, name, module)

    register_module = add_module

    # ------------------------------------------------------------------ calling
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._has_hooks:
            return call_with_hooks(self, args, kwargs)
        return self.forward(*args, **kwargs)

    # ------------------------------------------------------------------ hooks
    def register_forward_pre_hook(
        self, hook: Callable[..., Any], *, prepend: bool = False, with_kwargs: bool = False
    ) -> RemovableHandle:
        """``hook(module, args)`` before every forward; it may return replacement args.

        With ``with_kwargs=True`` it is ``hook(module, args, kwargs)`` and may
        return ``(args, kwargs)``. Returns a handle; ``handle.remove()`` takes it off.
        """
        also = (self._forward_pre_hooks_with_kwargs,) if with_kwargs else ()
        handle = add_hook(self._forward_pre_hooks, hook, prepend, self._update_has_hooks, also)
        if with_kwargs:
            self._forward_pre_hooks_with_kwargs[handle.id] = True
        self._update_has_hooks()
        return handle

    def register_forward_hook(
        self,
        hook: Callable[..., Any],
        *,
        prepend: bool = False,
        with_kwargs: bool = False,
        always_call: bool = False,
    ) -> RemovableHandle:
        """``hook(module, args, output)`` after every forward; it may return a replacement output.

        ``with_kwargs=True``: ``hook(module, args, kwargs, output)``.
        ``always_call=True``: also called (with output None) when forward raises.
        """
        also = []
        if with_kwargs:
            also.append(self._forward_hooks_with_kwargs)
        if always_call:
            also.append(self._forward_hooks_always_called)
        handle = add_hook(self._forward_hooks, hook, prepend, self._update_has_hooks, tuple(also))
        for table in also:
            table[handle.id] = True
        self._update_has_hooks()
        return handle

    def register_full_backward_pre_hook(
        self, hook: Callable[..., Any], prepend: bool = False
    ) -> RemovableHandle:
        """``hook(module, grad_output)`` when dC/d(output) is known; may return a replacement tuple."""
        handle = add_hook(self._backward_pre_hooks, hook, prepend, self._update_has_hooks)
        self._update_has_hooks()
        return handle

    def register_full_backward_hook(self, hook: Callable[..., Any], prepend: bool = False) -> RemovableHandle:
        """``hook(module, grad_input, grad_output)`` when dC/d(inputs) is known (PyTorch's signature).

        ``grad_input`` holds None for inputs that need no gradient; a hook may
        return a replacement ``grad_input`` tuple. Works for modules whose
        forward returns one Tensor (see deltaprop.nn.module_hooks for how).
        """
        handle = add_hook(self._backward_hooks, hook, prepend, self._update_has_hooks)
        self._update_has_hooks()
        return handle

    def _update_has_hooks(self) -> None:
        has = bool(self._forward_pre_hooks or self._forward_hooks or self._backward_hooks
                   or self._backward_pre_hooks)
        object.__setattr__(self, "_has_hooks", has)

    # ------------------------------------------------------------------ structure (for curvature code)
    def affine_parameters(self) -> tuple[Parameter, Parameter | None] | None:
        """``(weight, bias)`` if this layer computes ``x @ weight.T + bias`` on the last axis, else None.

        Second-order optimizers and K-FAC ask layers this instead of checking
        their class, so they work for any layer that says it is affine. (Not
        named ``affine``: PyTorch's BatchNorm and GroupNorm keep a bool of
        that name, and ported code reads it.)
        """
        return None

    def chain(self) -> list[Module] | None:
        """The sub-modules in order if ``forward`` is exactly their composition (Sequential), else None."""
        return None

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
        return sum(p.numel() for p in self.parameters())

    def named_buffers(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Tensor]]:
        """Every registered buffer (None slots skipped) by dotted name, persistent or not."""
        modules = self.named_modules(prefix) if recurse else iter([(prefix, self)])
        for module_name, module in modules:
            for name, value in module._buffers.items():
                if value is not None:
                    yield (f"{module_name}.{name}" if module_name else name), value

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, value in self.named_buffers(recurse=recurse):
            yield value

    def _persistent_buffers(self) -> Iterator[tuple[str, Tensor]]:
        for module_name, module in self.named_modules():
            for name, value in module._buffers.items():
                if value is not None and name not in module._non_persistent_buffers:
                    yield (f"{module_name}.{name}" if module_name else name), value

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
            if set_to_none or param.grad_array is None:
                param.grad_array = None
            else:
                param.grad_array[...] = 0

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

    def to(self, *args: Any, **kwargs: Any) -> Module:
        """Move every parameter, gradient and buffer to a device (``'cpu'``, ``'cuda'``, a ``dp.device``)
        in place, and/or cast them to a float dtype (``model.to(dp.float64)``), as PyTorch's ``Module.to``.

        Device names are those of `deltaprop.backend.device_module`.
        """
        from deltaprop.tensor_methods import parse_to

        where, dtype, _ = parse_to(args, kwargs)
        if dtype is not None:
            if dtype.kind != "f":
                raise TypeError(f"Module.to only accepts floating point dtypes (as in PyTorch), got {dtype}")
            self.astype(dtype)
        if where is None:
            return self
        xp = where.namespace
        for tensor in [*self.parameters(), *self.buffers()]:
            tensor.array = backend.to_module(tensor.array, xp)
            if tensor.grad_array is not None:
                tensor.grad_array = backend.to_module(tensor.grad_array, xp)
        return self

    def astype(self, dtype: Any) -> Module:
        """Cast every parameter and floating-point buffer (e.g. to float64 for gradient checks)."""
        for param in self.parameters():
            param.array = param.array.astype(dtype)
            param.grad_array = None
        for buffer in self.buffers():
            if buffer.array.dtype.kind == "f":
                buffer.array = buffer.array.astype(dtype)
        return self

    def double(self) -> Module:
        return self.astype(np.float64)

    def float(self) -> Module:
        return self.astype(np.float32)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, np.ndarray]:
        """Every parameter and persistent buffer by dotted name, as NumPy arrays (copies)."""
        state = {name: backend.to_numpy(p.array).copy() for name, p in self.named_parameters()}
        for name, value in self._persistent_buffers():
            state[name] = backend.to_numpy(value.array).copy()
        return state

    def load_state_dict(self, state: dict[str, Any], strict: bool = True) -> Module:
        """Copy arrays into the parameters and buffers in place; with strict, names must match exactly."""
        own = dict(self.named_parameters())
        buffers = dict(self._persistent_buffers())
        missing = [k for k in [*own, *buffers] if k not in state]
        unexpected = [k for k in state if k not in own and k not in buffers]
        if strict and (missing or unexpected):
            raise KeyError(
                f"load_state_dict: missing keys {missing}, unexpected keys {unexpected}; "
                "the saved model has another architecture (pass strict=False to load the overlap)"
            )
        for name, tensor in [*own.items(), *buffers.items()]:
            if name not in state:
                continue
            value = np.asarray(state[name].array if isinstance(state[name], Tensor) else state[name])
            if value.shape != tensor.shape:
                raise ShapeError(
                    f"load_state_dict: '{name}' has shape {value.shape} in the state but "
                    f"{tensor.shape} in the model"
                )
            tensor.array[...] = backend.to_module(value, tensor.xp)
        return self

    def get_submodule(self, target: str) -> Module:
        module: Module = self
        for part in target.split(".") if target else []:
            child = module._modules.get(part)
            if child is None:  # absent, or a registered name set to None (PyTorch: "not an nn.Module")
                raise AttributeError(f"{type(module).__name__} has no sub-module '{part}'")
            module = child
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

    # ------------------------------------------------------------------ configuration
    def get_config(self) -> dict[str, Any]:
        """The constructor arguments that rebuild this layer: ``type(self).from_config(self.get_config())``.

        Why: `deltaprop.save` writes an architecture as data, never as code, so
        each layer says how to rebuild itself and the file format needs no
        special case per layer. The default reads every ``__init__`` argument
        from the attribute of the same name (``self.p = p``). Values may be
        None, bools, numbers, strings, NumPy dtypes, tuples, lists and dicts of
        those, and modules (or lists and dicts of modules, as containers give).
        Override it (and `from_config` if ``cls(**config)`` cannot rebuild the
        layer) where an argument is not kept as given: `Linear` keeps its
        ``bias`` argument as a Parameter, so its config says ``bias=True``.
        Weights and buffers are not part of the config: `state_dict` has them.
        """
        import inspect

        config: dict[str, Any] = {}
        kind = type(self).__name__
        for name, argument in inspect.signature(type(self).__init__).parameters.items():
            if name == "self":
                continue
            if argument.kind in (argument.VAR_POSITIONAL, argument.VAR_KEYWORD):
                raise TypeError(
                    f"{kind}.get_config: __init__ takes *{name}, which cannot be read back from "
                    f"attributes; override get_config() (and from_config()) in {kind}"
                )
            value = getattr(self, name, _NOT_KEPT)
            if value is _NOT_KEPT or inspect.ismethod(value):
                raise TypeError(
                    f"{kind}.get_config: the __init__ argument '{name}' is not kept as an attribute of "
                    f"the same name, so {kind} cannot describe itself for deltaprop.save; store it in "
                    f"__init__ (self.{name} = {name}) or override get_config() (and from_config() "
                    "if cls(**config) cannot rebuild the layer)"
                )
            config[name] = value
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Module:
        """The layer that `get_config` describes, with freshly initialised weights.

        `deltaprop.load` calls it inside `nn.init.no_initialisation` and then
        fills the weights from the file.
        """
        return cls(**config)


_NOT_KEPT = object()


def check_input(module: Module, x: Tensor, features: int, axis: int = -1) -> None:
    """Raise a ShapeError naming the layer when x does not have ``features`` on ``axis``."""
    if x.ndim == 0 or x.shape[axis] != features:
        raise ShapeError(
            f"{type(module).__name__}: expected {features} features on axis {axis}, got input of "
            f"shape {x.shape}; fix the layer's input size or the data's columns"
        )


def _as_buffer(module: Module, name: str, value: Any) -> Tensor | None:
    """A buffer's value as a Tensor that needs no gradient (arrays and numbers are wrapped)."""
    if value is None:
        return None
    if isinstance(value, Parameter):
        raise TypeError(
            f"{type(module).__name__}: buffer '{name}' cannot hold a Parameter (buffers are not trained); "
            "assign it under another name, or register_parameter"
        )
    if isinstance(value, Tensor):
        return value.detach() if value.requires_grad and not value.is_leaf else value
    array = value if hasattr(value, "shape") and hasattr(value, "dtype") else np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise TypeError(
            f"{type(module).__name__}: cannot use a {type(value).__name__} of dtype {array.dtype} as "
            f"buffer '{name}' (a numeric Tensor, array or number, or None, expected)"
        )
    return Tensor._wrap(array)


def _check_name(module: Module, name: str, kind: str) -> None:
    if not isinstance(name, str) or not name or "." in name:
        raise KeyError(
            f"{type(module).__name__}: {kind} name must be a non-empty string without '.', got {name!r}"
        )
