"""In-place changes to tensors, and what they may not do to a recorded graph.

PyTorch code changes tensors in place all the time (``x += 1``,
``x[mask] = 0``, ``p.grad.zero_()``, ``p.data -= lr * p.grad``), and aliases
see the change. deltaprop does the same, with three rules that keep
autograd honest instead of silently wrong:

1. While gradients are recorded, a leaf that requires grad (a parameter)
   cannot be changed in place; PyTorch raises the same error. Update it
   inside ``with deltaprop.no_grad():`` or through ``.data``.
2. deltaprop does not record in-place ops in the graph, so changing a tensor
   that is part of a graph (an op's output that requires grad), or changing
   a tensor in place with a value that requires grad, raises and says how to
   write it out of place (``x = x + y``). PyTorch would record these; here
   they are refused, never silently differentiated wrongly.
3. Every in-place change stamps the tensor with a fresh version from a
   global clock. An op remembers the clock when it ran; if one of its
   inputs was changed after that, its saved values are stale and
   `backward` raises, naming the op (PyTorch's version counter). While no
   in-place change happens at all, the check costs one integer comparison
   per node.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from deltaprop.errors import GraphError

if TYPE_CHECKING:
    import deltaprop.tensor as engine
else:  # the module, not the function `deltaprop.tensor` that the package exports under the same name
    engine = importlib.import_module("deltaprop.tensor")

_SYMBOLS = {"add": "+", "subtract": "-", "multiply": "*", "true_divide": "/", "floor_divide": "//",
            "remainder": "%", "power": "**"}


def check_allowed(target: Any, op: str, *values: Any) -> None:
    """Raise the GraphError of rules 1 and 2 when changing ``target`` in place is not allowed."""
    if not engine.is_grad_enabled():
        return
    if target.requires_grad:
        if target.is_leaf:
            raise GraphError(
                f"{op}: a leaf tensor that requires grad (a parameter) cannot be changed in place while "
                "gradients are being recorded; do it inside `with deltaprop.no_grad():`, or change "
                "its .data (as an optimizer step does)"
            )
        raise GraphError(
            f"{op}: this tensor was made by '{target.grad_fn}' and is part of the autograd graph; "
            "deltaprop does not record in-place ops, so write it out of place "
            f"(x = x {_SYMBOLS.get(op, 'op')} y, or x = x.clone() first)"
        )
    for value in values:
        if isinstance(value, engine.Tensor) and value.requires_grad:
            raise GraphError(
                f"{op}: the value written in place requires grad, but deltaprop does not record in-place "
                "ops; write it out of place (x = x + y) so the gradient can flow"
            )


def stamp(target: Any) -> None:
    """Give ``target`` a new version: graphs that used its old values will refuse to backpropagate."""
    engine._modifications += 1
    target._version = engine._modifications


def apply_ufunc(target: Any, ufunc: Any, value: Any, op: str) -> Any:
    """``target = ufunc(target, value)`` in place (``x += y`` and friends); returns target."""
    check_allowed(target, op, value)
    ufunc(target.array, value.array if isinstance(value, engine.Tensor) else value, out=target.array)
    stamp(target)
    return target


def assign(target: Any, index: Any, value: Any) -> None:
    """``target[index] = value``, in place."""
    check_allowed(target, "setitem", value)
    if isinstance(index, engine.Tensor):
        index = index.array
    elif isinstance(index, tuple):
        index = tuple(i.array if isinstance(i, engine.Tensor) else i for i in index)
    target.array[index] = value.array if isinstance(value, engine.Tensor) else value
    stamp(target)


def stale_input_error(node: Any, stale: Any) -> GraphError:
    return GraphError(
        f"backward(): an input of '{node._op}' (shape {tuple(stale.shape)}) was changed in place after "
        f"'{node._op}' used it, so the values saved for its gradient are out of date; clone() it before "
        "changing it, or change it only after backward()"
    )
