"""deltaprop.models: the registry, the MLP builder, output layers, scaling folds and optimizer settings."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import models, nn
from deltaprop.data import Standardizer
from deltaprop.serialize import module_config


def test_build_mlp_layers_and_weights_match_building_them_by_hand():
    dp.manual_seed(3)
    built = models.build_mlp(5, 3, hidden=[8, 4], activation="tanh", dropout=0.25)
    dp.manual_seed(3)
    by_hand = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Dropout(0.25), nn.Linear(8, 4), nn.Tanh(),
                            nn.Dropout(0.25), nn.Linear(4, 3))
    assert module_config(built) == module_config(by_hand)
    for (name, a), b in zip(built.state_dict().items(), by_hand.state_dict().values(), strict=True):
        assert np.array_equal(a, b), name
    assert module_config(models.build_mlp(2, 1)) == module_config(nn.Sequential(nn.Linear(2, 1)))


@pytest.mark.parametrize(("task", "loss", "last", "meaning"), [
    ("classify", "cross_entropy", "Linear", "logits"),
    ("classify", "nll", "LogSoftmax", "log_probabilities"),
    ("classify", "bce", "Sigmoid", "probabilities"),
    ("classify", "mse", "Linear", "logits"),
    ("regress", "mse", "Linear", "values"),
    ("regress", "huber", "Linear", "values"),
])
def test_build_model_appends_the_output_layer_the_loss_expects(task, loss, last, meaning):
    network, output = models.build_model("mlp", (4,), 3, task=task, loss=loss, hidden=[6])
    assert type(list(network)[-1]).__name__ == last and output == meaning
    assert [type(m).__name__ for m in network][:3] == ["Linear", "ReLU", "Linear"]


def test_registry_lists_mlp_checks_options_and_takes_new_entries():
    assert "mlp" in models.MODELS and models.MODELS["mlp"].options == ("hidden", "activation", "dropout")
    assert models.MODELS["mlp"].describe((64,), 10, hidden=[256]) == "64-256-10"
    with pytest.raises(TypeError, match=r"model 'mlp' does not take channels; it takes: hidden, activation"):
        models.build_model("mlp", (4,), 2, channels=8)
    with pytest.raises(ValueError, match="unknown model 'resnet'; choose one of: cnn, lenet, mlp"):
        models.build_model("resnet", (1, 8, 8), 10)

    def tiny(input_shape, n_out, width=3):
        return nn.Sequential(nn.Flatten(), nn.Linear(int(np.prod(input_shape)), n_out))

    models.register_model("tiny", tiny, ("width",), help="for this test")
    try:
        network, output = models.build_model("tiny", (2, 2), 5, task="classify", loss="nll", width=2)
        assert [type(m).__name__ for m in network] == ["Flatten", "Linear", "LogSoftmax"]
        assert network(dp.tensor(np.ones((3, 2, 2), np.float32))).shape == (3, 5)
    finally:
        del models.MODELS["tiny"]


def test_fold_scaling_makes_the_network_take_raw_data_and_answer_in_real_units():
    rng = np.random.default_rng(0)
    X = rng.normal(50.0, 10.0, size=(20, 3))
    y = rng.normal(-7.0, 3.0, size=(20, 2))
    x_scaler, y_scaler = Standardizer().fit(X), Standardizer().fit(y)
    dp.manual_seed(0)
    network = models.build_mlp(3, 2, hidden=[4], activation="tanh", dtype=np.float64)
    with dp.no_grad():
        expected = y_scaler.inverse_transform(network(dp.tensor(x_scaler.transform(X))).array)
    models.fold_scaling(network, models.affine_of(x_scaler, 3), models.affine_of(y_scaler, 2))
    with dp.no_grad():
        np.testing.assert_allclose(network(dp.tensor(X)).array, expected, rtol=1e-12, atol=1e-12)


def test_fold_scaling_refuses_a_first_layer_that_is_not_linear():
    class Scale(nn.Module):
        def __init__(self):
            super().__init__()
            self.gain = nn.Parameter(np.ones(3, np.float32))

        def forward(self, x):
            return x * self.gain

    network = nn.Sequential(Scale(), nn.Linear(3, 1))
    with pytest.raises(TypeError, match="the first layer with weights is a Scale, not a Linear"):
        models.fold_scaling(network, (np.ones(3), np.zeros(3)))


def test_make_optimizer_passes_only_the_given_settings():
    params = list(nn.Linear(2, 1).parameters())
    sgd = models.make_optimizer(params, "sgd", lr=0.1, momentum=0.9, weight_decay=0.0)
    assert sgd.param_groups[0]["momentum"] == 0.9 and sgd.param_groups[0]["weight_decay"] == 0
    lm = models.make_optimizer(params, "lm")
    assert type(lm).__name__ == "LevenbergMarquardt"
    with pytest.raises(TypeError, match=r"optimizer 'lm' \(LevenbergMarquardt\) has no option\(s\) lr"):
        models.make_optimizer(params, "lm", lr=0.1)


def test_memory_check_for_second_order_optimizers():
    assert models.memory_needed("lm", 1000) == 3 * 8 * 1000 * 1000
    assert models.memory_needed("adam", 10**9) == 0
    models.check_fits_in_memory("lm", 1000)
    expected = r"lm solves a 10,000,000 x 10,000,000 system each step, which needs 2,235,174.2 GiB"
    with pytest.raises(MemoryError, match=expected):
        models.check_fits_in_memory("lm", 10**7)


def test_defaults():
    assert models.default_loss("classify") == "cross_entropy" and models.default_loss("regress") == "mse"
    assert models.default_epochs(1437, 32) == 67 and models.default_epochs(4, None) == 1000
    assert models.DEFAULT_LR["adam"] == 1e-3 and models.DEFAULT_MOMENTUM == {"sgd": 0.9}
    assert "huber" in models.LOSSES_FOR_TASK["regress"] and "nll" not in models.LOSSES_FOR_TASK["regress"]
