"""Recurrent training steps on the CPU: deltaprop's fused RNN/LSTM/GRU vs the lean NumPy floor and PyTorch.

One training step: a one-layer network over T=50 steps, batch 32, 8 inputs,
64 hidden units, the loss the MSE of the last hidden state against a target,
backward through time, an SGD update. Rows per cell (medians of interleaved
repeats, with the spread of the middle half):

- ``lean numpy (floor)``: `benchmarks/lean_numpy_rnn.py`, the maths written by
  hand (hoisted input projection, fused gates, hand-written BPTT, one call per
  element-wise operation);
- ``deltaprop nn.<Cell>``: ``layer(x)`` -> loss -> ``backward()`` -> SGD step;
- ``deltaprop op only``: the fused op `deltaprop.ops.recurrent.recurrent`
  forward and backward, without the module, loss or optimizer;
- ``pytorch, 1 thread`` and ``pytorch, N threads``: torch.nn.<Cell> eager, same step.

The goal (issue 12): deltaprop within 1.2x of the floor for all three cells;
the moonshot: the LSTM at or ahead of PyTorch's 1-thread figure.

Run ``python benchmarks/rnn_throughput.py`` (``--quick``: a short smoke run
that writes nothing); it writes benchmarks/results/rnn_throughput.md and
rebuilds BENCHMARKS.md. OPENBLAS threads are left as the machine has them:
deltaprop's op holds BLAS to one thread inside itself (see
deltaprop/ops/recurrent.py); the floor is timed both ways.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from lean_numpy_rnn import LeanRecurrent  # noqa: E402
from machine import describe  # noqa: E402

import deltaprop as dp  # noqa: E402
from deltaprop import nn  # noqa: E402
from deltaprop.ops.recurrent import _one_blas_thread, recurrent  # noqa: E402

T, N, I, H = 50, 32, 8, 64
LR = 0.01
CELLS = {"rnn": ("RNN", "rnn_tanh"), "lstm": ("LSTM", "lstm"), "gru": ("GRU", "gru")}


def _data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((T, N, I)).astype(np.float32), rng.standard_normal((N, H)).astype(np.float32)


def make_floor(kind: str, one_thread: bool) -> Callable[[], None]:
    floor = LeanRecurrent(kind, I, H, T, N, lr=LR)
    x, y = _data()
    if not one_thread:
        return lambda: floor.step(x, y)

    def step() -> None:
        with _one_blas_thread():
            floor.step(x, y)

    return step


def make_deltaprop(kind: str) -> Callable[[], None]:
    dp.manual_seed(0)
    layer = getattr(nn, CELLS[kind][0])(I, H)
    optimizer = dp.optim.SGD(layer.parameters(), lr=LR)
    x, y = _data()
    target = dp.tensor(y)

    def step() -> None:
        _, h = layer(x)
        h_n = h[0] if kind == "lstm" else h
        loss = dp.nn.functional.mse_loss(h_n[0], target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step


def make_op(kind: str) -> Callable[[], None]:
    mode = CELLS[kind][1]
    rows = {"rnn": 1, "lstm": 4, "gru": 3}[kind] * H
    rng = np.random.default_rng(0)
    params = [dp.tensor(rng.uniform(-0.1, 0.1, s).astype(np.float32), requires_grad=True)
              for s in [(rows, I), (rows, H), (rows,), (rows,)]]
    x, _ = _data()
    zeros = np.zeros((N, H), np.float32)
    seed = np.ones((N, H), np.float32)

    def step() -> None:
        for p in params:
            p.grad = None
        _, h_n, _ = recurrent(mode, x, zeros, zeros if kind == "lstm" else None, *params)
        h_n.backward(seed)

    return step


def make_torch(kind: str, threads: int) -> Callable[[], None]:
    import torch

    torch.manual_seed(0)
    layer = getattr(torch.nn, CELLS[kind][0])(I, H)
    optimizer = torch.optim.SGD(layer.parameters(), lr=LR)
    x, y = (torch.from_numpy(a) for a in _data())

    def step() -> None:
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            _, h = layer(x)
            h_n = h[0] if kind == "lstm" else h
            loss = ((h_n[0] - y) ** 2).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        finally:
            torch.set_num_threads(previous)

    return step


def implementations(kind: str) -> dict[str, Callable[[], Callable[[], None]]]:
    threads = os.cpu_count() or 1
    cell = CELLS[kind][0]
    return {
        "lean numpy (floor)": lambda: make_floor(kind, one_thread=False),
        "lean numpy (floor), 1 BLAS thread": lambda: make_floor(kind, one_thread=True),
        f"deltaprop nn.{cell}": lambda: make_deltaprop(kind),
        "deltaprop op only": lambda: make_op(kind),
        "pytorch, 1 thread": lambda: make_torch(kind, 1),
        f"pytorch, {threads} threads": lambda: make_torch(kind, threads),
    }


def time_cell(kind: str, repeats: int, steps_per_timing: int) -> dict[str, tuple[float, float, float] | str]:
    """(median, lower quartile, upper quartile) ms per step for each implementation, interleaved."""
    steps: dict[str, Callable[[], None]] = {}
    results: dict[str, list[float] | str] = {}
    for name, factory in implementations(kind).items():
        try:
            steps[name] = factory()
            for _ in range(3):
                steps[name]()  # warm up
            results[name] = []
        except Exception as exc:  # e.g. PyTorch not installed
            results[name] = f"n/a ({type(exc).__name__}: {str(exc)[:60]})"
    for _ in range(repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            for _ in range(steps_per_timing):
                step()
            results[name].append((time.perf_counter() - start) / steps_per_timing * 1e3)
    out: dict[str, tuple[float, float, float] | str] = {}
    for name, values in results.items():
        if isinstance(values, str):
            out[name] = values
            continue
        quartiles = statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3
        out[name] = (statistics.median(values), quartiles[0], quartiles[2])
    return out


def rows_for(kind: str, timings: dict) -> list[str]:
    floors = [t for name, t in timings.items() if name.startswith("lean numpy") and isinstance(t, tuple)]
    floor = min(floors) if floors else None  # the faster of the floor's two thread settings
    torch1 = timings.get("pytorch, 1 thread")
    lines = []
    for name, t in timings.items():
        if isinstance(t, str):
            lines.append(f"| {kind.upper()} | {name} | {t} | | | |")
            continue
        med, lo, hi = t
        vs_floor = f"{med / floor[0]:.2f}x" if isinstance(floor, tuple) else ""
        vs_torch = f"{med / torch1[0]:.2f}x" if isinstance(torch1, tuple) else ""
        lines.append(f"| {kind.upper()} | {name} | {med:.2f} | {lo:.2f}-{hi:.2f} | {vs_floor} | {vs_torch} |")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run; writes nothing")
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args(argv)
    repeats, per = (2, 2) if args.quick else (args.repeats, 10)
    load_before = os.getloadavg()[0]
    table = []
    for kind in CELLS:
        table += rows_for(kind, time_cell(kind, repeats, per))
        print("\n".join(table[-len(implementations(kind)):]), flush=True)
    if args.quick:
        return
    load = " / ".join(f"{v:.1f}" for v in (load_before, os.getloadavg()[0]))
    section = "\n".join([
        "## Recurrent training steps (CPU)",
        "",
        f"Machine: {describe(('torch',))}; 1-minute load before / after: {load}.",
        "",
        f"One layer, T={T} steps, batch {N}, {I} inputs, {H} hidden units, float32; loss = MSE of the last",
        "hidden state; backward through time; SGD step. Milliseconds per training step: median of",
        f"{repeats} timings of {per} steps each, implementations interleaved; `middle half` = the",
        "quartiles. `vs floor` = median / the faster lean NumPy floor row (goal: <= 1.20x);",
        "`vs torch 1t` = median / PyTorch with one thread (LSTM moonshot: <= 1.00x).",
        "Produced by `python benchmarks/rnn_throughput.py`.",
        "",
        "| cell | implementation | ms / step | middle half | vs floor | vs torch 1t |",
        "|---|---|---|---|---|---|",
        *table,
    ])
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    (results / "rnn_throughput.md").write_text(section + "\n")
    import write_benchmarks_md

    write_benchmarks_md.main()


if __name__ == "__main__":
    main()
