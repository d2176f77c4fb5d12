"""Images on the command line: ``--model cnn|lenet`` trains on (N, C, H, W), predict reads image files.

What differs from the dense models, and why:

- Shape. The named image sets are loaded as rows (one pixel per column, as
  every model file and CSV expects) and shaped into images here: digits
  (1, 8, 8), Fashion-MNIST and MNIST (1, 28, 28); a CSV needs
  ``--image-shape C,H,W`` unless its columns make one square greyscale image.
- Scaling. A dense model's per-pixel standardization is folded into its first
  Linear afterwards; a convolution shares its weights over the pixels, so
  only one factor for all of them can be folded into it exactly: images are
  divided by the training pixels' standard deviation, not centred (the
  BatchNorm after the first convolution centres them), and the saved model
  takes raw pixels.
- Defaults. ``MODEL_PRESETS`` gives each image model its own epochs, batch
  size and dense layers (over the data set's preset): ``--model cnn`` on
  Fashion-MNIST trains 10 epochs of batch 128 with Adam, its learning rate
  following a cosine from 1e-3 down to 0 (``--lr-schedule``): the large
  early steps find the basin, the small late ones settle in it, which is
  worth about half a percent of test accuracy over a constant rate.
- Predicting. ``deltaprop predict MODEL --data FILE`` also takes an IDX image
  file (as MNIST ships, gzipped or not) or a ``.npy`` array of images
  (N, H, W), (N, C, H, W) or rows; integer pixels are scaled the way the
  training data were loaded (IDX bytes / 255 for Fashion-MNIST and MNIST).
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from deltaprop.cli.errors import CLIError, one_line

IMAGE_SHAPES = {"digits": (1, 8, 8), "fashion-mnist": (1, 28, 28), "mnist": (1, 28, 28)}
# what the loaders multiply raw integer pixels by (the IDX loaders divide bytes by 255)
PIXEL_SCALE = {"fashion-mnist": 1 / 255, "mnist": 1 / 255}

# Settings of the image models, over the data set's preset (the user's options still win).
MODEL_PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "cnn": {
        "fashion-mnist": dict(hidden="128", dropout=0.3, optimizer="adam", lr=1e-3, epochs=10,
                              batch_size=128, lr_schedule="cosine"),
        "mnist": dict(hidden="128", dropout=0.3, optimizer="adam", lr=1e-3, epochs=8, batch_size=128),
        "digits": dict(hidden="128", dropout=0.3, optimizer="adam", lr=1e-3, epochs=15, batch_size=32),
        "default": dict(hidden="128", dropout=0.3, optimizer="adam", lr=1e-3),
    },
    "lenet": {
        "fashion-mnist": dict(optimizer="adam", lr=1e-3, epochs=15, batch_size=64),
        "mnist": dict(optimizer="adam", lr=1e-3, epochs=10, batch_size=64),
        "default": dict(optimizer="adam", lr=1e-3),
    },
}


SCHEDULES = ("constant", "cosine")


def add_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--channels", metavar="SIZES",
                   help="--model cnn: feature maps of each convolution block, e.g. 32,64 (the default)")
    p.add_argument("--lr-schedule", choices=SCHEDULES,
                   help="learning rate over the epochs: constant, or cosine (down to 0 at the last epoch); "
                   "default constant, cosine for --model cnn on Fashion-MNIST")
    p.add_argument("--image-shape", metavar="C,H,W",
                   help="image models on a CSV: how each row's pixels form an image, e.g. 1,28,28")


def takes_images(model_name: str) -> bool:
    from deltaprop.models import MODELS

    return MODELS[model_name].inputs == "images"


def adjust_preset(args: argparse.Namespace, dataset: str, preset: dict) -> dict:
    """The data set's preset with the image model's own settings on top (unchanged for dense models)."""
    if not takes_images(args.model.lower()):
        for option in ("channels", "image_shape"):
            if getattr(args, option, None):
                raise CLIError(f"--{option.replace('_', '-')} applies to the image models "
                               f"(--model cnn or lenet), not to --model {args.model}")
        return preset
    own = MODEL_PRESETS.get(args.model.lower(), {})
    return {**preset, **own.get(dataset, own.get("default", {}))}


def extra_settings(args: argparse.Namespace, preset: dict) -> dict[str, Any]:
    """Settings beyond the shared ones: ``channels`` for --model cnn, and the learning-rate schedule."""
    schedule = getattr(args, "lr_schedule", None) or preset.get("lr_schedule", "constant")
    settings: dict[str, Any] = {} if schedule == "constant" else {"lr_schedule": schedule}
    if not getattr(args, "channels", None):
        return settings
    try:
        channels = [int(part) for part in args.channels.split(",") if part.strip()]
    except ValueError:
        channels = []
    if not channels or min(channels) < 1:
        raise CLIError(f"--channels {args.channels!r} is not a list of feature-map counts; "
                       "write e.g. --channels 32,64")
    return {**settings, "channels": channels}


def scheduler(optimizer: Any, s: Any) -> Any:
    """The learning-rate schedule of the settings, for fit (None: constant)."""
    if s.extra.get("lr_schedule") != "cosine":
        return None
    if not hasattr(optimizer, "param_groups") or getattr(optimizer, "full_batch", False):
        raise CLIError(f"--lr-schedule cosine needs a first-order optimizer, not {s.optimizer}")
    from deltaprop.optim.lr_scheduler import CosineAnnealingLR

    return CosineAnnealingLR(optimizer, T_max=s.epochs)


# ---------------------------------------------------------------------------- training
@dataclass(frozen=True)
class ImageLayout:
    shape: tuple[int, int, int]  # (channels, height, width) of one example
    pixel_scale: float  # what the loader multiplied raw integer pixels by


def layout_for(model_name: str, dataset: str, n_features: int,
               args: argparse.Namespace) -> ImageLayout | None:
    """The image shape the model gets, or None for a dense model (it keeps rows)."""
    if not takes_images(model_name):
        return None
    given = getattr(args, "image_shape", None)
    if given:
        try:
            shape = tuple(int(n) for n in given.split(","))
        except ValueError:
            raise CLIError(f"--image-shape {given!r} is not C,H,W; e.g. --image-shape 1,28,28") from None
        if len(shape) != 3 or min(shape) < 1 or math.prod(shape) != n_features:
            raise CLIError(f"--image-shape {given} must be three sizes whose product is the {n_features} "
                           "feature columns")
    elif dataset in IMAGE_SHAPES and math.prod(IMAGE_SHAPES[dataset]) == n_features:
        shape = IMAGE_SHAPES[dataset]
    else:
        side = math.isqrt(n_features)
        if side * side != n_features:
            raise CLIError(f"--model {model_name} takes images, but the {n_features} columns of {dataset} do "
                           "not make a square one; give --image-shape C,H,W")
        shape = (1, side, side)
    return ImageLayout(shape, PIXEL_SCALE.get(dataset, 1.0))  # type: ignore[arg-type]


def as_images(X: np.ndarray, layout: ImageLayout | None) -> np.ndarray:
    return X if layout is None else X.reshape(len(X), *layout.shape)


def prepare(X_train: np.ndarray, y_train: np.ndarray, s: Any, n_classes: int | None, layout: ImageLayout):
    """The training images divided by their pixels' standard deviation (one number); targets as usual."""
    from deltaprop.cli.train import standardize

    base = standardize(X_train[:, :1], y_train, s, n_classes)  # the targets, exactly as for any model
    std = _pixel_std(X_train)
    scale = 1.0 / std if std > 0 else 1.0
    base.X = as_images(np.asarray(X_train * np.float32(scale), np.float32), layout)
    base.x_affine = (np.array([scale]), np.array([0.0]))
    return base


def _pixel_std(X: np.ndarray, rows: int = 4096) -> float:
    """The standard deviation of every pixel together, in float64, a block of rows at a time.

    (np.std(X, dtype=float64) would first make two float64 copies of the
    whole set: 750 MB for Fashion-MNIST.)
    """
    count, total, squares = X.size, 0.0, 0.0
    for start in range(0, len(X), rows):
        block = X[start:start + rows].astype(np.float64)
        total += float(block.sum())
        squares += float(np.einsum("ij,ij->", block, block))
    mean = total / max(count, 1)
    return math.sqrt(max(squares / max(count, 1) - mean * mean, 0.0))


def fold(model: Any, prepared: Any) -> None:
    """Make the model take raw pixels: conv(a x) = a conv(x), so the factor goes into the first weight."""
    from deltaprop.models import fold_output_scaling

    first = next(m for m in model.modules() if m._parameters.get("weight") is not None)
    first.weight.array[...] = (first.weight.array.astype(np.float64) * prepared.x_affine[0][0]).astype(
        first.weight.dtype)
    if prepared.y_affine is not None:
        fold_output_scaling(model, *prepared.y_affine)


def model_extra(layout: ImageLayout | None) -> dict[str, Any]:
    """What model.json records so that predict can shape (and scale) image files for the model."""
    return {} if layout is None else {"input_shape": list(layout.shape), "pixel_scale": layout.pixel_scale}


# ---------------------------------------------------------------------------- predicting
def is_image_file(path: str) -> bool:
    """A .npy array or an IDX file (checked by its magic bytes: 00 00 <type> <ndim>, or gzip)."""
    p = Path(path)
    if p.suffix == ".npy":
        return True
    if p.suffix == ".csv" or not p.is_file():
        return False
    with open(p, "rb") as fh:
        head = fh.read(4)
    gzipped = head[:2] == b"\x1f\x8b" and ("idx" in p.name or "ubyte" in p.name)
    return gzipped or (len(head) == 4 and head[0] == 0 and head[1] == 0 and head[2] in (8, 9, 11, 12, 13, 14))


def read_images(path: str, model: Any, info: Any) -> np.ndarray:
    """The images of an IDX or .npy file, shaped and scaled for the model (rows for a dense one)."""
    from deltaprop.cli.modelfile import input_features

    array = read_array(path)
    if array.ndim == 0 or len(array) == 0:
        raise CLIError(f"{path} holds no images (shape {array.shape})")
    if array.dtype.kind in "iub":
        array = array.astype(np.float32) * np.float32(info.extra.get("pixel_scale", 1.0))
    elif array.dtype.kind != "f":
        raise CLIError(f"{path} holds {array.dtype} values, not pixels; save the images as numbers")
    X = np.asarray(array, np.float32)
    shape = info.extra.get("input_shape")
    width = math.prod(shape) if shape else input_features(model)
    if width is not None and math.prod(X.shape[1:]) != width:
        want = "x".join(str(n) for n in shape) if shape else f"{width} features"
        raise CLIError(f"the model takes {want} per example but {path} holds examples of shape "
                       f"{'x'.join(str(n) for n in X.shape[1:])}; pass the kind of images it was trained on")
    return X.reshape(len(X), *shape) if shape else X.reshape(len(X), -1)


def rows_to_model_input(X: np.ndarray, info: Any, source: str) -> np.ndarray:
    """CSV rows of pixels shaped into the images an image model takes (rows stay rows otherwise)."""
    shape = info.extra.get("input_shape")
    if not shape:
        return X
    if X.shape[1] != math.prod(shape):
        raise CLIError(f"the model takes {'x'.join(str(n) for n in shape)} images ({math.prod(shape)} pixel "
                       f"columns) but {source} has {X.shape[1]} columns")
    return X.reshape(len(X), *shape)


def read_array(path: str, what: str = "images") -> np.ndarray:
    """The array of a .npy or IDX file (no pickles), or one line naming the file and the problem."""
    from deltaprop.data import read_idx

    try:
        if Path(path).suffix == ".npy":
            return np.load(path, allow_pickle=False)
        return read_idx(path)
    except (OSError, ValueError, EOFError) as exc:
        raise CLIError(f"cannot read {what} from {path}: {one_line(exc)}") from None
