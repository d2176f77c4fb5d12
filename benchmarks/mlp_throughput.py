"""MLP training throughput on the CPU: deltaprop vs a lean NumPy floor, PyTorch and scikit-learn.

Why: a network's training step is a handful of matrix products plus
bookkeeping. The products cost the same in every NumPy-based trainer, so the
question is how much deltaprop adds on top. The floor is
`benchmarks/lean_numpy_mlp.py`: the same maths written by hand with every
buffer preallocated. The goal is deltaprop within 1.1x of that floor.

Cases (softmax cross-entropy, ReLU, SGD momentum 0.9, lr 0.01, shuffled minibatches):

- MNIST-shaped synthetic data: 60000 x 784 float32 in [0, 1), 10 random
  classes, 784-256-128-10, batch sizes 32, 128 and 512, one epoch per timing.
- Digits-sized data (the bundled 1797 x 64 digits): 64-32-10 and 64-64-10, batch 32.

Rows, each the median over repeats (implementations interleaved, so drift of
the shared machine hits all alike):

- ``lean numpy (floor)``: the hand-written step.
- ``matmuls only``: just the epoch's 8 matrix products per step (3 forward,
  3 weight gradients, 2 input gradients) into preallocated outputs; what BLAS alone costs.
- ``deltaprop loop``: model(x) -> loss -> zero_grad -> backward -> optimizer.step.
- ``deltaprop.fit``: the library's training loop (progress off).
- ``pytorch eager``: torch.nn + torch.optim.SGD, same thread count as OpenBLAS.
- ``sklearn MLPClassifier``: ``partial_fit`` (one epoch per call, solver='sgd', float32).
- with ``--before REF`` (for example ``--before a497e97``, release 0.1.0):
  ``deltaprop REF loop`` and ``deltaprop REF fit``, the same two rows from that
  commit's code, imported as a renamed copy so old and new run interleaved in
  one process.

Every implementation gathers its minibatches from the same NumPy array with a
fresh permutation each epoch. Run: ``python benchmarks/mlp_throughput.py``
(``--quick`` for a short smoke run that does not write results); it writes
benchmarks/results/mlp_throughput.md and rebuilds BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import functools
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

from lean_numpy_mlp import LeanMLP  # noqa: E402
from machine import describe  # noqa: E402

import deltaprop as dp  # noqa: E402
from deltaprop import nn  # noqa: E402

LR, MOMENTUM = 0.01, 0.9


def blas_threads() -> int:
    """Threads OpenBLAS uses for NumPy (PyTorch is given the same number)."""
    try:
        from threadpoolctl import threadpool_info

        counts = [p["num_threads"] for p in threadpool_info() if p.get("user_api") == "blas"]
        if counts:
            return max(counts)
    except ImportError:
        pass
    return os.cpu_count() or 1


# ----------------------------------------------------------------- one epoch per implementation
# Each factory builds a fresh model and returns ``epoch(X, y, batch_size, rng)``.


def _batches(n: int, batch_size: int, rng) -> list[np.ndarray]:
    order = rng.permutation(n)
    return [order[s : s + batch_size] for s in range(0, n, batch_size)]


def make_lean(sizes, batch_size):
    model = LeanMLP(sizes, batch_size, lr=LR, momentum=MOMENTUM)

    def epoch(X, y, rng):
        xbuf = np.empty((batch_size, X.shape[1]), X.dtype)
        for idx in _batches(len(X), batch_size, rng):
            xb = xbuf[: len(idx)]
            np.take(X, idx, axis=0, out=xb)
            model.step(xb, y[idx])

    return epoch


def make_matmuls_only(sizes, batch_size):
    """The 8 products of a 3-layer step with preallocated outputs: the BLAS floor."""
    rng0 = np.random.default_rng(0)
    W = [rng0.standard_normal((o, i)).astype(np.float32) for i, o in zip(sizes[:-1], sizes[1:], strict=False)]
    Z = [np.empty((batch_size, o), np.float32) for o in sizes[1:]]
    D = [rng0.standard_normal((batch_size, o)).astype(np.float32) for o in sizes[1:]]
    dW = [np.empty_like(w) for w in W]

    def epoch(X, y, rng):
        for idx in _batches(len(X), batch_size, rng):
            n = len(idx)
            a = xb = X[idx]
            z = [t[:n] for t in Z]
            d = [t[:n] for t in D]
            for k, w in enumerate(W):
                np.matmul(a, w.T, out=z[k])
                a = z[k]
            for k in range(len(W) - 1, -1, -1):
                np.matmul(d[k].T, xb if k == 0 else z[k - 1], out=dW[k])
                if k:
                    np.matmul(d[k], W[k], out=d[k - 1])

    return epoch


class _TinySGD:
    """In-place SGD with momentum, used only while deltaprop.optim does not exist yet."""

    def __init__(self, params, lr, momentum):
        self.params = list(params)
        self.param_groups = [{"params": self.params, "lr": lr, "momentum": momentum}]
        self.state = {p: {} for p in self.params}
        self.lr, self.momentum = lr, momentum

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None

    def step(self, closure=None):
        for p in self.params:
            buf = self.state[p].get("momentum_buffer")
            if buf is None:
                buf = self.state[p]["momentum_buffer"] = p.grad.copy()
            else:
                buf *= self.momentum
                buf += p.grad
            p.grad *= 0.0
            p.grad += buf
            p.grad *= self.lr
            p.array -= p.grad


def deltaprop_optimizer(params):
    """deltaprop.optim.SGD when it exists, else the tiny stand-in; returns (optimizer, name)."""
    try:
        from deltaprop.optim import SGD
    except ImportError:
        return _TinySGD(params, LR, MOMENTUM), "benchmark's in-place SGD (deltaprop.optim missing)"
    return SGD(params, lr=LR, momentum=MOMENTUM), "deltaprop.optim.SGD"


def _dp_model(sizes, lib=dp):
    layers: list = []
    for k, (i, o) in enumerate(zip(sizes[:-1], sizes[1:], strict=False)):
        layers.append(lib.nn.Linear(i, o))
        if k < len(sizes) - 2:
            layers.append(lib.nn.ReLU())
    return lib.nn.Sequential(*layers)


def make_deltaprop_loop(sizes, batch_size, lib=dp):
    """``lib`` is deltaprop, or an older version of it imported by `import_before`."""
    model = _dp_model(sizes, lib)
    loss_fn = lib.nn.CrossEntropyLoss()
    optimizer = lib.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)

    def epoch(X, y, rng):
        for idx in _batches(len(X), batch_size, rng):
            xb, yb = lib.Tensor(X[idx]), lib.Tensor(y[idx])
            loss = loss_fn(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    return epoch


def make_deltaprop_fit(sizes, batch_size, lib=dp):
    model = _dp_model(sizes, lib)
    loss_fn = lib.nn.CrossEntropyLoss()
    optimizer = lib.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)

    def epoch(X, y, rng):
        lib.fit(
            model, X, y, loss=loss_fn, optimizer=optimizer, epochs=1, batch_size=batch_size,
            shuffle=True, progress=False,
        )  # fmt: skip

    return epoch


def make_torch(sizes, batch_size):
    import torch

    torch.set_num_threads(blas_threads())
    torch.manual_seed(0)
    layers: list = []
    for k, (i, o) in enumerate(zip(sizes[:-1], sizes[1:], strict=False)):
        layers.append(torch.nn.Linear(i, o))
        if k < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    loss_fn = torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)

    def epoch(X, y, rng):
        for idx in _batches(len(X), batch_size, rng):
            xb, yb = torch.from_numpy(X[idx]), torch.from_numpy(y[idx])
            loss = loss_fn(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    return epoch


def make_sklearn(sizes, batch_size):
    from sklearn.neural_network import MLPClassifier

    model = MLPClassifier(
        hidden_layer_sizes=tuple(sizes[1:-1]), activation="relu", solver="sgd", alpha=0.0,
        batch_size=batch_size, learning_rate_init=LR, momentum=MOMENTUM,
        nesterovs_momentum=False, shuffle=True, random_state=0,
    )  # fmt: skip
    classes = np.arange(sizes[-1])

    def epoch(X, y, rng):
        model.partial_fit(X, y, classes=classes)

    return epoch


IMPLEMENTATIONS: dict[str, Callable] = {
    "lean numpy (floor)": make_lean,
    "matmuls only": make_matmuls_only,
    "deltaprop loop": make_deltaprop_loop,
    "deltaprop.fit": make_deltaprop_fit,
    "pytorch eager": make_torch,
    "sklearn MLPClassifier": make_sklearn,
}


def import_before(ref: str):
    """deltaprop as it was at git commit ``ref``, imported under the name ``deltaprop_before``.

    The package is exported with ``git archive`` into a temporary folder and
    every ``deltaprop`` import in it renamed, so both versions live in this
    process and time interleaved, with the same data and the same floor.
    """
    import importlib
    import io
    import re
    import tarfile
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="deltaprop_before_"))
    archive = subprocess.run(["git", "-C", str(HERE.parent), "archive", "--format=tar", ref, "deltaprop"],
                             check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(root, filter="data")
    (root / "deltaprop").rename(root / "deltaprop_before")
    name = re.compile(r"\bdeltaprop(?=[.\s,)]|$)", re.M)
    for path in (root / "deltaprop_before").rglob("*.py"):
        path.write_text(name.sub("deltaprop_before", path.read_text()))
    sys.path.insert(0, str(root))
    return importlib.import_module("deltaprop_before")


def add_before_rows(ref: str) -> None:
    """Register the 'deltaprop REF loop' and 'deltaprop REF fit' implementations."""
    old = import_before(ref)
    IMPLEMENTATIONS[f"deltaprop {ref} loop"] = functools.partial(make_deltaprop_loop, lib=old)
    IMPLEMENTATIONS[f"deltaprop {ref} fit"] = functools.partial(make_deltaprop_fit, lib=old)


# ----------------------------------------------------------------- timing
def time_case(sizes, X, y, batch_size, repeats, epochs_per_timing) -> dict[str, tuple | str]:
    """(median, best) seconds per epoch for each implementation (or why it could not run)."""
    rng = np.random.default_rng(1)
    epochs: dict[str, Callable] = {}
    results: dict[str, list[float] | str] = {}
    for name, factory in IMPLEMENTATIONS.items():
        if name == "matmuls only" and len(sizes) != 4:
            continue
        try:
            epochs[name] = factory(sizes, batch_size)
            epochs[name](X[: batch_size * 8], y[: batch_size * 8], rng)  # warm up
            results[name] = []
        except Exception as exc:  # a peer missing or a part of deltaprop not written yet
            results[name] = f"n/a ({type(exc).__name__}: {str(exc)[:60]})"
    for _ in range(repeats):
        for name, epoch in epochs.items():
            if isinstance(results[name], str):
                continue
            try:
                start = time.perf_counter()
                for _ in range(epochs_per_timing):
                    epoch(X, y, rng)
                results[name].append((time.perf_counter() - start) / epochs_per_timing)
            except Exception as exc:
                results[name] = f"n/a ({type(exc).__name__}: {str(exc)[:60]})"
    return {k: (v if isinstance(v, str) else (statistics.median(v), min(v))) for k, v in results.items()}


def rows_for(title, sizes, n, batch_size, timings) -> list[str]:
    steps = -(-n // batch_size)
    floor = timings.get("lean numpy (floor)")
    lines = []
    for name, t in timings.items():
        if isinstance(t, str):
            lines.append(f"| {title} | {name} | {t} | | | | |")
            continue
        (med, best), ok = t, isinstance(floor, tuple)
        ratio = f"{med / floor[0]:.2f}x" if ok else ""
        best_ratio = f"{best / floor[1]:.2f}x" if ok else ""
        lines.append(
            f"| {title} | {name} | {med:.3f} | {med / steps * 1e6:.0f} | {n / med:,.0f} "
            f"| {ratio} | {best_ratio} |"
        )
    return lines


def notes_for(title, n, batch_size, timings) -> str:
    """Where the time goes: BLAS share of the floor, and the extra microseconds per step."""
    steps = -(-n // batch_size)
    floor, mm = timings.get("lean numpy (floor)"), timings.get("matmuls only")
    parts = []
    if isinstance(floor, tuple) and isinstance(mm, tuple):
        parts.append(f"matmuls are {mm[0] / floor[0]:.0%} of the floor")
    for name in ("deltaprop loop", "deltaprop.fit", "pytorch eager"):
        t = timings.get(name)
        if isinstance(t, tuple) and isinstance(floor, tuple):
            parts.append(f"{name} {(t[0] - floor[0]) / steps * 1e6:+.0f} us/step vs the floor")
    return f"- {title}: " + "; ".join(parts) if parts else ""


def phase_breakdown(sizes, X, y, batch_size) -> str:
    """Microseconds per phase of one deltaprop step on a fixed batch (best of 7), beside the floor's.

    Tells whether a gap to the floor is bookkeeping (forward/backward beyond
    the same NumPy work) or the optimizer.
    """
    import timeit

    xb, yb = X[:batch_size].copy(), y[:batch_size].copy()
    model, loss_fn = _dp_model(sizes), nn.CrossEntropyLoss()
    optimizer, _ = deltaprop_optimizer(model.parameters())
    lean = LeanMLP(sizes, batch_size, lr=LR, momentum=MOMENTUM)
    state = {}

    def forward():
        state["loss"] = loss_fn(model(dp.Tensor(xb)), dp.Tensor(yb))

    def backward():
        forward()
        optimizer.zero_grad()
        state["loss"].backward()

    def full():
        backward()
        optimizer.step()

    def best(fn, number):
        fn()
        return min(timeit.repeat(fn, number=number, repeat=7)) / number * 1e6

    number = max(20, 20000 // (batch_size * sum(sizes) // 64))
    f, fb, step = best(forward, number), best(backward, number), best(full, number)
    floor, floor_update = best(lambda: lean.step(xb, yb), number), best(lean._update, number)
    return (
        f"forward {f:.0f}, zero_grad+backward {fb - f:.0f}, optimizer.step {step - fb:.0f}, "
        f"whole step {step:.0f} us; floor: whole step {floor:.0f} us, of which update "
        f"{floor_update:.0f} us"
    )


def digits_data() -> tuple[np.ndarray, np.ndarray]:
    with np.load(HERE.parent / "deltaprop" / "datasets" / "digits.npz") as f:
        X = f["images"].reshape(len(f["images"]), -1).astype(np.float32) / 16.0
        y = f["target"].astype(np.int64)
    return X, y


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run; writes nothing")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--before", metavar="REF", help="also time deltaprop as of this git commit")
    args = parser.parse_args(argv)
    if args.before:
        add_before_rows(args.before)
    repeats = 1 if args.quick else args.repeats
    n_big = 6000 if args.quick else 60000
    rng = np.random.default_rng(0)
    X_big = rng.random((n_big, 784), dtype=np.float32)
    y_big = rng.integers(0, 10, n_big)
    X_dig, y_dig = digits_data()
    load_before = os.getloadavg()[0]

    table, notes = [], []
    cases = [("784-256-128-10", [784, 256, 128, 10], X_big, y_big, b, 1) for b in (32, 128, 512)]
    cases += [
        ("digits 64-32-10", [64, 32, 10], X_dig, y_dig, 32, 20),
        ("digits 64-64-10", [64, 64, 10], X_dig, y_dig, 32, 20),
    ]
    for label, sizes, X, y, batch_size, per in cases:
        title = f"{label}, batch {batch_size}"
        timings = time_case(sizes, X, y, batch_size, repeats, 1 if args.quick else per)
        table += rows_for(title, sizes, len(X), batch_size, timings)
        notes.append(notes_for(title, len(X), batch_size, timings))
        if batch_size in (32, 128) and not args.quick:
            notes.append(f"  - one deltaprop step, by phase: {phase_breakdown(sizes, X, y, batch_size)}")
        print("\n".join(table[-len(timings) :]), flush=True)

    _, optimizer_name = deltaprop_optimizer(nn.Linear(1, 1).parameters())
    load = " / ".join(f"{v:.1f}" for v in (load_before, os.getloadavg()[0]))
    section = "\n".join(
        [
            "## MLP training throughput (CPU)",
            "",
            f"Machine: {describe(('torch', 'scikit-learn'))}; OpenBLAS threads: {blas_threads()};",
            f"1-minute load average before / after the run: {load} (other work on the machine",
            "shows up as noise: compare ratios within a row group, not across runs).",
            "",
            "Softmax cross-entropy, ReLU, SGD (momentum 0.9, lr 0.01), shuffled minibatches, float32.",
            "784-256-128-10 on MNIST-shaped random data (60000 x 784), one epoch per timing;",
            "digits nets on the bundled 1797 x 64 digits, 20 epochs per timing. Median of "
            f"{repeats} timings, implementations interleaved. `vs floor` = median time / lean NumPy",
            "median time (goal for deltaprop: <= 1.10x); `vs floor (best)` = the same with each one's",
            "fastest timing, less sensitive to bursts of other load. `matmuls only` = the 8 matrix",
            f"products of each step, nothing else. deltaprop's optimizer: {optimizer_name}.",
            "PyTorch CPU eager with set_num_threads = OpenBLAS threads; scikit-learn via",
            "partial_fit (one epoch per call)."
            + (f" `deltaprop {args.before} ...`: the same rows with the code of commit {args.before}"
               " (imported as a renamed copy, interleaved with the rest)." if args.before else ""),
            "Produced by `python benchmarks/mlp_throughput.py`.",
            "",
            "| case | implementation | s/epoch | us/step | samples/s | vs floor | vs floor (best) |",
            "|---|---|---:|---:|---:|---:|---:|",
            *table,
            "",
            "Where the time goes:",
            "",
            *[n for n in notes if n],
        ]
    )
    if args.quick:
        print(section)
        return
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "mlp_throughput.md").write_text(section + "\n")
    subprocess.run([sys.executable, str(HERE / "write_benchmarks_md.py")], check=True)
    print(section)


if __name__ == "__main__":
    main()
