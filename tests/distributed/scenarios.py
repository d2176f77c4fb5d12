"""Checks that run under ``mpirun`` (started by test_mpi.py): ``python scenarios.py NAME [NAME ...]``.

Every process runs every named scenario; each returns, on process 0, a dict
of measured values, and process 0 prints them all as one line
``SCENARIO-RESULTS {json}`` for the test to assert on. The one-process
references are computed on process 0 itself, with ``fit(distributed=False)``.
Several checks share one launch because starting MPI costs seconds.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile

import numpy as np

import deltaprop as dp
import deltaprop.distributed as dist
from deltaprop import nn, optim
from deltaprop.train import Callback

comm = None  # set in main()


def flat(model):
    return np.concatenate([p.array.ravel() for p in model.parameters()])


def mlp(n_in=4, n_out=3, hidden=8, seed=0, dropout=0.0):
    dp.manual_seed(seed)
    layers = [nn.Linear(n_in, hidden), nn.Tanh()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers, nn.Linear(hidden, n_out)).double()


def classification(n, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    return X, (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(np.int64) + (X[:, 3] > 0.5)


def regression(n, seed=2):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    return X, np.sin(X[:, :1]) + 0.5 * X[:, 1:] ** 2


def compare_with_one_process(make_model, make_optimizer, X, y, **fit_kwargs):
    """Train data-parallel on every process, then alone on process 0; the differences, on process 0."""
    model = make_model()
    history = dp.fit(model, X, y, optimizer=make_optimizer(model), progress=False, **fit_kwargs)
    everyone = comm.allgather_object(flat(model))
    if comm.rank != 0:
        return None
    alone = make_model()
    reference = dp.fit(alone, X, y, optimizer=make_optimizer(alone), progress=False, distributed=False,
                       **fit_kwargs)
    keys = sorted(reference.history)
    return {
        "max_weight_diff": float(np.abs(flat(alone) - flat(model)).max()),
        "processes_identical": all(np.array_equal(w, everyone[0]) for w in everyone),
        "max_iteration_loss_diff": float(np.abs(np.subtract(reference.iteration_loss,
                                                            history.iteration_loss)).max()),
        "iterations": [len(reference.iteration_loss), len(history.iteration_loss)],
        "keys": [keys, sorted(history.history)],
        "max_log_diff": max(float(np.abs(np.subtract(reference[k], history[k])).max()) for k in keys),
        "weight_scale": float(np.abs(flat(alone)).max()),
    }


# --------------------------------------------------------------------------- scenarios
def equal_first_order(n=64, batch_size=10):
    X, y = classification(n)
    common = dict(loss="cross_entropy", epochs=4, batch_size=batch_size, seed=3, metrics=["accuracy"],
                  validation_split=0.25)
    sgd = compare_with_one_process(mlp, lambda m: optim.SGD(m.parameters(), lr=0.2, momentum=0.9), X, y,
                                   **common)
    adam = compare_with_one_process(mlp, lambda m: optim.Adam(m.parameters(), lr=0.02), X, y, **common)
    return {"sgd": sgd, "adam": adam}


def equal_second_order(n=40):
    X, y = regression(n)
    make = lambda: mlp(2, 1, hidden=6)  # noqa: E731
    lm = compare_with_one_process(
        make, lambda m: optim.LevenbergMarquardt(m.parameters(), max_jacobian_rows=7), X, y, loss="mse",
        epochs=6, metrics=["mae"])
    gn = compare_with_one_process(make, lambda m: optim.GaussNewton(m.parameters(), mu=1e-2), X, y,
                                  loss="mse", epochs=4)  # a ridge: with none, the solve magnifies rounding
    Xc, yc = classification(n)
    lm_ce = compare_with_one_process(mlp, lambda m: optim.LevenbergMarquardt(m.parameters()), Xc, yc,
                                     loss="cross_entropy", epochs=3, metrics=["accuracy"])
    return {"lm": lm, "gauss_newton": gn, "lm_cross_entropy": lm_ce}


def equal():
    return {**equal_first_order(), **equal_second_order()}


def equal_uneven():
    """Run with 3 processes: slices of 3/3/2 and 1/0/0 examples (empty ones too)."""
    return {**equal_first_order(n=17, batch_size=8), **equal_second_order(n=20)}


class RunningMean(nn.Module):
    """An identity layer with BatchNorm's kind of state: a running mean of its inputs, as a buffer."""

    def __init__(self, features):
        super().__init__()
        self.register_buffer("mean", np.zeros(features))

    def forward(self, x):
        if self.training:
            self.mean = 0.9 * self.mean.array + 0.1 * x.array.mean(axis=0)
        return x


def buffers():
    """Buffers (here with empty slices on some processes) end up as process 0's everywhere."""
    X, y = classification(17)
    dp.manual_seed(0)
    model = nn.Sequential(RunningMean(4), nn.Linear(4, 3)).double()
    dp.fit(model, X, y, loss="cross_entropy", optimizer=optim.SGD(model.parameters(), lr=0.1), epochs=2,
           batch_size=8, seed=1, progress=False)
    everyone = comm.allgather_object(model[0].mean.array.copy())
    if comm.rank != 0:
        return None
    return {"identical": all(np.array_equal(m, everyone[0]) for m in everyone),
            "moved": float(np.abs(everyone[0]).max())}


def no_sync():
    """A hand loop, PyTorch style: per-process batches, two micro-batches accumulated under no_sync."""
    X, y = classification(32)
    loss_fn = nn.CrossEntropyLoss()
    model = mlp(seed=comm.rank)  # another start on every process: the wrapper broadcasts process 0's
    ddp = dist.DistributedDataParallel(model, bucket_cap_mb=1e-4)  # one bucket per parameter
    opt = optim.SGD(ddp.parameters(), lr=0.3)
    shard = slice(16 * comm.rank, 16 * (comm.rank + 1))
    xs, ys = X[shard], y[shard]
    grads = []
    for _ in range(3):
        opt.zero_grad()
        with ddp.no_sync():
            (loss_fn(ddp(dp.tensor(xs[:8])), dp.tensor(ys[:8])) * 0.5).backward()
        (loss_fn(ddp(dp.tensor(xs[8:])), dp.tensor(ys[8:])) * 0.5).backward()
        grads.append(np.concatenate([p.grad_array.ravel() for p in model.parameters()]))
        opt.step()
    stats = ddp.communication_stats
    everyone = comm.allgather_object(flat(model))
    if comm.rank != 0:
        return None
    alone = mlp(seed=0)
    opt = optim.SGD(alone.parameters(), lr=0.3)
    diffs = []
    for step in range(3):  # one process, one batch of all 32 examples
        opt.zero_grad()
        loss_fn(alone(dp.tensor(X)), dp.tensor(y)).backward()
        diffs.append(float(np.abs(np.concatenate([p.grad_array.ravel() for p in alone.parameters()])
                                  - grads[step]).max()))
        opt.step()
    return {"max_grad_diff": max(diffs), "max_weight_diff": float(np.abs(flat(alone) - flat(model)).max()),
            "processes_identical": all(np.array_equal(w, everyone[0]) for w in everyone),
            "buckets": len(ddp.reducer.buckets), "steps_reduced": stats.steps,
            "zero_copy_buckets": stats.zero_copy_buckets, "buckets_started": stats.buckets}


def collectives():
    r = comm.rank
    summed = np.arange(3.0) + r
    dist.all_reduce(summed)
    maximum = dp.tensor([r + 1.0, -r])
    dist.all_reduce(maximum, dist.ReduceOp.MAX)
    mean = dist.all_reduce(float(r + 1), "mean")
    shared = np.full(2, float(r))
    dist.broadcast(shared, src=1)
    ragged = dist.all_gather(np.arange(r + 1))
    out = [dp.zeros(2), dp.zeros(2)]
    dist.all_gather(out, dp.tensor([r, 10.0 * r]))
    dist.barrier()
    mine = {"sum": summed.tolist(), "max": maximum.array.tolist(), "mean": mean, "broadcast": shared.tolist(),
            "ragged": [a.tolist() for a in ragged], "gathered": [t.array.tolist() for t in out],
            "rank": dist.rank(), "world_size": dist.world_size(), "initialized": dist.is_initialized()}
    everyone = comm.allgather_object(mine)
    return everyone if r == 0 else None


def sampler():
    shares = []
    for epoch in (0, 1):
        s = dist.DistributedSampler(11, shuffle=True, seed=5)
        s.set_epoch(epoch)
        shares.append(comm.allgather_object(list(s)))
    return {"shares": shares, "length": len(dist.DistributedSampler(11))} if comm.rank == 0 else None


class WriteRecorder:
    """Records what this process writes to disk (Python's audit events), while ``on``."""

    EVENTS = ("os.rename", "os.replace", "os.remove", "os.mkdir", "os.rmdir", "shutil.rmtree",
              "tempfile.mkstemp", "tempfile.mkdtemp", "shutil.copyfile", "shutil.move")

    def __init__(self):
        self.on, self.writes = False, []
        sys.addaudithook(self)

    def __call__(self, event, args):
        if not self.on:
            return
        if event == "open" and len(args) >= 3:
            mode, flags = args[1], args[2]
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
            if writing:
                self.writes.append(f"open {args[0]}")
        elif event in self.EVENTS:
            self.writes.append(f"{event} {args[0] if args else ''}")


def files_and_resume():
    """Only process 0 writes (checkpoints); a 2-process checkpoint resumes bit-identically on 2."""
    folder = comm.broadcast_object(tempfile.mkdtemp(prefix="dp-mpi-") if comm.rank == 0 else None)
    X, y = classification(60)
    make = lambda: mlp(dropout=0.3)  # noqa: E731  per-process dropout streams must resume too
    kwargs = dict(loss="cross_entropy", batch_size=8, seed=11, metrics=["accuracy"], validation_split=0.2,
                  progress=False)
    whole = make()
    whole_history = dp.fit(whole, X, y, optimizer=optim.Adam(whole.parameters(), lr=0.01), epochs=5, **kwargs)

    recorder.on = True  # on process 0 too: it must see the checkpoint being written
    path = os.path.join(folder, "ckpt.npz")
    first = make()
    dp.fit(first, X, y, optimizer=optim.Adam(first.parameters(), lr=0.01), epochs=3, checkpoint=path,
           **kwargs)
    recorder.on = False
    comm.barrier()
    listing = sorted(os.listdir(folder))

    dp.manual_seed(99 + comm.rank)  # another start and generator: the checkpoint must override both
    resumed = mlp(seed=99, dropout=0.3)
    history = dp.fit(resumed, X, y, optimizer=optim.Adam(resumed.parameters(), lr=0.01), epochs=5,
                     resume_from=path, **kwargs)
    same_everywhere = comm.allgather_object(np.array_equal(flat(resumed), flat(whole)))
    writes = comm.allgather_object(recorder.writes)
    if comm.rank != 0:
        return None
    return {"listing": listing, "writes_by_process": writes, "resumed_equal_on_each": same_everywhere,
            "max_diff": float(np.abs(flat(resumed) - flat(whole)).max()),
            "history_equal": history.to_dict() == whole_history.to_dict()}


class Raises(Callback):
    def on_epoch_begin(self, run):
        if run.epoch == 2 and comm.rank == 1:
            raise ValueError("boom from process 1")


def fail():
    X, y = classification(40)
    model = mlp()
    dp.fit(model, X, y, loss="cross_entropy", optimizer=optim.SGD(model.parameters(), lr=0.1), epochs=50,
           batch_size=4, callbacks=[Raises()], progress=False)
    return {"finished": True}  # never reached: every process is stopped


SCENARIOS = {f.__name__: f for f in (equal, equal_uneven, buffers, no_sync, collectives, sampler,
                                     files_and_resume, fail)}
recorder = WriteRecorder()


def main(names):
    global comm
    dist.init()
    comm = dist.communicator()
    results = {name: SCENARIOS[name]() for name in names}
    where = comm.allgather_object((os.readlink("/proc/self/ns/net"), os.uname().nodename))
    if comm.rank == 0:
        results["world"] = {"size": comm.size, "description": comm.description,
                            "net_namespaces": [w[0] for w in where], "hostnames": [w[1] for w in where]}
        print("SCENARIO-RESULTS " + json.dumps(results), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
