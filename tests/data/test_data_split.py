import numpy as np
import pytest

import deltaprop
from deltaprop.data import train_test_split


def _data(n=100):
    X = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
    y = np.arange(n)
    return X, y


def test_split_sizes_rows_disjoint_and_complete():
    X, y = _data()
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, seed=0)
    assert Xtr.shape == (80, 2) and Xte.shape == (20, 2)
    assert sorted(np.concatenate([ytr, yte]).tolist()) == list(range(100))
    np.testing.assert_array_equal(Xtr[:, 0], 2 * ytr)  # rows stay paired with their labels
    np.testing.assert_array_equal(Xte[:, 0], 2 * yte)


def test_fraction_rounds_up_and_count_is_exact():
    X, y = _data(10)
    assert len(train_test_split(X, y, test_size=0.25, seed=1)[1]) == 3
    assert len(train_test_split(X, y, test_size=4, seed=1)[1]) == 4


def test_seed_repeats_and_package_generator_is_used():
    X, y = _data()
    a = train_test_split(X, y, seed=3)[3]
    b = train_test_split(X, y, seed=3)[3]
    np.testing.assert_array_equal(a, b)
    deltaprop.manual_seed(7)
    c = train_test_split(X, y)[3]
    deltaprop.manual_seed(7)
    d = train_test_split(X, y)[3]
    np.testing.assert_array_equal(c, d)
    assert not np.array_equal(a, train_test_split(X, y, seed=4)[3])


def test_stratified_split_keeps_class_proportions_exactly():
    y = np.array([0] * 70 + [1] * 20 + [2] * 10)
    X = np.arange(100, dtype=np.float32).reshape(-1, 1)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, seed=0, stratify=y)
    np.testing.assert_array_equal(np.bincount(yte), [14, 4, 2])
    np.testing.assert_array_equal(np.bincount(ytr), [56, 16, 8])
    # stratify=True means "stratify on y"
    yte2 = train_test_split(X, y, test_size=0.2, seed=0, stratify=True)[3]
    np.testing.assert_array_equal(np.bincount(yte2), [14, 4, 2])


def test_stratified_rounding_gives_the_requested_total():
    y = np.array([0] * 5 + [1] * 5 + [2] * 5)
    yte = train_test_split(np.zeros((15, 1)), y, test_size=0.2, seed=0, stratify=y)[3]
    assert len(yte) == 3
    np.testing.assert_array_equal(np.bincount(yte), [1, 1, 1])


def test_no_shuffle_takes_the_last_rows():
    X, y = _data(10)
    _, _, ytr, yte = train_test_split(X, y, test_size=0.3, shuffle=False)
    np.testing.assert_array_equal(ytr, np.arange(7))
    np.testing.assert_array_equal(yte, [7, 8, 9])


def test_split_errors():
    X, y = _data(10)
    with pytest.raises(ValueError, match="X has 10 rows but y has 9"):
        train_test_split(X, y[:9])
    with pytest.raises(ValueError, match="test_size"):
        train_test_split(X, y, test_size=1.5)
    with pytest.raises(ValueError, match="both must be at least 1"):
        train_test_split(X, y, test_size=10)
