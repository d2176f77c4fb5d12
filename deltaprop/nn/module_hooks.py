"""How a `Module` call runs its hooks, with PyTorch's order and arguments.

A call with hooks does, in this order (as ``torch.nn.Module._call_impl`` does):

1. forward pre-hooks ``hook(module, args)`` (or ``hook(module, args, kwargs)``
   with ``with_kwargs=True``), each may return replacement args;
2. when backward hooks are registered, every tensor argument that needs a
   gradient is passed through an identity node that will report dC/d(input);
3. ``forward``;
4. forward hooks ``hook(module, args, output)`` (or with kwargs), each may
   return a replacement output;
5. when backward hooks are registered, the output passes through an identity
   node that reports dC/d(output).

In the backward sweep the output node runs first: it calls the full backward
pre-hooks ``hook(module, grad_output)`` (which may replace grad_output). The
input nodes run once the gradient reaches the module's inputs: the last of
them calls the full backward hooks ``hook(module, grad_input, grad_output)``
(which may replace grad_input). When no input needs a gradient (the first
layer, fed data) the backward hooks are called at once by the output node,
with ``grad_input`` all None, exactly as PyTorch does.

The identity nodes are ordinary graph nodes: their backward functions are
module-level and keep their state in ``saved``, so the graph stays free of
reference cycles like every other part of it.
"""

from __future__ import annotations

from typing import Any

from deltaprop.errors import GraphError
from deltaprop.tensor import Tensor, is_grad_enabled, make_result


def call_with_hooks(module: Any, args: tuple, kwargs: dict) -> Any:
    """Run ``module.forward(*args, **kwargs)`` between its hooks (see the module docstring)."""
    args, kwargs = _run_pre_hooks(module, args, kwargs)
    watch_backward = bool(module._backward_hooks or module._backward_pre_hooks) and is_grad_enabled()
    call = None
    if watch_backward:
        call = _BackwardHookCall(module, args)
        args = call.wrap_inputs(args)
    try:
        output = module.forward(*args, **kwargs)
    except BaseException:
        for hook_id, hook in module._forward_hooks.items():
            if hook_id in module._forward_hooks_always_called:
                _call_forward_hook(module, hook_id, hook, args, kwargs, None)
        raise
    for hook_id, hook in tuple(module._forward_hooks.items()):
        result = _call_forward_hook(module, hook_id, hook, args, kwargs, output)
        if result is not None:
            output = result
    if call is not None:
        output = call.wrap_output(output)
    return output


def _run_pre_hooks(module: Any, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    for hook_id, hook in tuple(module._forward_pre_hooks.items()):
        if hook_id in module._forward_pre_hooks_with_kwargs:
            result = hook(module, args, kwargs)
            if result is not None:
                if not (isinstance(result, tuple) and len(result) == 2):
                    raise TypeError(
                        f"{type(module).__name__}: a forward pre-hook registered with_kwargs=True must "
                        f"return None or a tuple (args, kwargs), got {type(result).__name__}"
                    )
                args, kwargs = result
        else:
            result = hook(module, args)
            if result is not None:
                args = result if isinstance(result, tuple) else (result,)
    return args, kwargs


def _call_forward_hook(module: Any, hook_id: int, hook: Any, args: tuple, kwargs: dict, output: Any) -> Any:
    if hook_id in module._forward_hooks_with_kwargs:
        return hook(module, args, kwargs, output)
    return hook(module, args, output)


class _BackwardHookCall:
    """One forward call's bookkeeping for its backward hooks: which inputs, and what has arrived."""

    def __init__(self, module: Any, args: tuple) -> None:
        self.module = module
        self.n_args = len(args)
        self.grad_inputs: list[Any] = [None] * len(args)
        self.waiting = 0  # input gradients still to arrive
        self.grad_outputs: tuple = (None,)

    def wrap_inputs(self, args: tuple) -> tuple:
        wrapped = list(args)
        for i, arg in enumerate(args):
            if isinstance(arg, Tensor) and arg.requires_grad:
                wrapped[i] = make_result(arg.array, (arg,), _input_node_backward, (self, i), "BackwardHook")
                self.waiting += 1
        return tuple(wrapped)

    def wrap_output(self, output: Any) -> Any:
        if not isinstance(output, Tensor):
            raise GraphError(
                f"{type(self.module).__name__}: full backward hooks need a module whose forward returns "
                f"one Tensor, but it returned {type(output).__name__}; hook its sub-modules, or register "
                "a hook on the output tensor itself with Tensor.register_hook"
            )
        if not output.requires_grad:
            return output
        return make_result(output.array, (output,), _output_node_backward, (self,), "BackwardHook")

    # ------------------------------------------------------------------ the two events
    def output_gradient_ready(self, g: Any) -> Any:
        module = self.module
        grad_outputs: tuple = (Tensor._wrap(g),)
        for hook in tuple(module._backward_pre_hooks.values()):
            result = hook(module, grad_outputs)
            if result is not None:
                grad_outputs = _as_gradient_tuple(result, grad_outputs, module, "backward pre-hook")
        self.grad_outputs = grad_outputs
        if self.waiting == 0:  # no input needs a gradient: PyTorch calls the hooks now, grad_input None
            grad_inputs = (None,) * self.n_args
            for hook in tuple(module._backward_hooks.values()):
                result = hook(module, grad_inputs, grad_outputs)
                if result is not None and any(r is not None for r in _tuple(result)):
                    raise GraphError(
                        f"{type(module).__name__}: a backward hook returned input gradients, but no input "
                        "of this module requires grad; return None"
                    )
        return grad_outputs[0].array if isinstance(grad_outputs[0], Tensor) else grad_outputs[0]

    def input_gradient_ready(self, index: int, g: Any) -> Any:
        self.grad_inputs[index] = Tensor._wrap(g)
        self.waiting -= 1
        if self.waiting > 0:
            return g
        module = self.module
        grad_inputs = tuple(self.grad_inputs)
        for hook in tuple(module._backward_hooks.values()):
            result = hook(module, grad_inputs, self.grad_outputs)
            if result is None:
                continue
            wanted = sum(gi is not None for gi in self.grad_inputs)
            if wanted > 1:
                raise GraphError(
                    f"{type(module).__name__}: a backward hook returned replacement input gradients for a "
                    "module with several inputs that need a gradient; deltaprop supports replacing "
                    "grad_input only for one such input (hook the inputs with Tensor.register_hook instead)"
                )
            grad_inputs = _as_gradient_tuple(result, grad_inputs, module, "backward hook")
        chosen = grad_inputs[index]
        return chosen.array if isinstance(chosen, Tensor) else chosen


def _tuple(value: Any) -> tuple:
    return value if isinstance(value, tuple) else (value,)


def _as_gradient_tuple(result: Any, current: tuple, module: Any, what: str) -> tuple:
    result = _tuple(result)
    if len(result) != len(current):
        raise GraphError(
            f"{type(module).__name__}: a {what} returned {len(result)} gradients where {len(current)} "
            "were given; return None or a tuple of the same length"
        )
    return tuple(
        old if new is None else (new if isinstance(new, Tensor) else Tensor._wrap(new))
        for new, old in zip(result, current, strict=True)
    )


def _output_node_backward(g, saved, parents):
    (call,) = saved
    return (call.output_gradient_ready(g),)


def _input_node_backward(g, saved, parents):
    call, index = saved
    return (call.input_gradient_ready(index, g),)
