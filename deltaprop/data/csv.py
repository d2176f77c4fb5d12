"""Read a numeric CSV file into arrays, with NumPy and the standard library only.

Every feature column must be numeric; a bad cell is reported with its column
name, column number and line number, because "could not convert string to
float" on row 40,000 of a file is not something a user can act on. The target
column may hold strings (class names), which become integer labels.

Files come from spreadsheets as often as from code, so the reader copes with
what spreadsheets write: a UTF-8 byte-order mark (Excel), UTF-16 with a mark,
Windows-1252/latin-1 text, and ';' or tab instead of ',' (detected when only
one of them splits every line the same way).
"""

from __future__ import annotations

import csv as _csv
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deltaprop.data.dataset import Dataset

DELIMITERS = (",", ";", "\t")
_FALLBACK_ENCODINGS = ("utf-8-sig", "cp1252", "latin-1")  # latin-1 decodes any bytes: the last resort
_SNIFF_LINES = 50
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_DECIMAL_COMMA = re.compile(r"^[+-]?\d+,\d+$")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# --------------------------------------------------------------------------- bytes -> text


def _decode(path: Path, raw: bytes, encoding: str | None) -> tuple[str, str]:
    """(text, encoding used). Auto: a BOM decides, else UTF-8, else Windows-1252, else latin-1."""
    if encoding is None and raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        encoding = "utf-16"
    if encoding is not None:
        name = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
        try:
            return raw.decode(name), encoding
        except LookupError:
            raise ValueError(
                f"read_csv: unknown encoding {encoding!r}; use e.g. 'utf-8' or 'latin-1'"
            ) from None
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            raise ValueError(
                f"read_csv: {path} is not valid {encoding} text (byte {raw[exc.start]:#04x} on line {line}); "
                "pass the file's real encoding, e.g. encoding='latin-1' (--encoding latin-1)"
            ) from None
    for name in _FALLBACK_ENCODINGS:
        try:
            return raw.decode(name), name
        except UnicodeDecodeError:
            continue
    raise AssertionError("unreachable: latin-1 decodes any bytes")  # pragma: no cover


def _read_text(path: Path, encoding: str | None) -> tuple[str, str]:
    if not path.is_file():
        raise FileNotFoundError(f"read_csv: no such file: {path}")
    text, used = _decode(path, path.read_bytes(), encoding)
    if "\x00" in text:
        raise ValueError(
            f"read_csv: {path} is not a text CSV file (it holds NUL bytes); pass a CSV file, or its "
            "encoding if it is UTF-16 without a byte-order mark (encoding='utf-16')"
        )
    return text, used


# --------------------------------------------------------------------------- text -> rows


def _content_lines(text: str, limit: int) -> list[str]:
    """The first ``limit`` lines that are neither blank nor comments."""
    found = []
    for line in io.StringIO(text):
        if line.strip() and not line.lstrip().startswith("#"):
            found.append(line)
            if len(found) == limit:
                break
    return found


def _sniff_delimiter(text: str, path: Path) -> str:
    """',' ';' or tab: the one candidate that splits the first lines into the same number (> 1) of fields."""
    sample = _content_lines(text, _SNIFF_LINES)
    if not sample:
        return ","
    widths = {d: {len(fields) for fields in _csv.reader(sample, delimiter=d)} for d in DELIMITERS}
    splitting = [d for d in DELIMITERS if len(next(_csv.reader(sample[:1], delimiter=d), [])) > 1]
    consistent = [d for d in splitting if len(widths[d]) == 1]
    if len(splitting) <= 1:
        # one column, or the only candidate (its ragged lines are reported later, by line number)
        return splitting[0] if splitting else ","
    if len(consistent) == 1:
        return consistent[0]
    shown = " and ".join(repr(d) for d in (consistent or splitting))
    raise ValueError(
        f"read_csv: cannot tell how {path} separates its columns: {shown} both split its lines; "
        f"pass delimiter={(consistent or splitting)[0]!r} (on the command line: --delimiter)"
    )


def _rows(text: str, delimiter: str, path: Path) -> list[tuple[int, list[str]]]:
    """(line number, fields) for each non-blank, non-comment line."""
    rows = []
    reader = _csv.reader(io.StringIO(text), delimiter=delimiter, skipinitialspace=True)
    try:
        for fields in reader:
            if not fields or all(not f.strip() for f in fields) or fields[0].lstrip().startswith("#"):
                continue
            rows.append((reader.line_num, [f.strip() for f in fields]))
    except _csv.Error as exc:
        raise ValueError(f"read_csv: line {reader.line_num} of {path} is not valid CSV: {exc}") from None
    if not rows:
        raise ValueError(f"read_csv: {path} holds no data rows")
    return rows


# --------------------------------------------------------------------------- the table


@dataclass
class CSVTable:
    """A CSV file read into cells: its column names, data rows and their line numbers in the file.

    `open_csv` makes one; `arrays` turns it into (X, y). Separate steps so a
    caller can check a column name against ``columns`` before any conversion.
    """

    path: Path
    columns: list[str]
    has_header: bool
    rows: list[list[str]]
    lines: list[int]
    delimiter: str
    encoding: str

    def arrays(
        self, target: str | int | None = None, allow_nonfinite: bool = True
    ) -> tuple[np.ndarray, np.ndarray | None, list[str], list[str] | None]:
        """(X float32, y or None, feature names, class names of a text target or None).

        ``allow_nonfinite=False`` refuses 'nan'/'inf' cells, naming line and column.
        """
        names, path = self.columns, self.path
        columns = list(zip(*self.rows, strict=True))
        target_col = None if target is None else _column_index(target, names, self.has_header, path)
        y, classes = None, None
        if target_col is not None:
            cells = _Cells(list(columns[target_col]), self.lines, names[target_col], target_col, path)
            y, classes = _target_column(cells, allow_nonfinite)
        feature_cols = [c for c in range(len(names)) if c != target_col]
        if not feature_cols:
            besides = "" if target_col is None else f" besides the target {names[target_col]!r}"
            raise ValueError(f"read_csv: {path} has no feature columns{besides}")
        X = np.empty((len(self.rows), len(feature_cols)), dtype=np.float32)
        for j, c in enumerate(feature_cols):
            cells = _Cells(list(columns[c]), self.lines, names[c], c, path)
            X[:, j] = _numeric_column(cells, allow_nonfinite)
        return X, y, [names[c] for c in feature_cols], classes


def open_csv(
    path: str | os.PathLike,
    delimiter: str | None = None,
    header: bool | None = None,
    encoding: str | None = None,
) -> CSVTable:
    """Read a CSV file's cells (see `read_csv` for the arguments) without converting them yet."""
    path = Path(path)
    if delimiter is not None and len(delimiter) != 1:
        raise ValueError(
            f"read_csv: delimiter must be one character such as ',' ';' or '\\t', got {delimiter!r}"
        )
    text, used = _read_text(path, encoding)
    delimiter = delimiter or _sniff_delimiter(text, path)
    rows = _rows(text, delimiter, path)
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
            hint = "" if delimiter != "," else "; if its columns are separated by ';' or tabs, pass delimiter"
            raise ValueError(
                f"read_csv: line {line} of {path} has {len(fields)} fields but the "
                f"{'header' if has_header else 'first row'} has {width}{hint}"
            )
    return CSVTable(path, names, has_header, [fields for _, fields in data], [line for line, _ in data],
                    delimiter, used)


# --------------------------------------------------------------------------- columns


@dataclass
class _Cells:
    """One column's text cells and where they came from, for error messages."""

    values: list[str]
    lines: list[int]
    name: str
    col: int
    path: Path

    def where(self, i: int) -> str:
        return f"column {self.name!r} (column {self.col + 1}) on line {self.lines[i]} of {self.path}"


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


def _check_finite(values: np.ndarray, cells: _Cells, allow_nonfinite: bool, what: str) -> None:
    """Non-finite cells (when refused) and values float32 cannot hold, by line and column."""
    if not allow_nonfinite:
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            more = f" (and {bad.size - 1} more in this column)" if bad.size > 1 else ""
            raise ValueError(
                f"read_csv: {what}{cells.where(bad[0])} holds {cells.values[bad[0]]!r}{more}; "
                "a network cannot use non-finite values: fill them in or drop those rows"
            )
    with np.errstate(invalid="ignore"):
        huge = np.flatnonzero(np.isfinite(values) & (np.abs(values) > _FLOAT32_MAX))
    if huge.size:
        raise ValueError(
            f"read_csv: {what}{cells.where(huge[0])} holds {cells.values[huge[0]]}, beyond float32's range "
            f"(+-{_FLOAT32_MAX:.3g}); rescale the column (e.g. take its logarithm)"
        )


def _numeric_column(cells: _Cells, allow_nonfinite: bool) -> np.ndarray:
    try:
        values = np.array(cells.values, dtype=np.float64)
    except ValueError:
        values = None
    if values is not None:
        _check_finite(values, cells, allow_nonfinite, "")
        return values
    for i, cell in enumerate(cells.values):
        if not _is_number(cell):
            what = "an empty value" if cell == "" else f"the non-numeric value {cell!r}"
            hint = " (a decimal comma? write it with a point, e.g. 1.5)" if _DECIMAL_COMMA.match(cell) else ""
            raise ValueError(
                f"read_csv: column {cells.name!r} (column {cells.col + 1}) has {what}{hint} on line "
                f"{cells.lines[i]} of {cells.path}; feature columns must be numeric: encode it as numbers, "
                "drop the column, or make it the target"
            ) from None
    raise AssertionError("unreachable")  # pragma: no cover


def _target_column(cells: _Cells, allow_nonfinite: bool):
    """Numeric targets as int64 (all whole numbers) or float32; text targets as sorted class codes."""
    if all(_is_number(c) for c in cells.values):
        values = np.array(cells.values, dtype=np.float64)
        _check_finite(values, cells, allow_nonfinite, "the target ")
        if np.all(np.isfinite(values)) and np.all(values == np.round(values)):
            return values.astype(np.int64), None
        return values.astype(np.float32), None
    if "" in cells.values:
        i = cells.values.index("")
        raise ValueError(
            f"read_csv: target column {cells.name!r} has an empty value on line {cells.lines[i]} "
            f"of {cells.path}"
        )
    classes, codes = np.unique(np.array(cells.values), return_inverse=True)
    return codes.astype(np.int64), [str(c) for c in classes]


# --------------------------------------------------------------------------- the public readers


def read_csv(
    path: str | os.PathLike,
    target: str | int | None = None,
    delimiter: str | None = None,
    header: bool | None = None,
    encoding: str | None = None,
    allow_nonfinite: bool = True,
) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """Load a CSV file as ``(X, y, feature_names)``.

    ``target`` names the column to predict (by header name, or 0-based index;
    -1 is the last column); ``y`` is None when ``target`` is None (data to
    predict on). X is float32. y is int64 when the target holds whole numbers
    or text (text labels become 0..K-1 in sorted order; see `load_csv` for
    their names), else float32. ``header=None`` detects a header row: the first
    row is a header when none of its fields is a number. Blank lines and lines
    starting with '#' are skipped. ``delimiter=None`` detects ',' ';' or tab;
    ``encoding=None`` reads UTF-8 (with or without a BOM), UTF-16 with a BOM,
    else Windows-1252/latin-1. ``allow_nonfinite=False`` refuses 'nan' and
    'inf' cells with the line and column.
    """
    X, y, names, _ = open_csv(path, delimiter, header, encoding).arrays(target, allow_nonfinite)
    return X, y, names


def load_csv(
    path: str | os.PathLike,
    target: str | int,
    task: str = "auto",
    delimiter: str | None = None,
    header: bool | None = None,
    encoding: str | None = None,
    allow_nonfinite: bool = True,
) -> Dataset:
    """Like `read_csv` but returns a `Dataset`, keeping text class names in ``target_names``.

    ``task='auto'`` picks 'classify' for text or whole-number targets and
    'regress' for fractional ones; regression targets come back as float32
    of shape (n, 1).
    """
    X, y, names, classes = open_csv(path, delimiter, header, encoding).arrays(target, allow_nonfinite)
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
