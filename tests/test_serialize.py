"""save/load: exact round trips, no pickle ever, atomic writes."""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn, serialize

EXECUTED: list[str] = []


def _mark_executed(*args):
    """What a malicious pickle would run; the test checks it never does."""
    EXECUTED.append("pwned")
    return "pwned"


class Evil:
    def __reduce__(self):
        return (_mark_executed, ())


def every_layer_model():
    layers = [nn.Linear(5, 8), nn.Dropout(0.25), nn.Flatten(1), nn.Identity()]
    activations = [cls() for cls in dict.fromkeys(nn.ACTIVATIONS.values())]
    activations += [nn.LeakyReLU(0.2), nn.ELU(0.7), nn.GELU(approximate="tanh")]
    for activation in activations:
        layers += [activation, nn.Linear(8, 8)]
    layers += [nn.Linear(8, 3, bias=False), nn.Softmax(dim=-1)]
    return nn.Sequential(nn.Sequential(*layers), nn.LogSoftmax(dim=1))


def test_model_round_trip_is_exact_for_every_layer_type(tmp_path):
    dp.manual_seed(0)
    model = every_layer_model().eval()
    path = tmp_path / "model.npz"
    dp.save(model, path)
    loaded = dp.load(path).eval()
    assert repr(loaded) == repr(model)
    assert serialize.module_config(loaded) == serialize.module_config(model)
    for (name, a), (other, b) in zip(model.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert name == other and a.dtype == b.dtype and np.array_equal(a, b)
    x = np.random.default_rng(0).normal(size=(4, 5)).astype(np.float32)
    np.testing.assert_array_equal(loaded(dp.tensor(x)).array, model(dp.tensor(x)).array)
    types = {type(m).__name__ for m in loaded.modules()}
    assert {"LeakyReLU", "GELU", "Mish", "SiLU", "Softplus", "ELU", "Dropout", "Flatten", "Identity"} <= types
    slopes = sorted(m.negative_slope for m in loaded.modules() if isinstance(m, nn.LeakyReLU))
    assert slopes == [0.01, 0.2]
    assert [m.approximate for m in loaded.modules() if isinstance(m, nn.GELU)] == ["none", "tanh"]


def test_named_sequential_float64_and_module_list(tmp_path):
    model = nn.Sequential(OrderedDict(hidden=nn.Linear(2, 3, dtype=np.float64), act=nn.Tanh(),
                                      out=nn.Linear(3, 1, dtype=np.float64)))
    dp.save(model, tmp_path / "m.npz")
    loaded = dp.load(tmp_path / "m.npz")
    assert list(loaded.state_dict()) == ["hidden.weight", "hidden.bias", "out.weight", "out.bias"]
    assert loaded.hidden.weight.dtype == np.float64
    np.testing.assert_array_equal(loaded.out.weight.array, model.out.weight.array)
    stack = nn.ModuleList([nn.Linear(2, 2), nn.ReLU()])
    dp.save(stack, tmp_path / "l.npz")
    assert isinstance(dp.load(tmp_path / "l.npz"), nn.ModuleList)


def test_loading_a_model_leaves_the_random_generator_alone(tmp_path):
    dp.save(nn.Linear(30, 30), tmp_path / "m.npz")
    dp.manual_seed(4)
    expected = dp.generator().random(3)
    dp.manual_seed(4)
    dp.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(dp.generator().random(3), expected)


def test_state_dict_and_nested_tree_round_trip(tmp_path):
    model = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 1))
    state = model.state_dict()
    dp.save(state, tmp_path / "state.npz")
    loaded = dp.load(tmp_path / "state.npz")
    assert list(loaded) == list(state)
    for name in state:
        assert loaded[name].dtype == state[name].dtype and np.array_equal(loaded[name], state[name])
    fresh = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 1)).load_state_dict(loaded)
    np.testing.assert_array_equal(fresh[2].weight.array, model[2].weight.array)

    tree = {"state": {0: {"step": 3, "exp_avg": np.arange(4.0)}}, "betas": (0.9, 0.999),
            "scalar": np.float32(0.1), "name": "adam", "flag": True, "none": None, "inf": float("inf"),
            "$type": "a user key that looks like a tag"}
    dp.save(tree, tmp_path / "tree.npz")
    back = dp.load(tmp_path / "tree.npz")
    assert back["state"][0]["step"] == 3 and back["betas"] == (0.9, 0.999)
    assert back["scalar"].dtype == np.float32 and back["scalar"] == np.float32(0.1)
    assert back["inf"] == float("inf") and back["$type"] == tree["$type"] and back["none"] is None
    np.testing.assert_array_equal(back["state"][0]["exp_avg"], np.arange(4.0))


def test_custom_modules_are_refused_with_the_fix(tmp_path):
    class MyNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 2)

        def forward(self, x):
            return self.fc(x) * 2

    with pytest.raises(TypeError, match=r"MyNet.*state_dict\(\)"):
        dp.save(nn.Sequential(nn.Linear(2, 2), MyNet()), tmp_path / "unused.npz")
    assert list(tmp_path.iterdir()) == []


def test_registered_custom_layers_round_trip(tmp_path):
    class Scale(nn.Module):
        def __init__(self, factor: float = 1.0):
            super().__init__()
            self.factor = factor

        def forward(self, x):
            return x * self.factor

    serialize.register_module(Scale)
    try:
        dp.save(nn.Sequential(nn.Linear(2, 2), Scale(3.5)), tmp_path / "m.npz")
        assert dp.load(tmp_path / "m.npz")[1].factor == 3.5
    finally:
        serialize.unregister_module("Scale")
    with pytest.raises(ValueError, match="register_module"):
        dp.load(tmp_path / "m.npz")


def write_npz(path, entries, allow_pickle=False):
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=allow_pickle, **entries)
    path.write_bytes(buffer.getvalue())


def meta(document):
    return np.frombuffer(json.dumps(document).encode(), dtype=np.uint8)


def test_a_file_with_a_pickled_object_array_is_refused_without_running_it(tmp_path):
    path = tmp_path / "evil.npz"
    payload = np.empty(1, dtype=object)
    payload[0] = Evil()
    document = {"format": "deltaprop", "version": 1, "kind": "tree",
                "tree": {"weights": {"$type": "array", "key": "weights"}}}
    write_npz(path, {"weights": payload, serialize.META_KEY: meta(document)}, allow_pickle=True)
    assert b"_mark_executed" in path.read_bytes()  # the pickle really is in there
    EXECUTED.clear()
    with pytest.raises(ValueError, match="pickled Python objects"):
        dp.load(path)
    checkpoint = tmp_path / "evil_checkpoint.npz"
    document = {**document, "kind": "checkpoint",
                "tree": {"model": {"$type": "array", "key": "weights"}, "epoch": 1, "rng_state": {}}}
    write_npz(checkpoint, {"weights": payload, serialize.META_KEY: meta(document)}, allow_pickle=True)
    with pytest.raises(ValueError, match="pickled Python objects"):
        serialize.load_checkpoint(checkpoint)
    assert EXECUTED == []


def test_a_bare_pickle_and_foreign_files_are_refused(tmp_path):
    evil = tmp_path / "evil.npy"
    payload = np.empty(1, dtype=object)
    payload[0] = Evil()
    np.save(evil, payload, allow_pickle=True)
    EXECUTED.clear()
    with pytest.raises(ValueError, match="pickled"):
        dp.load(evil)
    assert EXECUTED == []
    plain = tmp_path / "plain.npz"
    write_npz(plain, {"a": np.zeros(2)})
    with pytest.raises(ValueError, match="not a deltaprop file"):
        dp.load(plain)
    with pytest.raises(FileNotFoundError, match="no such file"):
        dp.load(tmp_path / "missing.npz")
    text = tmp_path / "notes.txt"
    text.write_text("root:x:0:0:root:/root:/bin/bash\n")
    with pytest.raises(ValueError, match="not a deltaprop file") as info:
        dp.load(text)
    assert "pickled" not in str(info.value)


def test_an_architecture_can_only_name_known_layers(tmp_path):
    path = tmp_path / "crafted.npz"
    document = {"format": "deltaprop", "version": 1, "kind": "module",
                "architecture": {"type": "Popen", "args": ["rm", "-rf", "/"]}, "state": {}}
    write_npz(path, {serialize.META_KEY: meta(document)})
    with pytest.raises(ValueError, match="layer type 'Popen'"):
        dp.load(path)


def test_writes_are_atomic_and_leave_no_temporary_files(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    model = nn.Linear(3, 2)
    dp.save(model, path)
    original = path.read_bytes()
    assert zipfile.is_zipfile(path)

    replaced = []
    real_replace = os.replace

    def spy(src, dst):
        replaced.append((os.path.dirname(src), os.path.basename(src), dst))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    dp.save(nn.Linear(3, 2), path)
    (folder, temporary, target), = replaced
    assert folder == str(tmp_path) and temporary.startswith(".model.npz.") and target == str(path)
    monkeypatch.setattr(os, "replace", real_replace)
    dp.save(model, path)  # back to the original weights
    assert dp.load(path).weight.array.tobytes() == model.weight.array.tobytes()
    original = path.read_bytes()

    def failing_savez(handle, **entries):
        handle.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", failing_savez)
    with pytest.raises(OSError, match="disk full"):
        dp.save(nn.Linear(3, 2), path)
    assert path.read_bytes() == original
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"]


def test_unsupported_values_fail_before_touching_the_file(tmp_path):
    path = tmp_path / "state.npz"
    dp.save({"a": np.ones(2)}, path)
    before = path.read_bytes()
    with pytest.raises(TypeError, match="set at 'tree/b'"):
        dp.save({"a": np.zeros(2), "b": {1, 2}}, path)
    with pytest.raises(TypeError, match="object array"):
        dp.save({"a": np.array([None], dtype=object)}, path)
    assert path.read_bytes() == before
    with pytest.raises(TypeError, match="expected a Module or a dict"):
        dp.save([1, 2], path)


def test_checkpoints_are_not_models(tmp_path):
    model = nn.Linear(2, 1)
    serialize.save_checkpoint(tmp_path / "c.npz", model, None, 3, {"history": {}}, dp.get_rng_state(),
                              {"note": "x"})
    with pytest.raises(ValueError, match="resume_from"):
        dp.load(tmp_path / "c.npz")
    state = serialize.load_checkpoint(tmp_path / "c.npz")
    assert state["epoch"] == 3 and state["extra"] == {"note": "x"} and state["optimizer"] is None
    assert state["rng_state"] == dp.get_rng_state()
    dp.save(model, tmp_path / "m.npz")
    with pytest.raises(ValueError, match="not a training checkpoint"):
        serialize.load_checkpoint(tmp_path / "m.npz")
