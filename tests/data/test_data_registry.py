import numpy as np
import pytest

import deltaprop.data as data
from deltaprop.data import DATASETS, Dataset, load_dataset, load_digits

DIGIT_COUNTS = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


def test_digits_shape_classes_counts_and_attribution():
    ds = load_digits()
    assert ds.X.shape == (1797, 64) and ds.X.dtype == np.float32
    assert ds.y.dtype == np.int64 and ds.n_classes == 10
    np.testing.assert_array_equal(np.bincount(ds.y), DIGIT_COUNTS)
    assert ds.X.min() == 0 and ds.X.max() == 16
    np.testing.assert_array_equal(ds.y[:10], np.arange(10))
    assert "CC BY 4.0" in ds.description and "Alpaydin" in ds.description
    assert "archive.ics.uci.edu" in ds.description
    scaled = load_digits(scaled=True)
    np.testing.assert_allclose(scaled.X * 16, ds.X)


def test_digits_unpack_like_a_pair():
    X, y = load_digits()
    assert X.shape == (1797, 64) and y.shape == (1797,)


def test_load_dataset_by_name_with_options():
    assert load_dataset("digits").X.shape == (1797, 64)
    np.testing.assert_array_equal(load_dataset("XOR").y, [0, 1, 1, 0])
    assert load_dataset("parity").X.shape == (8, 3)
    p4 = load_dataset("parity-4")
    assert p4.X.shape == (16, 4)
    np.testing.assert_array_equal(p4.y, p4.X.sum(axis=1).astype(int) % 2)
    assert load_dataset("spirals", n=50, seed=0).X.shape == (50, 2)
    assert load_dataset("moons", n=40, noise=0.0).X.shape == (40, 2)
    assert load_dataset("circles").X.shape == (200, 2)
    assert load_dataset("sine", n=30, seed=1).task == "regress"


def test_datasets_lists_every_required_name():
    required = {"digits", "xor", "parity", "parity-4", "spirals", "moons", "sine", "circles",
                "fashion-mnist", "mnist", "iris", "wine", "breast-cancer", "diabetes"}  # fmt: skip
    assert required <= set(DATASETS)


def test_unknown_names_list_the_choices():
    with pytest.raises(ValueError, match="unknown data set 'nope'; choose one of: digits, xor"):
        load_dataset("nope")
    with pytest.raises(ValueError, match="parity takes a bit count"):
        load_dataset("parity-x")


@pytest.mark.parametrize(
    "name, shape, counts",
    [("iris", (150, 4), [50, 50, 50]), ("wine", (178, 13), [59, 71, 48]),
     ("breast_cancer", (569, 30), [212, 357])],
)  # fmt: skip
def test_sklearn_classification_sets(name, shape, counts):
    pytest.importorskip("sklearn")
    ds = load_dataset(name)
    assert ds.X.shape == shape and ds.X.dtype == np.float32
    np.testing.assert_array_equal(np.bincount(ds.y), counts)
    assert len(ds.target_names) == len(counts) and len(ds.feature_names) == shape[1]
    assert "scikit-learn" in ds.description


def test_sklearn_diabetes_is_regression():
    pytest.importorskip("sklearn")
    ds = load_dataset("diabetes")
    assert ds.task == "regress" and ds.X.shape == (442, 10) and ds.y.shape == (442, 1)
    assert ds.y.dtype == np.float32 and ds.n_classes is None
    assert ds.y.min() >= 25 and ds.y.max() <= 346


def test_sklearn_missing_gives_install_hint(monkeypatch):
    import deltaprop.data.registry as registry

    def fail(module, extra, purpose):
        raise ImportError(f"{purpose} needs the optional package 'sklearn': pip install 'deltaprop[{extra}]'")

    monkeypatch.setattr(registry, "optional_import", fail)
    with pytest.raises(ImportError, match=r"the 'iris' data set needs .*deltaprop\[sklearn\]"):
        data.load_iris()


def test_dataset_validates_its_fields():
    with pytest.raises(ValueError, match="task must be one of"):
        Dataset(np.zeros((2, 1)), np.zeros(2), task="cluster")
    with pytest.raises(ValueError, match="X has 2 rows but y has 3"):
        Dataset(np.zeros((2, 1)), np.zeros(3))
    ds = Dataset(np.zeros((2, 3), np.float32), np.array([0, 2]))
    assert ds.feature_names == ["x0", "x1", "x2"] and ds.n_classes == 3 and len(ds) == 2
