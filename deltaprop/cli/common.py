"""What every subcommand shares: the one-line error path, data loading, and the model file.

Why a module of its own: the three subcommands must fail the same way (one line
on stderr naming the problem and the fix, exit code 2, no traceback) and must
read CSV files and model files the same way, so a model written by ``train``
always works with ``predict`` and ``evaluate``.
"""

from __future__ import annotations

import argparse
import csv
import difflib
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

EXIT_OK = 0
EXIT_USAGE = 2  # bad input of any kind, like argparse's own exit code for usage errors


class CLIError(Exception):
    """A problem with the user's input; the message says what is wrong and how to fix it."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse, except that a usage error becomes a one-line `CLIError` instead of usage + exit."""

    def error(self, message: str):  # type: ignore[override]
        raise CLIError(f"{message} (see '{self.prog} --help')")


def run_guarded(prog: str, command, args: argparse.Namespace) -> int:
    """Run a subcommand; turn any error about the input into one line on stderr and exit code 2.

    Set DELTAPROP_TRACEBACK=1 to see the full traceback (for bug reports).
    """
    from deltaprop.errors import DeltapropError

    try:
        # Overflow warnings would add lines before the one-line error; fit's guard reports NaN/Inf.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return command(args)
    except BrokenPipeError:  # `deltaprop predict ... | head`: the reader left; not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except (CLIError, DeltapropError, ValueError, TypeError, KeyError, OSError, ImportError) as exc:
        if os.environ.get("DELTAPROP_TRACEBACK"):
            raise
        print(f"{prog}: error: {one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE


def one_line(exc: BaseException) -> str:
    """The exception's message on one line (KeyError quotes its message; undo that)."""
    text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    text = " ".join(str(text).split())
    if isinstance(exc, FileNotFoundError) and exc.filename:
        text = f"no such file: {exc.filename}; check the path"
    return text or type(exc).__name__


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


# ---------------------------------------------------------------------------- CSV files

def csv_header(path: str | Path) -> list[str]:
    """The column names in the first line of a CSV file (with a clear error when it is missing)."""
    path = Path(path)
    if not path.is_file():
        raise CLIError(f"no such file: {path}; check the path given to --data")
    with open(path, newline="") as f:
        first = next(csv.reader(f), None)
    if not first:
        raise CLIError(f"{path} is empty; --data needs a CSV file with a header line and rows")
    return [name.strip() for name in first]


def read_table(path: str | Path, target: str | None) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """Read a CSV file: features X (float), the target column y (or None), the feature names.

    Checks the target column against the header first, so a typo gets a message
    listing the columns that are there.
    """
    from deltaprop.data import read_csv

    header = csv_header(path)
    if target is not None and target not in header:
        close = difflib.get_close_matches(target, header, n=1)
        shown = header if len(header) <= 12 else [*header[:6], "...", *header[-5:]]
        raise CLIError(
            f"column {target!r} is not in {path}"
            + (f" (did you mean {close[0]!r}?)" if close else "")
            + f"; its columns are: {', '.join(shown)}; pass one of them to --target"
        )
    try:
        X, y, names = read_csv(str(path), target=target)
    except ValueError as exc:
        raise CLIError(f"cannot read {path}: {one_line(exc)}") from None
    X = np.asarray(X)
    if X.dtype.kind not in "fiub":
        raise CLIError(
            f"{path}: the feature columns must be numbers, got {X.dtype}; "
            "encode text columns as numbers or drop them"
        )
    if X.ndim == 1:
        X = X.reshape(-1, 1)
    if len(X) == 0:
        raise CLIError(f"{path} has a header but no rows of data")
    return X.astype(np.float32), (None if y is None else np.asarray(y)), list(names)


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


# ---------------------------------------------------------------------------- model files

@dataclass
class ModelInfo:
    """What predict/evaluate need beyond the weights: the task and the names of things.

    The input standardization (and, for regression, the target scaling) is
    folded into the first and last Linear layers before saving, so the saved
    network works on raw data and needs no scaler here.
    """

    task: str
    feature_names: list[str]
    class_names: list[str] | None = None
    target_name: str | None = None
    output: str = "logits"  # 'logits' | 'probabilities' | 'log_probabilities' | 'values'
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": "deltaprop-cli-model/1",
            "task": self.task,
            "feature_names": self.feature_names,
            "class_names": self.class_names,
            "target_name": self.target_name,
            "output": self.output,
            "extra": self.extra,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelInfo:
        return cls(
            task=d["task"],
            feature_names=list(d.get("feature_names") or []),
            class_names=d.get("class_names"),
            target_name=d.get("target_name"),
            output=d.get("output", "logits"),
            extra=dict(d.get("extra") or {}),
        )


def info_path(model_path: str | Path) -> Path:
    """model.npz -> model.json: the model's description sits beside its weights."""
    return Path(model_path).with_suffix(".json")


def save_model(model, path: str | Path, info: ModelInfo) -> None:
    """Write the network with `deltaprop.save` and its description as JSON beside it."""
    from deltaprop.serialize import save

    path = Path(path)
    save(model, str(path))
    tmp = info_path(path).with_suffix(".json.tmp")
    tmp.write_text(json.dumps(info.to_dict(), indent=2) + "\n")
    os.replace(tmp, info_path(path))


def load_model(path: str | Path):
    """Read a model written by ``deltaprop train``: (network, ModelInfo)."""
    from deltaprop.nn import Module
    from deltaprop.serialize import load

    path = Path(path)
    if not path.is_file():
        raise CLIError(f"no such model file: {path}; pass the model.npz that 'deltaprop train' wrote")
    try:
        model = load(str(path))
    except (ValueError, KeyError, OSError) as exc:
        raise CLIError(f"cannot load model {path}: {one_line(exc)}") from None
    if not isinstance(model, Module):
        raise CLIError(f"{path} holds a state dict, not a model; pass a model saved by 'deltaprop train'")
    meta = info_path(path)
    if meta.is_file():
        info = ModelInfo.from_dict(json.loads(meta.read_text()))
    else:  # a model saved from Python with deltaprop.save: assume raw outputs, no names
        info = ModelInfo(task="regress", feature_names=[], output="values")
    return model.eval(), info


def input_features(model) -> int | None:
    """How many input columns the network expects (the first Linear layer's in_features)."""
    from deltaprop.nn import Linear

    for module in model.modules():
        if isinstance(module, Linear):
            return module.in_features
    return None


def select_features(
    X: np.ndarray, names: list[str], model, info: ModelInfo, source: str
) -> np.ndarray:
    """Pick the model's input columns out of a table, by name when the names match.

    Selecting by name lets a user pass the same CSV they trained on (target
    column included) or a CSV whose columns are in another order.
    """
    if info.feature_names and set(info.feature_names) <= set(names):
        position = {name: i for i, name in enumerate(names)}
        X = X[:, [position[name] for name in info.feature_names]]
    expected = input_features(model)
    if expected is not None and X.shape[1] != expected:
        raise CLIError(
            f"the model expects {expected} feature columns but {source} has {X.shape[1]}; "
            "pass data with the columns the model was trained on (and --target for the label column)"
        )
    return X


def forward_numpy(model, X: np.ndarray, batch_size: int = 4096) -> np.ndarray:
    """Run the network on an array without building a graph, in batches; returns an array."""
    import deltaprop

    outputs = []
    with deltaprop.no_grad():
        for start in range(0, len(X), batch_size):
            out = model(deltaprop.tensor(X[start : start + batch_size]))
            outputs.append(np.asarray(out.data))
    return np.concatenate(outputs) if outputs else np.zeros((0, 1), np.float32)


def class_probabilities(outputs: np.ndarray, output_kind: str) -> np.ndarray:
    """Turn the network's outputs into class probabilities, whatever its last layer is."""
    if output_kind == "probabilities":
        p = np.clip(outputs, 0.0, None)
        return p / np.maximum(p.sum(axis=1, keepdims=True), 1e-12)
    if output_kind == "log_probabilities":
        outputs = outputs.astype(np.float64)
    z = outputs - outputs.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


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
