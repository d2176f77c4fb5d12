"""Shared helpers for the CLI tests: CSV files made from the bundled digits and a tiny regression set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


def write_csv(path: Path, columns: list[str], rows: np.ndarray | list) -> Path:
    with open(path, "w") as f:
        f.write(",".join(columns) + "\n")
        for row in rows:
            f.write(",".join(str(v) for v in row) + "\n")
    return path


@pytest.fixture(name="write_csv")
def write_csv_fixture():
    """The `write_csv` helper, as a fixture (test files cannot import conftest reliably)."""
    return write_csv


@pytest.fixture(scope="session")
def digits_arrays():
    d = np.load(Path(__file__).resolve().parents[2] / "deltaprop" / "datasets" / "digits.npz")
    return d["images"].reshape(len(d["images"]), -1).astype(int), d["target"].astype(int)


@pytest.fixture
def digits_csv(tmp_path, digits_arrays):
    """digits as a CSV: columns p0..p63 and 'label' last."""
    X, y = digits_arrays
    columns = [f"p{i}" for i in range(X.shape[1])] + ["label"]
    return write_csv(tmp_path / "digits.csv", columns, np.column_stack([X, y]))


@pytest.fixture
def regression_csv(tmp_path):
    """y = 3 a - 2 b + 1 + small noise, in original units far from 0 (tests the target scaling)."""
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, size=(300, 2))
    y = 3 * X[:, 0] - 2 * X[:, 1] + 100 + rng.normal(0, 0.05, 300)
    return write_csv(tmp_path / "reg.csv", ["a", "b", "y"], np.column_stack([X, y]).round(5))
