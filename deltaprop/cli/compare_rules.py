"""``deltaprop compare-rules``: every learning rule on the same network, data and initial weights.

The flow: load the data set and split it as ``deltaprop train`` does (the same
held-out test set, standardized inputs), build the network once, then for each
rule train a copy that starts from the same weights, with the same optimizer,
epochs, batches and seed, through `deltaprop.fit`. It prints one row per rule
(held-out accuracy, epochs, wall time, mean angle of the hidden layers'
updates to the true gradient in the last epoch) and draws the learning curves
(training loss, validation accuracy, angle) of all rules into one PNG.

The default network has two hidden layers, so that the rules differ (with a
single hidden layer feedback alignment and direct feedback alignment coincide
and target propagation is a scaled gradient).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from deltaprop.cli.common import CLIError, say
from deltaprop.cli.output import write_text_file
from deltaprop.cli.rules import first_order_optimizers, mean_hidden_angle

# per data set: the network and training compared (the user's options override them)
COMPARE_PRESETS: dict[str, dict[str, Any]] = {
    "digits": dict(hidden="128,128", epochs=30, batch_size=32),
    "fashion-mnist": dict(hidden="256,128", epochs=15, batch_size=128),
}


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "compare-rules",
        help="train one network with every learning rule (backprop, feedback alignment, ...) and compare",
        description="Train the same network from the same initial weights with each learning rule and "
        "print held-out accuracy, epochs, wall time and the mean angle between each rule's updates "
        "and the true gradient; draw everyone's learning curves into one PNG.",
    )
    p.add_argument("--dataset", default="digits", choices=tuple(COMPARE_PRESETS),
                   help="digits (bundled, default) or fashion-mnist (needs its IDX files)")
    p.add_argument("--data-dir", metavar="DIR", help="folder holding the Fashion-MNIST IDX files")
    p.add_argument("--rules", metavar="NAMES", help="comma-separated rules (default: all of them)")
    p.add_argument("--hidden", metavar="SIZES",
                   help="hidden layer sizes (digits 128,128; fashion-mnist 256,128)")
    p.add_argument("--activation", help="relu (default), tanh, ...")
    p.add_argument("--optimizer", help="a first-order optimizer: adam (default), sgd, rmsprop, ...")
    p.add_argument("--lr", type=float, help="the network's learning rate (default 0.001 for adam)")
    p.add_argument("--epochs", type=int, help="epochs per rule (digits 30, fashion-mnist 15)")
    p.add_argument("--batch-size", type=int, help="examples per step (digits 32, fashion-mnist 128)")
    p.add_argument("--seed", type=int, default=0, help="seed of the weights, split and shuffles (default 0)")
    p.add_argument("--plot", default="compare-rules.png", metavar="FILE.png",
                   help="where to draw the learning curves (default ./compare-rules.png)")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    p.add_argument("--quiet", action="store_true", help="print only the table")
    p.set_defaults(command=run)
    return p


@dataclass
class Result:
    rule: str
    test_accuracy: float
    epochs: int
    seconds: float
    mean_angle: float | None  # hidden layers, last epoch; 0 for backprop by definition
    history: dict[str, list[float]]

    @property
    def seconds_per_epoch(self) -> float:
        return self.seconds / max(self.epochs, 1)


def run(args: argparse.Namespace) -> int:
    from deltaprop.rules import RULES

    names = _rule_names(args.rules, RULES)
    settings, data, split = _prepare(args)
    say(f"{data.name}: {len(split[0])} train / {len(split[1])} test rows; network "
        f"{'-'.join(str(w) for w in [split[0].shape[1], *settings.hidden, len(data.class_names)])} "
        f"{settings.activation}, {settings.optimizer} lr={settings.lr:g}, {settings.epochs} epochs, batch "
        f"{settings.batch_size}, seed {settings.seed}", quiet=args.quiet)
    results = []
    for name in names:
        results.append(train_one(name, settings, data, split))
        r = results[-1]
        say(f"  {name}: test accuracy {r.test_accuracy:.4f} in {r.seconds:.1f}s", quiet=args.quiet)
    print(format_table(results), flush=True)
    if args.json:
        write_text_file(args.json, lambda f: json.dump([asdict(r) for r in results], f, indent=1))
    note = plot_curves(results, Path(args.plot), f"{data.name}, {'-'.join(map(str, settings.hidden))} "
                       f"{settings.activation}")
    say(note or f"wrote {args.plot}", quiet=args.quiet)
    return 0


def _rule_names(text: str | None, known: dict) -> list[str]:
    if not text:
        return list(known)
    names = [n.strip().lower().replace("_", "-") for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        given = ", ".join(unknown) or "(none given)"
        raise CLIError(f"--rules: unknown {given}; choose from: {', '.join(known)}")
    return names


def _prepare(args: argparse.Namespace):
    """(settings, data, (X_train, X_test, y_train, y_test, prepared)), as ``deltaprop train`` makes them."""
    import deltaprop
    from deltaprop.cli import train as train_cli

    preset = COMPARE_PRESETS[args.dataset]
    options = argparse.Namespace(
        data=None, dataset=args.dataset, target=None, task="classify", data_dir=args.data_dir,
        hidden=args.hidden or preset["hidden"], activation=args.activation, loss=None,
        optimizer=args.optimizer, lr=args.lr, momentum=None, epochs=args.epochs or preset["epochs"],
        batch_size=args.batch_size or preset["batch_size"], val_split=0.1, test_split=None, patience=None,
        weight_decay=None, dropout=None, seed=args.seed, rule="backprop", model="mlp",
    )
    data = train_cli.load_data(options)
    deltaprop.manual_seed(args.seed)
    settings = train_cli.choose_settings(options, data.name, data.task, len(data.X))
    if settings.optimizer not in first_order_optimizers():
        raise CLIError(f"--optimizer {settings.optimizer} computes its own step, so it cannot apply the "
                       f"rules' updates; use one of: {', '.join(first_order_optimizers())}")
    X_train, X_test, y_train, y_test = train_cli.split(data, settings, quiet=True)
    prepared = train_cli.standardize(X_train, y_train, settings, train_cli.class_count(data))
    return settings, data, (X_train, X_test, y_train, y_test, prepared)


def train_one(name: str, settings: Any, data: Any, split: tuple) -> Result:
    """Train a fresh copy of the network (same seed, so the same initial weights) with rule ``name``."""
    import deltaprop
    from deltaprop import nn
    from deltaprop.cli import train as train_cli
    from deltaprop.cli.modelfile import class_probabilities, forward_numpy
    from deltaprop.models import fold_scaling
    from deltaprop.rules import by_name

    _, X_test, _, y_test, prepared = split
    deltaprop.manual_seed(settings.seed)
    model, output, _ = train_cli.build_network("mlp", prepared.X.shape[1], prepared.n_out, settings)
    optimizer = train_cli.make_optimizer(model, settings)
    start = time.perf_counter()
    history = deltaprop.fit(
        model, prepared.X, prepared.y, loss=nn.loss_by_name(settings.loss), optimizer=optimizer,
        epochs=settings.epochs, batch_size=settings.batch_size, validation_split=settings.val_split,
        metrics=("accuracy",), progress=False, seed=settings.seed, rule=by_name(name),
    )
    seconds = time.perf_counter() - start
    fold_scaling(model, prepared.x_affine, None)
    model.eval()
    predicted = class_probabilities(forward_numpy(model, X_test.astype(np.float32)), output).argmax(axis=1)
    angle = 0.0 if name == "backprop" else mean_hidden_angle(history.history)
    return Result(name, float(np.mean(predicted == y_test)), history.epochs_run, round(seconds, 3), angle,
                  history.history)


def _angle_text(r: Result) -> str:
    if r.rule == "backprop":
        return "0 (exact)"
    return "-" if r.mean_angle is None else f"{r.mean_angle:.1f}"


def format_table(results: list[Result]) -> str:
    rows = [("rule", "test acc", "epochs", "seconds", "s/epoch", "angle (deg)")]
    for r in results:
        rows.append((r.rule, f"{r.test_accuracy:.4f}", str(r.epochs), f"{r.seconds:.1f}",
                     f"{r.seconds_per_epoch:.2f}", _angle_text(r)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    def line(row: tuple[str, ...]) -> str:
        cells = zip(row, widths, strict=True)
        return "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(cells))

    lines = [line(row) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append("(angle: the hidden layers' mean angle, last epoch, between the rule's update and "
                 "the true gradient of the same batch)")
    return "\n".join(lines)


def plot_curves(results: list[Result], path: Path, title: str) -> str | None:
    """Training loss, validation accuracy and hidden-layer angle per epoch, one line per rule."""
    try:
        import matplotlib
    except ImportError:
        return "no plot: matplotlib is not installed (pip install 'deltaprop[plot]')"
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for r in results:
        epochs = range(1, r.epochs + 1)
        axes[0].plot(epochs, r.history["loss"], label=r.rule)
        axes[1].plot(epochs, r.history.get("val_accuracy", r.history.get("accuracy")), label=r.rule)
        if r.rule != "backprop" and r.mean_angle is not None:
            axes[2].plot(epochs, [mean_hidden_angle(r.history, e) for e in range(r.epochs)], label=r.rule)
    titles = ("training loss", "validation accuracy", "angle to the gradient (deg, hidden)")
    for ax, name in zip(axes, titles, strict=True):
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp.png")
    try:
        fig.savefig(temporary, dpi=100)
        os.replace(temporary, path)
    finally:
        plt.close(fig)
        if temporary.exists():
            temporary.unlink()
    return None
