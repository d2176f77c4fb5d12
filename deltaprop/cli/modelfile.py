"""The CLI's model files: model.npz (the network, via `deltaprop.save`) and model.json beside it.

model.json says what predict and evaluate need beyond the weights: the task,
the feature and class names, and what the outputs mean. Reading checks the
pair against each other (as many class names as outputs, as many feature
names as inputs), since a model.json from another run would otherwise give
wrong names or an IndexError.
"""

from __future__ import annotations

import json
import os
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from deltaprop.cli.errors import CLIError, one_line

FORMAT = "deltaprop-cli-model/1"
OUTPUT_KINDS = ("logits", "probabilities", "log_probabilities", "values")
_MAX_INFO_BYTES = 32 * 2**20  # generous for a million feature names, small enough to read safely
# what a damaged, truncated or hostile model file can make the reader raise
_BAD_FILE = (ValueError, TypeError, KeyError, IndexError, EOFError, OverflowError, RecursionError,
             UnicodeError, zipfile.BadZipFile, zlib.error, MemoryError)


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
    output: str = "logits"  # one of OUTPUT_KINDS
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "task": self.task,
            "feature_names": self.feature_names,
            "class_names": self.class_names,
            "target_name": self.target_name,
            "output": self.output,
            "extra": self.extra,
        }

    @classmethod
    def from_dict(cls, d: Any, source: str = "model.json") -> ModelInfo:
        """Build from parsed JSON, checking every field's type (the file may come from anywhere)."""
        if not isinstance(d, dict):
            raise CLIError(f"{source} does not hold a JSON object; use the model.json 'deltaprop train' "
                           "wrote")
        task = d.get("task")
        if task not in ("classify", "regress"):
            raise CLIError(f"{source}: 'task' must be 'classify' or 'regress', got {task!r}")
        output = d.get("output", "logits")
        if output not in OUTPUT_KINDS:
            raise CLIError(f"{source}: 'output' must be one of {', '.join(OUTPUT_KINDS)}, got {output!r}")
        return cls(
            task=task,
            feature_names=_names(d.get("feature_names") or [], "feature_names", source),
            class_names=None if d.get("class_names") is None
            else _names(d["class_names"], "class_names", source),
            target_name=None if d.get("target_name") is None else str(d["target_name"]),
            output=output,
            extra=d["extra"] if isinstance(d.get("extra"), dict) else {},
        )


def _names(value: Any, key: str, source: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, (str, int, float)) for v in value):
        raise CLIError(f"{source}: '{key}' must be a list of names")
    return [str(v) for v in value]


def info_path(model_path: str | os.PathLike) -> Path:
    """model.npz -> model.json: the model's description sits beside its weights."""
    return Path(model_path).with_suffix(".json")


def save_model(model: Any, path: str | os.PathLike, info: ModelInfo) -> None:
    """Write the network with `deltaprop.save` and its description as JSON beside it.

    Called inside a run's staging folder (see `deltaprop.cli.output`), which is
    published whole, so the pair needs no atomic rename of its own.
    """
    from deltaprop.serialize import save

    save(model, os.fspath(path))
    info_path(path).write_text(json.dumps(info.to_dict(), indent=2) + "\n")


def load_model(path: str | os.PathLike) -> tuple[Any, ModelInfo]:
    """Read a model written by ``deltaprop train``: (network in eval mode, ModelInfo).

    Reads the pair again if the folder was replaced meanwhile (a run finishing
    into it), so the weights and the description always come from one run.
    """
    path = Path(path)
    if not path.is_file():
        raise CLIError(f"no such model file: {path}; pass the model.npz that 'deltaprop train' wrote")
    for _ in range(3):
        before = _identity(path.parent)
        model = _load_network(path)
        info = _load_info(path)
        if _identity(path.parent) == before:
            break
    check_info_matches(model, info, path)
    return model.eval(), info


def _identity(folder: Path) -> tuple[int, int] | None:
    try:
        stat = os.stat(folder)
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


def _load_network(path: Path) -> Any:
    from deltaprop.errors import DeltapropError
    from deltaprop.nn import Module
    from deltaprop.serialize import load

    try:
        model = load(str(path))
    except MemoryError:
        raise CLIError(f"cannot load model {path}: reading it ran out of memory; the file is damaged "
                       "or not a deltaprop model (retrain, or copy it again)") from None
    except (DeltapropError, OSError, *_BAD_FILE) as exc:
        raise CLIError(f"cannot load model {path}: {one_line(exc)} (damaged or not written by "
                       "'deltaprop train'? retrain, or copy it again)") from None
    if not isinstance(model, Module):
        raise CLIError(f"{path} holds a state dict, not a model; pass a model saved by 'deltaprop train'")
    return model


def _load_info(path: Path) -> ModelInfo:
    meta = info_path(path)
    if not meta.is_file():  # a model saved from Python with deltaprop.save: raw outputs, no names
        return ModelInfo(task="regress", feature_names=[], output="values")
    if meta.stat().st_size > _MAX_INFO_BYTES:
        raise CLIError(f"{meta} is {meta.stat().st_size:,} bytes, too large for a model description; "
                       "use the model.json 'deltaprop train' wrote")
    try:
        document = json.loads(meta.read_bytes().decode("utf-8"))
    except RecursionError:
        raise CLIError(f"cannot read {meta}: its JSON is nested too deeply to be a model description "
                       "'deltaprop train' wrote; retrain or restore it") from None
    except (ValueError, UnicodeError) as exc:
        raise CLIError(f"cannot read {meta}: {one_line(exc)}; it is not the JSON 'deltaprop train' "
                       "writes; retrain or restore it") from None
    return ModelInfo.from_dict(document, str(meta))


def input_features(model: Any) -> int | None:
    """How many input columns the network expects: the in_features of its first layer, if that is a Linear.

    None when the first layer with weights is another kind (a convolution
    takes images of any size; model.json's input_shape says which).
    """
    from deltaprop.nn import Linear

    for module in model.modules():
        if isinstance(module, Linear):
            return module.in_features
        if any(p is not None for p in module._parameters.values()):
            return None  # a convolution, a recurrent layer (weight_ih_l0, ...), ...
    return None


def output_count(model: Any) -> int | None:
    """How many outputs the network gives (its last Linear's out_features, if it ends in Linear + heads)."""
    from deltaprop.nn import Linear

    linears = [m for m in model.modules() if isinstance(m, Linear)]
    return linears[-1].out_features if linears else None


def check_info_matches(model: Any, info: ModelInfo, path: Path) -> None:
    """model.json and model.npz must describe the same network (they come from one run)."""
    meta, n_out, n_in = info_path(path), output_count(model), input_features(model)
    fix = "the two files come from different runs: use the model.json written with this model.npz, or retrain"
    if info.task == "classify" and info.class_names is not None and n_out is not None \
            and len(info.class_names) != n_out:
        raise CLIError(f"{meta} names {len(info.class_names)} classes but {path} has {n_out} outputs; {fix}")
    if info.feature_names and n_in is not None and len(info.feature_names) != n_in:
        raise CLIError(
            f"{meta} names {len(info.feature_names)} features but {path} takes {n_in} inputs; {fix}"
        )


def select_features(
    X: np.ndarray, names: list[str], model: Any, info: ModelInfo, source: str
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


def forward_numpy(model: Any, X: np.ndarray, batch_size: int = 4096) -> np.ndarray:
    """Run the network on an array without building a graph, in batches; returns an array."""
    import deltaprop

    outputs = []
    with deltaprop.no_grad():
        for start in range(0, len(X), batch_size):
            out = model(deltaprop.tensor(X[start : start + batch_size]))
            outputs.append(np.asarray(out.array))
    return np.concatenate(outputs) if outputs else np.zeros((0, 1), np.float32)


def run_model(model: Any, X: np.ndarray, source: str) -> np.ndarray:
    """`forward_numpy` for a network read from a file: a layer that cannot run is the file's fault.

    `load` checks a file's structure, not that its layers fit together (a
    Softmax over an axis the data does not have); such a file fails here.
    """
    from deltaprop.errors import DeltapropError

    try:
        return forward_numpy(model, X)
    except (DeltapropError, ValueError, IndexError, TypeError, OverflowError) as exc:
        raise CLIError(f"the model in {source} cannot run on this data: {one_line(exc)} (damaged, or "
                       "not written by 'deltaprop train'?)") from None


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
