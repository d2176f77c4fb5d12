"""Small generated data sets: the classic problems backprop is taught and tested on.

Each generator returns a `Dataset`. Classification sets have int64 labels of
shape (n,); regression sets have float32 targets of shape (n, 1), matching a
network's one-column output so losses never broadcast (n,) against (n, 1).
Random draws use ``seed`` when given, else the package generator
(`deltaprop.manual_seed`).
"""

from __future__ import annotations

import itertools

import numpy as np

from deltaprop.data._rng import rng_from
from deltaprop.data.dataset import Dataset

Seed = int | np.random.Generator | None


def _check_n(n: int, who: str, minimum: int = 1) -> int:
    if int(n) != n or n < minimum:
        raise ValueError(f"{who}: n must be an integer >= {minimum}, got {n!r}")
    return int(n)


def _split_counts(n: int, parts: int) -> list[int]:
    """Split n into `parts` sizes differing by at most one (first parts get the extra)."""
    return [n // parts + (1 if i < n % parts else 0) for i in range(parts)]


def make_xor() -> Dataset:
    """The XOR truth table: the four corners of the unit square, label a XOR b.

    Not linearly separable, so a single-layer perceptron cannot learn it and a
    2-2-1 network can: the textbook motivation for hidden layers.
    """
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    y = np.array([0, 1, 1, 0], dtype=np.int64)
    return Dataset(
        X, y, "classify", ["a", "b"], ["0", "1"],
        "XOR truth table: y = a XOR b (4 examples, not linearly separable).", name="xor",
    )  # fmt: skip


def make_parity(bits: int = 3) -> Dataset:
    """All 2**bits binary inputs, labelled by parity: sum(bits) % 2.

    Parity-N generalises XOR (parity-2); every input bit flips the answer,
    which makes it a hard test for networks of a given width.
    """
    if int(bits) != bits or not 1 <= bits <= 20:
        raise ValueError(f"make_parity: bits must be an integer in 1..20, got {bits!r}")
    X = np.array(list(itertools.product((0, 1), repeat=int(bits))), dtype=np.float32)
    y = (X.sum(axis=1).astype(np.int64)) % 2
    return Dataset(
        X, y, "classify", [f"b{i}" for i in range(bits)], ["even", "odd"],
        f"Parity-{bits}: all {2**bits} binary inputs of {bits} bits; y = sum(bits) % 2.",
        name=f"parity-{bits}",
    )  # fmt: skip


def make_spirals(n: int = 200, noise: float = 0.1, seed: Seed = None, turns: float = 1.5) -> Dataset:
    """Two interleaved spirals (n points in all, half per arm), the classic hard 2-D problem.

    Arm k is the curve ``r = t, angle = t + k*pi`` for t up to ``turns`` full
    turns, scaled to radius 1, plus Gaussian noise of std ``noise * 0.1``.
    """
    n = _check_n(n, "make_spirals", 2)
    rng = rng_from(seed)
    Xs, ys = [], []
    for k, m in enumerate(_split_counts(n, 2)):
        t = np.sqrt(rng.uniform(0.02, 1.0, size=m)) * turns * 2 * np.pi
        r = t / (turns * 2 * np.pi)
        pts = np.stack([r * np.cos(t + k * np.pi), r * np.sin(t + k * np.pi)], axis=1)
        Xs.append(pts + rng.normal(0.0, 0.1 * noise, size=pts.shape))
        ys.append(np.full(m, k, dtype=np.int64))
    return Dataset(
        np.concatenate(Xs).astype(np.float32), np.concatenate(ys), "classify", ["x", "y"], ["arm 0", "arm 1"],
        f"Two spirals: {n} points, {turns} turns, noise {noise}.", name="spirals",
    )  # fmt: skip


def _outer_and_inner(outer: np.ndarray, inner: np.ndarray, noise: float, rng) -> tuple[np.ndarray, ...]:
    """Points of class 0 (outer) then class 1 (inner), jittered by Gaussian noise of std ``noise``."""
    X = np.concatenate([outer, inner])
    if noise:
        X = X + rng.normal(0.0, noise, size=X.shape)
    y = np.concatenate([np.zeros(len(outer), np.int64), np.ones(len(inner), np.int64)])
    return X.astype(np.float32), y


def make_moons(n: int = 200, noise: float = 0.1, seed: Seed = None) -> Dataset:
    """Two interleaving half circles (as scikit-learn's make_moons), Gaussian noise of std ``noise``."""
    n = _check_n(n, "make_moons", 2)
    rng = rng_from(seed)
    n_out, n_in = _split_counts(n, 2)
    t_out = np.linspace(0, np.pi, n_out)
    t_in = np.linspace(0, np.pi, n_in)
    outer = np.stack([np.cos(t_out), np.sin(t_out)], axis=1)
    inner = np.stack([1 - np.cos(t_in), 1 - np.sin(t_in) - 0.5], axis=1)
    X, y = _outer_and_inner(outer, inner, noise, rng)
    return Dataset(
        X, y, "classify", ["x", "y"], ["upper", "lower"],
        f"Two moons: {n} points, noise {noise}.", name="moons",
    )  # fmt: skip


def make_circles(n: int = 200, noise: float = 0.05, factor: float = 0.5, seed: Seed = None) -> Dataset:
    """A small circle (label 1, radius ``factor``) inside a unit circle (label 0)."""
    n = _check_n(n, "make_circles", 2)
    if not 0 < factor < 1:
        raise ValueError(f"make_circles: factor must be in (0, 1), got {factor!r}")
    rng = rng_from(seed)
    n_out, n_in = _split_counts(n, 2)
    t_out = np.linspace(0, 2 * np.pi, n_out, endpoint=False)
    t_in = np.linspace(0, 2 * np.pi, n_in, endpoint=False)
    outer = np.stack([np.cos(t_out), np.sin(t_out)], axis=1)
    inner = factor * np.stack([np.cos(t_in), np.sin(t_in)], axis=1)
    X, y = _outer_and_inner(outer, inner, noise, rng)
    return Dataset(
        X, y, "classify", ["x", "y"], ["outer", "inner"],
        f"Two concentric circles: {n} points, radius ratio {factor}, noise {noise}.", name="circles",
    )  # fmt: skip


def make_sine(n: int = 200, seed: Seed = None, noise: float = 0.0) -> Dataset:
    """Regression on y = sin(x) for x drawn uniformly from [-pi, pi] (plus optional noise).

    X has shape (n, 1) and y has shape (n, 1), float32.
    """
    n = _check_n(n, "make_sine")
    rng = rng_from(seed)
    x = rng.uniform(-np.pi, np.pi, size=(n, 1))
    y = np.sin(x)
    if noise:
        y = y + rng.normal(0.0, noise, size=y.shape)
    return Dataset(
        x.astype(np.float32), y.astype(np.float32), "regress", ["x"], None,
        f"Sine regression: y = sin(x), x ~ U[-pi, pi], {n} points, noise {noise}.", name="sine",
    )  # fmt: skip
