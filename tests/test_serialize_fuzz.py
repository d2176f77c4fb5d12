"""Fuzzing `dp.load`: corrupt and adversarial files let only deltaprop errors escape, in bounded memory.

The files start from real ones (a model with every kind of layer, a tree, a
checkpoint) and are truncated, bit-flipped, overwritten, given adversarial
JSON documents (random layers with random arguments, deep nesting) or
adversarial ``.npy`` headers (huge, negative or odd shapes, object, complex
and structured dtypes, lying header lengths). On Linux each load's peak
memory is measured (the kernel's peak counter is reset before each one) and
must stay within `MEMORY_BOUND`.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
import serialize_crafting as craft
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import deltaprop as dp
from deltaprop import nn, serialize
from deltaprop.errors import DeltapropError
from deltaprop.serialize import registry

MEMORY_BOUND = 50 * 2**20
FOLDER = Path(tempfile.mkdtemp(prefix="deltaprop-fuzz-"))


def seed_files() -> list[bytes]:
    dp.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 5), nn.LeakyReLU(0.1), nn.Dropout(0.2),
                          nn.Sequential(nn.Linear(5, 4, bias=False), nn.GELU("tanh")),
                          nn.ModuleList([nn.Linear(4, 2, dtype=np.float64)]), nn.LogSoftmax(dim=1))
    tree = {"a": np.arange(6, dtype=np.int16).reshape(2, 3).T, "b": (1, np.float32(2.0)),
            "c": {3: [True, None]}}
    paths = [FOLDER / "model.npz", FOLDER / "tree.npz", FOLDER / "checkpoint.npz"]
    dp.save(model, paths[0])
    dp.save(tree, paths[1])
    serialize.save_checkpoint(paths[2], model, None, 3, {"loss": [0.5]}, dp.get_rng_state(), {"x": tree})
    return [path.read_bytes() for path in paths]


SEEDS = seed_files()

# ------------------------------------------------------------------ byte-level damage

seeds = st.sampled_from(SEEDS)


@st.composite
def truncated(draw):
    data = draw(seeds)
    return data[: draw(st.integers(0, len(data) - 1))]


@st.composite
def bit_flipped(draw):
    data = bytearray(draw(seeds))
    for _ in range(draw(st.integers(1, 8))):
        data[draw(st.integers(0, len(data) - 1))] ^= 1 << draw(st.integers(0, 7))
    return bytes(data)


@st.composite
def overwritten(draw):
    data = bytearray(draw(seeds))
    start = draw(st.integers(0, len(data) - 1))
    patch = draw(st.binary(min_size=1, max_size=64))
    data[start:start + len(patch)] = patch
    return bytes(data)


# ------------------------------------------------------------------ adversarial documents

numbers = st.one_of(
    st.integers(-(2**70), 2**70), st.sampled_from([0, 1, -1, 2**31, 2**63, 10**30, 12000]),
    st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.none(),
)
scalars = st.one_of(numbers, st.text(max_size=8), st.sampled_from(["float32", "float64", "tanh", "none"]))
LAYER_NAMES = sorted(registry.builtin_classes()) + ["Popen", "os.system", ""]


def config_values(children):
    dtype = st.builds(lambda name: {"$type": "dtype", "name": name},
                      st.sampled_from(["<f4", "<f8", "float16", "complex64", "O", "V8", "<U3", "garbage"]))
    tagged = st.builds(lambda items, tag: {"$type": tag, "items": items},
                       st.lists(children, max_size=3), st.sampled_from(["tuple", "dict", "array", "lambda"]))
    return st.one_of(scalars, dtype, tagged, st.lists(children, max_size=3),
                     st.dictionaries(st.text(max_size=4), children, max_size=3))


def _arguments(kind: str) -> list[str]:
    cls = registry.builtin_classes().get(kind)
    names = [] if cls is None else [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    return names + ["x"]


def _leaf(kind: str):
    """A layer node whose arguments are mostly the ones its class takes, with adversarial values."""
    return st.builds(lambda config: {"$type": "module", "type": kind, "config": config},
                     st.dictionaries(st.sampled_from(_arguments(kind)), scalars, max_size=4))


def _container(kind: str, layers: list, extra: dict) -> dict:
    return {"type": kind, "config": {("modules" if kind == "ModuleList" else "layers"): layers, **extra}}


architectures = st.recursive(
    st.sampled_from(LAYER_NAMES).flatmap(_leaf),
    lambda children: st.builds(
        _container,
        st.sampled_from(["Sequential", "Sequential", "ModuleList", "Linear"]),
        st.lists(children, max_size=4),
        st.dictionaries(st.sampled_from(["names", "dtype", "in_features"]), config_values(children),
                        max_size=2)),
    max_leaves=12,
)
array_references = st.builds(lambda key, tag: {"$type": tag, "key": key},
                             st.sampled_from(["state/0.weight", "state/0.bias", "tree/a", "missing", "", 7]),
                             st.sampled_from(["array", "scalar"]))
states = st.one_of(
    st.just({}),
    st.dictionaries(st.sampled_from(["0.weight", "0.bias", "3.0.weight", "weight", "bias", "x"]),
                    array_references, max_size=4),
    st.dictionaries(st.text(max_size=3), st.one_of(array_references, scalars), max_size=3),
)


@st.composite
def adversarial_documents(draw):
    data = draw(seeds)
    kind = draw(st.sampled_from(["module"] * 4 + ["tree", "checkpoint", "other"]))
    document = {"format": draw(st.sampled_from(["deltaprop"] * 9 + ["other"])),
                "version": draw(st.sampled_from([2] * 12 + [1, 3, "1", None, True, -1])), "kind": kind}
    if kind == "module":
        document.update(architecture=draw(architectures), state=draw(states))
    else:
        document["tree"] = draw(st.recursive(st.one_of(scalars, array_references),
                                             lambda c: st.one_of(st.lists(c, max_size=3),
                                                                 st.dictionaries(st.text(max_size=3), c,
                                                                                 max_size=3)), max_leaves=10))
    return _with_document(data, json.dumps(document).encode())


@st.composite
def deeply_nested(draw):
    depth = draw(st.sampled_from([50, 99, 100, 101, 1000, 200_000]))
    opener, closer = draw(st.sampled_from([(b"[", b"]"), (b'{"a":', b"}"), (b'["\\"[', b"]")]))
    return _with_document(draw(seeds), opener * depth + b"1" + closer * depth)


def _with_document(data: bytes, document: bytes) -> bytes:
    import io
    import zipfile

    members = {}
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name in archive.namelist():
            members[name] = archive.read(name)
    members[craft.META] = craft.json_member(document)
    return craft.zip_bytes(members)


# ------------------------------------------------------------------ adversarial .npy headers

descrs = st.sampled_from(["'<f4'", "'<f8'", "'>f8'", "'|b1'", "'<i8'", "'|O'", "'<c16'", "'<U5'",
                          "[('a', '<f4')]", "('<f4', (2,))", "'<M8[s]'", "'garbage'", "None", "[[[[[["])
shapes = st.one_of(
    st.lists(st.integers(-3, 2**40), max_size=4).map(lambda s: repr(tuple(s))),
    st.sampled_from(["(2**40,)", "()", "(3, 4)", "(4, 3)", "'x'", "(1.5,)", "((1,),)"]),
)


@st.composite
def hostile_headers(draw):
    header = (f"{{'descr': {draw(descrs)}, 'fortran_order': {draw(st.sampled_from(['False', 'True', '0']))}, "
              f"'shape': {draw(shapes)}, }}")
    version = draw(st.sampled_from([(1, 0), (2, 0), (3, 0), (0, 9)]))
    declared = draw(st.one_of(st.none(), st.integers(0, 2**16 - 1)))
    if version != (1, 0) and declared is not None:
        declared = draw(st.integers(0, 2**32 - 1))
    data = draw(st.binary(max_size=64))
    member = craft.npy_with_header(header, data, version, declared)
    key = draw(st.sampled_from(["state/0.weight", "tree/a", "ckpt/model/0.weight", "__deltaprop__.json"]))
    return _with_member(draw(seeds), f"{key}.npy", member)


def _with_member(data: bytes, name: str, member: bytes) -> bytes:
    import io
    import zipfile

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = {n: archive.read(n) for n in archive.namelist()}
    members[name] = member
    return craft.zip_bytes(members)


hostile_files = st.one_of(truncated(), bit_flipped(), overwritten(), adversarial_documents(), deeply_nested(),
                          hostile_headers())


# ------------------------------------------------------------------ the property

def _status(field: str) -> int:
    with open("/proc/self/status") as lines:
        return next(int(line.split()[1]) * 1024 for line in lines if line.startswith(field + ":"))


def _can_measure() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
        _status("VmHWM")
        return True
    except (OSError, StopIteration):
        return False


MEASURE = _can_measure()


def load_within_bounds(contents: bytes, path: Path) -> None:
    """Load ``contents`` both ways; anything but a deltaprop error escaping, or too much memory, fails."""
    path.write_bytes(contents)
    for reader in (dp.load, serialize.load_checkpoint):
        if MEASURE:
            with open("/proc/self/clear_refs", "w") as clear:
                clear.write("5")
            before = _status("VmRSS")
        with contextlib.suppress(DeltapropError):  # anything else escapes and fails the test
            reader(path)
        if MEASURE:
            grew = _status("VmHWM") - before
            assert grew < MEMORY_BOUND, f"{reader.__name__} grew {grew:,} bytes"


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
          deadline=None)
@given(contents=hostile_files)
def test_only_deltaprop_errors_escape_and_memory_stays_bounded(contents):
    load_within_bounds(contents, FOLDER / "fuzzed.npz")


def test_the_seeds_themselves_load():
    model, tree, checkpoint = (FOLDER / name for name in ("model.npz", "tree.npz", "checkpoint.npz"))
    for path, data in zip((model, tree, checkpoint), SEEDS, strict=True):
        path.write_bytes(data)
    assert isinstance(dp.load(model), nn.Sequential)
    np.testing.assert_array_equal(dp.load(tree)["a"], np.arange(6, dtype=np.int16).reshape(2, 3).T)
    assert serialize.load_checkpoint(checkpoint)["epoch"] == 3


@pytest.mark.skipif(not MEASURE, reason="peak memory per call needs Linux's /proc/self/clear_refs")
def test_the_memory_measurement_sees_a_real_allocation():
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")
    before = _status("VmRSS")
    block = np.ones(80 * 2**20, dtype=np.uint8)
    assert _status("VmHWM") - before > MEMORY_BOUND
    del block
