"""``deltaprop train``: load data, build an MLP, fit it, report held-out results, save the run.

The flow, top to bottom: choose settings (the user's options over the preset
for the data set), load and split the data, standardize the inputs, build the
network and the loss, train with `deltaprop.fit`, fold the standardization
into the first layer (so the saved model takes raw data), evaluate on the
held-out test set, and write model.npz, model.json, history.json, summary.json
and plot.png into --out.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from deltaprop.cli import images, sequence
from deltaprop.cli.common import (
    LAST_COLUMN,
    CLIError,
    add_csv_options,
    check_choice,
    confusion_matrix,
    format_confusion,
    is_classification_target,
    label_name,
    one_line,
    parse_delimiter,
    parse_hidden,
    read_table,
    regression_report,
    say,
)
from deltaprop.cli.modelfile import ModelInfo, class_probabilities, forward_numpy, save_model
from deltaprop.cli.output import RunFolder
from deltaprop.cli.rules import add_rule_option, check_rule, make_rule, print_alignment

# Presets: the settings used when an option is not given. 'digits' is the default
# data set and must reach >= 97% held-out accuracy in seconds; 'fashion-mnist' must
# beat scikit-learn's MLPClassifier (100 ReLU units, about 87.7% test accuracy).
PRESETS: dict[str, dict] = {
    "digits": dict(hidden="256", activation="relu", optimizer="adam", lr=1e-3, epochs=30,
                   batch_size=32, val_split=0.1, test_split=0.2, patience=None, weight_decay=None,
                   dropout=None),
    "fashion-mnist": dict(hidden="256,128", activation="relu", optimizer="adam", lr=1e-3, epochs=15,
                          batch_size=128, val_split=0.0, test_split=0.2, patience=None,
                          weight_decay=None, dropout=None),
    # Truth tables: every row is the whole problem, so train and score on all of them.
    "xor": dict(hidden="8", activation="tanh", optimizer="adam", lr=0.05, epochs=500,
                batch_size=0, val_split=0.0, test_split=0.0, patience=None, weight_decay=None,
                dropout=None),
    "parity": dict(hidden="16", activation="tanh", optimizer="adam", lr=0.05, epochs=1000,
                   batch_size=0, val_split=0.0, test_split=0.0, patience=None, weight_decay=None,
                   dropout=None),
    "default": dict(hidden="64", activation="relu", optimizer="adam", lr=None, epochs=None,
                    batch_size=32, val_split=0.1, test_split=0.2, patience=None, weight_decay=None,
                    dropout=None),
}


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "train",
        help="train a network (default: a classifier on the bundled 8x8 digits)",
        description="Train a multilayer perceptron (or, with --model cnn or lenet, a convolutional "
        "net) and save it. With no options: the bundled digits, 256 ReLU hidden units, Adam, 30 epochs, "
        "standardized inputs.",
    )
    source = p.add_mutually_exclusive_group()
    source.add_argument("--data", metavar="FILE.csv", help="a CSV file with a header line (or FILE.txt: "
                        "a text for a character-level language model)")
    source.add_argument("--dataset", metavar="NAME",
                        help="a named data set: digits (default), fashion-mnist, mnist, xor, spirals, "
                        "moons, sine, parity-N (e.g. parity-4), circles, iris, wine, breast-cancer, "
                        "diabetes; sequences (--model rnn|lstm|gru): adding, sine-seq, mackey-glass, "
                        "seq-digits, text")
    p.add_argument("--data-dir", metavar="DIR",
                   help="folder holding the IDX files of --dataset mnist or fashion-mnist")
    p.add_argument("--target", metavar="COLUMN", help="the CSV column to predict (default: the last)")
    add_csv_options(p)
    p.add_argument("--task", choices=("classify", "regress"), help="default: detected from the target")
    p.add_argument("--model", default="mlp", metavar="NAME",
                   help="architecture: " + "; ".join(f"{e.name}: {e.help}" for e in _models().values()))
    p.add_argument("--hidden", metavar="SIZES", help="hidden layer sizes, e.g. 64,32 (0: none)")
    p.add_argument("--activation", help="relu, tanh, sigmoid, leaky_relu, elu, gelu, silu, ...")
    p.add_argument("--loss", help="cross_entropy (classify default), mse (regress default), ...")
    p.add_argument("--optimizer", help="adam (default), sgd, adamw, rmsprop, adagrad, lm, lbfgs, ...")
    p.add_argument("--lr", type=float, help="learning rate")
    p.add_argument("--momentum", type=float, help="momentum for sgd/rmsprop (sgd default 0.9)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int, help="examples per step; 0 means the whole training set")
    p.add_argument("--val-split", type=float, help="fraction of the training set held out for validation")
    p.add_argument("--test-split", type=float,
                   help="fraction held out for the final test (data sets with a test set use it)")
    p.add_argument("--patience", type=int, metavar="N",
                   help="early stopping: stop after N epochs without a better validation loss and keep "
                   "the best epoch's weights (needs --val-split > 0)")
    p.add_argument("--weight-decay", type=float, metavar="L2", help="L2 penalty on the weights (default 0)")
    p.add_argument("--dropout", type=float, metavar="P",
                   help="drop each hidden unit with probability P while training (default 0)")
    images.add_options(p)
    p.add_argument("--diagnose", action="store_true",
                   help="watch the gradient flow: per-layer gradient norms, dead ReLUs, saturated "
                   "sigmoid/tanh units, vanishing or exploding gradients (recorded in history.json)")
    add_rule_option(p)
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--out", default="deltaprop-run", metavar="DIR",
                   help="output folder (default ./deltaprop-run), written as a unit: the run goes into a "
                   "hidden folder beside it that replaces DIR only when complete, so DIR never holds a "
                   "half-written or mixed set; DIR must be new, empty, or an earlier run's folder")
    p.add_argument("--no-progress", action="store_true", help="no live progress bar")
    p.add_argument("--quiet", action="store_true", help="print only the final result")
    sequence.add_options(p)  # --seq-len, --tbptt, --samples (recurrent models, deltaprop.cli.sequence)
    p.set_defaults(command=run)
    return p


def _models() -> dict:
    from deltaprop.models import MODELS

    return MODELS


# ---------------------------------------------------------------------------- settings

@dataclass
class Settings:
    hidden: list[int]
    activation: str
    loss: str
    optimizer: str
    lr: float | None
    momentum: float | None
    epochs: int
    batch_size: int | None
    val_split: float
    test_split: float
    seed: int
    task: str = "classify"
    patience: int | None = None
    weight_decay: float | None = None
    dropout: float | None = None
    extra: dict = field(default_factory=dict)
    rule: str = "backprop"


def choose_settings(args: argparse.Namespace, preset_name: str, task: str, n_train: int) -> Settings:  # noqa: C901 - a flat list of option checks, one branch each
    """The user's options where given, the preset's otherwise; every value checked here."""
    from deltaprop.models import DEFAULT_LR, DEFAULT_MOMENTUM, LOSSES_FOR_TASK, default_epochs, default_loss
    from deltaprop.nn import ACTIVATIONS, LOSSES
    from deltaprop.optim import OPTIMIZERS

    preset = PRESETS.get(preset_name.split("-")[0] if preset_name.startswith("parity-") else preset_name,
                         PRESETS["default"])
    preset = images.adjust_preset(args, preset_name, preset)  # the image models' own defaults
    pick = lambda name: getattr(args, name) if getattr(args, name) is not None else preset[name]  # noqa: E731

    activation = check_choice("--activation", pick("activation"), ACTIVATIONS)
    optimizer = check_choice("--optimizer", pick("optimizer"), OPTIMIZERS)
    loss = check_choice("--loss", args.loss or default_loss(task), LOSSES)
    allowed = LOSSES_FOR_TASK[task]
    if loss not in allowed:
        raise CLIError(f"--loss {loss} does not fit a {task} task; use one of: {', '.join(allowed)}")

    batch_size = pick("batch_size")
    if batch_size is not None and batch_size < 0:
        raise CLIError(f"--batch-size must be >= 1 (or 0 for the whole training set), got {batch_size}")
    batch_size = None if batch_size == 0 else batch_size

    epochs = pick("epochs")
    if epochs is None:  # small data sets need more passes for the same number of steps
        epochs = default_epochs(n_train, batch_size)
    if epochs < 1:
        raise CLIError(f"--epochs must be >= 1, got {epochs}")

    lr = args.lr if args.lr is not None else (preset["lr"] if preset["lr"] and optimizer == "adam"
                                              else DEFAULT_LR.get(optimizer))
    if lr is not None and not 0 < lr < math.inf:
        raise CLIError(f"--lr must be a finite number > 0, got {lr}")
    momentum = args.momentum
    if momentum is not None and optimizer not in ("sgd", "rmsprop"):
        raise CLIError(
            f"--momentum applies to sgd and rmsprop, not {optimizer}; drop it or use --optimizer sgd"
        )
    if momentum is None:
        momentum = DEFAULT_MOMENTUM.get(optimizer)
    if momentum is not None and not 0 <= momentum < 1:
        raise CLIError(f"--momentum must be in [0, 1), got {momentum}")

    for name in ("val_split", "test_split"):
        value = pick(name)
        if not 0 <= value < 1:
            raise CLIError(f"--{name.replace('_', '-')} must be in [0, 1), got {value}")
    patience = pick("patience")
    if patience is not None:
        if patience < 1:
            raise CLIError(f"--patience must be >= 1 epoch, got {patience}")
        if not pick("val_split") > 0:
            raise CLIError(
                "--patience watches the validation loss: give --val-split too, e.g. --val-split 0.1"
            )
    weight_decay = pick("weight_decay")
    if weight_decay is not None and not 0 <= weight_decay < math.inf:
        raise CLIError(f"--weight-decay must be a finite number >= 0, got {weight_decay}")
    dropout = pick("dropout")
    if dropout is not None and not 0 <= dropout < 1:
        raise CLIError(f"--dropout must be in [0, 1), got {dropout}")
    return Settings(
        hidden=parse_hidden(pick("hidden")), activation=activation, loss=loss, optimizer=optimizer,
        lr=lr, momentum=momentum, epochs=epochs, batch_size=batch_size, val_split=pick("val_split"),
        test_split=pick("test_split"), seed=args.seed, task=task, patience=patience,
        weight_decay=weight_decay or None, dropout=dropout or None, extra=images.extra_settings(args, preset),
        rule=check_rule(getattr(args, "rule", None) or "backprop", optimizer),
    )


# ---------------------------------------------------------------------------- data

@dataclass
class Data:
    name: str
    X: np.ndarray
    y: np.ndarray
    task: str
    feature_names: list[str]
    class_names: list[str] | None
    target_name: str | None
    X_test: np.ndarray | None = None
    y_test: np.ndarray | None = None


def load_data(args: argparse.Namespace) -> Data:
    """Read --data CSV or load --dataset NAME (digits by default); labels become 0..K-1."""
    if args.data:
        table = read_table(args.data, args.target or LAST_COLUMN, delimiter=parse_delimiter(args.delimiter),
                           encoding=args.encoding)
        y = table.target()
        task = args.task or ("classify" if is_classification_target(y) else "regress")
        data = Data(Path(args.data).name, table.X, y, task, table.feature_names, None,
                    table.target_name)
    else:
        if args.target:
            raise CLIError("--target names a column of a CSV file; use it with --data FILE.csv")
        data = load_named_dataset(args.dataset or "digits", args.task, getattr(args, "data_dir", None))
    if data.task == "classify":
        data.y, data.y_test, data.class_names = _encode_classes(data)
    else:
        data.y = _as_float_targets(data.y)
        data.y_test = None if data.y_test is None else _as_float_targets(data.y_test)
    return data


def class_count(data: Data) -> int | None:
    """The number of classes of a classification data set (`load_data` names them); None to regress."""
    if data.task != "classify":
        return None
    if data.class_names is None:
        raise RuntimeError(f"{data.name}: classification data without class names (load_data names them)")
    return len(data.class_names)


def load_named_dataset(name: str, task: str | None, data_dir: str | None = None) -> Data:
    from deltaprop.data import load_dataset

    key = name.lower().replace("_", "-")
    kwargs = {}
    if data_dir is not None:
        if key not in ("mnist", "fashion-mnist"):
            raise CLIError(f"--data-dir is for --dataset mnist or fashion-mnist, not {key}")
        kwargs["path"] = data_dir
    try:
        ds = load_dataset(key, **kwargs)
    except ValueError as exc:  # the registry names the known data sets
        raise CLIError(f"{exc} (or pass your own with --data FILE.csv --target COLUMN)") from None
    except (FileNotFoundError, ImportError) as exc:
        hint = " (on the command line: --data-dir that/folder)" if key in ("mnist", "fashion-mnist") else ""
        raise CLIError(f"{exc}{hint}") from None
    X = np.asarray(ds.X, np.float32).reshape(len(ds.X), -1)
    X_test = None if ds.X_test is None else np.asarray(ds.X_test, np.float32).reshape(len(ds.X_test), -1)
    names = list(ds.feature_names) if ds.feature_names is not None else [f"x{i}" for i in range(X.shape[1])]
    class_names = None if ds.target_names is None else [str(n) for n in ds.target_names]
    return Data(key, X, np.asarray(ds.y), task or ds.task, names, class_names, "target",
                X_test, None if ds.y_test is None else np.asarray(ds.y_test))


def _encode_classes(data: Data) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """Labels -> indices 0..K-1, with the class names the model file will carry."""
    y = np.ravel(data.y)
    if data.class_names is not None and y.dtype.kind in "iu":  # a named data set, already 0..K-1
        return y.astype(np.int64), None if data.y_test is None else np.ravel(data.y_test).astype(np.int64), \
            data.class_names
    labels = y if data.y_test is None else np.concatenate([y, np.ravel(data.y_test)])
    if labels.dtype.kind == "f" and not np.all(labels == np.round(labels)):
        raise CLIError(f"the target of {data.name} has fractional values, so it cannot be classified; "
                       "pass --task regress")
    values = np.unique(labels)
    names = [label_name(v) for v in values]
    encode = {v: i for i, v in enumerate(values.tolist())}
    to_index = lambda a: np.array([encode[v] for v in np.ravel(a).tolist()], np.int64)  # noqa: E731
    return to_index(y), None if data.y_test is None else to_index(data.y_test), names


def _as_float_targets(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y)
    if y.dtype.kind not in "fiub":
        raise CLIError("the target column holds text, so it cannot be regressed; pass --task classify")
    return y.astype(np.float32).reshape(len(y), -1)


def split(data: Data, s: Settings, quiet: bool = False):
    """The held-out test set: the data set's own, or a (stratified) --test-split of the rows."""
    from deltaprop.data import train_test_split

    if data.X_test is not None:
        return data.X, data.X_test, data.y, data.y_test
    if s.test_split == 0:  # a truth table (xor, parity) or the user's choice: score the training rows
        say("no held-out rows (--test-split 0): the scores below are on the training data", quiet=quiet)
        return data.X, data.X, data.y, data.y
    stratify = data.y if s.task == "classify" and np.bincount(data.y).min() >= 2 else None
    X_train, X_test, y_train, y_test = train_test_split(
        data.X, data.y, test_size=s.test_split, seed=s.seed, stratify=stratify
    )
    return X_train, X_test, y_train, y_test


# ---------------------------------------------------------------------------- model and optimizer

def build_network(model_name: str, n_in: int | tuple[int, ...], n_out: int, s: Settings):
    """(network, what its outputs mean) from the model registry, with the settings the model takes.

    ``n_in``: the width of a row, or the shape of one example (an image's (C, H, W)).
    """
    from deltaprop.models import MODELS, build_model

    entry = MODELS[model_name]
    shape = tuple(n_in) if isinstance(n_in, tuple) else (n_in,)
    given = {"hidden": s.hidden, "activation": s.activation, "dropout": s.dropout or 0.0, **s.extra}
    options = {name: value for name, value in given.items() if name in entry.options}
    try:
        network, output = build_model(model_name, shape, n_out, task=s.task, loss=s.loss, **options)
    except ValueError as exc:  # a model that cannot take this data (LeNet on 8x8 images)
        raise CLIError(one_line(exc)) from None
    return network, output, entry.describe(shape, n_out, **options)


def make_optimizer(model, s: Settings):
    """The optimizer of the settings; one it cannot take, or a net too big for its matrices, is a CLIError."""
    from deltaprop import models

    try:
        models.check_fits_in_memory(s.optimizer, model.num_parameters())
        return models.make_optimizer(model.parameters(), s.optimizer, lr=s.lr, momentum=s.momentum,
                                     weight_decay=s.weight_decay)
    except MemoryError as exc:
        raise CLIError(f"--optimizer {exc} (--hidden sets the network's size)") from None
    except (TypeError, ValueError) as exc:
        given = [f"--{k.replace('_', '-')}" for k in ("lr", "momentum", "weight_decay") if getattr(s, k)]
        raise CLIError(f"--optimizer {s.optimizer} does not work with "
                       f"{', '.join(given) or 'these settings'}: {one_line(exc)}; drop that option") from None


def epoch_printer(epochs: int):
    """A fit callback printing one line per epoch (every few epochs when there are many)."""
    from deltaprop.train import Callback

    every = max(1, math.ceil(epochs / 25))

    class EpochLines(Callback):
        def __init__(self) -> None:
            self.n = 0
            self.start = time.perf_counter()

        def on_epoch_end(self, run) -> None:
            self.n += 1
            if self.n % every and self.n != epochs:
                return
            logs = getattr(run, "logs", None) or {k: v[-1] for k, v in run.history.history.items() if v}
            parts = [f"{k} {v:.4f}" for k, v in logs.items() if isinstance(v, (int, float))]
            elapsed = time.perf_counter() - self.start
            print(f"epoch {self.n:>{len(str(epochs))}}/{epochs}  " + "  ".join(parts) + f"  ({elapsed:.1f}s)",
                  flush=True)

    return EpochLines()


@dataclass
class Prepared:
    """The training set as fit sees it (standardized), and how to undo the scaling afterwards."""

    X: np.ndarray
    y: np.ndarray
    x_affine: tuple[np.ndarray, np.ndarray]
    y_affine: tuple[np.ndarray, np.ndarray] | None
    n_out: int


def standardize(X_train: np.ndarray, y_train: np.ndarray, s: Settings, n_classes: int | None) -> Prepared:
    """Standardized inputs (and regression targets); one-hot rows for losses that compare with them."""
    from deltaprop.data import Standardizer
    from deltaprop.models import affine_of, uses_class_indices

    scaler = Standardizer().fit(X_train)
    x_affine = affine_of(scaler, X_train.shape[1])
    Xs = np.asarray(scaler.transform(X_train), np.float32)
    y_affine, ys = None, y_train
    if s.task == "regress":
        y_scaler = Standardizer().fit(y_train)
        y_affine = affine_of(y_scaler, y_train.shape[1])
        ys = np.asarray(y_scaler.transform(y_train), np.float32)
        n_out = y_train.shape[1]
    else:
        if n_classes is None:
            raise ValueError("standardize: a classification task needs n_classes")
        if not uses_class_indices(s.loss):
            ys = np.eye(n_classes, dtype=np.float32)[y_train]
        n_out = n_classes
    return Prepared(Xs, ys, x_affine, y_affine, n_out)


def run(args: argparse.Namespace) -> int:
    import deltaprop
    from deltaprop import nn
    from deltaprop.cli.processes import is_lead
    from deltaprop.models import MODELS, fold_scaling

    if sequence.wanted(args):  # sequence data or a recurrent model: deltaprop.cli.sequence runs it
        return sequence.run(args)
    quiet, lead = args.quiet, is_lead()  # under mpirun every process trains; process 0 writes
    model_name = check_choice("--model", args.model, MODELS)
    data = load_data(args)
    deltaprop.manual_seed(args.seed)
    s = choose_settings(args, data.name if not args.data else "default", data.task, len(data.X))
    X_train, X_test, y_train, y_test = split(data, s, quiet)
    n_classes = class_count(data)
    layout = images.layout_for(model_name, data.name, X_train.shape[1], args)  # None: rows, not images
    prepared = (standardize(X_train, y_train, s, n_classes) if layout is None
                else images.prepare(X_train, y_train, s, n_classes, layout))
    with RunFolder(args.out) if lead else contextlib.nullcontext() as folder:  # checks --out before training
        model, output, net = build_network(model_name, layout.shape if layout else X_train.shape[1],
                                           prepared.n_out, s)
        optimizer = make_optimizer(model, s)
        say(describe_data(data, X_train, X_test, s, prepared.n_out, n_classes), quiet=quiet)
        say(describe_training(net, s, optimizer), quiet=quiet)
        history, seconds, flow = train(model, optimizer, nn.loss_by_name(s.loss), prepared, s, args)
        if not lead:
            return 0
        assert folder is not None  # the lead process always opens its RunFolder (above)
        if getattr(history, "stopped_reason", None):
            say(f"stopped: {history.stopped_reason}", quiet=quiet)
        if flow is not None:
            print_gradient_flow(history.history, flow.messages)
        if not quiet:
            print_alignment(history.history, s.rule)

        if layout is None:
            fold_scaling(model, prepared.x_affine, prepared.y_affine)
        else:
            images.fold(model, prepared)
        model.eval()
        summary = {"dataset": data.name, "task": s.task, "network": net, "seconds": round(seconds, 3),
                   "settings": {k: v for k, v in vars(s).items() if k != "extra"},
                   "train_rows": len(X_train), "test_rows": len(X_test)}
        summary.update(score_test_set(model, output, images.as_images(X_test, layout), y_test, s,
                                      data.class_names, seconds, quiet))
        info = ModelInfo(task=s.task, feature_names=data.feature_names, class_names=data.class_names,
                         target_name=data.target_name, output=output, extra=images.model_extra(layout))
        try:
            written, plot_note = write_run(folder.path, model, info, history, summary)
        except OSError as exc:  # a full disk mid-write: name the destination, not the staging folder
            raise OSError(exc.errno, exc.strerror or str(exc), str(folder.out)) from None
        folder.publish()
    say(f"wrote {', '.join(written)} to {Path(args.out)}/", quiet=quiet)
    if plot_note:
        say(plot_note, quiet=quiet)
    return 0


def describe_data(data: Data, X_train, X_test, s: Settings, n_out: int, n_classes: int | None) -> str:
    rows = (f"{len(X_train)} rows (trained and scored on all of them)" if X_test is X_train
            else f"{len(X_train)} train / {len(X_test)} test rows")
    return f"{data.name}: {rows}, {X_train.shape[1]} feature{'s' if X_train.shape[1] != 1 else ''}, " + (
        f"{n_classes} classes" if s.task == "classify" else f"{n_out} target(s), regression")


def describe_training(net: str, s: Settings, optimizer) -> str:
    full = s.batch_size is None or getattr(optimizer, "full_batch", False)
    return (f"network {net} {s.activation}, loss {s.loss}, optimizer {s.optimizer}"
            + (f" lr={s.lr:g}" if s.lr is not None else "")
            + (f" momentum={s.momentum:g}" if s.momentum else "")
            + f", {s.epochs} epochs, batch " + ("full" if full else str(s.batch_size))
            + (f", validation {s.val_split:g}" if s.val_split else "")
            + (f", early stopping patience {s.patience}" if s.patience else "")
            + (f", weight decay {s.weight_decay:g}" if s.weight_decay else "")
            + (f", lr schedule {s.extra['lr_schedule']}" if s.extra.get("lr_schedule") else "")
            + (f", dropout {s.dropout:g}" if s.dropout else "")
            + (f", rule {s.rule}" if s.rule != "backprop" else ""))


def train(model, optimizer, loss_fn, prepared: Prepared, s: Settings, args: argparse.Namespace):
    """(history, seconds, GradientFlow or None). fit refusing the settings up front is a CLIError."""
    import deltaprop
    from deltaprop.train import LambdaCallback

    quiet = args.quiet
    metrics = ("accuracy",) if s.task == "classify" else ()  # fit's accuracy takes labels or one-hot rows
    # A live bar on a terminal; otherwise (pipes, logs, --no-progress) one line per epoch.
    show_bar = not (quiet or args.no_progress) and sys.stdout.isatty()
    callbacks = [] if quiet or show_bar else [epoch_printer(s.epochs)]
    flow = None
    if getattr(args, "diagnose", False):
        from deltaprop.inspect import GradientFlow

        flow = GradientFlow(warn=False)  # its findings are printed below, once, not as Python warnings
        callbacks.append(flow)
    started: list[bool] = []
    callbacks.append(LambdaCallback(on_train_begin=lambda run: started.append(True)))
    start = time.perf_counter()
    try:
        history = deltaprop.fit(
            model, prepared.X, prepared.y, loss=loss_fn, optimizer=optimizer, epochs=s.epochs,
            batch_size=s.batch_size, validation_split=s.val_split, metrics=metrics, callbacks=callbacks,
            progress=show_bar, seed=s.seed, early_stopping=s.patience, rule=make_rule(s.rule),
            scheduler=images.scheduler(optimizer, s),
        )
    except (ValueError, TypeError) as exc:
        if started:  # raised during training: not about the settings, so not the user's to fix
            raise
        raise CLIError(f"training cannot start with these settings: {one_line(exc)}") from None
    return history, time.perf_counter() - start, flow


def score_test_set(model, output: str, X_test, y_test, s: Settings, class_names, seconds: float,
                   quiet: bool) -> dict:
    """Print the held-out score (and confusion matrix); return it for summary.json."""
    outputs = forward_numpy(model, X_test.astype(np.float32))
    if s.task == "classify":
        pred = class_probabilities(outputs, output).argmax(axis=1)
        acc = float(np.mean(pred == y_test))
        matrix = confusion_matrix(y_test, pred, len(class_names))
        print(f"test accuracy {acc:.4f} ({int((pred == y_test).sum())}/{len(y_test)}) after {seconds:.1f}s "
              "of training", flush=True)
        say("confusion matrix (rows: true class, columns: predicted class):", quiet=quiet)
        say(format_confusion(matrix, class_names), quiet=quiet)
        return {"test_accuracy": acc, "confusion_matrix": matrix.tolist(), "class_names": class_names}
    report = regression_report(y_test, outputs)
    print(f"test mse {report['mse']:.4g}  mae {report['mae']:.4g}  r2 {report['r2']:.4f} after "
          f"{seconds:.1f}s of training", flush=True)
    return {f"test_{k}": v for k, v in report.items()}


def write_run(folder: Path, model, info: ModelInfo, history, summary: dict) -> tuple[list[str], str | None]:
    """Every file of the run, into the (staging) folder; (names written, note about a missing plot)."""
    save_model(model, folder / "model.npz", info)
    history.to_json(str(folder / "history.json"))
    (folder / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    written = ["model.npz", "model.json", "history.json", "summary.json"]
    plot_note = save_plot(history.history, folder / "plot.png")
    if plot_note is None:
        written.append("plot.png")
    return written, plot_note


def print_gradient_flow(history: dict, messages: list[str]) -> None:
    """The last epoch's per-layer gradient statistics, then every warning GradientFlow raised."""
    layers = sorted({key.split("/", 1)[1] for key in history if key.startswith("grad_norm/")},
                    key=lambda name: [int(p) if p.isdigit() else p for p in name.split(".")])
    print("gradient flow (last epoch; layer = module name):", flush=True)
    for name in layers:
        parts = [f"grad norm {history[f'grad_norm/{name}'][-1]:.3g}"]
        for key, label in (("update_ratio", "update/weight"), ("dead_relu", "dead ReLU"),
                           ("saturated", "saturated")):
            series = history.get(f"{key}/{name}")
            if series:
                value = series[-1]
                parts.append(f"{label} {value:.2%}" if key != "update_ratio" else f"{label} {value:.2g}")
        print(f"  layer {name}: " + ", ".join(parts), flush=True)
    for message in dict.fromkeys(messages):  # in order, each once
        print(f"  warning: {message}", flush=True)
    if not messages:
        print("  no vanishing, exploding, dead or saturated layers found", flush=True)


def save_plot(history: dict, path: Path) -> str | None:
    """Loss (and accuracy) per epoch as a PNG; returns a note instead when matplotlib is missing."""
    try:
        import matplotlib
    except ImportError:
        return "no plot: matplotlib is not installed (pip install 'deltaprop[plot]')"
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("loss", ["loss", "val_loss"])]
    if any("accuracy" in k for k in history):
        panels.append(("accuracy", ["accuracy", "val_accuracy"]))
    if any(k.startswith("angle/") for k in history):  # a learning rule's alignment with the gradient
        panels.append(("angle to the gradient (degrees)", [k for k in history if k.startswith("angle/")]))
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.6), squeeze=False)
    for ax, (title, keys) in zip(axes[0], panels, strict=True):
        for key in keys:
            values = history.get(key)
            if values:
                ax.plot(range(1, len(values) + 1), values, label=key)
        ax.set_xlabel("epoch")
        ax.set_title(title)
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return None
