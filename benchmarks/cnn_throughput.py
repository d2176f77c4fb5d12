"""CNN training throughput on the CPU: deltaprop vs a lean NumPy floor and PyTorch eager.

The figure is seconds per 60,000 28x28 greyscale images, forward + backward
+ SGD (momentum 0.9, lr 0.01), batch 64, softmax cross-entropy, float32, for
two nets (the issue's reference figures were measured on them):

- LeNet-5: conv 1-6 5x5 pad 2, ReLU, max-pool 2, conv 6-16 5x5, ReLU, max-pool 2,
  400-120-84-10 with ReLU;
- PyTorch's ``mnist`` example net: conv 1-32 3x3, ReLU, conv 32-64 3x3, ReLU,
  max-pool 2, 9216-128-10 (its dropout left out, as in the floor).

Rows, each the median over repeats with the implementations interleaved (so
drift of a shared machine hits all alike):

- ``lean numpy (floor)``: `benchmarks/lean_numpy_cnn.py`, the same maths by hand;
- ``deltaprop loop``: model(x) -> loss -> zero_grad -> backward -> optimizer.step;
- ``deltaprop.fit``: the library's training loop (progress off);
- ``pytorch eager``: torch.nn + torch.optim.SGD, as many threads as OpenBLAS.

Goal: deltaprop within 1.2x of the floor. The data are random images (speed
does not depend on the values). Run ``python benchmarks/cnn_throughput.py``
(``--quick`` for a short smoke run that writes nothing); it writes
benchmarks/results/cnn_throughput.md and rebuilds BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from lean_numpy_cnn import LENET5, MNIST_EXAMPLE, LeanCNN  # noqa: E402
from machine import describe  # noqa: E402
from mlp_throughput import blas_threads  # noqa: E402

import deltaprop as dp  # noqa: E402
from deltaprop import nn, optim  # noqa: E402

LR, MOMENTUM, BATCH = 0.01, 0.9, 64
NETS = {"LeNet-5": LENET5, "mnist example": MNIST_EXAMPLE}


def deltaprop_net(spec) -> nn.Sequential:
    """The spec of `lean_numpy_cnn` as deltaprop layers."""
    layers = []
    for layer in spec:
        kind = layer[0]
        if kind == "conv":
            layers.append(nn.Conv2d(layer[1], layer[2], layer[3], padding=layer[4]))
        elif kind == "fc":
            layers.append(nn.Linear(layer[1], layer[2]))
        else:
            layers.append({"relu": nn.ReLU, "pool": lambda: nn.MaxPool2d(2), "flatten": nn.Flatten}[kind]())
    return nn.Sequential(*layers)


def torch_net(spec):
    import torch

    layers = []
    for layer in spec:
        kind = layer[0]
        if kind == "conv":
            layers.append(torch.nn.Conv2d(layer[1], layer[2], layer[3], padding=layer[4]))
        elif kind == "fc":
            layers.append(torch.nn.Linear(layer[1], layer[2]))
        else:
            layers.append({"relu": torch.nn.ReLU, "pool": lambda: torch.nn.MaxPool2d(2),
                           "flatten": torch.nn.Flatten}[kind]())
    return torch.nn.Sequential(*layers)


def _batches(n: int, rng) -> list[np.ndarray]:
    order = rng.permutation(n)
    return [order[s:s + BATCH] for s in range(0, n, BATCH)]


# ----------------------------------------------------------------- one epoch per implementation
def make_lean(spec):
    model = LeanCNN(spec, (28, 28, 1), BATCH, lr=LR, momentum=MOMENTUM)

    def epoch(X, y, rng):
        xbuf = np.empty((BATCH, 28, 28, 1), X.dtype)
        for idx in _batches(len(X), rng):
            xb = xbuf[: len(idx)]
            np.take(X.reshape(len(X), 28, 28, 1), idx, axis=0, out=xb)
            model.step(xb, y[idx])

    return epoch


def make_deltaprop_loop(spec):
    model, loss_fn = deltaprop_net(spec), nn.CrossEntropyLoss()
    optimizer = optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)

    def epoch(X, y, rng):
        for idx in _batches(len(X), rng):
            loss = loss_fn(model(dp.Tensor(X[idx])), dp.Tensor(y[idx]))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    return epoch


def make_deltaprop_fit(spec):
    model, loss_fn = deltaprop_net(spec), nn.CrossEntropyLoss()
    optimizer = optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)

    def epoch(X, y, rng):
        dp.fit(model, X, y, loss=loss_fn, optimizer=optimizer, epochs=1, batch_size=BATCH, progress=False)

    return epoch


def make_torch(spec):
    import torch

    torch.set_num_threads(blas_threads())
    torch.manual_seed(0)
    model, loss_fn = torch_net(spec), torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)

    def epoch(X, y, rng):
        for idx in _batches(len(X), rng):
            loss = loss_fn(model(torch.from_numpy(X[idx])), torch.from_numpy(y[idx]))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    return epoch


IMPLEMENTATIONS: dict[str, Callable] = {
    "lean numpy (floor)": make_lean,
    "deltaprop loop": make_deltaprop_loop,
    "deltaprop.fit": make_deltaprop_fit,
    "pytorch eager": make_torch,
}


def time_net(spec, X, y, repeats: int, only: list[str] | None = None) -> dict[str, tuple | str]:
    """(median, best) seconds per epoch of len(X) images, per implementation (or why it could not run)."""
    rng = np.random.default_rng(1)
    epochs, results = {}, {}
    for name, factory in IMPLEMENTATIONS.items():
        if only and name not in only:
            continue
        try:
            epochs[name] = factory(spec)
            epochs[name](X[: BATCH * 4], y[: BATCH * 4], rng)  # warm up
            results[name] = []
        except Exception as exc:  # e.g. PyTorch not installed
            results[name] = f"n/a ({type(exc).__name__}: {str(exc)[:60]})"
    for _ in range(repeats):
        for name, epoch in epochs.items():
            start = time.perf_counter()
            epoch(X, y, rng)
            results[name].append(time.perf_counter() - start)
    return {k: v if isinstance(v, str) else (statistics.median(v), min(v)) for k, v in results.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run; writes nothing")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--images", type=int, default=60000, help="images per timed epoch")
    parser.add_argument("--only", nargs="*", help="implementations to time (default: all)")
    args = parser.parse_args(argv)
    n = 640 if args.quick else args.images
    repeats = 1 if args.quick else args.repeats
    rng = np.random.default_rng(0)
    X = rng.random((n, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, n)
    load_before = os.getloadavg()[0]
    rows = []
    for title, spec in NETS.items():
        timings = time_net(spec, X, y, repeats, args.only)
        floor = timings.get("lean numpy (floor)")
        for name, t in timings.items():
            if isinstance(t, str):
                rows.append(f"| {title} | {name} | {t} | | |")
                continue
            per60k = t[0] * 60000 / n
            ratio = f"{t[0] / floor[0]:.2f}x" if isinstance(floor, tuple) else ""
            best = f"{t[1] / floor[1]:.2f}x" if isinstance(floor, tuple) else ""
            rows.append(f"| {title} | {name} | {per60k:.1f} | {ratio} | {best} |")
        print("\n".join(rows[-len(timings):]), flush=True)
    load = " / ".join(f"{v:.1f}" for v in (load_before, os.getloadavg()[0]))
    section = "\n".join([
        "## CNN training throughput (CPU)",
        "",
        f"Machine: {describe(('torch',))}; OpenBLAS threads: {blas_threads()};",
        f"1-minute load average before / after the run: {load}.",
        "",
        "Seconds per 60,000 28x28 images (forward + backward + SGD momentum 0.9, batch 64, float32,",
        f"softmax cross-entropy); median of {repeats} epochs of {n:,} random images, implementations",
        "interleaved. `vs floor` = median / the lean NumPy floor's median (goal for deltaprop: <= 1.2x);",
        "`vs floor (best)` = the same with each one's fastest epoch. LeNet-5 = conv 1-6 5x5 pad 2, pool,",
        "conv 6-16 5x5, pool, 400-120-84-10 (ReLU); mnist example = conv 1-32 3x3, conv 32-64 3x3, pool,",
        "9216-128-10 (ReLU, no dropout). Produced by `python benchmarks/cnn_throughput.py`.",
        "",
        "| net | implementation | s / 60k images | vs floor | vs floor (best) |",
        "|---|---|---:|---:|---:|",
        *rows,
    ])
    if args.quick:
        print(section)
        return
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "cnn_throughput.md").write_text(section + "\n")
    subprocess.run([sys.executable, str(HERE / "write_benchmarks_md.py")], check=True)
    print(section)


if __name__ == "__main__":
    main()
