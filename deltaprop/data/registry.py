"""Data sets by name: the bundled digits, the toy generators, Fashion-MNIST/MNIST, scikit-learn's sets.

`load_dataset(name)` is what the CLI's ``--dataset NAME`` calls; `DATASETS`
maps each name to a one-line description for help texts and error messages.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from typing import Any

import numpy as np

from deltaprop.data.dataset import Dataset
from deltaprop.data.mnist import load_fashion_mnist, load_mnist
from deltaprop.data.toy import make_circles, make_moons, make_parity, make_sine, make_spirals, make_xor
from deltaprop.errors import optional_import


def _read_bundled(name: str) -> Any:
    return resources.files("deltaprop").joinpath("datasets", name)


def load_digits(scaled: bool = False) -> Dataset:
    """The 8x8 handwritten digits bundled with deltaprop: 1797 images, 64 features, 10 classes.

    X is float32 of shape (1797, 64) holding pixel counts 0..16 (``scaled=True``
    divides by 16 to get [0, 1]); y is int64 in 0..9. Source: UCI optdigits,
    CC BY 4.0 (attribution in ``description`` and DIGITS_LICENSE.txt).
    """
    with _read_bundled("digits.npz").open("rb") as fh, np.load(fh, allow_pickle=False) as npz:
        images = npz["images"]
        target = npz["target"]
    X = images.reshape(len(images), -1).astype(np.float32)
    if scaled:
        X /= np.float32(16.0)
    license_text = _read_bundled("DIGITS_LICENSE.txt").read_text(encoding="utf-8")
    description = (
        "8x8 handwritten digits, 1797 images (pixel counts 0..16"
        + (", divided by 16" if scaled else "")
        + "), 10 classes.\n"
        "Attribution: E. Alpaydin and C. Kaynak, 'Optical Recognition of Handwritten Digits', "
        "UCI Machine Learning Repository, 1998, https://archive.ics.uci.edu/dataset/80, "
        "DOI 10.24432/C50P49; licensed CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/).\n\n"
        + license_text
    )
    return Dataset(
        X, target.astype(np.int64), "classify",
        [f"pixel_{r}_{c}" for r in range(8) for c in range(8)], [str(d) for d in range(10)],
        description, name="digits",
    )  # fmt: skip


def _from_sklearn(loader_name: str, name: str, task: str) -> Dataset:
    datasets = optional_import("sklearn.datasets", "sklearn", f"the '{name}' data set")
    bunch = getattr(datasets, loader_name)()
    X = np.asarray(bunch.data, dtype=np.float32)
    y: np.ndarray
    if task == "classify":
        y = np.asarray(bunch.target, dtype=np.int64)
        classes = [str(c) for c in bunch.target_names]
    else:
        y = np.asarray(bunch.target, dtype=np.float32).reshape(-1, 1)
        classes = None
    description = f"From scikit-learn (sklearn.datasets.{loader_name}).\n\n{bunch.DESCR}"
    return Dataset(X, y, task, [str(f) for f in bunch.feature_names], classes, description, name=name)


def load_iris() -> Dataset:
    """Fisher's iris: 150 flowers, 4 measurements, 3 species (needs scikit-learn)."""
    return _from_sklearn("load_iris", "iris", "classify")


def load_wine() -> Dataset:
    """Wine recognition: 178 wines, 13 chemical features, 3 cultivars (needs scikit-learn)."""
    return _from_sklearn("load_wine", "wine", "classify")


def load_breast_cancer() -> Dataset:
    """Wisconsin breast cancer: 569 tumours, 30 features, malignant/benign (needs scikit-learn)."""
    return _from_sklearn("load_breast_cancer", "breast-cancer", "classify")


def load_diabetes() -> Dataset:
    """Diabetes progression: 442 patients, 10 features, a real-valued target (needs scikit-learn)."""
    return _from_sklearn("load_diabetes", "diabetes", "regress")


# name -> (loader, one-line description). Loaders take keyword arguments (seed, n, path, ...).
_LOADERS: dict[str, tuple[Callable[..., Dataset], str]] = {
    "digits": (load_digits, "8x8 handwritten digits, 1797 x 64, 10 classes (bundled)"),
    "xor": (make_xor, "XOR truth table, 4 x 2, 2 classes"),
    "parity": (make_parity, "parity-3: all 8 3-bit inputs, 2 classes (parity-N for N bits)"),
    "parity-4": (lambda **kw: make_parity(4, **kw), "parity-4: all 16 4-bit inputs, 2 classes"),
    "spirals": (make_spirals, "two interleaved spirals, 200 x 2, 2 classes"),
    "moons": (make_moons, "two moons, 200 x 2, 2 classes"),
    "circles": (make_circles, "two concentric circles, 200 x 2, 2 classes"),
    "sine": (make_sine, "y = sin(x), x in [-pi, pi], 200 x 1, regression"),
    "fashion-mnist": (load_fashion_mnist, "Fashion-MNIST, 60000 + 10000 test x 784, 10 classes"),
    "mnist": (load_mnist, "MNIST digits, 60000 + 10000 test x 784, 10 classes (not bundled)"),
    "iris": (load_iris, "iris, 150 x 4, 3 classes (needs scikit-learn)"),
    "wine": (load_wine, "wine, 178 x 13, 3 classes (needs scikit-learn)"),
    "breast-cancer": (load_breast_cancer, "breast cancer, 569 x 30, 2 classes (needs scikit-learn)"),
    "diabetes": (load_diabetes, "diabetes, 442 x 10, regression (needs scikit-learn)"),
}

DATASETS: dict[str, str] = {name: text for name, (_, text) in _LOADERS.items()}


def load_dataset(name: str, **kwargs: Any) -> Dataset:
    """Load a data set by name (see `DATASETS`); keyword arguments go to its loader.

    ``'parity-4'`` (any N) gives parity over N bits; names are case-insensitive
    and '_' may stand for '-'.
    """
    key = str(name).strip().lower().replace("_", "-")
    if key.startswith("parity-"):
        bits = key.removeprefix("parity-")
        if not bits.isdigit():
            raise ValueError(f"load_dataset: {name!r}: parity takes a bit count, e.g. 'parity-4'")
        return make_parity(int(bits), **kwargs)
    if key not in _LOADERS:
        listing = ", ".join(DATASETS)
        raise ValueError(f"load_dataset: unknown data set {name!r}; choose one of: {listing}, parity-N")
    loader, _ = _LOADERS[key]
    return loader(**kwargs)
