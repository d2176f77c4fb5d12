import numpy as np
import pytest

import deltaprop
from deltaprop.data import make_circles, make_moons, make_parity, make_sine, make_spirals, make_xor


def test_xor_is_the_truth_table():
    X, y = make_xor()
    np.testing.assert_array_equal(X, [[0, 0], [0, 1], [1, 0], [1, 1]])
    np.testing.assert_array_equal(y, [0, 1, 1, 0])
    np.testing.assert_array_equal(y, X[:, 0].astype(int) ^ X[:, 1].astype(int))
    assert X.dtype == np.float32 and y.dtype == np.int64


@pytest.mark.parametrize("bits", [1, 2, 3, 4, 6])
def test_parity_covers_every_input_and_labels_are_sum_mod_2(bits):
    ds = make_parity(bits)
    assert ds.X.shape == (2**bits, bits)
    assert len({tuple(r) for r in ds.X.tolist()}) == 2**bits
    np.testing.assert_array_equal(ds.y, ds.X.sum(axis=1).astype(int) % 2)
    assert ds.y.sum() == 2 ** (bits - 1)


def test_parity_2_equals_xor():
    np.testing.assert_array_equal(make_parity(2).y, make_xor().y)
    with pytest.raises(ValueError, match="bits"):
        make_parity(0)


def test_spirals_shapes_labels_and_seed():
    ds = make_spirals(101, noise=0.0, seed=0)
    assert ds.X.shape == (101, 2) and ds.X.dtype == np.float32
    np.testing.assert_array_equal(np.bincount(ds.y), [51, 50])
    assert np.all(np.linalg.norm(ds.X, axis=1) <= 1.0 + 1e-6)
    a = make_spirals(100, noise=0.0, seed=3)
    np.testing.assert_array_equal(a.X, make_spirals(100, noise=0.0, seed=3).X)
    assert not np.array_equal(a.X, make_spirals(100, noise=0.0, seed=4).X)
    with pytest.raises(ValueError, match="n must be"):
        make_spirals(1)


def test_moons_without_noise_lie_on_two_half_circles():
    ds = make_moons(20, noise=0.0)
    upper, lower = ds.X[ds.y == 0], ds.X[ds.y == 1]
    np.testing.assert_allclose(np.linalg.norm(upper, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(lower - [1.0, 0.5], axis=1), 1.0, atol=1e-6)
    assert np.all(upper[:, 1] >= -1e-6) and np.all(lower[:, 1] <= 0.5 + 1e-6)


def test_circles_radii_and_package_generator():
    ds = make_circles(30, noise=0.0, factor=0.3)
    r = np.linalg.norm(ds.X, axis=1)
    np.testing.assert_allclose(r[ds.y == 0], 1.0, atol=1e-6)
    np.testing.assert_allclose(r[ds.y == 1], 0.3, atol=1e-6)
    deltaprop.manual_seed(11)
    a = make_circles(30).X
    deltaprop.manual_seed(11)
    np.testing.assert_array_equal(a, make_circles(30).X)


def test_sine_is_sin_of_x_on_minus_pi_to_pi():
    ds = make_sine(500, seed=0)
    assert ds.task == "regress" and ds.X.shape == (500, 1) and ds.y.shape == (500, 1)
    assert ds.X.min() >= -np.pi and ds.X.max() <= np.pi
    assert ds.X.min() < -3.0 and ds.X.max() > 3.0
    np.testing.assert_allclose(ds.y, np.sin(ds.X.astype(np.float64)), atol=1e-6)
    noisy = make_sine(500, seed=0, noise=0.1)
    resid = noisy.y - np.sin(noisy.X.astype(np.float64))
    assert 0.08 < resid.std() < 0.12
