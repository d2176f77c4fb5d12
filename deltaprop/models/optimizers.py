"""Building an optimizer from plain settings, with the defaults the front doors share.

The defaults are learning rates that work on standardized inputs; the memory
check catches, before training, second-order optimizers whose P x P matrices
cannot fit (``--optimizer lm --hidden 20000`` would ask for terabytes).
"""

from __future__ import annotations

import os
from typing import Any

# learning rates that work for standardized inputs, per optimizer (when none is given)
DEFAULT_LR = {"sgd": 0.05, "adam": 1e-3, "adamw": 1e-3, "rmsprop": 1e-3, "adagrad": 0.05}
DEFAULT_MOMENTUM = {"sgd": 0.9}
# optimizers that hold P x P float64 matrices (the Gauss-Newton matrix or the Fisher), a few copies
_SQUARE_MATRICES = {"lm": 3, "gauss-newton": 3}


def make_optimizer(
    parameters: Any,
    name: str,
    *,
    lr: float | None = None,
    momentum: float | None = None,
    weight_decay: float | None = None,
    **options: Any,
):
    """The optimizer called ``name`` over ``parameters``, with only the settings that were given.

    ``options`` are passed on as they are (``nesterov=True``, ``betas=(0.9, 0.99)``).
    Raises TypeError naming the setting an optimizer does not take (Levenberg-
    Marquardt has no learning rate), ValueError for a value out of range.
    """
    from deltaprop.optim import by_name

    given = (("lr", lr), ("momentum", momentum), ("weight_decay", weight_decay or None))
    hyper = {key: value for key, value in given if value is not None}
    return by_name(name, parameters, **hyper, **options)


def memory_needed(name: str, n_parameters: int) -> int:
    """Bytes an optimizer's own matrices need for ``n_parameters`` weights (0 when it is small)."""
    copies = _SQUARE_MATRICES.get(name.lower().replace("_", "-"), 0)
    return copies * 8 * n_parameters * n_parameters


def physical_memory() -> int | None:
    """This machine's RAM in bytes, or None where the OS does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def check_fits_in_memory(name: str, n_parameters: int) -> None:
    """Raise MemoryError, naming the optimizer and the sizes, when its matrices exceed the machine's RAM."""
    need, have = memory_needed(name, n_parameters), physical_memory()
    if need and have is not None and need > have:
        raise MemoryError(
            f"{name} solves a {n_parameters:,} x {n_parameters:,} system each step, which needs "
            f"{need / 2**30:,.1f} GiB but this machine has {have / 2**30:,.1f} GiB; use a smaller network "
            "or a first-order optimizer such as adam"
        )
