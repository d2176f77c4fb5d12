"""Non-finite guards: stop training at the first NaN/Inf and say where it came from.

The cheap check runs every batch: is the loss (one Python float) finite?
Only when it is not does `diagnose` spend time finding the culprit: weights
that were already non-finite, the first module whose output overflowed (the
forward is replayed with every module's output watched), the loss itself,
and the first parameter, in backpropagation order, whose gradient is
non-finite. Places are named like ``'2 (Linear).weight'``: the module's
path in the model, its type, and the parameter.

For a check of every op in both passes, wrap training in
``with deltaprop.detect_anomaly():`` (slower; names the op).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from deltaprop import backend
from deltaprop.errors import NonFiniteError
from deltaprop.random import get_rng_state, set_rng_state
from deltaprop.tensor import Tensor, enable_grad

HINT = (
    "Try a lower learning rate{lr}, clipping gradients (deltaprop.optim.clip_grad_norm_), or scaling "
    "the inputs (deltaprop.data.Standardizer)."
)


def module_label(model: Any, path: str) -> str:
    """'2 (Linear)' for the module at dotted ``path`` of ``model`` (the model itself for '')."""
    module = model.get_submodule(path) if path else model
    return f"{path} ({type(module).__name__})" if path else type(module).__name__


def parameter_label(model: Any, name: str) -> str:
    """'2 (Linear).weight' for the parameter named '2.weight'."""
    owner, _, attribute = name.rpartition(".")
    return f"{module_label(model, owner)}.{attribute}"


def _finite(array: Any) -> bool:
    return bool(backend.array_module(array).isfinite(array).all())


def first_nonfinite_parameter(model: Any) -> str | None:
    for name, param in model.named_parameters():
        if not _finite(param.array):
            return parameter_label(model, name)
    return None


def first_nonfinite_gradient(model: Any) -> str | None:
    """The first parameter in backpropagation order (output layer first) with a NaN/Inf gradient."""
    for name, param in reversed(list(model.named_parameters())):
        if param.grad_array is not None and not _finite(param.grad_array):
            return parameter_label(model, name)
    return None


def _hint(optimizer: Any) -> str:
    groups = getattr(optimizer, "param_groups", None)
    lr = f" (lr is {groups[0]['lr']:g})" if groups and "lr" in groups[0] else ""
    return HINT.format(lr=lr)


def _first_nonfinite_output(model: Any, x: Tensor) -> tuple[str | None, Any]:
    """Replay the forward watching every module; the innermost module that first output NaN/Inf.

    A forward hook on every module sees each output as it is made; modules
    finish innermost first, so the first one flagged is the innermost culprit.
    """
    found: list[str] = []

    def watcher(path: str):
        def watch(module: Any, args: tuple, output: Any) -> None:
            if not found and isinstance(output, Tensor) and not _finite(output.array):
                found.append(module_label(model, path))

        return watch

    handles = [module.register_forward_hook(watcher(path)) for path, module in model.named_modules()]
    try:
        output = model(x)
    finally:
        for handle in handles:
            handle.remove()
    return (found[0] if found else None), output


def diagnose(
    model: Any, loss_fn: Any, optimizer: Any, x: Any, y: Any, loss_value: float, epoch: int, batch: int
) -> NonFiniteError:
    """The error to raise for a non-finite batch loss, naming where the NaN/Inf first appeared."""
    what = "nan" if math.isnan(loss_value) else "inf"
    places: list[str] = []
    where: str | None = None
    rng = get_rng_state()  # the replay may draw dropout masks; leave the generator as it was
    errstate = np.errstate(all="ignore")  # the replay overflows again; the error says so once
    errstate.__enter__()
    try:
        where = first_nonfinite_parameter(model)
        if where is not None:
            places.append(f"the weights '{where}' were already non-finite (made so by the previous update)")
        elif not _finite(x.array):
            where = "input batch"
            places.append("the input batch itself contains NaN/Inf")
        else:
            with enable_grad():
                module, output = _first_nonfinite_output(model, x)
                if module is not None:
                    where = module
                    places.append(f"the first non-finite value appeared in the output of module '{module}'")
                loss = loss_fn(output, y)
                if module is None:
                    where = f"loss ({type(loss_fn).__name__})"
                    places.append(f"the model's outputs are finite, so the loss {type(loss_fn).__name__} "
                                  "overflowed")
                for param in model.parameters():
                    param.grad_array = None
                if loss.requires_grad:
                    loss.backward()
                bad_gradient = first_nonfinite_gradient(model)
                if bad_gradient is not None:
                    places.append(f"the first parameter with a non-finite gradient is '{bad_gradient}'")
                    where = where or bad_gradient
    except Exception as exc:  # the diagnosis must never hide the error it explains
        places.append(f"(locating it failed: {type(exc).__name__}: {exc})")
    finally:
        set_rng_state(rng)
        errstate.__exit__(None, None, None)
    detail = "; ".join(places)
    return NonFiniteError(
        f"fit: the training loss became {what} at epoch {epoch}, batch {batch}"
        f"{': ' + detail if detail else ''}. {_hint(optimizer)}",
        where=where,
        epoch=epoch,
        batch=batch,
    )


def check_gradients(model: Any, optimizer: Any, epoch: int, batch: int) -> None:
    """Strict mode (check_finite='grads'): every gradient, every batch, before the update."""
    for param in model.parameters():
        if param.grad_array is not None and not np.all(np.isfinite(backend.to_numpy(param.grad_array))):
            where = first_nonfinite_gradient(model)
            raise NonFiniteError(
                f"fit: a gradient became non-finite at epoch {epoch}, batch {batch} (the loss was finite): "
                f"first in backpropagation order is '{where}'. {_hint(optimizer)}",
                where=where,
                epoch=epoch,
                batch=batch,
            )


def check_parameters(model: Any, optimizer: Any, epoch: int) -> None:
    """End-of-epoch check: a non-finite weight can hide behind a finite loss (e.g. a dead ReLU)."""
    where = first_nonfinite_parameter(model)
    if where is not None:
        raise NonFiniteError(
            f"fit: parameter '{where}' holds NaN/Inf at the end of epoch {epoch} although every batch "
            f"loss was finite (a non-finite gradient hidden by the activations). {_hint(optimizer)}",
            where=where,
            epoch=epoch,
        )
