"""What every subcommand shares: option checks, reading CSV files, labels and reports.

Why a module of its own: the subcommands must read CSV files the same way
(so a model written by ``train`` always works with ``predict`` and
``evaluate``) and report problems the same way: one line naming the file,
the row and the column, and the fix (see `deltaprop.cli.errors`).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from deltaprop.cli.errors import EXIT_USAGE, ArgumentParser, CLIError, one_line, run_guarded

__all__ = [
    "EXIT_USAGE",
    "LAST_COLUMN",
    "ArgumentParser",
    "CLIError",
    "Table",
    "add_csv_options",
    "check_choice",
    "confusion_matrix",
    "encode_labels",
    "format_confusion",
    "is_classification_target",
    "label_name",
    "one_line",
    "parse_hidden",
    "read_table",
    "regression_report",
    "run_guarded",
    "say",
]


def say(message: str = "", *, quiet: bool = False) -> None:
    """Print to stdout unless --quiet (flushing, so progress shows up in pipes too)."""
    if not quiet:
        print(message, flush=True)


# ---------------------------------------------------------------------------- options

def parse_hidden(text: str) -> list[int]:
    """'64,32' -> [64, 32]; '' or '0' -> [] (no hidden layer: a linear/logistic model)."""
    text = text.strip()
    if text in ("", "0", "none"):
        return []
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise CLIError(
            f"--hidden {text!r} is not a list of layer sizes; write e.g. --hidden 64,32"
        ) from None
    if any(size <= 0 for size in sizes):
        raise CLIError(f"--hidden {text!r} has a size <= 0; every hidden layer needs >= 1 unit")
    return sizes


def check_choice(option: str, value: str, choices) -> str:
    """Normalise a name ('Leaky-ReLU' -> 'leaky_relu') and check it is one of the choices."""
    names = sorted(choices)
    # Registries spell names with '_' (leaky_relu) or '-' (gauss-newton); accept either spelling.
    canonical = {name.lower().replace("-", "_"): name for name in names}
    key = value.lower().replace("-", "_")
    if key not in canonical:
        raise CLIError(f"unknown {option} {value!r}; choose one of: {', '.join(names)}")
    return canonical[key]


_DELIMITER_NAMES = {"comma": ",", "semicolon": ";", "tab": "\t", "\\t": "\t", "space": " ", "pipe": "|"}


def parse_delimiter(text: str | None) -> str | None:
    """--delimiter: one character, or a name (tab, semicolon, comma); None means detect it."""
    if text is None:
        return None
    value = _DELIMITER_NAMES.get(text.lower(), text)
    if len(value) != 1:
        raise CLIError(f"--delimiter {text!r} must be one character such as ',' or ';', or one of: "
                       f"{', '.join(_DELIMITER_NAMES)}")
    return value


def add_csv_options(parser) -> None:
    """--delimiter and --encoding, for every subcommand that reads a CSV file."""
    parser.add_argument("--delimiter", metavar="CHAR",
                        help="column separator of the CSV file: ',' ';' or tab (default: detected)")
    parser.add_argument("--encoding", metavar="NAME",
                        help="text encoding of the CSV file (default: UTF-8, else Windows-1252/latin-1)")


# ---------------------------------------------------------------------------- CSV files

LAST_COLUMN = -1  # read_table's target when the user named none: the last column


@dataclass
class Table:
    """A CSV file's features, its target column (or None), and their names."""

    X: np.ndarray
    y: np.ndarray | None
    feature_names: list[str]
    target_name: str | None

    def target(self) -> np.ndarray:
        """``y`` of a table read with a target column (always there unless ``target_optional``)."""
        if self.y is None:
            raise CLIError("the data has no target column; name it with --target COLUMN")
        return self.y


def read_table(path: str | Path, target: str | int | None, *, delimiter: str | None = None,
               encoding: str | None = None, target_optional: bool = False) -> Table:
    """Read a CSV file for a subcommand, every problem a `CLIError` naming the file, line and column.

    Checks the target column against the header first, so a typo gets a
    message listing the columns that are there (``target_optional``: a missing
    target column is fine, as for predict, which skips it when present). Non-finite cells ('nan',
    'inf') are refused: a network can neither learn from them nor predict
    from them, and a NaN found later, after scaling and shuffling, could no
    longer be traced to its row.
    """
    from deltaprop.data import open_csv

    path = Path(path)
    if not path.is_file():
        raise CLIError(f"no such file: {path}; check the path given to --data")
    if path.stat().st_size == 0:
        raise CLIError(f"{path} is empty; --data needs a CSV file with a header line and rows")
    try:
        table = open_csv(path, delimiter=delimiter, encoding=encoding)
        if isinstance(target, str) and target_optional and target not in table.columns:
            target = None
        if isinstance(target, str):
            _check_target_name(target, table.columns, path)
        X, y, names, classes = table.arrays(target, allow_nonfinite=False)
    except ValueError as exc:  # read_csv's messages already name file, line and column
        raise CLIError(one_line(exc).removeprefix("read_csv: ")) from None
    if classes is not None:  # text labels as written, not this file's codes: a model keeps their names
        y = np.asarray(classes)[y]
    target_name = None if target is None else table.columns[target] if isinstance(target, int) else target
    return Table(X.reshape(len(X), -1), None if y is None else np.asarray(y), list(names), target_name)


def _check_target_name(target: str, header: list[str], path: Path) -> None:
    if target in header:
        return
    close = difflib.get_close_matches(target, header, n=1)
    shown = header if len(header) <= 12 else [*header[:6], "...", *header[-5:]]
    raise CLIError(
        f"column {target!r} is not in {path}"
        + (f" (did you mean {close[0]!r}?)" if close else "")
        + f"; its columns are: {', '.join(shown)}; pass one of them to --target"
    )


# ---------------------------------------------------------------------------- labels

def is_classification_target(y: np.ndarray) -> bool:
    """Auto-detect the task: text labels, or a few distinct whole numbers, mean classification."""
    if y.dtype.kind in "OUSb":
        return True
    if y.ndim > 1 and y.shape[1] > 1:
        return False
    values = np.unique(y)
    whole = bool(np.all(np.isfinite(values)) and np.all(values == np.round(values)))
    return whole and len(values) <= max(2, min(20, len(y) // 5))


def label_name(value: Any) -> str:
    """How a label is written in a model file: 3.0 and 3 and '3' all become '3'."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, bytes):
        return value.decode()
    return str(value).strip()


def encode_labels(y: np.ndarray, class_names: list[str], source: str) -> np.ndarray:
    """Map the labels in y to class indices 0..K-1 by name; unknown labels are an error."""
    index = {name: i for i, name in enumerate(class_names)}
    names = [label_name(v) for v in np.ravel(y)]
    unknown = sorted({n for n in names if n not in index})
    if unknown:
        raise CLIError(
            f"{source} has labels the model never saw: {', '.join(unknown[:10])}; "
            f"the model knows {', '.join(class_names)}"
        )
    return np.array([index[n] for n in names], dtype=np.int64)


# ---------------------------------------------------------------------------- reports

def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> np.ndarray:
    """Counts with true classes as rows and predicted classes as columns."""
    matrix = np.zeros((k, k), dtype=np.int64)
    np.add.at(matrix, (y_true, y_pred), 1)
    return matrix


def format_confusion(matrix: np.ndarray, class_names: list[str]) -> str:
    """A text table: rows are the true class, columns the predicted class."""
    names = [n[:8] for n in class_names]
    width = max(4, *(len(n) for n in names), len(str(matrix.max())) if matrix.size else 1)
    corner = "true\\pred"
    label_width = max(len(corner), *(len(n) for n in names))
    lines = [f"{corner:>{label_width}} " + " ".join(f"{n:>{width}}" for n in names)]
    for name, row in zip(names, matrix, strict=True):
        lines.append(f"{name:>{label_width}} " + " ".join(f"{v:>{width}}" for v in row))
    return "\n".join(lines)


def regression_report(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """MSE, MAE and R^2 (1 - SSE/SST) over every output."""
    y_true = np.asarray(y_true, np.float64).reshape(y_pred.shape)
    err = y_pred - y_true
    sst = float(((y_true - y_true.mean(axis=0)) ** 2).sum())
    return {
        "mse": float((err**2).mean()),
        "mae": float(np.abs(err).mean()),
        "r2": float(1.0 - (err**2).sum() / sst) if sst > 0 else float("nan"),
    }
