"""The one training step `fit` runs per batch, built once per run.

All of the update itself belongs to the optimizer, through the training-step
protocol (``optimizer.train_step``, see `deltaprop.optim.Optimizer`): fit only
adds what it owns between the backward and the update (callbacks that look
at gradients, the strict gradient check) as the ``after_backward`` function,
and passes the learning rule's ``gradients`` function (backpropagation unless
told otherwise).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from deltaprop.optim.optimizer import backprop
from deltaprop.tensor import Tensor
from deltaprop.train.callbacks import overridden_hooks
from deltaprop.train.guards import check_gradients

Step = Callable[[Tensor, Tensor], tuple[float, Any]]

_PROTOCOL = ("train_step", "should_stop", "full_batch")


def check_optimizer(optimizer: Any) -> None:
    """fit talks to optimizers only through the protocol; say which part is missing."""
    missing = [name for name in _PROTOCOL if not hasattr(optimizer, name)]
    if missing:
        raise TypeError(
            f"fit: optimizer {type(optimizer).__name__} lacks {', '.join(missing)} of the training-step "
            "protocol; subclass deltaprop.optim.Optimizer (which provides them) and override train_step "
            "if the update needs more than gradients"
        )


def make_step(
    model: Any,
    loss_fn: Any,
    optimizer: Any,
    run: Any,
    callbacks: list[Any],
    check_finite: bool | str,
    gradients: Callable[..., tuple[float, Any]] = backprop,
) -> Step:
    """``step(xb, yb) -> (loss before the update, output)`` for this run's optimizer and callbacks."""
    watchers = overridden_hooks(callbacks, "on_after_backward")
    strict = check_finite == "grads"
    after_backward = None
    if watchers or strict:

        def after_backward(value: float, output: Any) -> None:
            if watchers:
                run.batch_loss, run.output = value, output
                for hook in watchers:
                    hook(run)
            if strict:  # just before the update, so it also sees what hooks did to the gradients
                check_gradients(model, optimizer, run.epoch, run.batch)

    train_step = optimizer.train_step
    if after_backward is None and gradients is backprop:

        def step(xb: Tensor, yb: Tensor) -> tuple[float, Any]:
            return train_step(model, loss_fn, xb, yb)

    else:

        def step(xb: Tensor, yb: Tensor) -> tuple[float, Any]:
            run.x_batch, run.y_batch = xb, yb
            return train_step(model, loss_fn, xb, yb, gradients=gradients, after_backward=after_backward)

    return step
