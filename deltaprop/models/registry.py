"""Model architectures by name: what ``--model NAME`` (and an estimator's ``model=``) can build.

An entry says how to build the network from the shape of one example and the
number of outputs, which settings it takes, and how to describe it in one
line. New architectures (convolutional, recurrent) are added with
`register_model`; the front doors list and build them from here, so adding
one needs no change in the CLI's flow.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from deltaprop.models.cnn import build_cnn, build_lenet, describe_cnn, describe_lenet
from deltaprop.models.heads import output_layer
from deltaprop.models.mlp import build_mlp, describe_mlp


@dataclass(frozen=True)
class ModelEntry:
    """``build(input_shape, n_out, **options) -> Module``; ``options`` are the settings it accepts.

    ``inputs`` says what one example is: 'rows' (a vector of features) or
    'images' ((channels, height, width), for the convolutional models).
    """

    name: str
    build: Callable[..., Any]
    options: tuple[str, ...]
    describe: Callable[..., str]
    help: str
    inputs: str = "rows"


def _mlp(input_shape: Sequence[int], n_out: int, **options: Any):
    return build_mlp(_flat_width(input_shape), n_out, **options)


def _describe_mlp(input_shape: Sequence[int], n_out: int, **options: Any) -> str:
    return describe_mlp(_flat_width(input_shape), n_out, **options)


def _flat_width(input_shape: Sequence[int]) -> int:
    width = 1
    for size in input_shape:
        width *= int(size)
    return width


MODELS: dict[str, ModelEntry] = {}


def register_model(
    name: str,
    build: Callable[..., Any],
    options: Sequence[str],
    describe: Callable[..., str] | None = None,
    help: str = "",  # noqa: A002 - argparse's word for it
    inputs: str = "rows",
) -> ModelEntry:
    """Add an architecture under ``name`` (lower case); returns its entry."""
    entry = ModelEntry(name.lower(), build, tuple(options), describe or (lambda *a, **k: name), help, inputs)
    MODELS[entry.name] = entry
    return entry


register_model("mlp", _mlp, ("hidden", "activation", "dropout"), _describe_mlp,
               "multilayer perceptron: --hidden layers of --activation units, optional --dropout")
register_model("cnn", build_cnn, ("channels", "hidden", "activation", "dropout"), describe_cnn,
               "convolutional net for images: per --channels (default 32,64) a 3x3 conv, BatchNorm, "
               "2x2 max-pool and ReLU, then --hidden (128) dense units with --dropout (0.3); on "
               "fashion-mnist 10 epochs of Adam with a cosine learning rate (see the README)",
               inputs="images")
register_model("lenet", build_lenet, ("activation",), describe_lenet,
               "LeNet-5 for images of 12x12 pixels or more (conv 5x5 to 6 and 16 maps, 120-84 dense)",
               inputs="images")


def build_model(name: str, input_shape: Sequence[int], n_out: int, *, task: str = "classify",
                loss: str = "cross_entropy", **options: Any) -> tuple[Any, str]:
    """(network with the output layer ``loss`` expects, what its outputs mean) for model ``name``.

    ``options`` are the entry's settings (for 'mlp': hidden, activation, dropout);
    a setting the entry does not take is a TypeError naming the ones it does.
    """
    from deltaprop import nn

    entry = MODELS.get(str(name).lower())
    if entry is None:
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(sorted(MODELS))}")
    unknown = sorted(set(options) - set(entry.options))
    if unknown:
        raise TypeError(f"model {entry.name!r} does not take {', '.join(unknown)}; it takes: "
                        f"{', '.join(entry.options) or 'no settings'}")
    network = entry.build(tuple(input_shape), n_out, **options)
    head, meaning = output_layer(task, loss)
    if head is not None:
        layers = list(network) if isinstance(network, nn.Sequential) else [network]
        network = nn.Sequential(*layers, head)
    return network, meaning
