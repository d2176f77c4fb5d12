"""``deltaprop train`` on sequences: --dataset adding|sine-seq|mackey-glass|seq-digits|text.

`deltaprop.cli.train` hands a run here when the data set is a sequence task,
the model recurrent, or ``--data`` a .txt file. The flow matches the MLP's:
settings (the user's options over the data set's preset), data, the network
from the `deltaprop.models` registry, `deltaprop.fit` (with ``--tbptt`` for
truncated backpropagation through time), the held-out score, and the same
output folder (model.npz, model.json, history.json, summary.json, plot.png).

Scores: MSE for the regression tasks (the adding problem's baseline, always
answering 1, is printed beside it), accuracy for seq-digits, and bits per
character on the last 10% of the text for the character model, which
`deltaprop generate` then samples from.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from deltaprop.cli.common import CLIError, check_choice, one_line, parse_hidden, say
from deltaprop.cli.output import RunFolder

RECURRENT = ("rnn", "lstm", "gru")
# per data set: sequence length, generated examples, epochs, Adam's learning rate, hidden units, batch
PRESETS: dict[str, dict[str, Any]] = {
    "adding": dict(seq_len=50, samples=5000, epochs=20, lr=0.01, hidden=64, batch_size=32),
    "sine-seq": dict(seq_len=50, samples=2000, epochs=15, lr=0.01, hidden=32, batch_size=32),
    "mackey-glass": dict(seq_len=50, samples=2000, epochs=15, lr=0.01, hidden=32, batch_size=32),
    "seq-digits": dict(seq_len=8, samples=None, epochs=30, lr=0.01, hidden=64, batch_size=32),
    "text": dict(seq_len=64, samples=None, epochs=10, lr=0.005, hidden=128, batch_size=32),
}
TEST_FRACTION = 0.1  # of the text, held out at its end; of seq-digits, 0.2 (stratified)


def add_options(p: argparse.ArgumentParser) -> None:
    """The options only sequence runs use (added to ``deltaprop train``'s parser)."""
    p.add_argument("--seq-len", type=int, metavar="T",
                   help="steps per sequence (adding/sine-seq/mackey-glass: generated length; text: window)")
    p.add_argument("--tbptt", type=int, metavar="K",
                   help="truncated backpropagation through time: carry the state, backpropagate K steps")
    p.add_argument("--samples", type=int, metavar="N",
                   help="sequences to generate for adding/sine-seq/mackey-glass")


def wanted(args: argparse.Namespace) -> bool:
    """Does this ``deltaprop train`` run belong here?"""
    from deltaprop.data.sequences import SEQUENCE_DATASETS

    dataset = (args.dataset or "").lower().replace("_", "-")
    text_file = bool(args.data) and str(args.data).lower().endswith(".txt")
    return dataset in SEQUENCE_DATASETS or text_file or str(args.model).lower() in RECURRENT


@dataclass
class SequenceData:
    name: str
    task: str
    X: np.ndarray
    y: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    n_out: int
    class_names: list[str] | None = None
    vocabulary: str | None = None
    note: str = ""
    extra: dict = field(default_factory=dict)


def _dataset_name(args: argparse.Namespace) -> str:
    if args.data:
        if not str(args.data).lower().endswith(".txt"):
            raise CLIError(f"--model {args.model} trains on sequences: give --dataset adding, sine-seq, "
                           "mackey-glass, seq-digits or text, or --data FILE.txt for a character model")
        return "text"
    name = (args.dataset or "adding").lower().replace("_", "-")
    if name not in PRESETS:
        raise CLIError(f"--model {args.model} needs a sequence data set: --dataset adding, sine-seq, "
                       f"mackey-glass, seq-digits or text (got {name})")
    return name


def load(args: argparse.Namespace, name: str, seq_len: int, samples: int | None) -> SequenceData:
    """Training and held-out sequences for a sequence data set."""
    from deltaprop.data import sequences as seq

    seed = args.seed
    if name in ("adding", "sine-seq", "mackey-glass"):
        if samples is None:  # the three generated sets have a preset size
            raise CLIError(f"--samples: {name} needs a number of sequences")
        makers: dict[str, Callable[..., Any]] = {
            "adding": seq.make_adding, "sine-seq": seq.make_sine_sequences,
            "mackey-glass": seq.make_mackey_glass,
        }
        make = makers[name]
        train = make(samples, seq_len, seed=seed)
        test = make(max(samples // 5, 1), seq_len, seed=seed + 10_000)  # other seed: unseen sequences
        note = "predicting 1 always scores MSE 1/6 = 0.167" if name == "adding" else ""
        return SequenceData(name, "regress", train.X, train.y, test.X, test.y, 1, note=note)
    if name == "seq-digits":
        from deltaprop.data import train_test_split

        digits = seq.load_seq_digits()
        X, X_test, y, y_test = train_test_split(digits.X, digits.y, test_size=0.2, seed=seed,
                                                stratify=digits.y)
        assert digits.target_names is not None  # load_seq_digits names its ten classes
        return SequenceData(name, "classify", X, y, X_test, y_test, 10, class_names=list(digits.target_names))
    try:
        text = seq.load_text(args.data)
    except (OSError, ValueError) as exc:
        raise CLIError(f"--data {args.data}: {one_line(exc)}") from None
    cut = int(len(text) * (1 - TEST_FRACTION))
    vocabulary = seq.CharVocabulary.of(text)
    try:
        X, y, _ = seq.make_char_sequences(text[:cut], seq_len, vocabulary=vocabulary)
        X_test, y_test, _ = seq.make_char_sequences(text[cut:], seq_len, vocabulary=vocabulary)
    except ValueError as exc:
        raise CLIError(f"the text is too short for --seq-len {seq_len}: {one_line(exc)}") from None
    source = Path(args.data).name if args.data else "Hamlet (bundled)"
    return SequenceData("text", "classify", X, y, X_test, y_test, len(vocabulary),
                        vocabulary=vocabulary.chars, extra={"source": source},
                        note=f"{source}: {len(text):,} characters, {len(vocabulary)} distinct")


def _settings(args: argparse.Namespace, name: str) -> dict:
    preset = PRESETS[name]

    def pick(key: str):
        given = getattr(args, key)
        return preset[key] if given is None else given

    seq_len, samples = pick("seq_len"), pick("samples")
    if name == "seq-digits" and args.seq_len not in (None, 8):
        raise CLIError("--seq-len: seq-digits are 8 rows of 8 pixels, always 8 steps")
    if seq_len < 2 or (samples is not None and samples < 5):
        raise CLIError(f"--seq-len must be >= 2 and --samples >= 5, got {seq_len} and {samples}")
    if args.tbptt is not None and args.tbptt < 1:
        raise CLIError(f"--tbptt must be >= 1 step, got {args.tbptt}")
    hidden = parse_hidden(args.hidden) if args.hidden else [preset["hidden"]]
    batch = pick("batch_size")
    if batch is not None and batch < 0:
        raise CLIError(f"--batch-size must be >= 1 (or 0 for the whole training set), got {batch}")
    epochs = pick("epochs")
    if epochs < 1:
        raise CLIError(f"--epochs must be >= 1, got {epochs}")
    val_split = args.val_split if args.val_split is not None else 0.1
    if not 0 <= val_split < 1:
        raise CLIError(f"--val-split must be in [0, 1), got {val_split}")
    return dict(seq_len=seq_len, samples=samples, hidden=hidden, epochs=epochs, batch_size=batch or None,
                val_split=val_split, optimizer=args.optimizer or "adam", tbptt=args.tbptt,
                lr=args.lr if args.lr is not None else (preset["lr"] if (args.optimizer or "adam") == "adam"
                                                        else None))


def run(args: argparse.Namespace) -> int:
    import deltaprop
    from deltaprop.models import MODELS, build_model

    quiet = args.quiet
    model_name = str(args.model).lower() if str(args.model).lower() != "mlp" else "lstm"
    check_choice("--model", model_name, {k: v for k, v in MODELS.items() if k in RECURRENT})
    name = _dataset_name(args)
    s = _settings(args, name)
    deltaprop.manual_seed(args.seed)
    data = load(args, name, s["seq_len"], s["samples"])
    loss = args.loss or ("cross_entropy" if data.task == "classify" else "mse")
    options = {"hidden": s["hidden"], "dropout": args.dropout or 0.0, "many_to_many": name == "text"}
    if args.activation:
        if model_name != "rnn":
            raise CLIError(f"--activation applies to --model rnn (tanh or relu), not {model_name}")
        options["activation"] = check_choice("--activation", args.activation, {"tanh": 1, "relu": 1})
    if name == "text":
        options["vocab_size"] = data.n_out
    input_shape = data.X.shape[1:]
    with RunFolder(args.out) as folder:
        try:
            model, output = build_model(model_name, input_shape, data.n_out, task=data.task, loss=loss,
                                        **options)
        except (TypeError, ValueError) as exc:
            raise CLIError(f"--model {model_name}: {one_line(exc)}") from None
        net = MODELS[model_name].describe(input_shape, data.n_out, **options)
        from deltaprop.cli.train import make_optimizer

        optimizer = make_optimizer(model, _as_settings(s, args))
        say(f"{name}: {len(data.X)} train / {len(data.X_test)} test sequences of {data.X.shape[1]} steps"
            + (f"; {data.note}" if data.note else ""), quiet=quiet)
        say(f"network {net}, loss {loss}, optimizer {s['optimizer']}"
            + (f" lr={s['lr']:g}" if s["lr"] else "")
            + f", {s['epochs']} epochs, batch {s['batch_size'] or 'full'}"
            + (f", truncated BPTT every {s['tbptt']} steps" if s["tbptt"] else ", full BPTT")
            + ", gradients clipped to norm 5", quiet=quiet)
        history, seconds = _train(model, optimizer, loss, data, s, args)
        model.eval()
        summary = {"dataset": name, "task": data.task, "network": net, "seconds": round(seconds, 3),
                   "settings": {k: v for k, v in s.items()}, "train_rows": len(data.X),
                   "test_rows": len(data.X_test), "model": model_name}
        summary.update(_score(model, data, loss, seconds, quiet))
        _write(folder, model, output, data, history, summary, quiet)
    say(f"wrote model.npz, model.json, history.json, summary.json to {Path(args.out)}/", quiet=quiet)
    return 0


def _as_settings(s: dict, args: argparse.Namespace):
    from types import SimpleNamespace

    return SimpleNamespace(optimizer=s["optimizer"], lr=s["lr"], momentum=args.momentum,
                           weight_decay=args.weight_decay)


def _train(model, optimizer, loss: str, data: SequenceData, s: dict, args: argparse.Namespace):
    import deltaprop
    from deltaprop.cli.train import epoch_printer

    show_bar = not (args.quiet or args.no_progress) and sys.stdout.isatty()
    callbacks = [] if args.quiet or show_bar else [epoch_printer(s["epochs"])]
    start = time.perf_counter()
    try:
        history = deltaprop.fit(model, data.X, data.y, loss=loss, optimizer=optimizer, epochs=s["epochs"],
                                batch_size=s["batch_size"], validation_split=s["val_split"],
                                callbacks=callbacks, progress=show_bar, seed=args.seed, tbptt=s["tbptt"],
                                early_stopping=args.patience)
    except (ValueError, TypeError) as exc:
        raise CLIError(f"training cannot start with these settings: {one_line(exc)}") from None
    return history, time.perf_counter() - start


def _score(model, data: SequenceData, loss: str, seconds: float, quiet: bool) -> dict:
    """Print and return the held-out score."""
    from deltaprop.train import predict

    outputs = predict(model, data.X_test)
    if data.name == "text":
        logits = outputs.reshape(-1, outputs.shape[-1]).astype(np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        nats = float(-log_p[np.arange(len(log_p)), data.y_test.reshape(-1)].mean())
        bits = nats / math.log(2)
        print(f"test bits per character {bits:.3f} (uniform guessing: {math.log2(data.n_out):.3f}) after "
              f"{seconds:.1f}s of training", flush=True)
        return {"test_bits_per_char": bits, "test_cross_entropy": nats}
    if data.task == "classify":
        accuracy = float(np.mean(outputs.argmax(axis=1) == data.y_test))
        print(f"test accuracy {accuracy:.4f} after {seconds:.1f}s of training", flush=True)
        return {"test_accuracy": accuracy}
    mse = float(np.mean((outputs - data.y_test) ** 2))
    baseline = float(np.mean((data.y_test - data.y.mean()) ** 2))
    print(f"test mse {mse:.4g} (predicting the training mean: {baseline:.4g}) after {seconds:.1f}s of "
          "training", flush=True)
    return {"test_mse": mse, "test_baseline_mse": baseline}


def _write(folder, model, output: str, data: SequenceData, history, summary: dict, quiet: bool) -> None:
    import json

    from deltaprop.cli.modelfile import ModelInfo, save_model
    from deltaprop.cli.train import save_plot

    extra = {"sequence": {"dataset": data.name, "steps": int(data.X.shape[1])}, **data.extra}
    if data.vocabulary is not None:
        extra["vocabulary"] = data.vocabulary
    info = ModelInfo(task=data.task, feature_names=[], class_names=data.class_names, output=output,
                     extra=extra)
    try:
        save_model(model, folder.path / "model.npz", info)
        history.to_json(str(folder.path / "history.json"))
        (folder.path / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        note = save_plot(history.history, folder.path / "plot.png")
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror or str(exc), str(folder.out)) from None
    folder.publish()
    if note:
        say(note, quiet=quiet)
