"""Read a numeric CSV file into arrays, with NumPy and the standard library only.

Every feature column must be numeric; a bad cell is reported with its column
name, column number and line number, because "could not convert string to
float" on row 40,000 of a file is not something a user can act on. The target
column may hold strings (class names), which become integer labels.
"""

from __future__ import annotations

import csv as _csv
import os
from pathlib import Path

import numpy as np

from deltaprop.data.dataset import Dataset


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_rows(path: Path, delimiter: str) -> list[tuple[int, list[str]]]:
    """(line number, fields) for each non-blank, non-comment line."""
    if not path.is_file():
        raise FileNotFoundError(f"read_csv: no such file: {path}")
    rows = []
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = _csv.reader(fh, delimiter=delimiter, skipinitialspace=True)
        for fields in reader:
            if not fields or all(not f.strip() for f in fields) or fields[0].lstrip().startswith("#"):
                continue
            rows.append((reader.line_num, [f.strip() for f in fields]))
    if not rows:
        raise ValueError(f"read_csv: {path} holds no data rows")
    return rows


def _column_index(target: str | int, names: list[str], has_header: bool, path: Path) -> int:
    if isinstance(target, (int, np.integer)) and not isinstance(target, bool):
        index = int(target)
        if not -len(names) <= index < len(names):
            raise ValueError(
                f"read_csv: target column {index} is out of range for {len(names)} columns in {path}"
            )
        return index % len(names)
    if target in names:
        return names.index(target)
    if not has_header:
        raise ValueError(
            f"read_csv: {path} has no header row, so target {target!r} cannot be found by name; "
            "pass the column number instead (0-based, -1 for the last)"
        )
    raise ValueError(f"read_csv: no column named {target!r} in {path}; columns are: {', '.join(names)}")


def _numeric_column(cells: list[str], lines: list[int], name: str, col: int, path: Path) -> np.ndarray:
    try:
        return np.array(cells, dtype=np.float64)
    except ValueError:
        pass
    for cell, line in zip(cells, lines, strict=True):
        if not _is_number(cell):
            what = "an empty value" if cell == "" else f"the non-numeric value {cell!r}"
            raise ValueError(
                f"read_csv: column {name!r} (column {col + 1}) has {what} on line {line} of {path}; "
                "feature columns must be numeric: encode it as numbers, drop the column, "
                "or make it the target"
            ) from None
    raise AssertionError("unreachable")  # pragma: no cover


def _target_column(cells: list[str], lines: list[int], name: str, col: int, path: Path):
    """Numeric targets as int64 (all whole numbers) or float32; text targets as sorted class codes."""
    if all(_is_number(c) for c in cells):
        values = np.array(cells, dtype=np.float64)
        if np.all(np.isfinite(values)) and np.all(values == np.round(values)):
            return values.astype(np.int64), None
        return values.astype(np.float32), None
    if "" in cells:
        line = lines[cells.index("")]
        raise ValueError(f"read_csv: target column {name!r} has an empty value on line {line} of {path}")
    classes, codes = np.unique(np.array(cells), return_inverse=True)
    return codes.astype(np.int64), [str(c) for c in classes]


def _parse(
    path: str | os.PathLike, target: str | int | None, delimiter: str, header: bool | None
) -> tuple[np.ndarray, np.ndarray | None, list[str], list[str] | None]:
    path = Path(path)
    rows = _read_rows(path, delimiter)
    first_line, first = rows[0]
    has_header = not any(_is_number(f) for f in first) if header is None else header
    width = len(first)
    names = first if has_header else [f"x{i}" for i in range(width)]
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"read_csv: header on line {first_line} of {path} repeats column names: {dupes}")
    data = rows[1:] if has_header else rows
    if not data:
        raise ValueError(f"read_csv: {path} has a header but no data rows")
    for line, fields in data:
        if len(fields) != width:
            raise ValueError(
                f"read_csv: line {line} of {path} has {len(fields)} fields but the "
                f"{'header' if has_header else 'first row'} has {width}"
            )
    lines = [line for line, _ in data]
    columns = list(zip(*(fields for _, fields in data), strict=True))
    target_col = None if target is None else _column_index(target, names, has_header, path)
    y, classes = None, None
    if target_col is not None:
        y, classes = _target_column(list(columns[target_col]), lines, names[target_col], target_col, path)
    feature_cols = [c for c in range(width) if c != target_col]
    if not feature_cols:
        raise ValueError(f"read_csv: {path} has no feature columns besides the target {names[target_col]!r}")
    X = np.empty((len(data), len(feature_cols)), dtype=np.float32)
    for j, c in enumerate(feature_cols):
        X[:, j] = _numeric_column(list(columns[c]), lines, names[c], c, path)
    return X, y, [names[c] for c in feature_cols], classes


def read_csv(
    path: str | os.PathLike,
    target: str | int | None = None,
    delimiter: str = ",",
    header: bool | None = None,
) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """Load a CSV file as ``(X, y, feature_names)``.

    ``target`` names the column to predict (by header name, or 0-based index;
    -1 is the last column); ``y`` is None when ``target`` is None (data to
    predict on). X is float32. y is int64 when the target holds whole numbers
    or text (text labels become 0..K-1 in sorted order; see `load_csv` for
    their names), else float32. ``header=None`` detects a header row: the first
    row is a header when none of its fields is a number. Blank lines and lines
    starting with '#' are skipped.
    """
    X, y, names, _ = _parse(path, target, delimiter, header)
    return X, y, names


def load_csv(
    path: str | os.PathLike,
    target: str | int,
    task: str = "auto",
    delimiter: str = ",",
    header: bool | None = None,
) -> Dataset:
    """Like `read_csv` but returns a `Dataset`, keeping text class names in ``target_names``.

    ``task='auto'`` picks 'classify' for text or whole-number targets and
    'regress' for fractional ones; regression targets come back as float32
    of shape (n, 1).
    """
    X, y, names, classes = _parse(path, target, delimiter, header)
    assert y is not None
    if task == "auto":
        task = "classify" if y.dtype == np.int64 else "regress"
    if task == "classify":
        if y.dtype != np.int64:
            raise ValueError(
                f"load_csv: task 'classify' needs whole-number or text labels, but target {target!r} "
                f"in {path} has fractional values; use task='regress'"
            )
        if classes is None and y.min() < 0:
            raise ValueError(f"load_csv: class labels must be >= 0, target {target!r} has {int(y.min())}")
    elif task == "regress":
        if classes is not None:
            raise ValueError(f"load_csv: task 'regress' needs a numeric target, {target!r} holds text labels")
        y = y.astype(np.float32).reshape(-1, 1)
        classes = None
    else:
        raise ValueError(f"load_csv: task must be 'auto', 'classify' or 'regress', got {task!r}")
    return Dataset(
        X, y, task, names, classes, f"Loaded from {Path(path)} (target {target!r}).", name=Path(path).stem
    )
