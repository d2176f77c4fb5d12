"""``deltaprop.utils``: PyTorch's ``torch.utils`` names that training code uses (``utils.data``)."""

from deltaprop.utils import data

__all__ = ["data"]
