import numpy as np
import pytest

from deltaprop.data import load_csv, read_csv


def _write(tmp_path, text, name="d.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_header_and_target_by_name(tmp_path):
    path = _write(tmp_path, "a,b,label\n1,2.5,0\n3,4,1\n\n# comment\n5,6,1\n")
    X, y, names = read_csv(path, target="label")
    assert names == ["a", "b"]
    np.testing.assert_array_equal(X, [[1, 2.5], [3, 4], [5, 6]])
    assert X.dtype == np.float32
    np.testing.assert_array_equal(y, [0, 1, 1])
    assert y.dtype == np.int64


def test_no_header_target_by_index_and_no_target(tmp_path):
    path = _write(tmp_path, "1,2,0.5\n3,4,1.25\n")
    X, y, names = read_csv(path, target=-1)
    assert names == ["x0", "x1"]
    np.testing.assert_array_equal(X, [[1, 2], [3, 4]])
    np.testing.assert_array_equal(y, np.array([0.5, 1.25], dtype=np.float32))
    assert y.dtype == np.float32
    X, y, names = read_csv(path)
    assert X.shape == (2, 3) and y is None and names == ["x0", "x1", "x2"]
    X, y, _ = read_csv(path, target=0)
    np.testing.assert_array_equal(y, [1, 3])
    np.testing.assert_array_equal(X, [[2, 0.5], [4, 1.25]])


def test_text_target_becomes_sorted_class_codes(tmp_path):
    path = _write(tmp_path, "w,species\n1.0,virginica\n2.0,setosa\n3.0,virginica\n")
    X, y, _ = read_csv(path, target="species")
    np.testing.assert_array_equal(y, [1, 0, 1])
    ds = load_csv(path, target="species")
    assert ds.task == "classify" and ds.target_names == ["setosa", "virginica"]
    assert ds.n_classes == 2


def test_non_numeric_feature_column_names_column_and_line(tmp_path):
    path = _write(tmp_path, "a,color,y\n1,2,0\n3,red,1\n")
    expected = r"column 'color' \(column 2\) has the non-numeric value 'red' on line 3"
    with pytest.raises(ValueError, match=expected):
        read_csv(path, target="y")


def test_empty_cell_is_reported(tmp_path):
    path = _write(tmp_path, "a,b,y\n1,2,0\n3,,1\n")
    with pytest.raises(ValueError, match=r"column 'b' \(column 2\) has an empty value on line 3"):
        read_csv(path, target="y")


def test_ragged_rows_unknown_target_and_missing_file(tmp_path):
    with pytest.raises(ValueError, match="line 3 of .* has 2 fields but the header has 3"):
        read_csv(_write(tmp_path, "a,b,y\n1,2,0\n3,4\n"), target="y")
    with pytest.raises(ValueError, match="no column named 'z'.*columns are: a, b, y"):
        read_csv(_write(tmp_path, "a,b,y\n1,2,0\n", "e.csv"), target="z")
    with pytest.raises(ValueError, match="no header row"):
        read_csv(_write(tmp_path, "1,2,0\n", "f.csv"), target="y")
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_csv(tmp_path / "missing.csv")
    with pytest.raises(ValueError, match="no data rows"):
        read_csv(_write(tmp_path, "a,b\n", "g.csv"))


def test_load_csv_regression_shape_and_task_checks(tmp_path):
    path = _write(tmp_path, "x,t\n1,0.5\n2,1.5\n")
    ds = load_csv(path, target="t")
    assert ds.task == "regress" and ds.y.shape == (2, 1) and ds.y.dtype == np.float32
    with pytest.raises(ValueError, match="use task='regress'"):
        load_csv(path, target="t", task="classify")
    ints = load_csv(_write(tmp_path, "x,t\n1,3\n2,4\n", "i.csv"), target="t", task="regress")
    np.testing.assert_array_equal(ints.y, [[3.0], [4.0]])


def test_semicolon_delimiter_and_explicit_header(tmp_path):
    path = _write(tmp_path, "1;2\n3;4\n")
    X, _, names = read_csv(path, delimiter=";", header=True)
    assert names == ["1", "2"]
    np.testing.assert_array_equal(X, [[3, 4]])
