"""Data-parallel training under real MPI: processes started by mpirun, results equal to one process.

Each fixture is one mpirun launch running several scenarios of
``scenarios.py`` (MPI start-up costs seconds); the tests assert on the values
process 0 measured. One-process references are computed in the same launch.
"""

from __future__ import annotations

import json
import sys

import pytest

from .launching import require_mpi, results_of, run, scenario_command

OPTIMIZERS = ["sgd", "adam", "lm", "gauss_newton", "lm_cross_entropy"]
TIGHT = 1e-10  # float64: the sums of the processes' parts differ from one process's only by rounding


@pytest.fixture(scope="module")
def mpirun():
    return require_mpi()


@pytest.fixture(scope="module")
def two(mpirun):
    names = ["equal", "no_sync", "collectives", "sampler", "files_and_resume"]
    return results_of(run(scenario_command(mpirun, 2, names), timeout=240))


@pytest.fixture(scope="module")
def three(mpirun):
    return results_of(run(scenario_command(mpirun, 3, ["equal_uneven", "buffers"]), timeout=240))


def check_equal(result):
    assert result["processes_identical"]
    assert result["max_weight_diff"] < TIGHT, result
    assert result["iterations"][0] == result["iterations"][1] > 0
    assert result["keys"][0] == result["keys"][1]
    assert result["max_log_diff"] < TIGHT, result
    assert result["max_iteration_loss_diff"] < TIGHT, result
    assert result["weight_scale"] > 0.1  # the weights are not all ~0 (which would make the check empty)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_two_processes_train_exactly_like_one(two, optimizer):
    assert two["world"]["size"] == 2
    check_equal(two["equal"][optimizer])


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_three_processes_with_uneven_and_empty_slices_train_like_one(three, optimizer):
    assert three["world"]["size"] == 3
    check_equal(three["equal_uneven"][optimizer])


def test_buffers_are_process_0s_on_every_process_even_with_empty_slices(three):
    assert three["buffers"]["identical"] and three["buffers"]["moved"] > 0.01


def test_no_sync_accumulation_equals_one_big_batch(two):
    result = two["no_sync"]
    assert result["max_grad_diff"] < 1e-14 and result["max_weight_diff"] < 1e-14, result
    assert result["processes_identical"]  # process 1 started from other weights: the wrapper broadcast 0's
    assert result["buckets"] == 4 and result["steps_reduced"] == 3 and result["buckets_started"] == 12
    assert result["zero_copy_buckets"] == 8  # after the first step, reduced in the optimizer's flat buffer


def test_collectives_on_arrays_tensors_and_numbers(two):
    for r, seen in enumerate(two["collectives"]):
        assert seen["rank"] == r and seen["world_size"] == 2 and seen["initialized"]
        assert seen["sum"] == [1.0, 3.0, 5.0]
        assert seen["max"] == [2.0, 0.0]
        assert seen["mean"] == 1.5
        assert seen["broadcast"] == [1.0, 1.0]
        assert seen["ragged"] == [[0], [0, 1]]
        assert seen["gathered"] == [[0.0, 0.0], [1.0, 10.0]]


def test_distributed_sampler_splits_each_epoch_between_processes(two):
    result = two["sampler"]
    assert result["length"] == 6
    for first, second in result["shares"]:
        assert len(first) == len(second) == 6
        assert sorted(set(first) | set(second)) == list(range(11))  # 11 examples, one repeated as padding
    assert result["shares"][0] != result["shares"][1]  # set_epoch reshuffles


def test_only_process_0_writes_files(two):
    result = two["files_and_resume"]
    assert result["listing"] == ["ckpt.npz"]
    lead, other = result["writes_by_process"]
    assert any("ckpt.npz" in entry for entry in lead)  # the recorder does see writes
    assert other == []


def test_checkpoint_at_two_processes_resumes_bit_identically(two):
    result = two["files_and_resume"]
    assert result["max_diff"] == 0.0
    assert result["resumed_equal_on_each"] == [True, True]
    assert result["history_equal"]


def test_an_error_on_one_process_stops_every_process(mpirun):
    done = run(scenario_command(mpirun, 2, ["fail"]), timeout=90)
    assert done.returncode != 0
    assert "SCENARIO-RESULTS" not in done.stdout
    expected = "process 1 of 2 failed in fit: ValueError: boom from process 1; stopping every process"
    assert expected in done.stderr


def test_cli_train_under_mpirun_trains_once_and_writes_once(mpirun, tmp_path):
    from .launching import launcher

    options = ["-m", "deltaprop", "train", "--dataset", "xor", "--epochs", "40", "--no-progress"]
    command = [*launcher(mpirun, 2), sys.executable, *options, "--out", "together"]
    done = run(command, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("deltaprop train: 2 processes over MPI (")
    assert lines[0].endswith("each training on its slice of every batch")
    assert sum(line.startswith("test accuracy") for line in lines) == 1  # process 1 is silent
    alone = run([sys.executable, *options, "--out", "alone"], timeout=120, cwd=tmp_path)
    assert alone.returncode == 0, alone.stderr
    assert not alone.stdout.startswith("deltaprop train: ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alone", "together"]  # no stray staging folders
    files = sorted(p.name for p in (tmp_path / "together").iterdir())
    assert files == sorted(p.name for p in (tmp_path / "alone").iterdir())
    together_loss = json.loads((tmp_path / "together" / "history.json").read_text())["history"]["loss"]
    alone_loss = json.loads((tmp_path / "alone" / "history.json").read_text())["history"]["loss"]
    assert len(together_loss) == len(alone_loss) == 40
    assert together_loss == pytest.approx(alone_loss, rel=1e-4)  # float32 weights: rounding only
