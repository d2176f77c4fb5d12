import numpy as np
import pytest

import deltaprop
from deltaprop.data import batches, one_hot


def test_one_hot_values():
    out = one_hot(np.array([2, 0, 1, 2]), 4)
    np.testing.assert_array_equal(out, [[0, 0, 1, 0], [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]])
    assert out.dtype == np.float32
    assert one_hot([1, 0]).shape == (2, 2)  # num_classes defaults to max + 1
    np.testing.assert_array_equal(one_hot(np.array([1.0, 0.0]), 2), [[0, 1], [1, 0]])


def test_one_hot_rejects_labels_out_of_range():
    with pytest.raises(ValueError, match=r"label 3 at index 1 is outside \[0, 3\)"):
        one_hot([0, 3, 1], 3)
    with pytest.raises(ValueError, match=r"label -1 at index 0"):
        one_hot([-1, 0], 2)
    with pytest.raises(TypeError, match="integers"):
        one_hot([0.5, 1.0], 2)
    with pytest.raises(ValueError, match="1-D"):
        one_hot(np.zeros((2, 2), dtype=int), 2)


def test_batches_cover_every_row_once_in_order_without_shuffle():
    X = np.arange(10).reshape(10, 1)
    y = np.arange(10) * 10
    parts = list(batches(X, y, batch_size=4, shuffle=False))
    assert [len(xb) for xb, _ in parts] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate([xb for xb, _ in parts]).ravel(), np.arange(10))
    for xb, yb in parts:
        np.testing.assert_array_equal(yb, xb.ravel() * 10)


def test_batches_shuffle_is_a_seeded_permutation():
    X = np.arange(10).reshape(10, 1)
    y = np.arange(10)
    order = np.concatenate([yb for _, yb in batches(X, y, batch_size=3, rng=5)])
    np.testing.assert_array_equal(order, np.random.default_rng(5).permutation(10))
    deltaprop.manual_seed(2)
    a = np.concatenate([yb for _, yb in batches(X, y, batch_size=3)])
    deltaprop.manual_seed(2)
    b = np.concatenate([yb for _, yb in batches(X, y, batch_size=3)])
    np.testing.assert_array_equal(a, b)
    assert sorted(a.tolist()) == list(range(10))


def test_full_batch_drop_last_and_no_targets():
    X = np.arange(10).reshape(10, 1)
    (xb, yb), = list(batches(X, None, batch_size=None, shuffle=False))
    assert xb.shape == (10, 1) and yb is None
    assert [len(xb) for xb, _ in batches(X, None, batch_size=4, drop_last=True, rng=0)] == [4, 4]


def test_batches_errors():
    with pytest.raises(ValueError, match="batch_size"):
        list(batches(np.zeros((3, 1)), None, batch_size=0))
    with pytest.raises(ValueError, match="X has 3 rows but y has 2"):
        list(batches(np.zeros((3, 1)), np.zeros(2)))
