"""Sequence tasks for recurrent networks, generated or bundled (nothing is downloaded).

- `make_adding`: the adding problem (Hochreiter & Schmidhuber 1997): a sequence
  of random numbers with two of them marked; the target is their sum. The
  marks sit one in each half, so the network must remember across the whole
  sequence. Always answering 1 (the mean of the sum) scores MSE 1/6 ~ 0.167,
  the baseline a model must beat.
- `make_sine_sequences`: windows of sine waves of random frequency and phase;
  predict the value ``horizon`` steps after the window.
- `make_mackey_glass`: windows of the chaotic Mackey-Glass delay series
  (tau = 17), the classic time-series forecasting benchmark.
- `load_seq_digits`: the bundled 8x8 digits read row by row, 8 steps of 8 pixels.
- `load_text` and `make_char_sequences`: a character-level language model's
  data, from a text file or the bundled *Hamlet* (public domain; see
  deltaprop/datasets/HAMLET_LICENSE.txt).

Sequences are batch-first arrays (N, T, features), float32; regression
targets are (N, 1). Character data are int64 ids: inputs (N, T) and, for
next-character prediction, targets (N, T) shifted by one.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np

from deltaprop.data._rng import rng_from
from deltaprop.data.dataset import Dataset

Seed = int | np.random.Generator | None


def _check(value: Any, name: str, who: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or int(value) != value or value < minimum:
        raise ValueError(f"{who}: {name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def make_adding(n: int = 2000, seq_len: int = 50, seed: Seed = None) -> Dataset:
    """The adding problem: X (n, seq_len, 2) = [value in U(0, 1), marker]; y (n, 1) = sum of the marked two.

    One marker falls in the first half of the sequence and one in the second
    (so seq_len >= 2). Predicting the constant 1 gives MSE 1/6.
    """
    n, T = _check(n, "n", "make_adding"), _check(seq_len, "seq_len", "make_adding", 2)
    rng = rng_from(seed)
    values = rng.uniform(0.0, 1.0, (n, T)).astype(np.float32)
    first = rng.integers(0, T // 2, n)
    second = rng.integers(T // 2, T, n)
    markers = np.zeros((n, T), np.float32)
    rows = np.arange(n)
    markers[rows, first] = markers[rows, second] = 1.0
    X = np.stack([values, markers], axis=2)
    y = (values[rows, first] + values[rows, second]).astype(np.float32).reshape(n, 1)
    return Dataset(X, y, "regress", ["value", "marker"], None,
                   f"adding problem: {n} sequences of {T} steps; y = sum of the 2 marked values "
                   "(constant prediction 1 scores MSE 1/6)", name="adding")


def make_sine_sequences(n: int = 1000, seq_len: int = 50, horizon: int = 1, seed: Seed = None) -> Dataset:
    """Sine windows x_t = sin(2 pi f t + phase), f in [0.02, 0.1] cycles per step; y = x_{T-1+horizon}."""
    n, T = _check(n, "n", "make_sine_sequences"), _check(seq_len, "seq_len", "make_sine_sequences")
    horizon = _check(horizon, "horizon", "make_sine_sequences")
    rng = rng_from(seed)
    freq = rng.uniform(0.02, 0.1, (n, 1))
    phase = rng.uniform(0.0, 2 * np.pi, (n, 1))
    t = np.arange(T + horizon)[None, :]
    wave = np.sin(2 * np.pi * freq * t + phase).astype(np.float32)
    return Dataset(wave[:, :T, None], wave[:, T - 1 + horizon, None], "regress", ["x"], None,
                   f"sine forecasting: {n} windows of {T} steps, predict {horizon} step(s) ahead",
                   name="sine-seq")


def mackey_glass(length: int, tau: float = 17.0, beta: float = 0.2, gamma: float = 0.1, power: float = 10.0,
                 x0: float = 1.2, dt: float = 0.1, discard: int = 500) -> np.ndarray:
    """Mackey-Glass: dx/dt = beta x(t - tau) / (1 + x(t - tau)^power) - gamma x(t), sampled at t = 1, 2, ...

    Integrated by Euler steps of ``dt`` from a constant history x0, after
    ``discard`` time units of transient. tau = 17 gives the usual mildly chaotic series.
    """
    length = _check(length, "length", "mackey_glass")
    per_unit = int(round(1.0 / dt))
    delay = int(round(tau / dt))
    steps = (length + discard) * per_unit
    x = np.empty(steps + delay + 1)
    x[: delay + 1] = x0
    for k in range(delay, delay + steps):
        lagged = x[k - delay]
        x[k + 1] = x[k] + dt * (beta * lagged / (1.0 + lagged**power) - gamma * x[k])
    return x[delay + discard * per_unit :: per_unit][:length].astype(np.float32)


def make_mackey_glass(n: int = 1000, seq_len: int = 50, horizon: int = 1, tau: float = 17.0,
                      seed: Seed = None) -> Dataset:
    """Mackey-Glass windows at random places: X (n, seq_len, 1), y (n, 1) the value ``horizon`` steps on."""
    n, T = _check(n, "n", "make_mackey_glass"), _check(seq_len, "seq_len", "make_mackey_glass")
    horizon = _check(horizon, "horizon", "make_mackey_glass")
    series = mackey_glass(max(4 * n, 2000) + T + horizon, tau=tau)
    starts = rng_from(seed).integers(0, len(series) - T - horizon, n)
    index = starts[:, None] + np.arange(T)[None, :]
    text = f"Mackey-Glass (tau={tau:g}) forecasting: {n} windows of {T} steps, {horizon} step(s) ahead"
    X, y = series[index][:, :, None], series[starts + T - 1 + horizon][:, None]
    return Dataset(X, y, "regress", ["x"], None, text, name="mackey-glass")


def load_seq_digits() -> Dataset:
    """The bundled 8x8 digits as sequences: 8 time steps (rows) of 8 pixels in [0, 1]; 10 classes."""
    from deltaprop.data.registry import load_digits

    digits = load_digits(scaled=True)
    text = "8x8 digits read row by row (8 steps of 8 pixels)\n\n" + digits.description
    return Dataset(digits.X.reshape(-1, 8, 8), digits.y, "classify", [f"pixel_{c}" for c in range(8)],
                   digits.target_names, text, name="seq-digits")


# --------------------------------------------------------------------------- text


def load_text(path: str | os.PathLike | None = None) -> str:
    """A text file's contents (UTF-8), or the bundled *Hamlet* (about 177 KB) when ``path`` is None."""
    if path is None:
        return resources.files("deltaprop").joinpath("datasets", "hamlet.txt").read_text(encoding="utf-8")
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except UnicodeDecodeError as exc:
        raise ValueError(f"load_text: {path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if len(text) < 2:
        raise ValueError(f"load_text: {path} holds {len(text)} characters; a language model needs more")
    return text


@dataclass(frozen=True)
class CharVocabulary:
    """The characters of a text, in sorted order: id k is ``chars[k]``."""

    chars: str

    @classmethod
    def of(cls, text: str) -> CharVocabulary:
        return cls("".join(sorted(set(text))))

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        lookup = {c: k for k, c in enumerate(self.chars)}
        unknown = sorted(set(text) - set(lookup))
        if unknown:
            raise ValueError(f"CharVocabulary: characters {unknown[:10]!r} are not in the model's vocabulary "
                             f"({len(self.chars)} characters); use only characters of the training text")
        return np.fromiter((lookup[c] for c in text), dtype=np.int64, count=len(text))

    def decode(self, ids: Any) -> str:
        return "".join(self.chars[int(k)] for k in np.asarray(ids).reshape(-1))


def make_char_sequences(
    text: str, seq_len: int = 64, step: int | None = None, vocabulary: CharVocabulary | None = None
) -> tuple[np.ndarray, np.ndarray, CharVocabulary]:
    """(X ids (n, seq_len), y ids (n, seq_len), vocabulary): y is X shifted by one character.

    Windows start every ``step`` characters (default ``seq_len``: no overlap),
    so consecutive windows continue each other, as stateful training wants.
    """
    T = _check(seq_len, "seq_len", "make_char_sequences")
    step = T if step is None else _check(step, "step", "make_char_sequences")
    vocabulary = vocabulary or CharVocabulary.of(text)
    ids = vocabulary.encode(text)
    if len(ids) < T + 1:
        raise ValueError(f"make_char_sequences: the text has {len(ids)} characters, fewer than seq_len + 1 "
                         f"= {T + 1}")
    starts = np.arange(0, len(ids) - T, step)
    index = starts[:, None] + np.arange(T)[None, :]
    return ids[index], ids[index + 1], vocabulary


# --------------------------------------------------------------------------- by name

#: name -> (loader taking n/seq_len/seed where they apply, one-line description)
SEQUENCE_DATASETS: dict[str, tuple[Callable[..., Any], str]] = {
    "adding": (make_adding, "adding problem: sum of the 2 marked values of a sequence (regression)"),
    "sine-seq": (make_sine_sequences, "sine windows, forecast the next value (regression)"),
    "mackey-glass": (make_mackey_glass, "Mackey-Glass chaotic series, forecast the next value (regression)"),
    "seq-digits": (load_seq_digits, "8x8 digits as 8 steps of 8 pixels, 10 classes"),
    "text": (load_text, "character-level language model on a text (bundled: Hamlet)"),
}
