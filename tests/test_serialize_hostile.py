"""Hostile and damaged model files: one clear error (ModelFileError naming the file), bounded memory, no hang.

The memory cases run `load` in a fresh interpreter and compare its peak RSS
after the load with its peak before it, so nothing the test process did earlier
can hide or inflate the cost.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import serialize_crafting as craft

import deltaprop as dp
from deltaprop import nn, serialize
from deltaprop.errors import DeltapropError, ModelFileError

ARRAY = {"$type": "array", "key": "w"}
LINEAR_STATE = {"weight": {"$type": "array", "key": "w"}, "bias": {"$type": "array", "key": "b"}}
LINEAR_ARRAYS = {"w": craft.npy(np.zeros((2, 3), np.float32)), "b": craft.npy(np.zeros(2, np.float32))}


def linear(**config):
    return craft.layer("Linear", **{"in_features": 3, "out_features": 2, **config})


def model_file(architecture, state=None, arrays=None, version=2):
    return craft.deltaprop_file(craft.model_document(architecture, state, version), arrays)


def tree_file(tree, arrays=None, **document):
    document = {"format": "deltaprop", "version": 1, "kind": "tree", "tree": tree, **document}
    return craft.deltaprop_file(document, arrays)


def saved_model_bytes(tmp_path) -> bytes:
    dp.manual_seed(0)
    path = tmp_path / "real.npz"
    dp.save(nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)), path)
    return path.read_bytes()


def flip(data: bytes, position: int) -> bytes:
    return data[:position] + bytes([data[position] ^ 0xFF]) + data[position + 1:]


# (file contents, what the message must say); each file must give one ModelFileError naming it
CASES = {
    "nested JSON": (craft.deltaprop_file(b"[" * 100_000 + b"]" * 100_000), "nested 100000 deep"),
    "Softmax(dim=1e30)": (model_file(craft.layer("Softmax", dim=1e30)), r"argument 'dim' is 1e\+30.*int"),
    "a string for a size": (model_file(linear(in_features="3")), "argument 'in_features' is '3'"),
    "a bool for a size": (model_file(linear(in_features=True)), "argument 'in_features' is True"),
    "an unknown argument": (model_file(linear(colour="red")), "unexpected keyword argument 'colour'"),
    "an unknown argument (default from_config)": (
        model_file(craft.layer("Tanh", inplace=True)), r"Tanh takes no argument\(s\) \['inplace'\]"),
    "a negative size": (model_file(linear(in_features=-3)), "sizes must be positive"),
    "a huge size": (model_file(linear(in_features=10**30, out_features=10**30)), "Linear.from_config"),
    "a NaN argument": (model_file(craft.layer("LeakyReLU", negative_slope=float("nan"))),
                       "nan is not a finite number"),
    "an infinite argument": (model_file(craft.layer("Dropout", p=float("inf"))),
                             "inf is not a finite number"),
    "a float16 Linear": (model_file(linear(dtype={"$type": "dtype", "name": "float16"})),
                         "float32 or float64, got float16"),
    "a complex dtype in a config": (model_file(linear(dtype={"$type": "dtype", "name": "complex64"})),
                                    "not a real floating"),
    "an unknown layer": (model_file(craft.layer("os.system", command="rm -rf /")), "layer type 'os.system'"),
    "a malformed layer": (model_file({"type": "Linear", "config": [], "code": "x"}), "malformed entry"),
    "an array in a config": (model_file(linear(in_features=ARRAY)), "cannot hold"),
    "duplicate Sequential names": (
        model_file(craft.layer("Sequential", layers=[{"$type": "module", **craft.layer("ReLU")}] * 2,
                               names=["a", "a"])), "distinct"),
    "a complex array": (tree_file({"a": ARRAY}, {"w": craft.npy(np.zeros(2, np.complex128))}),
                        "dtype complex128"),
    "a string array": (tree_file({"a": ARRAY}, {"w": craft.npy(np.array(["x"]))}), "dtype <U1"),
    "a 4 GB .npy header": (tree_file({"a": ARRAY}, {"w": craft.npy_with_header("", version=(2, 0),
                                                                                 declared_length=2**32 - 1)}),
                           "header of 4,294,967,295 bytes"),
    "a .npy format 3 header": (tree_file({"a": ARRAY}, {"w": craft.npy_with_header("{}", version=(3, 0))}),
                               r"format version \(3, 0\)"),
    "a garbled .npy header": (tree_file({"a": ARRAY}, {"w": craft.npy_with_header("{'descr': [[[")}),
                              "damaged .npy header"),
    "a negative shape": (tree_file({"a": ARRAY}, {"w": craft.npy_with_header(
        "{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 4), }")}), "negative shape"),
    "a huge declared shape": (tree_file({"a": ARRAY}, {"w": craft.npy_with_header(
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000000, 1000000000000), }", b"\0" * 16)}),
        "truncated or crafted"),
    "an entry that is not .npy": (tree_file({"a": ARRAY}, {"w": b"hello"}), "not a .npy array"),
    "a missing array": (tree_file({"a": ARRAY}), "refers to an array 'w' that the file does not contain"),
    "weights of another shape": (model_file(linear(in_features=4), LINEAR_STATE, LINEAR_ARRAYS),
                                 r"'weight' as float32 of shape \(2, 3\).*shape \(2, 4\)"),
    "a missing weight": (model_file(linear(), {"weight": LINEAR_STATE["weight"]}, LINEAR_ARRAYS),
                         r"missing \['bias'\]"),
    "an unexpected weight": (model_file(linear(), {**LINEAR_STATE, "extra": LINEAR_STATE["bias"]},
                                        LINEAR_ARRAYS), r"unexpected \['extra'\]"),
    "integer weights": (model_file(linear(), LINEAR_STATE, {**LINEAR_ARRAYS,
                                                            "w": craft.npy(np.zeros((2, 3), np.int32))}),
                        "'weight' as int32"),
    "a nested state": (model_file(linear(), {"weight": {"inner": ARRAY}}, LINEAR_ARRAYS), "flat dict"),
    "an unknown tag": (tree_file({"$type": "lambda", "code": "x"}), "unknown entry type 'lambda'"),
    "an unhashable key": (tree_file({"$type": "dict", "items": [[{"a": 1}, 2]]}), "cannot be a key"),
    "a newer version": (model_file(linear(), version=99), "newer deltaprop"),
    "a version that is text": (tree_file({}, version="1"), "invalid format version '1'"),
    "JSON that is not UTF-8": (craft.deltaprop_file(b'{"format": "\xff"}'), "damaged JSON"),
    "truncated JSON": (craft.deltaprop_file(b'{"format": "deltaprop", "ver'), "damaged JSON"),
    "an integer of 5000 digits": (craft.deltaprop_file(b'{"format": "deltaprop", "v": ' + b"1" * 5000 + b"}"),
                                  "damaged JSON"),
    "a document that is a list": (craft.deltaprop_file(b"[1, 2]"), "does not hold a deltaprop document"),
    "a JSON entry of floats": (craft.zip_bytes({craft.META: craft.npy(np.zeros(3))}), "dtype float64"),
    "an entry named twice": (craft.raw_zip([(craft.META, b"", 0, 0, 0)] * 2), "names an entry twice"),
    "no JSON entry": (craft.zip_bytes({"w.npy": craft.npy(np.zeros(2))}), "without the '__deltaprop__.json'"),
    "an empty file": (b"", "not a deltaprop file"),
    "a text file": (b"root:x:0:0:root:/root:/bin/bash\n", "not a deltaprop file"),
    "an encrypted entry": (craft.raw_zip([(craft.META, b"xx", 0, 0, 2)]).replace(
        b"\x14\x00\x00\x00\x00\x00", b"\x14\x00\x01\x00\x00\x00"), "damaged or not a deltaprop file"),
    "an unknown compression method": (craft.raw_zip([(craft.META, b"xx", 77, 0, 2)]),
                                      "damaged or not a deltaprop file"),
    "a checkpoint given to load": (craft.deltaprop_file({"format": "deltaprop", "version": 1,
                                                         "kind": "checkpoint", "tree": {}}), "resume_from"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_hostile_file_gives_one_clear_error(tmp_path, name):
    contents, message = CASES[name]
    path = tmp_path / "model.npz"
    path.write_bytes(contents)
    with pytest.raises(ModelFileError, match=message) as info:
        dp.load(path)
    assert str(path) in str(info.value) and info.value.path == str(path)
    assert isinstance(info.value, ValueError)  # callers that caught ValueError still do


def test_truncated_and_byte_flipped_files_give_one_clear_error(tmp_path):
    real = saved_model_bytes(tmp_path)
    path = tmp_path / "damaged.npz"
    damaged = [real[:n] for n in (4, 100, len(real) // 2, len(real) - 22, len(real) - 1)]
    weights = real.index(b"\x93NUMPY", real.index(b"state/0.weight")) + 128 + 5  # in the first weight's data
    damaged += [flip(real, weights), flip(real, real.index(b"architecture") + 2), flip(real, len(real) - 10)]
    for contents in damaged:
        path.write_bytes(contents)
        with pytest.raises(ModelFileError, match="damaged|not a deltaprop|truncated") as info:
            dp.load(path)
        assert str(path) in str(info.value)
    path.write_bytes(flip(real, weights))
    with pytest.raises(ModelFileError, match="Bad CRC-32"):  # a flipped weight is noticed, not loaded
        dp.load(path)


def test_load_checkpoint_shares_the_checks(tmp_path):
    path = tmp_path / "c.npz"
    path.write_bytes(craft.deltaprop_file({"format": "deltaprop", "version": 1, "kind": "checkpoint",
                                           "tree": {"model": ARRAY}}))
    with pytest.raises(ModelFileError, match=r"load_checkpoint: .*does not contain"):
        serialize.load_checkpoint(path)
    path.write_bytes(craft.deltaprop_file(b"[" * 5000 + b"]" * 5000))
    with pytest.raises(ModelFileError, match="nested 5000 deep"):
        serialize.load_checkpoint(path)


def run_with_a_deadline(function, seconds=60):
    """``function()``'s outcome, or a test failure if it is still running after ``seconds`` (a hang)."""
    outcome = {}

    def target():
        try:
            outcome["value"] = function()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "load hung"
    return outcome


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are a POSIX feature")
def test_a_fifo_a_directory_and_a_device_are_refused_without_hanging(tmp_path):
    fifo = tmp_path / "model.npz"
    os.mkfifo(fifo)
    outcome = run_with_a_deadline(lambda: dp.load(fifo))
    assert isinstance(outcome.get("error"), ModelFileError)
    assert "is a FIFO (named pipe), not a regular file" in str(outcome["error"])
    with pytest.raises(ModelFileError, match="is a directory"):
        dp.load(tmp_path)
    if os.path.exists("/dev/zero"):
        outcome = run_with_a_deadline(lambda: dp.load("/dev/zero"))
        assert "is a character device" in str(outcome.get("error"))
    with pytest.raises(FileNotFoundError, match="no such file"):
        dp.load(tmp_path / "missing.npz")


# --------------------------------------------------------------------------- memory

PEAK_RSS_SCRIPT = """
import json, resource, sys
import deltaprop as dp
from deltaprop.errors import ModelFileError

def status(field):  # kB fields of /proc/self/status (Linux)
    with open("/proc/self/status") as lines:
        return next(int(line.split()[1]) * 1024 for line in lines if line.startswith(field + ":"))

dp.save({"warm": [1.0]}, sys.argv[2])
dp.load(sys.argv[2])  # every import and code path of load is warm
try:  # Linux: restart the peak count here, so the import's own peak cannot hide the load's
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")
    before, peak = status("VmRSS"), lambda: status("VmHWM")
except OSError:  # elsewhere: growth of the lifetime peak (bytes on macOS, KiB on Linux)
    scale = 1 if sys.platform == "darwin" else 1024
    peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale
    before = peak()
try:
    dp.load(sys.argv[1])
    outcome = "loaded"
except ModelFileError as exc:
    outcome = str(exc)
print(json.dumps({"grew": peak() - before, "outcome": outcome}))
"""

MEMORY_BOUND = 50 * 2**20


def peak_rss_of_loading(path: Path) -> dict:
    pytest.importorskip("resource")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(dp.__file__).parents[1]),
                                                        os.environ.get("PYTHONPATH", "")])}
    warm = path.parent / "warm-up.npz"
    result = subprocess.run([sys.executable, "-c", PEAK_RSS_SCRIPT, str(path), str(warm)],
                            capture_output=True, text=True, env=env, cwd=path.parent, timeout=300, check=True)
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def bomb(tmp_path_factory):
    path = tmp_path_factory.mktemp("bomb") / "bomb.npz"
    path.write_bytes(craft.bomb_file())
    return path


def write(path: Path, contents: bytes) -> Path:
    path.write_bytes(contents)
    return path


@pytest.mark.parametrize("case", ["12000x12000 Linear", "12000x12000 Linear with small arrays",
                                  "2000 layers of 1000x1000", "1 GB deflated member"])
def test_a_memory_bomb_fails_fast_within_a_memory_bound(tmp_path, bomb, case):
    if case == "12000x12000 Linear":
        path = write(tmp_path / "m.npz", model_file(linear(in_features=12000, out_features=12000)))
        assert path.stat().st_size < 2048
        expected = "more than 8,39.* bytes of weights and buffers .*576,048,000 by the model"
    elif case == "12000x12000 Linear with small arrays":
        path = write(tmp_path / "m.npz", model_file(linear(in_features=12000, out_features=12000),
                                                    LINEAR_STATE, LINEAR_ARRAYS))
        expected = "576,048,000 by the model"
    elif case == "2000 layers of 1000x1000":
        path = write(tmp_path / "m.npz", craft.many_layers_file(2000, 1000))
        assert 100_000 < path.stat().st_size < 200_000
        expected = r"by layer 'layers\[2\]' \(Linear\)"
    else:
        path = bomb
        assert path.stat().st_size < 1.1 * 2**20
        expected = "declares 1,073,742,151 bytes of uncompressed data in a 1,06.*-byte file"
    measured = peak_rss_of_loading(path)
    assert measured["grew"] < MEMORY_BOUND, measured
    assert str(path) in measured["outcome"]
    assert re.search(expected, measured["outcome"]), measured["outcome"]


def test_the_limit_can_be_raised_for_a_trusted_file(tmp_path, bomb):
    assert dp.load(bomb, max_bytes=2**31) == {"a": 1}  # the unused member is never read
    lying = write(tmp_path / "lying.npz", craft.bomb_file(lie_about_size=True))
    loaded = dp.load(lying)  # the stream goes on for a GiB; only the 3968 declared bytes are read
    assert loaded["a"].shape == (3968,)
    small = write(tmp_path / "small.npz", model_file(linear(), LINEAR_STATE, LINEAR_ARRAYS))
    with pytest.raises(ModelFileError, match="declares 649 bytes of uncompressed data in a 963-byte file"):
        dp.load(small, max_bytes=100)


def test_a_real_file_loads_within_its_own_budget(tmp_path):
    """The budget does not reject honest files: a model with 1 MB of weights and no slack at all."""
    dp.manual_seed(0)
    model = nn.Sequential(nn.Linear(500, 500), nn.ReLU(), nn.Linear(500, 10))
    path = tmp_path / "m.npz"
    dp.save(model, path)
    size = path.stat().st_size
    loaded = dp.load(path, max_bytes=size)
    np.testing.assert_array_equal(loaded[0].weight.array, model[0].weight.array)
    with pytest.raises(ModelFileError, match="uncompressed data"):
        dp.load(path, max_bytes=size // 2)
    assert issubclass(ModelFileError, DeltapropError)


def test_an_honest_model_costs_its_own_size_once(tmp_path):
    """Weights are read straight into the freshly built layers: no second copy of the model."""
    dp.manual_seed(0)
    path = tmp_path / "m.npz"
    dp.save(nn.Sequential(nn.Linear(1000, 2000), nn.ReLU(), nn.Linear(2000, 10)), path)  # 8 MB
    measured = peak_rss_of_loading(path)
    assert measured["outcome"] == "loaded"
    assert measured["grew"] < 1.25 * path.stat().st_size + 2 * 2**20, measured
