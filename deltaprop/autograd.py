"""``deltaprop.autograd``: gradients as return values (``grad``), as ``torch.autograd`` gives them.

``loss.backward()`` adds dloss/dp into every parameter's ``.grad``.
``autograd.grad(loss, [x, w])`` instead returns (dloss/dx, dloss/dw) and
leaves every ``.grad`` untouched: what gradient penalties, saliency maps and
hand-written meta-learning steps need. It runs the same backward walk as
``backward()``; only where the gradients arriving at the inputs go differs
(they are kept here, and the gradients of other leaves are dropped). First
derivatives only: ``create_graph=True`` raises, as deltaprop records no
graph of the backward pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from deltaprop import tensor as engine
from deltaprop.errors import GraphError
from deltaprop.tensor import Tensor, detect_anomaly, enable_grad, no_grad, set_grad_enabled

__all__ = ["Variable", "backward", "detect_anomaly", "enable_grad", "grad", "no_grad", "set_grad_enabled"]


class _Kept:
    """The ``leaves`` of the backward walk for `grad`: keeps the wanted leaves' gradients, drops the rest."""

    def __init__(self, wanted: dict[int, Tensor]) -> None:
        self.wanted = wanted
        self.found: dict[int, Any] = {}

    def arrive(self, leaf: Tensor, g: Any) -> None:
        key = id(leaf)
        if key not in self.wanted:
            return
        previous = self.found.get(key)
        # the first gradient is copied: it may be an optimizer's buffer, or shared with another input
        self.found[key] = g.copy() if previous is None else previous + g


def grad(
    outputs: Tensor | Sequence[Tensor],
    inputs: Tensor | Sequence[Tensor],
    grad_outputs: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    only_inputs: bool = True,
    allow_unused: bool | None = None,
    is_grads_batched: bool = False,
    materialize_grads: bool = False,
) -> tuple[Tensor | None, ...]:
    """d(sum of outputs . grad_outputs)/d(each input), as a tuple of tensors; no ``.grad`` is changed.

    ``grad_outputs`` may be omitted for one-element outputs (losses).
    ``allow_unused=True`` returns None for an input the outputs do not depend
    on (PyTorch raises otherwise, and so does this), ``materialize_grads=True``
    zeros instead. The graph is freed unless ``retain_graph=True``.
    """
    if create_graph:
        raise NotImplementedError(
            "autograd.grad(create_graph=True): deltaprop computes first derivatives only; there is no "
            "graph of the backward pass to differentiate again"
        )
    if is_grads_batched:
        raise NotImplementedError(
            "autograd.grad(is_grads_batched=True) is not supported; loop over the batch"
        )
    outs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    ins = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    seeds = _seeds(grad_outputs, len(outs))
    for t in ins:
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise GraphError("autograd.grad: every input must be a tensor that requires grad")
    root, seed = _one_root(outs, seeds)
    kept = _Kept({id(t): t for t in ins if t.is_leaf})
    handles = [t._add_hook("grad", _keeper(kept, t)) for t in ins if not t.is_leaf]
    try:
        engine.run_backward(root, seed, bool(retain_graph), leaves=kept)
    finally:
        for handle in handles:
            handle.remove()
    return tuple(_result(kept, t, i, allow_unused or materialize_grads, materialize_grads)
                 for i, t in enumerate(ins))  # fmt: skip


def _keeper(kept: _Kept, node: Tensor):
    def keep(g: Tensor) -> None:
        kept.found[id(node)] = g.array.copy()

    return keep


def _seeds(grad_outputs: Any, count: int) -> list[Any]:
    if grad_outputs is None:
        return [None] * count
    listed = (
        [grad_outputs]
        if isinstance(grad_outputs, Tensor) or hasattr(grad_outputs, "shape")
        else list(grad_outputs)
    )
    if len(listed) != count:
        raise ValueError(f"autograd.grad: got {len(listed)} grad_outputs for {count} outputs")
    return listed


def _one_root(outs: list[Tensor], seeds: list[Any]) -> tuple[Any, Any]:
    """Several outputs become one: the sum of each output weighted by its grad_output (same gradients)."""
    if len(outs) == 1:
        return outs[0], seeds[0]
    with enable_grad():
        total = None
        for out, seed in zip(outs, seeds, strict=True):
            if seed is None and out.array.size != 1:
                raise GraphError(
                    f"autograd.grad: an output of shape {out.shape} needs its grad_outputs entry "
                    "(only one-element outputs imply a gradient of 1)"
                )
            term = (
                out.sum()
                if seed is None
                else (out * (seed if isinstance(seed, Tensor) else Tensor(seed))).sum()
            )
            total = term if total is None else total + term
    return total, None


def _result(kept: _Kept, t: Tensor, position: int, allowed: bool | None, materialize: bool) -> Tensor | None:
    g = kept.found.get(id(t))
    if g is not None:
        return Tensor._wrap(g)
    if not allowed:
        raise GraphError(
            f"autograd.grad: input {position} (shape {t.shape}) was not used to compute the outputs; "
            "pass allow_unused=True to get None for it"
        )
    return Tensor._wrap(t.xp.zeros_like(t.array)) if materialize else None


def backward(
    tensors: Tensor | Sequence[Tensor],
    grad_tensors: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    inputs: Any = None,
) -> None:
    """``torch.autograd.backward``: ``backward()`` of several outputs at once (into ``.grad``)."""
    outs = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    root, seed = _one_root(outs, _seeds(grad_tensors, len(outs)))
    root.backward(seed, retain_graph=retain_graph, create_graph=create_graph, inputs=inputs)


def backward_into(root: Tensor, inputs: Any, gradient: Any, retain_graph: bool) -> None:
    """``root.backward(inputs=...)``: accumulate into the ``.grad`` of those inputs only."""
    listed = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    grads = grad(root, listed, gradient, retain_graph=retain_graph, allow_unused=True)
    for t, g in zip(listed, grads, strict=True):
        if g is not None:
            engine._accumulate_into(t, g.array)


def Variable(data: Any, requires_grad: bool = False, volatile: bool = False) -> Tensor:  # noqa: N802
    """The old ``torch.autograd.Variable(x)``: today just the tensor (with ``requires_grad`` if asked)."""
    t = data if isinstance(data, Tensor) else Tensor(data)
    if requires_grad:
        t.requires_grad_(True)
    return t
