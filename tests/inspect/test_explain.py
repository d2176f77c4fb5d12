"""`deltaprop explain` prints the worked example's numbers; derivative_chain's factors multiply out."""

import numpy as np
import pytest

from deltaprop import nn
from deltaprop.inspect.chain import derivative_chain
from deltaprop.inspect.explain import main


def test_explain_default_prints_every_number(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    for number in [
        "s = w.x + b = 0.5*0.1 + 0.2*0.3 + 1.83 = 1.94",
        "0.874352143",
        "0.356465271",
        "dE/dw1 = ",
        "0.009276093",
        "0.027828278",
        "0.49990723907",
        "0.1997217172",
        "0.0927609",
        "ds/db = 0",
    ]:
        assert number in out, number
    # the next forward pass has a lower error
    assert "the error went down: 0.356465271 -> 0.356370591" in out


def test_explain_steps_error_falls(capsys):
    assert main(["--steps", "5", "--lr", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    start = lines.index("update  error")
    errors = [float(line.split()[1]) for line in lines[start + 1 : start + 7]]
    assert len(errors) == 6 and all(b < a for a, b in zip(errors, errors[1:], strict=False))


def test_explain_options_and_network(capsys):
    assert (
        main(
            [
                "--inputs",
                "1,2,3",
                "--weights",
                "0.1,0.1,0.1",
                "--bias",
                "0",
                "--target",
                "1",
                "--activation",
                "tanh",
                "--loss",
                "mse",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "s = w.x + b = 0.1*1 + 0.1*2 + 0.1*3 + 0 = 0.6" in out
    assert f"{np.tanh(0.6):.9f}" in out
    assert main(["--network", "2,3,1", "--steps", "2"]) == 0
    out = capsys.readouterr().out
    assert "delta^1" in out and "dC/dW^2" in out and "layer 2: Linear(3 -> 1) + Sigmoid" in out


def test_explain_bad_input(capsys):
    assert main(["--inputs", "1,2", "--weights", "1"]) == 2
    assert "as many --weights as --inputs" in capsys.readouterr().err
    assert main(["--inputs", "a,b"]) == 2


def test_chain_factors_multiply_to_gradient_hidden_layer():
    rng = np.random.default_rng(0)
    model = nn.Sequential(
        nn.Linear(3, 4, dtype=np.float64), nn.Tanh(), nn.Linear(4, 2, dtype=np.float64), nn.Sigmoid()
    )
    x, y = rng.normal(size=(5, 3)), rng.normal(size=(5, 2))
    for weight in [("0.weight", (2, 1)), ("0.bias", (3,)), ("2.weight", (1, 3))]:
        chain = derivative_chain(model, x, y, "squared_error", weight, lr=0.5)
        assert chain.product == pytest.approx(chain.gradient, rel=1e-10, abs=1e-14)
        assert chain.updated == pytest.approx(chain.value - 0.5 * chain.gradient)
        assert "product" in str(chain)
    with pytest.raises(KeyError, match="parameters are"):
        derivative_chain(model, x, y, "squared_error", ("5.weight", (0, 0)))
    with pytest.raises(IndexError, match="does not fit"):
        derivative_chain(model, x, y, "squared_error", ("0.weight", (9, 0)))


def test_chain_through_softmax():
    rng = np.random.default_rng(1)
    model = nn.Sequential(nn.Linear(3, 3, dtype=np.float64), nn.Softmax())
    chain = derivative_chain(model, rng.normal(size=3), rng.normal(size=3), "mse", ("0.weight", (1, 2)))
    assert len(chain.factors) == 2 and chain.product == pytest.approx(chain.gradient)


def test_chain_of_a_conv_net_names_the_layer_it_cannot_follow():
    """The chain follows dense layers only; a conv net used to fail with an AttributeError on its trace."""
    model = nn.Sequential(nn.Conv2d(1, 2, 3, dtype=np.float64), nn.Flatten(),
                          nn.Linear(8, 1, dtype=np.float64))
    x, y = np.zeros((1, 1, 4, 4)), np.zeros((1, 1))
    with pytest.raises(TypeError, match="layer '0' is a Conv2d"):
        derivative_chain(model, x, y, "squared_error", ("2.weight", (0, 0)))
