"""Helpers around the layers, with PyTorch's names (``deltaprop.nn.utils.rnn``)."""

from deltaprop.nn.utils import rnn
