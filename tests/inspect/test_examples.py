"""Every script in examples/ runs (import + main()) and reproduces its textbook numbers."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_single_neuron(capsys):
    result = _load("single_neuron").main()
    assert result["w1"] == pytest.approx(0.009276093, abs=1e-9)
    assert result["w2"] == pytest.approx(0.027828278, abs=1e-9)
    assert result["b"] == pytest.approx(0.0927609, abs=1e-7)
    assert result["errors"][1] < result["errors"][0]
    assert "0.874352143" in capsys.readouterr().out


def test_linear_neuron_error_surface(tmp_path):
    rows = _load("linear_neuron_error_surface").main(str(tmp_path / "s.png"))
    np.testing.assert_allclose(rows[:, 2], (rows[:, 0] + rows[:, 1]) ** 2)
    np.testing.assert_allclose(rows[:, 3], 2 * (rows[:, 0] + rows[:, 1]))
    if importlib.util.find_spec("matplotlib"):
        assert (tmp_path / "s.png").stat().st_size > 1000


def test_logistic_regression_gradient():
    result = _load("logistic_regression_gradient").main()
    np.testing.assert_allclose(result["grad"], result["formula"], rtol=1e-9)


def test_two_layer_matrix_form():
    result = _load("two_layer_matrix_form").main()
    np.testing.assert_allclose(result["trace"][2].grad_weight, result["dW2"], rtol=1e-12)
    np.testing.assert_allclose(result["trace"][1].grad_weight, result["dW1"], rtol=1e-12)
    assert result["trace"].loss == pytest.approx(0.298371109, abs=1e-9)  # the well-known 0.298371109


def test_sigmoid_neuron_target_07(tmp_path):
    result = _load("sigmoid_neuron_target_07").main(str(tmp_path / "n"), iterations=2000)
    assert result["predictions"][-1] == pytest.approx(0.7, abs=0.01)
    assert result["errors"][-1] < 1e-3 * result["errors"][0]


def test_xor(tmp_path):
    out = _load("xor").main(str(tmp_path / "xor.png"))
    np.testing.assert_array_equal((out[:, 0] > 0.5).astype(int), [0, 1, 1, 0])
