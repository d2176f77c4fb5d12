"""Engine overhead: microseconds per op on 32x32 float32 arrays, deltaprop vs PyTorch vs NumPy.

Why: on small arrays the arithmetic is nearly free, so what a training step
costs is the per-op bookkeeping (wrapping arrays, recording the backward,
walking the graph). The goal of the engine is that recording an op costs
under 2x the bare NumPy call, well under PyTorch eager.

Columns, each the best of several repeats, in microseconds per call:

- ``numpy fwd``: the bare NumPy forward (what any engine must at least pay).
- ``numpy fwd+bwd``: that forward plus the same maths written by hand for the
  backward (what a perfect engine would pay for a training step).
- ``deltaprop fwd``: the op on leaves with ``requires_grad=True`` (records the graph).
- ``deltaprop fwd+bwd``: the op, then ``backward()`` into the leaves' ``.grad``.
- ``torch fwd`` / ``torch fwd+bwd``: the same in PyTorch CPU eager, with
  ``torch.set_num_threads(1)`` (32x32 work is too small for threads to help, and
  deltaprop/NumPy run these ops on one thread too).

Run: ``python benchmarks/engine_overhead.py`` (writes benchmarks/results/engine_overhead.md,
then rebuilds BENCHMARKS.md).
"""

from __future__ import annotations

import subprocess
import sys
import timeit
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from machine import describe  # noqa: E402

import deltaprop as dp  # noqa: E402
from deltaprop import ops  # noqa: E402
from deltaprop.ops.losses import cross_entropy  # noqa: E402

N = 32
OPS = ["add", "mul", "matmul", "sigmoid", "relu", "sum", "linear", "cross_entropy"]


def _best_us(fn, number: int, repeat: int = 7) -> float:
    """Best per-call time in microseconds (the minimum is the least noisy estimate)."""
    fn()  # warm up
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


# ----------------------------------------------------------------- NumPy, forward and by hand
def numpy_cases(rng):
    a = rng.standard_normal((N, N)).astype(np.float32)
    b = rng.standard_normal((N, N)).astype(np.float32)
    bias = rng.standard_normal(N).astype(np.float32)
    g = np.ones((N, N), dtype=np.float32)
    labels = rng.integers(0, N, N)
    rows = np.arange(N)

    def sigmoid(x):
        return 1 / (1 + np.exp(-x))

    def ce_forward(z):
        shifted = z - z.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        total = exp.sum(axis=1, keepdims=True)
        log_probs = shifted - np.log(total)
        return -log_probs[rows, labels].mean(), exp / total

    def ce_both():
        _, probs = ce_forward(a)
        grad = probs.copy()
        grad[rows, labels] -= 1
        grad /= N
        return grad

    def sigmoid_both():
        s = sigmoid(a)
        return g * s * (1 - s)

    def relu_both():
        out = np.maximum(a, 0)
        return g * (out > 0)

    def linear_both():
        _ = a @ b.T + bias
        return g @ b, g.T @ a, g.sum(axis=0)

    def mul_both():
        _ = a * b
        return g * b, g * a

    def matmul_both():
        _ = a @ b
        return g @ b.T, a.T @ g

    def sum_both():
        _ = a.sum()
        return np.broadcast_to(np.float32(1), a.shape).copy()

    forward = {
        "add": lambda: a + b,
        "mul": lambda: a * b,
        "matmul": lambda: a @ b,
        "sigmoid": lambda: sigmoid(a),
        "relu": lambda: np.maximum(a, 0),
        "sum": lambda: a.sum(),
        "linear": lambda: a @ b.T + bias,
        "cross_entropy": lambda: ce_forward(a),
    }
    both = {
        "add": lambda: (a + b, g, g),
        "mul": mul_both,
        "matmul": matmul_both,
        "sigmoid": sigmoid_both,
        "relu": relu_both,
        "sum": sum_both,
        "linear": linear_both,
        "cross_entropy": ce_both,
    }
    return forward, both


# ----------------------------------------------------------------- deltaprop
SCALAR_OPS = {"sum", "cross_entropy"}


def with_backward(forward, leaves, g):
    """fwd+bwd timers for an autodiff library: clear the leaves' grads, run the op, backpropagate."""

    def make_both(name):
        op = forward[name]
        upstream = None if name in SCALAR_OPS else g

        def run():
            for t in leaves:
                t.grad = None
            op().backward(upstream)

        return run

    return {name: make_both(name) for name in OPS}


def deltaprop_cases(rng):
    a = dp.tensor(rng.standard_normal((N, N)).astype(np.float32), requires_grad=True)
    b = dp.tensor(rng.standard_normal((N, N)).astype(np.float32), requires_grad=True)
    bias = dp.tensor(rng.standard_normal(N).astype(np.float32), requires_grad=True)
    labels = dp.tensor(rng.integers(0, N, N))
    g = np.ones((N, N), dtype=np.float32)
    leaves = (a, b, bias)

    forward = {
        "add": lambda: a + b,
        "mul": lambda: a * b,
        "matmul": lambda: a @ b,
        "sigmoid": lambda: ops.sigmoid(a),
        "relu": lambda: ops.relu(a),
        "sum": lambda: a.sum(),
        "linear": lambda: ops.linear(a, b, bias),
        "cross_entropy": lambda: cross_entropy(a, labels),
    }
    return forward, with_backward(forward, leaves, g)


# ----------------------------------------------------------------- PyTorch
def torch_cases(rng):
    try:
        import torch
    except ImportError:
        return None, None
    torch.set_num_threads(1)
    F = torch.nn.functional
    a = torch.tensor(rng.standard_normal((N, N)).astype(np.float32), requires_grad=True)
    b = torch.tensor(rng.standard_normal((N, N)).astype(np.float32), requires_grad=True)
    bias = torch.tensor(rng.standard_normal(N).astype(np.float32), requires_grad=True)
    labels = torch.tensor(rng.integers(0, N, N))
    g = torch.ones((N, N))
    leaves = (a, b, bias)
    forward = {
        "add": lambda: a + b,
        "mul": lambda: a * b,
        "matmul": lambda: a @ b,
        "sigmoid": lambda: torch.sigmoid(a),
        "relu": lambda: torch.relu(a),
        "sum": lambda: a.sum(),
        "linear": lambda: F.linear(a, b, bias),
        "cross_entropy": lambda: F.cross_entropy(a, labels),
    }
    return forward, with_backward(forward, leaves, g)


def main() -> None:
    rng = np.random.default_rng(0)
    np_fwd, np_both = numpy_cases(rng)
    dp_fwd, dp_both = deltaprop_cases(rng)
    th_fwd, th_both = torch_cases(rng)
    number = 2000
    rows = []
    for name in OPS:
        row = {
            "op": name,
            "np_fwd": _best_us(np_fwd[name], number),
            "np_both": _best_us(np_both[name], number),
            "dp_fwd": _best_us(dp_fwd[name], number),
            "dp_both": _best_us(dp_both[name], number),
        }
        if th_fwd is not None:
            row["th_fwd"] = _best_us(th_fwd[name], number)
            row["th_both"] = _best_us(th_both[name], number)
        rows.append(row)
        print(row, flush=True)
    write(rows, th_fwd is not None)
    subprocess.run([sys.executable, str(HERE / "write_benchmarks_md.py")], check=True)


def write(rows: list[dict], have_torch: bool) -> None:
    def f(x: float) -> str:
        return f"{x:.2f}"

    head = "| op | numpy fwd | numpy fwd+bwd | deltaprop fwd | deltaprop fwd+bwd |"
    rule = "|---|---:|---:|---:|---:|"
    if have_torch:
        head += " torch fwd | torch fwd+bwd |"
        rule += "---:|---:|"
    head += " dp fwd / numpy fwd | dp fwd+bwd / numpy fwd+bwd |"
    rule += "---:|---:|"
    if have_torch:
        head += " dp fwd+bwd / torch fwd+bwd |"
        rule += "---:|"
    lines = [head, rule]
    for r in rows:
        cells = [r["op"], f(r["np_fwd"]), f(r["np_both"]), f(r["dp_fwd"]), f(r["dp_both"])]
        if have_torch:
            cells += [f(r["th_fwd"]), f(r["th_both"])]
        cells += [f"{r['dp_fwd'] / r['np_fwd']:.2f}x", f"{r['dp_both'] / r['np_both']:.2f}x"]
        if have_torch:
            cells.append(f"{r['dp_both'] / r['th_both']:.2f}x")
        lines.append("| " + " | ".join(cells) + " |")
    text = (
        "## Engine overhead (microseconds per op, 32x32 float32)\n\n"
        f"Machine: {describe(('torch',) if have_torch else ())}\n\n"
        "Best of 7 repeats of 2000 calls. fwd = the op on leaves with requires_grad (recording\n"
        "the graph); fwd+bwd = the op then backward() into the leaves (grads reset each call).\n"
        "NumPy fwd+bwd is the same maths written by hand. PyTorch CPU eager with\n"
        "torch.set_num_threads(1). sigmoid in NumPy is the naive 1/(1+exp(-x)); deltaprop's is\n"
        "the overflow-free form. cross_entropy has integer labels, mean reduction.\n"
        "Produced by `python benchmarks/engine_overhead.py`.\n\n" + "\n".join(lines) + "\n"
    )
    out = HERE / "results" / "engine_overhead.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
