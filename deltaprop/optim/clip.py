"""Gradient clipping lives in `deltaprop.nn.utils` (PyTorch's ``torch.nn.utils``); these names stay too."""

from deltaprop.nn.utils.clip_grad import clip_grad_norm_, clip_grad_value_

__all__ = ["clip_grad_norm_", "clip_grad_value_"]
