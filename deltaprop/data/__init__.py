"""Data for deltaprop: data sets, scaling, splitting, encoding, batching and file readers.

Everything returns plain NumPy arrays (float32 features, int64 labels) or a
`Dataset` bundling them with names and a description; nothing here depends on
the autodiff engine, so it can be used on its own.
"""

from deltaprop.data.batches import batches
from deltaprop.data.csv import CSVTable, load_csv, open_csv, read_csv
from deltaprop.data.dataset import Dataset
from deltaprop.data.encoding import one_hot
from deltaprop.data.idx import read_idx, write_idx
from deltaprop.data.mnist import FASHION_CLASSES, load_fashion_mnist, load_mnist
from deltaprop.data.registry import (
    DATASETS,
    load_breast_cancer,
    load_dataset,
    load_diabetes,
    load_digits,
    load_iris,
    load_wine,
)
from deltaprop.data.scaling import MinMaxScaler, Standardizer
from deltaprop.data.split import train_test_split
from deltaprop.data.toy import make_circles, make_moons, make_parity, make_sine, make_spirals, make_xor

__all__ = [
    "CSVTable",
    "DATASETS",
    "FASHION_CLASSES",
    "Dataset",
    "MinMaxScaler",
    "Standardizer",
    "batches",
    "load_breast_cancer",
    "load_csv",
    "load_dataset",
    "load_diabetes",
    "load_digits",
    "load_fashion_mnist",
    "load_iris",
    "load_mnist",
    "load_wine",
    "make_circles",
    "make_moons",
    "make_parity",
    "make_sine",
    "make_spirals",
    "make_xor",
    "one_hot",
    "open_csv",
    "read_csv",
    "read_idx",
    "train_test_split",
    "write_idx",
]
