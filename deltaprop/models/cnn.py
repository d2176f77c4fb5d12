"""Convolutional networks from plain settings: ``--model cnn`` and ``--model lenet``.

Both take images (C, H, W) and end in raw class scores (or values), like
the MLP. ``cnn`` is deltaprop's default image classifier, designed to reach
more than 91.5% test accuracy on Fashion-MNIST in minutes on two CPU cores:

    [conv 3x3 (padding 1) -> BatchNorm -> max-pool 2 -> ReLU]  per entry of ``channels`` (32, 64)
    -> Flatten -> [Linear -> ReLU -> Dropout]  per entry of ``hidden`` (128) -> Linear

Why this shape: two 3x3 convolutions see 8x8-pixel patches, enough for the
strokes and textures that tell a shirt from a pullover; pooling after each
halves the work of the next layer (28 -> 14 -> 7); batch normalization lets
Adam use a large learning rate from the first step; dropout before the
output keeps the 400k-weight dense layer from memorising the training set.
A block is skipped when the image has become too small to pool (the 8x8
digits get two blocks, 8 -> 4 -> 2). The ReLU comes after the pooling: max
and ReLU commute (relu(max(a, b)) = max(relu(a), relu(b)), and so do their
gradients), so this is the usual conv-BN-ReLU-pool block, with the ReLU on a
quarter of the numbers.

``lenet`` is LeNet-5 as in the benchmarks (LeCun et al., 1998, with ReLU and
max pooling): conv 5x5 (padding 2) to 6 maps, pool, conv 5x5 to 16 maps, pool,
then 120 and 84 units; it needs images of at least 12x12 pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def _image_shape(input_shape: Sequence[int], model: str) -> tuple[int, int, int]:
    shape = tuple(int(n) for n in input_shape)
    if len(shape) == 2:
        shape = (1, *shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"model {model!r} takes images (channels, height, width), got input shape "
                         f"{tuple(input_shape)}")
    return shape  # type: ignore[return-value]


def build_cnn(
    input_shape: Sequence[int],
    n_out: int,
    channels: Sequence[int] = (32, 64),
    hidden: Sequence[int] = (128,),
    activation: str = "relu",
    dropout: float = 0.3,
    dtype: Any = np.float32,
):
    """The default image classifier (see the module docstring) as a flat `nn.Sequential`."""
    from deltaprop import nn

    c, h, w = _image_shape(input_shape, "cnn")
    if not 0 <= dropout < 1:
        raise ValueError(f"build_cnn: dropout must be in [0, 1), got {dropout!r}")
    layers: list[Any] = []
    for width in channels:
        layers += [nn.Conv2d(c, width, 3, padding=1, dtype=dtype), nn.BatchNorm2d(width, dtype=dtype)]
        c = width
        if min(h, w) >= 2:
            layers.append(nn.MaxPool2d(2))  # before the activation: the same result (see above), for ReLU
            h, w = h // 2, w // 2
        layers.append(nn.activation(activation))
    layers.append(nn.Flatten())
    features = c * h * w
    for size in hidden:
        layers += [nn.Linear(features, size, dtype=dtype), nn.activation(activation)]
        if dropout:
            layers.append(nn.Dropout(dropout))
        features = size
    layers.append(nn.Linear(features, n_out, dtype=dtype))
    return nn.Sequential(*layers)


def describe_cnn(input_shape: Sequence[int], n_out: int, channels: Sequence[int] = (32, 64),
                 hidden: Sequence[int] = (128,), **_: Any) -> str:
    """'1x28x28 -conv-> 32 -conv-> 64 -> 128 -> 10'."""
    c, h, w = _image_shape(input_shape, "cnn")
    convs = "".join(f" -conv-> {width}" for width in channels)
    dense = "".join(f" -> {size}" for size in hidden)
    return f"{c}x{h}x{w}{convs}{dense} -> {n_out}"


def build_lenet(input_shape: Sequence[int], n_out: int, activation: str = "relu", dtype: Any = np.float32):
    """LeNet-5 (ReLU, max pooling) for images of at least 12x12 pixels."""
    from deltaprop import nn

    c, h, w = _image_shape(input_shape, "lenet")
    if min(h, w) < 12:
        raise ValueError(f"model 'lenet' (LeNet-5) needs images of at least 12x12 pixels, got {h}x{w}; "
                         "use --model cnn for small images such as the 8x8 digits")
    h2, w2 = (h // 2 - 4) // 2, (w // 2 - 4) // 2
    act = lambda: nn.activation(activation)  # noqa: E731
    return nn.Sequential(
        nn.Conv2d(c, 6, 5, padding=2, dtype=dtype), act(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5, dtype=dtype), act(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(16 * h2 * w2, 120, dtype=dtype), act(), nn.Linear(120, 84, dtype=dtype), act(),
        nn.Linear(84, n_out, dtype=dtype),
    )  # fmt: skip


def describe_lenet(input_shape: Sequence[int], n_out: int, **_: Any) -> str:
    c, h, w = _image_shape(input_shape, "lenet")
    return f"LeNet-5 {c}x{h}x{w} -conv-> 6 -conv-> 16 -> 120 -> 84 -> {n_out}"
