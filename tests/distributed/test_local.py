"""deltaprop.distributed inside one process: no MPI needed (a world of one, or a stand-in world).

What runs under real MPI is in test_mpi.py; here: launcher detection, the
error naming the extra, the world of one, the sampler against PyTorch's,
the batch slices, DistributedDataParallel's buckets and hooks, and
fit(distributed=True) on one process, which must change nothing.
"""

from __future__ import annotations

import importlib
import sys

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import distributed as dist
from deltaprop import nn, optim
from deltaprop.distributed import world
from deltaprop.distributed.batches import ShardedBatches, slice_of
from deltaprop.distributed.buckets import FIRST_BUCKET_BYTES, make_buckets
from deltaprop.distributed.comm import LocalCommunicator
from deltaprop.distributed.curvature import SummedOverProcesses
from deltaprop.distributed.launch import launched_processes, wants_data_parallel
from deltaprop.distributed.training import DataParallelFit
from deltaprop.serialize import load_checkpoint
from deltaprop.train.batches import ArrayBatches

engine = importlib.import_module("deltaprop.tensor")  # the module (deltaprop.tensor is also a function)
LAUNCHER_VARIABLES = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_STEP_NUM_TASKS", "DELTAPROP_DISTRIBUTED")


@pytest.fixture(autouse=True)
def lone_process(monkeypatch):
    """No launcher in the environment, and a fresh world for each test."""
    for name in LAUNCHER_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(world, "_world", None)


def mlp(seed=0, n_out=3):
    dp.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, n_out)).double()


def data(n=40, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    return X, (X[:, 0] + X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 0.7)


def flat(model):
    return np.concatenate([p.array.ravel() for p in model.parameters()])


# --------------------------------------------------------------------------- launcher and world
@pytest.mark.parametrize("variable", ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_STEP_NUM_TASKS"])
def test_each_launcher_is_recognised_from_its_environment(monkeypatch, variable):
    assert launched_processes() is None and wants_data_parallel(None) is False
    monkeypatch.setenv(variable, "4")
    assert launched_processes() == 4
    assert wants_data_parallel(None) is True
    monkeypatch.setenv("DELTAPROP_DISTRIBUTED", "0")  # the way to turn it off under mpirun
    assert wants_data_parallel(None) is False
    assert wants_data_parallel(True) is True
    monkeypatch.setenv(variable, "1")
    monkeypatch.delenv("DELTAPROP_DISTRIBUTED")
    assert wants_data_parallel(None) is False  # mpirun -n 1: nothing to share


def test_distributed_must_be_a_bool_or_none():
    with pytest.raises(TypeError, match="distributed must be True, False or None"):
        wants_data_parallel("yes")


def test_launched_without_mpi4py_names_the_extra(monkeypatch):
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "2")
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    monkeypatch.setitem(sys.modules, "mpi4py.MPI", None)
    with pytest.raises(ImportError, match=r"pip install 'deltaprop\[mpi\]'"):
        dist.init()
    model = mlp()
    X, y = data()
    with pytest.raises(ImportError, match=r"deltaprop\[mpi\]"):
        dp.fit(model, X, y, loss="cross_entropy", optimizer=optim.SGD(model.parameters(), lr=0.1), epochs=1,
               progress=False)


def test_a_lone_process_is_a_world_of_one_without_mpi(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # never imported
    assert not dist.is_initialized()
    assert dist.rank() == 0 and dist.world_size() == 1 and dist.get_world_size() == 1
    assert dist.is_initialized() and isinstance(dist.communicator(), LocalCommunicator)
    a = np.arange(3.0)
    assert dist.all_reduce(a) is a and a.tolist() == [0.0, 1.0, 2.0]
    t = dp.tensor([1.0, 2.0])
    assert dist.all_reduce(t, dist.ReduceOp.AVG) is t and t.array.tolist() == [1.0, 2.0]
    assert dist.all_reduce(3, "sum") == 3 and dist.all_reduce(2.5, "mean") == 2.5
    assert dist.broadcast(a, src=0) is a
    gathered = dist.all_gather(t)
    assert len(gathered) == 1 and isinstance(gathered[0], dp.Tensor) and gathered[0].array.tolist() == [1, 2]
    out = [dp.zeros(2)]
    dist.all_gather(out, t)
    assert out[0].array.tolist() == [1.0, 2.0]
    dist.barrier()


def test_collectives_reject_what_they_cannot_do():
    with pytest.raises(ValueError, match="unknown reduce op 'median'"):
        dist.all_reduce(np.ones(2), "median")
    with pytest.raises(ValueError, match="src/root 1 is not a process of this world of 1"):
        dist.broadcast(np.ones(2), src=1)
    with pytest.raises(TypeError, match="expected a Tensor or an array, got list"):
        dist.all_reduce([1.0, 2.0])
    with pytest.raises(ValueError, match="out_list has 2 entries for a world of 1"):
        dist.all_gather([dp.zeros(2), dp.zeros(2)], dp.ones(2))


# --------------------------------------------------------------------------- the sampler, against PyTorch's
@pytest.mark.parametrize("n, replicas", [(10, 3), (11, 2), (4, 4), (2, 3), (0, 2)])
@pytest.mark.parametrize("drop_last", [False, True])
def test_sampler_matches_pytorch_without_shuffling(n, replicas, drop_last):
    torch_data = pytest.importorskip("torch.utils.data")
    for rank in range(replicas):
        ours = dist.DistributedSampler(n, num_replicas=replicas, rank=rank, shuffle=False,
                                       drop_last=drop_last)
        theirs = torch_data.DistributedSampler(range(n), num_replicas=replicas, rank=rank, shuffle=False,
                                               drop_last=drop_last)
        assert list(ours) == list(theirs) and len(ours) == len(theirs)


def test_sampler_shuffles_the_same_way_on_every_process_and_per_epoch():
    shares = [dist.DistributedSampler(list(range(12)), num_replicas=3, rank=r, seed=4) for r in range(3)]
    first = [list(s) for s in shares]
    assert sorted(sum(first, [])) == list(range(12))  # disjoint, and every example once
    assert [list(s) for s in shares] == first  # the same epoch repeats without set_epoch
    for s in shares:
        s.set_epoch(1)
    second = [list(s) for s in shares]
    assert sorted(sum(second, [])) == list(range(12)) and second != first
    assert dist.DistributedSampler(5).num_replicas == 1  # defaults: the world's size and rank


def test_sampler_rejects_bad_ranks_and_inputs():
    with pytest.raises(ValueError, match=r"invalid rank 3, rank should be in the interval \[0, 2\]"):
        dist.DistributedSampler(10, num_replicas=3, rank=3)
    with pytest.raises(TypeError, match="expected a data set"):
        dist.DistributedSampler(object(), num_replicas=1, rank=0)


# --------------------------------------------------------------------------- batch slices
def test_slices_are_contiguous_and_cover_each_batch():
    for count in range(0, 23):
        for size in range(1, 6):
            bounds = [slice_of(count, r, size) for r in range(size)]
            assert bounds[0][0] == 0 and bounds[-1][1] == count
            assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:], strict=False))
            lengths = [hi - lo for lo, hi in bounds]
            assert max(lengths) - min(lengths) <= 1


class StandIn(LocalCommunicator):
    """Process ``rank`` of a world of ``size`` whose broadcasts keep the local value (process 0's here)."""

    def __init__(self, rank, size):
        self.rank, self.size = rank, size


@pytest.mark.parametrize("batch_size", [8, None])
def test_the_slices_of_all_processes_make_the_one_process_batches(batch_size):
    X, y = data(n=19)
    dp.manual_seed(5)
    expected = [(xb.array, yb.array, n) for xb, yb, n in ArrayBatches(X, y, batch_size, True)]
    slices = []
    for r in range(3):
        dp.manual_seed(5)  # every process draws as process 0 would
        source = ShardedBatches(X, y, batch_size, True, np, StandIn(r, 3))
        slices.append([(xb.array, yb.array, n, source.current_share) for xb, yb, n in source])
        assert len(source) == len(expected) and source.n == 19
    for index, (xb, yb, n) in enumerate(expected):
        parts = [slices[r][index] for r in range(3)]
        assert np.array_equal(np.concatenate([p[0] for p in parts]), xb)
        assert np.array_equal(np.concatenate([p[1] for p in parts]), yb)
        assert all(p[2] == n for p in parts)
        assert sum(p[3] for p in parts) == pytest.approx(1.0)


def test_full_batch_needs_an_example_per_process():
    X, y = data(n=2)
    with pytest.raises(ValueError, match="2 training examples cannot be shared by 3 processes"):
        ShardedBatches(X, y, None, False, np, StandIn(0, 3))


# --------------------------------------------------------------------------- buckets and the wrapper
def test_buckets_run_backwards_and_cap_their_size():
    layers = nn.Sequential(nn.Linear(300, 600), nn.Linear(600, 300), nn.Linear(300, 2)).double()
    named = list(layers.named_parameters())
    buckets = make_buckets(named, cap_bytes=2 << 20)
    order = [name for bucket in buckets for name in reversed(bucket.names)]
    assert order == [name for name, _ in reversed(named)]  # last parameters first
    for bucket in buckets:  # within a bucket: the order of parameters(), as the flat layout
        positions = [[n for n, _ in named].index(name) for name in bucket.names]
        assert positions == sorted(positions)
    sizes = [b.numel * 8 for b in buckets]
    assert sizes[0] <= FIRST_BUCKET_BYTES or len(buckets[0].params) == 1
    assert all(s <= 2 << 20 or len(b.params) == 1 for s, b in zip(sizes, buckets, strict=True))
    assert len(make_buckets(named, cap_bytes=1 << 30)) == 2  # the small first bucket, then the rest


def hand_loop(model, steps=3, wrap=None, accumulate=False):
    X, y = data()
    loss_fn = nn.CrossEntropyLoss()
    net = wrap(model) if wrap else model
    opt = optim.SGD(net.parameters(), lr=0.2, momentum=0.9)
    for _ in range(steps):
        opt.zero_grad()
        if accumulate:
            with net.no_sync():
                (loss_fn(net(dp.tensor(X[:20])), dp.tensor(y[:20])) * 0.5).backward()
            (loss_fn(net(dp.tensor(X[20:])), dp.tensor(y[20:])) * 0.5).backward()
        else:
            loss_fn(net(dp.tensor(X)), dp.tensor(y)).backward()
        opt.step()
    return net


@pytest.mark.parametrize("cap", [25.0, 1e-4])
def test_the_wrapper_in_a_world_of_one_changes_nothing(cap):
    hooks_before = engine._live_tensor_hooks
    plain = hand_loop(mlp())
    wrapped = mlp()
    ddp = hand_loop(wrapped, wrap=lambda m: dist.DistributedDataParallel(m, bucket_cap_mb=cap))
    assert np.array_equal(flat(plain), flat(wrapped))
    stats = ddp.communication_stats
    assert stats.steps == 3 and stats.buckets == 3 * len(ddp.reducer.buckets)
    assert stats.zero_copy_buckets == 2 * len(ddp.reducer.buckets)  # every step after the first
    assert len(ddp.reducer.buckets) == (1 if cap == 25.0 else 4)
    assert "world_size=1" in repr(ddp)
    del ddp
    assert engine._live_tensor_hooks == hooks_before  # the hooks went with the wrapper


def test_no_sync_accumulates_locally_and_the_next_backward_reduces_the_total():
    plain = hand_loop(mlp())
    wrapped = mlp()
    wrap = lambda m: dist.DistributedDataParallel(m, bucket_cap_mb=1e-4)  # noqa: E731
    ddp = hand_loop(wrapped, wrap=wrap, accumulate=True)
    assert np.allclose(flat(plain), flat(wrapped), rtol=0, atol=1e-14)
    assert ddp.communication_stats.steps == 3  # one reduction per step, not per backward


class TwoHeads(nn.Module):
    def __init__(self):
        super().__init__()
        self.body, self.unused = nn.Linear(4, 3), nn.Linear(4, 3)

    def forward(self, x):
        return self.body(x)


def test_a_parameter_without_gradient_is_an_error_unless_allowed():
    X, y = data()
    model = TwoHeads().double()
    ddp = dist.DistributedDataParallel(model)
    with pytest.raises(RuntimeError, match=r"parameter 'unused.weight' \(3, 4\) got no gradient.*"
                                           "find_unused_parameters=True"):
        nn.CrossEntropyLoss()(ddp(dp.tensor(X)), dp.tensor(y)).backward()
    ddp.remove_hooks()
    model.zero_grad()
    ddp = dist.DistributedDataParallel(model, find_unused_parameters=True)
    nn.CrossEntropyLoss()(ddp(dp.tensor(X)), dp.tensor(y)).backward()
    assert np.array_equal(model.unused.weight.grad_array, np.zeros((3, 4)))  # summed as zeros
    assert model.body.weight.grad_array is not None and np.abs(model.body.weight.grad_array).sum() > 0


def test_only_a_forward_through_the_wrapper_asks_for_a_reduction():
    X, y = data()
    model = mlp()
    ddp = dist.DistributedDataParallel(model)
    nn.CrossEntropyLoss()(model(dp.tensor(X)), dp.tensor(y)).backward()  # the bare model: nothing reduced
    with dp.no_grad():
        ddp(dp.tensor(X))  # no gradients: nothing asked
    assert ddp.communication_stats.steps == 0 and not ddp.reducer.armed


def test_wrapper_arguments_are_checked():
    with pytest.raises(TypeError, match="expected a deltaprop Module"):
        dist.DistributedDataParallel(lambda x: x)
    with pytest.raises(ValueError, match="bucket_cap_mb must be > 0"):
        dist.DistributedDataParallel(mlp(), bucket_cap_mb=0)


# --------------------------------------------------------------------------- fit(distributed=True) alone
def fit_both_ways(make_optimizer, loss="cross_entropy", **kwargs):
    X, y = data()
    results = []
    for distributed in (False, True):
        model = mlp(n_out=3 if loss == "cross_entropy" else 1)
        target = y if loss == "cross_entropy" else (X[:, :1] * X[:, 1:2])
        history = dp.fit(model, X, target, loss=loss, optimizer=make_optimizer(model), seed=2, progress=False,
                         distributed=distributed, **kwargs)
        results.append((flat(model), history.to_dict()))
    return results


@pytest.mark.parametrize("name", ["sgd", "adam", "lm", "gauss_newton"])
def test_fit_distributed_on_one_process_is_bit_identical(name):
    hooks_before = engine._live_tensor_hooks
    makers = {"sgd": lambda m: optim.SGD(m.parameters(), lr=0.1, momentum=0.9),
              "adam": lambda m: optim.Adam(m.parameters(), lr=0.01),
              "lm": lambda m: optim.LevenbergMarquardt(m.parameters()),
              "gauss_newton": lambda m: optim.GaussNewton(m.parameters(), mu=1e-2)}
    loss = "cross_entropy" if name in ("sgd", "adam") else "mse"
    (alone, alone_history), (spread, spread_history) = fit_both_ways(
        makers[name], loss=loss, epochs=3, batch_size=8, validation_split=0.2,
        metrics=["accuracy"] if loss == "cross_entropy" else ["mae"])
    assert np.array_equal(alone, spread)
    assert alone_history == spread_history
    assert engine._live_tensor_hooks == hooks_before  # fit took its hooks off again


def test_fit_distributed_refuses_optimizers_and_losses_it_cannot_split():
    X, y = data()
    model = mlp()
    with pytest.raises(TypeError, match="LBFGS has its own training step.*distributed=False"):
        dp.fit(model, X, y, loss="cross_entropy", optimizer=optim.LBFGS(model.parameters()), epochs=1,
               progress=False, distributed=True)
    with pytest.raises(ValueError, match="reduction 'mean' or 'sum'"):
        dp.fit(model, X, y, loss=nn.CrossEntropyLoss(reduction="none"),
               optimizer=optim.SGD(model.parameters(), lr=0.1), epochs=1, progress=False, distributed=True)


class TwoProcesses(StandIn):
    """Process 0 of a stand-in world of two whose other process reports ``theirs``."""

    def __init__(self, theirs):
        super().__init__(0, 2)
        self.theirs = theirs

    def allgather_object(self, value):
        return [value, self.theirs(value)]


def test_processes_that_disagree_are_stopped_with_the_reason(monkeypatch):
    model = mlp()
    X, y = data()

    class Run:
        epoch = 4

    run = Run()
    run.model = model
    monkeypatch.setattr(world, "_world", TwoProcesses(lambda value: ("other weights", value[1])))
    with pytest.raises(RuntimeError, match="after epoch 4 process 1 holds other weights than process 0"):
        DataParallelFit(optim.SGD(model.parameters(), lr=0.1), nn.MSELoss()).agree(run, False)
    monkeypatch.setattr(world, "_world", TwoProcesses(lambda value: (value[0], not value[1])))
    with pytest.raises(RuntimeError, match="process 1 decided to go on but process 0 did not"):
        DataParallelFit(optim.SGD(model.parameters(), lr=0.1), nn.MSELoss()).agree(run, True)
    monkeypatch.setattr(world, "_world", TwoProcesses(lambda value: ("other data", value[1])))
    with pytest.raises(ValueError, match="process 1 was given other training data than process 0"):
        DataParallelFit(optim.SGD(model.parameters(), lr=0.1), nn.MSELoss()).start(X, y, {"epochs": 1})


def test_the_epoch_outputs_of_all_processes_are_joined_in_one_process_order(monkeypatch):
    monkeypatch.setattr(world, "_world", TwoProcesses(lambda mine: ([o + 100 for o in mine[0]], mine[1])))
    parts = DataParallelFit(optim.SGD(mlp().parameters(), lr=0.1), nn.MSELoss())

    class Run:
        model = mlp()

    outputs, targets = parts.join_epoch(Run(), [np.array([[1.0]]), np.array([[2.0]])],
                                        [np.array([1]), np.array([2])])
    assert outputs[0].ravel().tolist() == [1.0, 101.0, 2.0, 102.0]  # batch by batch, process by process
    assert targets[0].tolist() == [1, 1, 2, 2]


def test_the_curvature_sums_come_from_one_buffer():
    summed = SummedOverProcesses(LocalCommunicator())
    G, g = summed.new_system(3)
    assert G.shape == (3, 3) and g.shape == (3,) and not G.any() and not g.any()
    G += 1.0
    assert summed.sum_system(G, g, 2.5) == 2.5 and summed.sum_value(1.5) == 1.5
    with pytest.raises(ValueError, match="must come from new_system"):
        summed.sum_system(np.zeros((3, 3)), g, 0.0)


def test_a_resume_on_another_number_of_processes_warns(tmp_path):
    X, y = data()
    model = mlp()
    path = tmp_path / "run.npz"
    dp.fit(model, X, y, loss="cross_entropy", optimizer=optim.SGD(model.parameters(), lr=0.1), epochs=1,
           checkpoint=path, progress=False, distributed=True)
    assert load_checkpoint(path)["extra"]["fit_args"]["world_size"] == 1
    with pytest.warns(UserWarning, match=r"world_size=1 -> None"):
        dp.fit(model, X, y, loss="cross_entropy", optimizer=optim.SGD(model.parameters(), lr=0.1), epochs=2,
               resume_from=path, progress=False, distributed=False)


def test_fit_leaves_the_optimizer_and_model_as_they_were():
    X, y = data()
    model = mlp(n_out=1)
    lm = optim.LevenbergMarquardt(model.parameters())
    dp.fit(model, X, X[:, :1], loss="mse", optimizer=lm, epochs=1, progress=False, distributed=True)
    assert lm.data_parallel is None  # no longer summing over processes
    hooks_before = engine._live_tensor_hooks
    sgd = optim.SGD(model.parameters(), lr=0.1)
    dp.fit(model, X, X[:, :1], loss="mse", optimizer=sgd, epochs=1, progress=False, distributed=True)
    assert engine._live_tensor_hooks == hooks_before
