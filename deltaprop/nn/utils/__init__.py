"""``deltaprop.nn.utils``: PyTorch's ``torch.nn.utils`` helpers for training loops.

`clip_grad_norm_` and `clip_grad_value_` (between ``backward()`` and
``step()``), `parameters_to_vector` and `vector_to_parameters`, and
``deltaprop.nn.utils.rnn`` (packed sequences).
"""

from deltaprop.nn.utils import rnn
from deltaprop.nn.utils.clip_grad import clip_grad_norm_, clip_grad_value_
from deltaprop.nn.utils.convert_parameters import parameters_to_vector, vector_to_parameters

__all__ = ["clip_grad_norm_", "clip_grad_value_", "parameters_to_vector", "rnn", "vector_to_parameters"]
