"""Files written by the format-version-1 release (tests/fixtures, see make_v1_fixtures.py) still load.

The expected values come from ``v1_expected.npz``, written by the same old release and read here with
plain ``numpy.load``, so a bug in today's reader cannot hide behind itself.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn, optim, serialize

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def expected():
    with np.load(FIXTURES / "v1_expected.npz", allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def prefixed(expected, prefix):
    return {name[len(prefix):]: value for name, value in expected.items() if name.startswith(prefix)}


def assert_same_arrays(actual, wanted):
    assert list(actual) == list(wanted)
    for name, value in wanted.items():
        assert actual[name].dtype == value.dtype and np.array_equal(actual[name], value), name


def test_v1_model_file_loads_to_the_same_weights_and_outputs(expected):
    model = dp.load(FIXTURES / "v1_model.npz").eval()
    assert_same_arrays(model.state_dict(), prefixed(expected, "model/"))
    output = model(dp.tensor(expected["model_input"])).array
    np.testing.assert_array_equal(output, expected["model_output"])
    assert [type(m).__name__ for m in model.body][:4] == ["Linear", "LeakyReLU", "Linear", "ELU"]
    assert model.body[2].bias is None and model.body[1].negative_slope == 0.2
    assert model.body[5].approximate == "tanh" and model.out.dim == 1


def test_v1_tree_file_loads_to_the_same_values(expected):
    tree = dp.load(FIXTURES / "v1_tree.npz")
    assert_same_arrays(tree["model"], prefixed(expected, "tree/"))
    assert tree["betas"] == (0.9, 0.999) and tree["flag"] is True and tree["none"] is None
    assert tree["scalar"].dtype == np.float32 and tree["scalar"] == np.float32(0.5)
    np.testing.assert_array_equal(tree["ints"], np.arange(5))
    assert tree["inf"] == float("inf") and tree["$type"] == "a tag-like user key"
    assert tree["keys"] == {0: "zero", (1, 2): "pair"}
    assert tree["optimizer"]["param_groups"][0]["betas"] == [0.9, 0.999]


def test_v1_checkpoint_loads_and_resumes_to_the_uninterrupted_weights(expected):
    path = FIXTURES / "v1_checkpoint.npz"
    state = serialize.load_checkpoint(path)
    assert state["epoch"] == 3 and state["rng_state"]["bit_generator"] == "PCG64"
    assert_same_arrays(state["model"], prefixed(expected, "checkpoint/"))

    dp.manual_seed(99)  # the checkpoint must override initialisation and generator state
    model = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Dropout(0.2), nn.Linear(8, 2))
    dp.fit(model, expected["fit_X"], expected["fit_labels"], loss=nn.CrossEntropyLoss(),
           optimizer=optim.Adam(model.parameters(), lr=0.02), epochs=5, batch_size=16, shuffle=True,
           validation_split=0.25, metrics=["accuracy"], seed=3, progress=False, resume_from=path)
    assert_same_arrays(model.state_dict(), prefixed(expected, "resumed/"))
