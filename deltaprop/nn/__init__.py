"""Layers, activations and losses with PyTorch's names (``import deltaprop.nn as nn``)."""

# PyTorch's names that tutorials use (see the README's "Coming from PyTorch")
from deltaprop.nn import functional, init, utils
from deltaprop.nn.activation import (
    ACTIVATIONS,
    ELU,
    GELU,
    LeakyReLU,
    LogSoftmax,
    Mish,
    ReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Swish,
    Tanh,
    activation,
)
from deltaprop.nn.containers import ModuleDict, ModuleList, ParameterDict, ParameterList, Sequential
from deltaprop.nn.conv import Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d
from deltaprop.nn.dropout import Dropout1d, Dropout2d
from deltaprop.nn.embedding import Embedding
from deltaprop.nn.layers import Dropout, Flatten, Identity
from deltaprop.nn.lazy import LazyLinear
from deltaprop.nn.linear import Linear
from deltaprop.nn.loss import (
    LOSSES,
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HuberLoss,
    L1Loss,
    MSELoss,
    NLLLoss,
    SmoothL1Loss,
    SquaredErrorLoss,
    loss_by_name,
)
from deltaprop.nn.module import Module
from deltaprop.nn.normalization import BatchNorm1d, BatchNorm2d, GroupNorm, LayerNorm
from deltaprop.nn.parameter import Parameter
from deltaprop.nn.pineda import PinedaRNN
from deltaprop.nn.pooling import (
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AdaptiveMaxPool1d,
    AdaptiveMaxPool2d,
    AvgPool1d,
    AvgPool2d,
    MaxPool1d,
    MaxPool2d,
)
from deltaprop.nn.recurrent import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNBase, RNNCell
from deltaprop.nn.recurrent_net import RecurrentNet
from deltaprop.nn.resizing import Unflatten, Upsample

__all__ = [
    "ACTIVATIONS", "BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss", "Dropout", "ELU",
    "Flatten", "GELU", "HuberLoss", "Identity", "L1Loss", "LOSSES", "LeakyReLU", "Linear",
    "LogSoftmax", "MSELoss", "Mish", "Module", "ModuleList", "NLLLoss", "Parameter", "ReLU",
    "Sequential", "SiLU", "Sigmoid", "Softmax", "Softplus", "SquaredErrorLoss", "Swish", "Tanh",
    "activation", "functional", "init", "loss_by_name",
    "Embedding", "GRU", "GRUCell", "LSTM", "LSTMCell", "PinedaRNN", "RNN", "RNNCell",
    "RecurrentNet",
    "LazyLinear", "ModuleDict", "ParameterDict", "ParameterList", "SmoothL1Loss", "utils",
]
__all__ += [  # the convolutional family
    "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AvgPool1d",
    "AvgPool2d", "BatchNorm1d", "BatchNorm2d", "Conv1d", "Conv2d", "ConvTranspose1d", "ConvTranspose2d",
    "Dropout1d", "Dropout2d", "GroupNorm", "LayerNorm", "MaxPool1d", "MaxPool2d", "Unflatten", "Upsample",
]
