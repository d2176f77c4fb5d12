"""Checks on the real Fashion-MNIST; skipped only where its files are not installed."""

from pathlib import Path

import numpy as np
import pytest

from deltaprop.data import load_dataset, load_fashion_mnist
from deltaprop.data.mnist import SYSTEM_FASHION_DIR, find_idx_files

pytestmark = pytest.mark.skipif(
    find_idx_files(Path(SYSTEM_FASHION_DIR)) is None,
    reason="Fashion-MNIST not installed (sudo apt-get install dataset-fashion-mnist)",
)


@pytest.fixture(scope="module")
def fashion():
    return load_fashion_mnist(SYSTEM_FASHION_DIR)


def test_real_fashion_mnist_shapes_range_and_balance(fashion):
    assert fashion.X.shape == (60000, 784) and fashion.X.dtype == np.float32
    assert fashion.X_test.shape == (10000, 784)
    assert fashion.X.min() == 0.0 and fashion.X.max() == 1.0
    np.testing.assert_array_equal(np.bincount(fashion.y), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(fashion.y_test), [1000] * 10)
    # the first training labels of the published files: Ankle boot, T-shirt, T-shirt, Dress, T-shirt
    np.testing.assert_array_equal(fashion.y[:5], [9, 0, 0, 3, 0])
    assert fashion.target_names[fashion.y[0]] == "Ankle boot"


def test_load_dataset_name_reaches_the_same_files(fashion):
    ds = load_dataset("fashion-mnist")
    np.testing.assert_array_equal(ds.y_test, fashion.y_test)
