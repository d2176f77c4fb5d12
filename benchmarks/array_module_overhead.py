"""What asking for the array module costs on the NumPy hot path (nanoseconds / microseconds per call).

Why: every op, layer and initialiser now allocates through
``backend.array_module`` of its inputs, so that one code path serves NumPy,
CuPy and any registered array type. That look-up runs many times per training
step; it must stay a rounding error next to the NumPy work. This script times
the look-up itself and a few small whole cases (a (32, 64) add, a Linear
forward, a dropout mask, a cross-entropy step) so a before/after comparison
shows any overhead the array-module plumbing added.

Run: ``python benchmarks/array_module_overhead.py`` (prints a table; run it on
a quiet machine, once on the old commit and once on the new one, and compare).
"""

from __future__ import annotations

import sys
import timeit
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import deltaprop as dp  # noqa: E402
from deltaprop import backend, nn  # noqa: E402
from deltaprop.nn import functional as F  # noqa: E402


def _best(fn, number: int, repeat: int = 7) -> float:
    """Best per-call time in seconds (the minimum is the least noisy estimate).

    A string is timed as a statement calling ``array_module`` on ``x`` directly,
    so the figure holds no lambda call.
    """
    if isinstance(fn, str):
        return _best_statement(fn, number, repeat)
    fn()
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number


def _best_statement(argument: str, number: int, repeat: int) -> float:
    values = {"ndarray": np.zeros((32, 64), dtype=np.float32), "np.float32": np.float32(2.0)}
    names = {"array_module": backend.array_module, "x": values[argument]}
    timer = timeit.Timer("array_module(x)", globals=names)
    return min(timer.repeat(number=number, repeat=repeat)) / number


def cases() -> list[tuple[str, str, object, int]]:
    """(name, unit, callable, calls per repeat)."""
    rng = np.random.default_rng(0)
    array = rng.standard_normal((32, 64)).astype(np.float32)
    a = dp.tensor(array, requires_grad=True)
    b = dp.tensor(rng.standard_normal((32, 64)).astype(np.float32), requires_grad=True)
    dp.manual_seed(0)
    layer = nn.Linear(64, 32)
    x = dp.tensor(array)
    logits = dp.tensor(rng.standard_normal((32, 10)).astype(np.float32), requires_grad=True)
    labels = rng.integers(0, 10, 32)

    def add_backward():
        (a + b).sum().backward()

    def cross_entropy_step():
        F.cross_entropy(logits, labels).backward()

    return [
        ("array_module(ndarray)", "ns", "ndarray", 1_000_000),
        ("array_module(np.float32)", "ns", "np.float32", 1_000_000),
        ("add (32,64) forward", "us", lambda: a + b, 20_000),
        ("add (32,64) forward+backward", "us", add_backward, 5_000),
        ("Linear(64, 32) forward, batch 32", "us", lambda: layer(x), 20_000),
        ("dropout(p=0.5) forward (32,64)", "us", lambda: F.dropout(a, 0.5, True), 5_000),
        ("cross_entropy (32,10) forward+backward", "us", cross_entropy_step, 5_000),
        ("randn(32, 64)", "us", lambda: dp.randn(32, 64), 5_000),
    ]


def main() -> None:
    scale = {"ns": 1e9, "us": 1e6}
    for name, unit, fn, number in cases():
        print(f"{name:42s} {_best(fn, number) * scale[unit]:9.3f} {unit}")


if __name__ == "__main__":
    main()
