"""Learning on sequences: the adding problem at T=50 and T=100 for RNN, LSTM and GRU, and the character
model's bits per character on held-out text after a stated number of minutes.

The adding problem (deltaprop.data.sequences.make_adding): 5000 training and
1000 held-out sequences; a one-layer network of 64 units, Adam (lr 0.01,
the CLI's preset), batch 32, fit's default clipping (norm 5), up to 30 epochs
or until the training MSE falls below 0.005. Always answering 1 scores MSE
1/6 = 0.167, so a network that cannot carry information across the
sequence stays near 0.167: the classic result is that a tanh RNN fails at
these lengths while the LSTM and the GRU solve it.

The character model: an LSTM of 256 units over an embedding of 32 on the
bundled Hamlet (the first 85% for training in windows of 64 characters,
overlapping every 16; the next 5% for validation; the last 10% held out),
Adam lr 0.003, batch 64, for ``--minutes`` of training (checked after each
epoch) or until the validation loss has not improved for 2 epochs, keeping
the best epoch's weights (177 KB of text overfits a 256-unit LSTM within
about ten epochs, so without this the score would depend on how many epochs
the time budget allowed); then bits per character on the held-out text
(uniform guessing over its 64 characters: 6 bits).

Run ``python benchmarks/sequence_tasks.py`` (``--quick``: tiny, writes
nothing; ``--only adding|text``); it writes benchmarks/results/sequence_tasks.md
and rebuilds BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from machine import describe  # noqa: E402

import deltaprop as dp  # noqa: E402
from deltaprop import nn, optim  # noqa: E402
from deltaprop.data.sequences import CharVocabulary, load_text, make_adding, make_char_sequences  # noqa: E402
from deltaprop.train import Callback  # noqa: E402


class TimeBudget(Callback):
    """Stop after the epoch during which ``seconds`` of training have passed."""

    def __init__(self, seconds: float) -> None:
        self.seconds, self.start = seconds, time.perf_counter()

    def on_epoch_end(self, run) -> None:
        if time.perf_counter() - self.start >= self.seconds:
            run.stop_training, run.stop_reason = True, f"time budget of {self.seconds:.0f}s reached"


def adding(seq_len: int, cell: str, n: int, epochs: int) -> tuple[float, int, float]:
    """(held-out MSE, epochs run, seconds) for one cell at one sequence length."""
    train, test = make_adding(n, seq_len, seed=0), make_adding(n // 5, seq_len, seed=1)
    dp.manual_seed(0)
    model = nn.RecurrentNet(2, 64, 1, cell=cell)
    start = time.perf_counter()
    history = dp.fit(model, train.X, train.y, loss="mse", optimizer=optim.Adam(model.parameters(), lr=0.01),
                     epochs=epochs, batch_size=32, target_loss=0.005, progress=False, seed=0)
    seconds = time.perf_counter() - start
    mse = float(np.mean((dp.train.predict(model, test.X) - test.y) ** 2))
    return mse, history.epochs_run, seconds


def char_model(minutes: float, quick: bool) -> dict:
    text = load_text()
    if quick:
        text = text[:20000]
    train_end, cut = int(len(text) * 0.85), int(len(text) * 0.9)
    vocabulary = CharVocabulary.of(text)
    X, y, _ = make_char_sequences(text[:train_end], 64, step=16, vocabulary=vocabulary)
    X_val, y_val, _ = make_char_sequences(text[train_end:cut], 64, vocabulary=vocabulary)
    X_test, y_test, _ = make_char_sequences(text[cut:], 64, vocabulary=vocabulary)
    dp.manual_seed(0)
    hidden = 32 if quick else 256
    size = len(vocabulary)
    model = nn.RecurrentNet(32, hidden, size, many_to_many=True, vocab_size=size)
    start = time.perf_counter()
    history = dp.fit(model, X, y, loss="cross_entropy", optimizer=optim.Adam(model.parameters(), lr=0.003),
                     epochs=10_000, batch_size=64, progress=False, seed=0, validation_data=(X_val, y_val),
                     early_stopping=2, callbacks=[TimeBudget(minutes * 60)])
    seconds = time.perf_counter() - start
    logits = dp.train.predict(model, X_test).reshape(-1, len(vocabulary)).astype(np.float64)
    logits -= logits.max(axis=1, keepdims=True)
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    nats = float(-log_p[np.arange(len(log_p)), y_test.reshape(-1)].mean())
    best = int(np.argmin(history.history["val_loss"])) + 1
    return {"bpc": nats / math.log(2), "epochs": history.epochs_run, "best": best, "minutes": seconds / 60,
            "hidden": hidden, "train_windows": len(X), "test_chars": y_test.size,
            "vocabulary": len(vocabulary)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny smoke run; writes nothing")
    parser.add_argument("--minutes", type=float, default=10.0, help="character model's training budget")
    parser.add_argument("--only", choices=("adding", "text"), help="run one part only")
    args = parser.parse_args(argv)
    n, epochs, lengths = (300, 1, (10,)) if args.quick else (5000, 30, (50, 100))
    lines = [f"Machine: {describe()}; load before: {os.getloadavg()[0]:.1f}.", ""]
    if args.only != "text":
        lines += ["| task | cell | held-out MSE | epochs | seconds |", "|---|---|---|---|---|"]
        for seq_len in lengths:
            for cell in ("rnn", "lstm", "gru"):
                mse, run, seconds = adding(seq_len, cell, n, epochs)
                lines.append(f"| adding, T={seq_len} | {cell.upper()} | {mse:.4f} | {run} | {seconds:.0f} |")
                print(lines[-1], flush=True)
        lines += ["", "(predicting 1 always: MSE 0.167)", ""]
    if args.only != "adding":
        result = char_model(0.05 if args.quick else args.minutes, args.quick)
        r = result
        lines.append(f"Character model (LSTM {r['hidden']} over a 32-dim embedding, Hamlet): {r['bpc']:.3f} "
                     f"bits per character on the held-out {r['test_chars']:,} characters after "
                     f"{r['minutes']:.1f} minutes ({r['epochs']} epochs over {r['train_windows']:,} "
                     f"windows, the weights of epoch {r['best']}, best on the validation text); "
                     f"uniform guessing over the {result['vocabulary']} characters: "
                     f"{math.log2(result['vocabulary']):.2f} bits.")
        print(lines[-1], flush=True)
    if args.quick:
        return
    header = ["## Learning on sequences", "",
              "Adding problem: 5000 train / 1000 held-out sequences, one layer of 64 units, Adam lr 0.01, "
              "batch 32,", "clipping at norm 5, up to 30 epochs or training MSE <= 0.005. "
              "Produced by `python benchmarks/sequence_tasks.py`.", ""]
    if args.only == "text":
        header = ["## Learning on sequences: the character model", "",
                  "85% of Hamlet to train on, 5% to validate (early stopping, patience 2, best weights",
                  "kept), 10% held out. Produced by `python benchmarks/sequence_tasks.py --only text`.",
                  ""]
    (HERE / "results").mkdir(exist_ok=True)
    name = "sequence_tasks" + (f"_{args.only}" if args.only else "")  # a part run beside the whole
    (HERE / "results" / f"{name}.md").write_text("\n".join(header + lines) + "\n")
    import write_benchmarks_md

    write_benchmarks_md.main()


if __name__ == "__main__":
    main()
