"""``deltaprop.backends``: PyTorch's switches for its other back ends, answered for deltaprop.

Ported scripts ask ``torch.backends.mps.is_available()`` (Apple GPUs) and set
``torch.backends.cudnn.deterministic = True``. deltaprop has no MPS back end,
and its GPU path (CuPy) makes no cuDNN algorithm choices, so the flags are
accepted and change nothing: runs are deterministic for a seed already.
"""

from __future__ import annotations

from types import SimpleNamespace


def _false() -> bool:
    return False


mps = SimpleNamespace(is_available=_false, is_built=_false)
cudnn = SimpleNamespace(deterministic=False, benchmark=False, enabled=True, is_available=_false)
