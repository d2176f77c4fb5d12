"""Optimizers by name, for the CLI and for ``fit(..., optimizer='adam')``.

Add an optimizer by importing its class here and adding one line to
`OPTIMIZERS`; `by_name` and the CLI's list of choices pick it up.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import Any

from deltaprop.optim.adadelta import Adadelta
from deltaprop.optim.adagrad import Adagrad
from deltaprop.optim.adam import Adam, AdamW
from deltaprop.optim.gauss_newton import GaussNewton
from deltaprop.optim.lbfgs import LBFGS
from deltaprop.optim.levenberg_marquardt import LevenbergMarquardt
from deltaprop.optim.natural_gradient import NaturalGradient
from deltaprop.optim.optimizer import Optimizer
from deltaprop.optim.rmsprop import RMSprop
from deltaprop.optim.sgd import SGD

OPTIMIZERS: dict[str, type[Optimizer]] = {
    "sgd": SGD,
    "adam": Adam,
    "adamw": AdamW,
    "rmsprop": RMSprop,
    "adagrad": Adagrad,
    "adadelta": Adadelta,
    "lm": LevenbergMarquardt,
    "gauss-newton": GaussNewton,
    "natural-gradient": NaturalGradient,
    "lbfgs": LBFGS,
}


def by_name(name: str, params: Iterable[Any], **hyper: Any) -> Any:
    """Build the optimizer called ``name`` (case-insensitive, '_' = '-') over ``params``.

    ``hyper`` are its keyword arguments (``lr=0.1, momentum=0.9``). An unknown name
    raises ValueError listing the valid names; an unknown keyword raises TypeError
    (as Python does for any call) listing the ones the optimizer accepts.
    """
    key = str(name).strip().lower().replace("_", "-")
    cls = OPTIMIZERS.get(key)
    if cls is None:
        valid = ", ".join(sorted(OPTIMIZERS))
        raise ValueError(f"unknown optimizer {name!r}; valid names: {valid}")
    signature = inspect.signature(cls)
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values())
    if not takes_any:
        accepted = [n for n in signature.parameters if n != "params"]
        unknown = sorted(set(hyper) - set(accepted))
        if unknown:
            raise TypeError(
                f"optimizer {key!r} ({cls.__name__}) has no option(s) {', '.join(unknown)}; "
                f"it accepts: {', '.join(accepted)}"
            )
    return cls(params, **hyper)
