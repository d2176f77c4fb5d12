"""Per-layer configurations: every layer saves and loads through get_config/from_config, no special cases."""

from __future__ import annotations

import inspect
import json
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn, serialize
from deltaprop.nn import init
from deltaprop.serialize import registry


def builtin_layers():
    """One default instance of every registered deltaprop layer that can be built without arguments."""
    layers = {}
    for name, cls in sorted(registry.builtin_classes().items()):
        required = [p for p in inspect.signature(cls.__init__).parameters.values()
                    if p.name != "self" and p.default is p.empty and p.kind is p.POSITIONAL_OR_KEYWORD]
        layers[name] = cls(*[3] * len(required)) if required else cls()
    return layers


def test_the_builtin_registry_finds_every_public_layer_of_deltaprop_nn():
    names = set(registry.builtin_classes())
    assert {"Linear", "Sequential", "ModuleList", "ReLU", "LogSoftmax", "Dropout", "MSELoss"} <= names
    assert "Module" not in names and "_Loss" not in names
    public = {name for name in nn.__all__ if isinstance(getattr(nn, name), type)
              and issubclass(getattr(nn, name), nn.Module) and name not in ("Module", "Swish")}
    assert public <= names


@pytest.mark.parametrize("name", sorted(builtin_layers()))
def test_every_builtin_layer_rebuilds_from_its_config(name):
    layer = builtin_layers()[name]
    config = serialize.module_config(layer)
    json.dumps(config)  # plain JSON
    rebuilt = serialize.build_module(json.loads(json.dumps(config)))
    assert type(rebuilt) is type(layer) and serialize.module_config(rebuilt) == config
    assert repr(rebuilt) == repr(layer)


def test_linear_config_gives_bias_as_a_bool_and_its_dtype():
    assert nn.Linear(3, 2, bias=False, dtype=np.float64).get_config() == {
        "in_features": 3, "out_features": 2, "bias": False, "dtype": np.dtype(np.float64)}
    assert serialize.module_config(nn.Linear(3, 2)) == {
        "type": "Linear",
        "config": {"in_features": 3, "out_features": 2, "bias": True,
                   "dtype": {"$type": "dtype", "name": "float32"}},
    }
    with pytest.raises(ValueError, match="float32 or float64, got float16"):
        nn.Linear.from_config({"in_features": 3, "out_features": 2, "dtype": "float16"})


def test_containers_describe_their_children_through_the_same_convention():
    named = nn.Sequential(OrderedDict(hidden=nn.Linear(2, 3), act=nn.Tanh()))
    assert named.get_config() == {"layers": [named.hidden, named.act], "names": ["hidden", "act"]}
    plain = nn.Sequential(nn.ReLU(), nn.ModuleList([nn.Identity()]))
    assert plain.get_config() == {"layers": [plain[0], plain[1]]}
    assert plain[1].get_config() == {"modules": [plain[1][0]]}
    assert serialize.module_config(plain) == {
        "type": "Sequential",
        "config": {"layers": [
            {"$type": "module", "type": "ReLU", "config": {}},
            {"$type": "module", "type": "ModuleList",
             "config": {"modules": [{"$type": "module", "type": "Identity", "config": {}}]}},
        ]},
    }
    with pytest.raises(ValueError, match="distinct non-empty strings"):
        nn.Sequential.from_config({"layers": [nn.ReLU(), nn.Tanh()], "names": ["a", "a"]})


# --------------------------------------------------------------------------- a layer of the user's own


class Standardise(nn.Module):
    """A user layer like the coming BatchNorm: a tuple argument, a buffer, a derived sub-layer."""

    def __init__(self, shape: tuple[int, int], momentum: float = 0.1, head: nn.Module | None = None,
                 branches: dict | None = None) -> None:
        super().__init__()
        self.shape, self.momentum = tuple(shape), momentum
        features = shape[0] * shape[1]
        self.scale = nn.Parameter(np.empty(features, dtype=np.float32))
        init.normal_(self.scale, 1.0, 0.1)
        self.register_buffer("running_mean", np.zeros(features, dtype=np.float32))
        self.register_buffer("steps", np.zeros((), dtype=np.int64))
        self.mix = nn.Linear(features, features)  # built by the constructor, not passed in
        self.head = head if head is not None else nn.Identity()
        self.branches = nn.ModuleList(list((branches or {}).values()))
        self.branch_names = list(branches or {})

    def get_config(self):  # the branches are kept as a ModuleList, so say how they were given
        return {"shape": self.shape, "momentum": self.momentum, "head": self.head,
                "branches": dict(zip(self.branch_names, self.branches, strict=True))}

    def forward(self, x):
        if self.training:  # buffers reassigned, as BatchNorm's running statistics will be
            batch_mean = x.array.reshape(len(x.array), -1).mean(axis=0)
            self.running_mean = (1 - self.momentum) * self.running_mean.array + self.momentum * batch_mean
            self.steps = self.steps.array + 1
        flat = (x.reshape(len(x.array), -1) - self.running_mean) * self.scale
        out = self.head(self.mix(flat))
        for branch in self.branches:
            out = branch(out)
        return out


@pytest.fixture
def standardise_registered():
    serialize.register_module(Standardise)
    yield Standardise
    serialize.unregister_module("Standardise")


def test_a_user_layer_with_a_buffer_a_tuple_and_submodules_round_trips(tmp_path, standardise_registered):
    dp.manual_seed(0)
    layer = Standardise((2, 3), momentum=0.25, head=nn.Tanh(),
                        branches={"relu": nn.ReLU(), "out": nn.Linear(6, 2)})
    model = nn.Sequential(nn.Flatten(1), layer)
    x = np.random.default_rng(0).normal(size=(5, 2, 3)).astype(np.float32)
    model(dp.tensor(x))  # moves the buffers away from their initial values
    model(dp.tensor(x + 1))
    dp.save(model, tmp_path / "m.npz")

    loaded = dp.load(tmp_path / "m.npz")
    rebuilt = loaded[1]
    assert isinstance(rebuilt, Standardise) and rebuilt.shape == (2, 3) and rebuilt.momentum == 0.25
    assert rebuilt.branch_names == ["relu", "out"] and isinstance(rebuilt.head, nn.Tanh)
    assert int(rebuilt.steps.item()) == 2
    for (name, a), (other, b) in zip(model.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert name == other and a.dtype == b.dtype and np.array_equal(a, b), name
    model.eval(), loaded.eval()
    np.testing.assert_array_equal(loaded(dp.tensor(x)).array, model(dp.tensor(x)).array)


def test_the_default_get_config_reads_the_constructor_arguments():
    class Scale(nn.Module):
        def __init__(self, factor: float = 1.0, axes: tuple = (0,), name: str = "s"):
            super().__init__()
            self.factor, self.axes, self.name = factor, axes, name

        def forward(self, x):
            return x * self.factor

    assert Scale(2.5, (1, 2)).get_config() == {"factor": 2.5, "axes": (1, 2), "name": "s"}
    rebuilt = Scale.from_config(Scale(2.5, (1, 2)).get_config())
    assert (rebuilt.factor, rebuilt.axes) == (2.5, (1, 2))


def test_a_layer_that_cannot_describe_itself_is_told_the_fix(tmp_path):
    class Forgetful(nn.Module):
        def __init__(self, size: int):
            super().__init__()
            self.weight = nn.Parameter(np.zeros(size, dtype=np.float32))

    class Keeper(nn.Module):
        def __init__(self, weight):
            super().__init__()
            self.weight = nn.Parameter(np.asarray(weight, dtype=np.float32))

    class Variadic(nn.Module):
        def __init__(self, *sizes):
            super().__init__()

    with pytest.raises(TypeError, match=r"Forgetful.get_config: .* argument 'size' .*\(self.size = size\)"):
        Forgetful(3).get_config()
    with pytest.raises(TypeError, match=r"takes \*sizes.*override get_config"):
        Variadic(1, 2).get_config()
    for cls in (Forgetful, Keeper):
        serialize.register_module(cls)
    try:
        with pytest.raises(TypeError, match="size"):
            dp.save(nn.Sequential(Forgetful(3)), tmp_path / "a.npz")
        with pytest.raises(TypeError, match=r"layer '0' \(Keeper\).*argument 'weight'.*\(Parameter\)"):
            dp.save(nn.Sequential(Keeper([1.0])), tmp_path / "b.npz")
    finally:
        for cls in (Forgetful, Keeper):
            serialize.unregister_module(cls.__name__)
    assert list(tmp_path.iterdir()) == []


def test_register_module_guards_its_names():
    class Linear(nn.Module):  # a user's own class that happens to share a deltaprop name
        pass

    with pytest.raises(ValueError, match="'Linear' is a deltaprop layer.*name='my_Linear'"):
        serialize.register_module(Linear)
    serialize.register_module(Linear, name="my_Linear")
    try:
        assert registry.class_for("my_Linear") is Linear and registry.name_for(Linear) == "my_Linear"
        assert registry.class_for("Linear") is nn.Linear

        class Other(nn.Module):
            pass

        with pytest.raises(ValueError, match="already belongs to"):
            serialize.register_module(Other, name="my_Linear")
    finally:
        serialize.unregister_module("my_Linear")
    with pytest.raises(TypeError, match="Module subclass"):
        serialize.register_module(int)
    assert serialize.register_module(nn.ReLU) is nn.ReLU  # a built-in: nothing to do


def test_model_files_are_format_2_and_trees_stay_format_1(tmp_path):
    dp.save(nn.Sequential(nn.Linear(2, 1)), tmp_path / "m.npz")
    dp.save({"a": np.zeros(2)}, tmp_path / "t.npz")
    for name, version in (("m.npz", 2), ("t.npz", 1)):
        with zipfile.ZipFile(tmp_path / name) as archive, archive.open("__deltaprop__.json.npy") as f:
            document = json.loads(np.lib.format.read_array(f).tobytes())
        assert document["version"] == version


def test_no_initialisation_draws_and_touches_nothing():
    dp.manual_seed(3)
    before = dp.get_rng_state()
    weight = nn.Parameter(np.full(4, 7.0, dtype=np.float32))
    with init.no_initialisation():
        init.uniform_(weight, -1, 1)
        init.kaiming_normal_(nn.Parameter(np.zeros((2, 2), dtype=np.float32)))
        init.zeros_(weight)
        layer = nn.Linear(3, 2)
    assert dp.get_rng_state() == before
    np.testing.assert_array_equal(weight.array, 7.0)
    init.zeros_(weight)  # back to normal outside the block, also after an error inside one
    np.testing.assert_array_equal(weight.array, 0.0)
    with pytest.raises(RuntimeError), init.no_initialisation():
        raise RuntimeError
    init.ones_(weight)
    np.testing.assert_array_equal(weight.array, 1.0)
    assert layer.weight.shape == (2, 3)
