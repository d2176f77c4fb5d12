import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from deltaprop.data import MinMaxScaler, Standardizer

X = np.array([[1.0, 10.0, 5.0], [3.0, 20.0, 5.0], [5.0, 60.0, 5.0]])


def test_standardizer_learns_exact_mean_and_population_std():
    s = Standardizer().fit(X)
    np.testing.assert_allclose(s.mean, [3.0, 30.0, 5.0])
    # population std of [1,3,5] is sqrt(8/3); of [10,20,60] is sqrt(1400/3); constant column -> 1
    np.testing.assert_allclose(s.std, [np.sqrt(8 / 3), np.sqrt(1400 / 3), 1.0])
    Z = s.transform(X)
    np.testing.assert_allclose(Z.mean(axis=0), [0.0, 0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(Z.std(axis=0), [1.0, 1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(Z[:, 0], [-np.sqrt(1.5), 0.0, np.sqrt(1.5)])


def test_standardizer_round_trip_and_dtype():
    X32 = X.astype(np.float32)
    s = Standardizer()
    Z = s.fit_transform(X32)
    assert Z.dtype == np.float32
    np.testing.assert_allclose(s.inverse_transform(Z), X32, rtol=1e-6)


def test_standardizer_uses_training_statistics_on_new_data():
    s = Standardizer().fit(X)
    new = np.array([[3.0, 30.0, 6.0]])
    np.testing.assert_allclose(s.transform(new), [[0.0, 0.0, 1.0]])


def test_standardizer_state_dict_restores_a_fresh_scaler():
    s = Standardizer().fit(X)
    t = Standardizer().load_state_dict({k: v.copy() for k, v in s.state_dict().items()})
    np.testing.assert_array_equal(t.transform(X), s.transform(X))
    with pytest.raises(KeyError, match="std"):
        Standardizer().load_state_dict({"mean": np.zeros(3)})


def test_scaler_errors_are_clear():
    with pytest.raises(RuntimeError, match="call fit"):
        Standardizer().transform(X)
    s = Standardizer().fit(X)
    with pytest.raises(ValueError, match="X has 2 features but the scaler was fitted on 3"):
        s.transform(X[:, :2])
    with pytest.raises(ValueError, match="2-D"):
        Standardizer().fit(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="low < high"):
        MinMaxScaler((1.0, 0.0))


def test_minmax_maps_columns_onto_range_exactly():
    m = MinMaxScaler((-1.0, 1.0)).fit(X)
    np.testing.assert_allclose(m.data_min, [1.0, 10.0, 5.0])
    np.testing.assert_allclose(m.data_max, [5.0, 60.0, 5.0])
    Z = m.transform(X)
    np.testing.assert_allclose(Z, [[-1.0, -1.0, -1.0], [0.0, -0.6, -1.0], [1.0, 1.0, -1.0]])
    np.testing.assert_allclose(m.inverse_transform(Z), X)


def test_minmax_state_dict_keeps_feature_range():
    m = MinMaxScaler((2.0, 4.0)).fit(X)
    n = MinMaxScaler().load_state_dict(m.state_dict())
    assert n.feature_range == (2.0, 4.0)
    np.testing.assert_allclose(n.transform(X)[:, 0], [2.0, 3.0, 4.0])


def test_integer_input_is_scaled_to_float32():
    Z = MinMaxScaler().fit_transform(np.array([[0], [5], [10]]))
    assert Z.dtype == np.float32
    np.testing.assert_allclose(Z.ravel(), [0.0, 0.5, 1.0])


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(2, 8), st.integers(1, 4)), elements=st.floats(-1e3, 1e3)))
def test_round_trips_recover_the_data(data):
    for scaler in (Standardizer(), MinMaxScaler()):
        Z = scaler.fit_transform(data)
        np.testing.assert_allclose(scaler.inverse_transform(Z), data, rtol=1e-9, atol=1e-9)


def test_float32_data_is_standardized_in_float32_with_float64_statistics():
    rng = np.random.default_rng(0)
    X32 = (10_000.0 + rng.normal(0.0, 2.0, size=(5000, 3))).astype(np.float32)
    s = Standardizer().fit(X32)
    np.testing.assert_allclose(s.mean, X32.astype(np.float64).mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(s.std, X32.astype(np.float64).std(axis=0), rtol=1e-9)
    Z = s.transform(X32)
    assert Z.dtype == np.float32
    np.testing.assert_allclose(Z, (X32.astype(np.float64) - s.mean) / s.std, atol=1e-3)
