import gzip

import numpy as np
import pytest

import deltaprop.data.mnist as mnist
from deltaprop.data import load_fashion_mnist, load_mnist, read_idx, write_idx


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
def test_round_trip_every_idx_type(tmp_path, dtype, name):
    arr = (np.arange(24).reshape(2, 3, 4) * 3 - (0 if dtype == np.uint8 else 20)).astype(dtype)
    path = write_idx(tmp_path / name, arr)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == name.endswith(".gz")
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.shape == (2, 3, 4)
    np.testing.assert_array_equal(back, arr)


def test_reads_a_hand_made_big_endian_file(tmp_path):
    # magic 00 00 0C (int32) 01 (1-D), dim 2, values 1 and -2 big-endian
    raw = bytes([0, 0, 0x0C, 1, 0, 0, 0, 2, 0, 0, 0, 1, 0xFF, 0xFF, 0xFF, 0xFE])
    (tmp_path / "h.idx").write_bytes(raw)
    np.testing.assert_array_equal(read_idx(tmp_path / "h.idx"), [1, -2])
    (tmp_path / "h.gz").write_bytes(gzip.compress(raw))  # gzip found by content, not name
    np.testing.assert_array_equal(read_idx(tmp_path / "h.gz"), [1, -2])


def test_bad_magic_truncation_and_type_code_are_clear_errors(tmp_path):
    (tmp_path / "html").write_bytes(b"<html>not found</html>")
    with pytest.raises(ValueError, match="is not an IDX file.*3c 68 74 6d"):
        read_idx(tmp_path / "html")
    good = write_idx(tmp_path / "g.idx", np.arange(10, dtype=np.uint8)).read_bytes()
    (tmp_path / "short.idx").write_bytes(good[:-3])
    with pytest.raises(ValueError, match="holds 7 data bytes but its header \\(10,\\) of uint8 needs 10"):
        read_idx(tmp_path / "short.idx")
    (tmp_path / "code.idx").write_bytes(bytes([0, 0, 0x07, 1, 0, 0, 0, 0]))
    with pytest.raises(ValueError, match="unknown IDX type code 0x07"):
        read_idx(tmp_path / "code.idx")
    (tmp_path / "bad.gz").write_bytes(b"\x1f\x8b garbage")
    with pytest.raises(ValueError, match="could not be decompressed"):
        read_idx(tmp_path / "bad.gz")
    with pytest.raises(ValueError, match="cannot be stored in IDX"):
        write_idx(tmp_path / "x.idx", np.zeros(2, dtype=np.int64))


def _fake_set(folder, n_train=6, n_test=4, gz=True):
    """A tiny MNIST-layout folder: 3x3 images whose pixels all equal 51 * label (mod 256)."""
    folder.mkdir(parents=True, exist_ok=True)
    ext = ".gz" if gz else ""
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = (np.arange(n) % 10).astype(np.uint8)
        pixels = (labels.astype(np.int64) * 51 % 256).astype(np.uint8)
        images = np.repeat(pixels[:, None, None], 9).reshape(n, 3, 3)
        write_idx(folder / f"{prefix}-images-idx3-ubyte{ext}", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{ext}", labels)
    return folder


@pytest.mark.parametrize("gz", [True, False])
def test_load_fashion_mnist_from_a_named_folder(tmp_path, gz):
    ds = load_fashion_mnist(path=_fake_set(tmp_path / "f", gz=gz))
    assert ds.X.shape == (6, 9) and ds.X_test.shape == (4, 9)
    assert ds.X.dtype == np.float32 and ds.y.dtype == np.int64
    np.testing.assert_array_equal(ds.y, [0, 1, 2, 3, 4, 5])
    np.testing.assert_allclose(ds.X[:, 0], [0, 0.2, 0.4, 0.6, 0.8, 1.0], rtol=1e-6)
    assert ds.target_names[9] == "Ankle boot"
    X, y = ds
    assert X is ds.X and y is ds.y


def test_missing_files_say_how_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setattr(mnist, "SYSTEM_FASHION_DIR", tmp_path / "none")
    monkeypatch.setattr(mnist, "SYSTEM_MNIST_DIR", tmp_path / "none")
    monkeypatch.setattr(mnist, "user_data_dir", lambda: tmp_path / "home")
    monkeypatch.delenv("DELTAPROP_DATA", raising=False)
    with pytest.raises(FileNotFoundError) as info:
        load_fashion_mnist()
    msg = str(info.value)
    assert "sudo apt-get install dataset-fashion-mnist" in msg
    assert "zalandoresearch/fashion-mnist" in msg and "path=" in msg
    with pytest.raises(FileNotFoundError, match="missing: t10k-images-idx3-ubyte"):
        folder = _fake_set(tmp_path / "partial")
        (folder / "t10k-images-idx3-ubyte.gz").unlink()
        load_fashion_mnist(path=folder)
    with pytest.raises(FileNotFoundError, match="mnist is not installed"):
        load_mnist()


def test_search_finds_files_under_deltaprop_data(tmp_path, monkeypatch):
    monkeypatch.setattr(mnist, "SYSTEM_MNIST_DIR", tmp_path / "none")
    _fake_set(tmp_path / "store" / "mnist", n_train=10)
    monkeypatch.setenv("DELTAPROP_DATA", str(tmp_path / "store"))
    ds = load_mnist()
    assert ds.X.shape == (10, 9) and ds.name == "mnist"
    np.testing.assert_array_equal(ds.y, np.arange(10))


def test_mismatched_image_and_label_counts(tmp_path):
    folder = _fake_set(tmp_path / "m")
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.zeros(5, dtype=np.uint8))
    with pytest.raises(ValueError, match="has 6 images but train-labels-idx1-ubyte.gz has 5 labels"):
        load_fashion_mnist(path=folder)
