"""Recurrent backpropagation (Almeida-Pineda) against BPTT through the relaxation: memory and time.

A fixed-point layer s* = tanh(s* W^T + x U^T + b) (N = 256 examples, 256
units) is relaxed to tol = 1e-6; the spectral norm rho of W sets how many
iterations that takes (about log(tol) / log(rho)). For each rho, the
gradient of a loss on s* is computed both ways:

- ``implicit``: `deltaprop.fixed_point(..., backward='implicit')` keeps only s*
  and one recorded application of f, and solves the adjoint fixed point;
- ``unroll``: ``backward='unroll'`` records every iteration and backpropagates
  through all of them.

Columns: iterations, milliseconds for forward + backward (median of the
repeats, interleaved), peak memory traced by tracemalloc during forward +
backward (NumPy reports its arrays to it), and the largest difference between
the two gradients of W. Run ``python benchmarks/fixed_point_memory.py``
(``--quick``: smaller, writes nothing); it writes
benchmarks/results/fixed_point_memory.md and rebuilds BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from machine import describe  # noqa: E402

import deltaprop as dp  # noqa: E402
from deltaprop import ops  # noqa: E402


def problem(rho: float, n: int, units: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((units, units))
    w *= rho / np.linalg.norm(w, 2)
    u = rng.standard_normal((units, 16)) / 20  # a small drive keeps tanh near linear: contraction ~ rho
    return w, u, rng.standard_normal(units) / 20, rng.standard_normal((n, 16))


def run(arrays, backward: str, tol: float):
    """(seconds, peak bytes, dL/dW, iterations) of one forward + backward."""
    w, u, b, x = (dp.tensor(a, requires_grad=True) for a in arrays)
    tracemalloc.start()
    start = time.perf_counter()
    drive = ops.linear(x, u, b)
    z, info = dp.fixed_point(lambda s: dp.tanh(ops.linear(s, w) + drive), np.zeros((x.shape[0], w.shape[0])),
                             tol=tol, max_iter=10_000, backward=backward, return_info=True)
    (z * z).sum().backward()
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return seconds, peak, w.grad.numpy(), info.iterations


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run; writes nothing")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    n, units, repeats = (32, 32, 1) if args.quick else (256, 256, args.repeats)
    rhos = (0.5, 0.9) if args.quick else (0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995)
    tol = 1e-6
    rows = []
    for rho in rhos:
        arrays = problem(rho, n, units)
        times = {"implicit": [], "unroll": []}
        peaks, grads, iterations = {}, {}, {}
        for _ in range(repeats):
            for mode in ("implicit", "unroll"):
                seconds, peaks[mode], grads[mode], iterations[mode] = run(arrays, mode, tol)
                times[mode].append(seconds)
        diff = float(np.max(np.abs(grads["implicit"] - grads["unroll"])))
        t_i, t_u = (statistics.median(times[m]) * 1e3 for m in ("implicit", "unroll"))
        mib = {m: peaks[m] / 2**20 for m in peaks}
        rows.append(f"| {rho} | {iterations['implicit']} | {t_i:.1f} | {t_u:.1f} | {mib['implicit']:.1f} "
                    f"| {mib['unroll']:.1f} | {diff:.1e} |")
        print(rows[-1], flush=True)
    if args.quick:
        return
    section = "\n".join([
        "## Recurrent backpropagation: implicit (Almeida-Pineda) vs unrolled BPTT",
        "",
        f"Machine: {describe()}.",
        "",
        f"s* = tanh(s* W^T + x U^T + b), {n} examples x {units} units, float64, relaxed to tol {tol:g};",
        "rho = spectral norm of W. Forward + backward: median ms of "
        f"{repeats} interleaved runs; peak = tracemalloc's",
        "peak during forward + backward. The implicit backward's memory stays flat as the iterations",
        "grow; the unrolled one grows with them. Produced by `python benchmarks/fixed_point_memory.py`.",
        "",
        "| rho | iterations | implicit ms | unrolled ms | implicit peak MiB | unrolled peak MiB "
        "| max dW difference |",
        "|---|---|---|---|---|---|---|",
        *rows,
    ])
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "fixed_point_memory.md").write_text(section + "\n")
    import write_benchmarks_md

    write_benchmarks_md.main()


if __name__ == "__main__":
    main()
