"""Building models: the one place the CLI and the scikit-learn estimators get their networks from.

Both front doors turn plain settings (layer sizes, an activation name, a loss
name, an optimizer name) into the same objects, so a model trained by one
behaves like a model trained by the other:

- `registry`: `MODELS` maps an architecture name ('mlp', later 'cnn', 'lstm'...)
  to a builder; `build_model` adds the output layer the loss expects.
- `mlp`: `build_mlp`, the multilayer perceptron.
- `cnn`: `build_cnn` (deltaprop's image classifier) and `build_lenet` (LeNet-5).
- `heads`: `output_layer`, the last layer a loss wants and what outputs mean.
- `scaling`: folding input/target standardization into the first/last Linear.
- `optimizers`: `make_optimizer` from settings, default learning rates, and a
  memory check for second-order optimizers.
- `defaults`: default loss and epochs for a task and a data size.

It sits above `nn` and `optim` and below the front doors; it never imports them.
"""

from deltaprop.models import recurrent  # registers 'rnn', 'lstm' and 'gru' in MODELS
from deltaprop.models.cnn import build_cnn, build_lenet
from deltaprop.models.defaults import LOSSES_FOR_TASK, default_epochs, default_loss, uses_class_indices
from deltaprop.models.heads import output_layer
from deltaprop.models.mlp import build_mlp, describe_mlp
from deltaprop.models.optimizers import (
    DEFAULT_LR,
    DEFAULT_MOMENTUM,
    check_fits_in_memory,
    make_optimizer,
    memory_needed,
)
from deltaprop.models.registry import MODELS, ModelEntry, build_model, register_model
from deltaprop.models.scaling import affine_of, fold_input_scaling, fold_output_scaling, fold_scaling

__all__ = [
    "DEFAULT_LR",
    "DEFAULT_MOMENTUM",
    "LOSSES_FOR_TASK",
    "MODELS",
    "ModelEntry",
    "affine_of",
    "build_cnn",
    "build_lenet",
    "build_mlp",
    "build_model",
    "check_fits_in_memory",
    "default_epochs",
    "default_loss",
    "describe_mlp",
    "fold_input_scaling",
    "fold_output_scaling",
    "fold_scaling",
    "make_optimizer",
    "memory_needed",
    "output_layer",
    "register_model",
    "uses_class_indices",
]
