"""Fashion-MNIST and MNIST from their IDX files.

Neither is bundled (30 MB each). `load_fashion_mnist` looks where Debian's
``dataset-fashion-mnist`` package installs the files, in ``$DELTAPROP_DATA``
and in ``~/.deltaprop/data``; when they are nowhere, the error says exactly how
to get them rather than downloading anything behind the user's back.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from deltaprop.data.dataset import Dataset
from deltaprop.data.idx import read_idx

# The four files of the MNIST family, by their distribution names (without .gz).
IDX_FILES = {
    "X": "train-images-idx3-ubyte",
    "y": "train-labels-idx1-ubyte",
    "X_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}

FASHION_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]  # fmt: skip

SYSTEM_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
SYSTEM_MNIST_DIR = Path("/usr/share/datasets/mnist")

FASHION_HOWTO = (
    "Get Fashion-MNIST (70,000 28x28 images, 30 MB) in one of two ways:\n"
    "  - on Debian/Ubuntu: sudo apt-get install dataset-fashion-mnist "
    "(installs it into /usr/share/datasets/fashion-mnist/), or\n"
    "  - download the 4 IDX files train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
    "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz from "
    "https://github.com/zalandoresearch/fashion-mnist (folder data/fashion) into a folder and pass "
    "load_fashion_mnist(path='that/folder'), or put them in $DELTAPROP_DATA/fashion-mnist."
)

MNIST_HOWTO = (
    "Get MNIST by downloading its 4 IDX files train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
    "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz (for example from a mirror listed at "
    "https://github.com/cvdfoundation/mnist) into a folder and pass load_mnist(path='that/folder'), "
    "or put them in $DELTAPROP_DATA/mnist."
)


def user_data_dir() -> Path:
    """Per-user folder for downloaded data sets: ``~/.deltaprop/data``."""
    return Path.home() / ".deltaprop" / "data"


def candidate_dirs(name: str, system_dir: Path) -> list[Path]:
    """Folders searched, in order, when no path is given."""
    dirs: list[Path] = []
    env = os.environ.get("DELTAPROP_DATA")
    if env:
        dirs += [Path(env) / name, Path(env)]
    dirs += [user_data_dir() / name, system_dir]
    return dirs


def _find_one(folder: Path, stem: str) -> Path | None:
    dotted = stem.replace("-idx", ".idx")  # some mirrors name them train-images.idx3-ubyte
    for candidate in (stem, stem + ".gz", dotted, dotted + ".gz"):
        if (folder / candidate).is_file():
            return folder / candidate
    return None


def find_idx_files(folder: Path) -> dict[str, Path] | None:
    """The four IDX files in ``folder`` (plain or .gz), or None if any is missing."""
    found = {key: _find_one(folder, stem) for key, stem in IDX_FILES.items()}
    if any(p is None for p in found.values()):
        return None
    return found  # type: ignore[return-value]


def _locate(path: str | os.PathLike | None, name: str, system_dir: Path, howto: str) -> dict[str, Path]:
    if path is not None:
        folder = Path(path).expanduser()
        files = find_idx_files(folder) if folder.is_dir() else None
        if files is None:
            missing = [stem for stem in IDX_FILES.values() if _find_one(folder, stem) is None]
            raise FileNotFoundError(
                f"{name}: {folder} does not hold the 4 IDX files (missing: {', '.join(missing)}). {howto}"
            )
        return files
    searched = candidate_dirs(name, system_dir)
    for folder in searched:
        files = find_idx_files(folder)
        if files is not None:
            return files
    raise FileNotFoundError(
        f"{name} is not installed: looked in {', '.join(str(d) for d in searched)}. {howto}"
    )


def _load_idx_set(files: dict[str, Path], name: str) -> dict[str, np.ndarray]:
    """Read images as float32 in [0, 1], one flattened row per image; labels as int64."""
    out: dict[str, np.ndarray] = {}
    for key in ("X", "X_test"):
        images = read_idx(files[key])
        if images.ndim != 3:
            raise ValueError(
                f"{name}: {files[key]} should hold 3-D images (N, rows, cols), got {images.shape}"
            )
        X = images.reshape(len(images), -1).astype(np.float32)
        X *= np.float32(1.0 / 255.0)
        out[key] = X
    for key in ("y", "y_test"):
        labels = read_idx(files[key])
        if labels.ndim != 1:
            raise ValueError(f"{name}: {files[key]} should hold 1-D labels, got shape {labels.shape}")
        out[key] = labels.astype(np.int64)
    for images_key, labels_key in (("X", "y"), ("X_test", "y_test")):
        if len(out[images_key]) != len(out[labels_key]):
            raise ValueError(
                f"{name}: {files[images_key].name} has {len(out[images_key])} images but "
                f"{files[labels_key].name} has {len(out[labels_key])} labels"
            )
    return out


def _to_dataset(arrays: dict[str, np.ndarray], name: str, classes: list[str], description: str) -> Dataset:
    side = int(round(np.sqrt(arrays["X"].shape[1])))
    return Dataset(
        X=arrays["X"], y=arrays["y"], task="classify",
        feature_names=[f"pixel_{r}_{c}" for r in range(side) for c in range(side)],
        target_names=classes, description=description,
        X_test=arrays["X_test"], y_test=arrays["y_test"], name=name,
    )  # fmt: skip


def load_fashion_mnist(path: str | os.PathLike | None = None) -> Dataset:
    """Fashion-MNIST: 60,000 training and 10,000 test 28x28 greyscale clothing images, 10 classes.

    Returns X (60000, 784) and X_test (10000, 784) as float32 scaled to [0, 1],
    y / y_test int64 in 0..9 (names in ``target_names``). ``path`` names a folder
    holding the four IDX files; without it the standard places are searched.
    Raises FileNotFoundError saying how to get the data when it is absent.
    """
    files = _locate(path, "fashion-mnist", SYSTEM_FASHION_DIR, FASHION_HOWTO)
    arrays = _load_idx_set(files, "fashion-mnist")
    description = (
        "Fashion-MNIST (Xiao, Rasul and Vollgraf, 2017, arXiv:1708.07747), Zalando Research, MIT License. "
        f"28x28 greyscale images scaled to [0, 1], 10 classes. Read from {files['X'].parent}."
    )
    return _to_dataset(arrays, "fashion-mnist", FASHION_CLASSES, description)


def load_mnist(path: str | os.PathLike | None = None) -> Dataset:
    """MNIST handwritten digits from the four IDX files in ``path`` (same layout as Fashion-MNIST).

    Without ``path``, searches ``$DELTAPROP_DATA/mnist``, ``~/.deltaprop/data/mnist``
    and ``/usr/share/datasets/mnist``.
    """
    files = _locate(path, "mnist", SYSTEM_MNIST_DIR, MNIST_HOWTO)
    arrays = _load_idx_set(files, "mnist")
    description = (
        "MNIST handwritten digits (LeCun, Cortes and Burges), 28x28 greyscale images scaled to [0, 1], "
        f"10 classes. Read from {files['X'].parent}."
    )
    return _to_dataset(arrays, "mnist", [str(d) for d in range(10)], description)
