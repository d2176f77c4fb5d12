"""Optimizers, learning-rate schedules and gradient clipping (PyTorch names and semantics).

First-order: `SGD`, `Adam`, `AdamW`, `RMSprop`, `Adagrad`, `Adadelta` on the `Optimizer` base.
Schedules: `StepLR`, `MultiStepLR`, `ExponentialLR`, `CosineAnnealingLR`, `LambdaLR`, `LinearLR`,
`OneCycleLR`, `SequentialLR`, `ReduceLROnPlateau` (also as ``optim.lr_scheduler.X``).
Second-order: `LevenbergMarquardt`, `GaussNewton`, `NaturalGradient`, `LBFGS`, `jacobian`.
Clipping: `clip_grad_norm_`, `clip_grad_value_`. By name: `OPTIMIZERS`, `by_name`.
"""

from deltaprop.optim import lr_scheduler
from deltaprop.optim.adadelta import Adadelta
from deltaprop.optim.adagrad import Adagrad
from deltaprop.optim.adam import Adam, AdamW
from deltaprop.optim.clip import clip_grad_norm_, clip_grad_value_
from deltaprop.optim.gauss_newton import GaussNewton
from deltaprop.optim.jacobian import jacobian, residual_jacobian
from deltaprop.optim.lbfgs import LBFGS
from deltaprop.optim.levenberg_marquardt import LevenbergMarquardt
from deltaprop.optim.lr_scheduler import (
    CosineAnnealingLR,
    ExponentialLR,
    LambdaLR,
    LinearLR,
    LRScheduler,
    MultiStepLR,
    OneCycleLR,
    ReduceLROnPlateau,
    SequentialLR,
    StepLR,
)
from deltaprop.optim.natural_gradient import NaturalGradient
from deltaprop.optim.optimizer import Optimizer, backprop
from deltaprop.optim.registry import OPTIMIZERS, by_name
from deltaprop.optim.rmsprop import RMSprop
from deltaprop.optim.sgd import SGD

__all__ = [
    "LBFGS",
    "GaussNewton",
    "LevenbergMarquardt",
    "NaturalGradient",
    "jacobian",
    "residual_jacobian",
    "OPTIMIZERS",
    "SGD",
    "Adagrad",
    "Adam",
    "AdamW",
    "CosineAnnealingLR",
    "ExponentialLR",
    "LRScheduler",
    "Optimizer",
    "backprop",
    "RMSprop",
    "ReduceLROnPlateau",
    "StepLR",
    "by_name",
    "clip_grad_norm_",
    "clip_grad_value_",
    "Adadelta",
    "LambdaLR",
    "LinearLR",
    "MultiStepLR",
    "OneCycleLR",
    "SequentialLR",
    "lr_scheduler",
]
