"""Showing the work on conv nets: explain --conv, the layer-by-layer trace, plots, GradientFlow, examples."""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn, optim
from deltaprop.cli import main
from deltaprop.inspect import GradientFlow, trace
from deltaprop.inspect.explain_conv import explain_convolution

torch = pytest.importorskip("torch")
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("stride", [1, 2])
def test_explain_conv_numbers_are_pytorchs(stride):
    out = io.StringIO()
    walk = explain_convolution(stride=stride, out=out)
    x = torch.tensor(walk["x"][None, None], requires_grad=True)
    w = torch.tensor(walk["w"][None, None], requires_grad=True)
    b = torch.tensor([walk["b"]], dtype=torch.float64, requires_grad=True)
    y = torch.nn.functional.conv2d(x, w, b, stride=stride)
    (0.5 * ((y - torch.tensor(walk["t"][None, None])) ** 2).sum()).backward()
    np.testing.assert_allclose(walk["y"], y.detach().numpy()[0, 0], atol=1e-12)
    np.testing.assert_allclose(walk["dw"], w.grad.numpy()[0, 0], atol=1e-12)
    np.testing.assert_allclose(walk["dx"], x.grad.numpy()[0, 0], atol=1e-12)
    assert walk["db"] == pytest.approx(float(b.grad[0]))
    text = out.getvalue()
    assert "kernel flipped" in text and "dE/dx[0,0] = " in text and "agree to" in text
    assert f"= {walk['dx'][3, 3]:.4f}" in text.splitlines()[[i for i, line in enumerate(text.splitlines())
                                                               if line.strip().startswith("dE/dx[3,3]")][0]]


def test_explain_conv_from_the_command_line(capsys):
    assert main(["explain", "--conv", "--stride", "2"]) == 0
    text = capsys.readouterr().out
    assert "4x4 input, 2x2 kernel, stride 2" in text and "spread by the stride" in text
    assert main(["explain", "--conv", "--stride", "3"]) == 2


def _cnn(lib):
    return lib.Sequential(lib.Conv2d(1, 3, 3, padding=1, padding_mode="reflect"), lib.BatchNorm2d(3),
                          lib.MaxPool2d(2), lib.ReLU(), lib.Conv2d(3, 4, 2, stride=2, groups=1),
                          lib.Flatten(), lib.Linear(16, 5))


def test_the_trace_of_a_conv_net_is_pytorchs_backward_layer_by_layer():
    torch.manual_seed(0)
    theirs = _cnn(torch.nn).double()
    mine = _cnn(nn)
    mine.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((3, 1, 8, 8))
    labels = np.array([0, 1, 4])
    tr = trace(mine, x, labels, loss="cross_entropy")
    xt = torch.tensor(x, requires_grad=True)
    torch.nn.functional.cross_entropy(theirs(xt), torch.tensor(labels)).backward()
    assert [r.kind for r in tr.layers] == ["Conv2d", "BatchNorm2d", "MaxPool2d", "ReLU", "Conv2d", "Flatten",
                                         "Linear"]
    for name, p in theirs.named_parameters():
        np.testing.assert_allclose(tr.gradients()[name], p.grad.numpy(), atol=1e-12, err_msg=name)
    np.testing.assert_allclose(tr[1].input_delta, xt.grad.numpy(), atol=1e-12)
    pool = tr[3]  # a max-pool sends each window's delta to its maximum only
    assert np.count_nonzero(pool.input_delta) <= np.count_nonzero(pool.delta)
    assert pool.input.shape == (3, 3, 8, 8)
    assert tr.max_mismatch < 1e-12 and "dC/dweight 3x1x3x3" in str(tr)
    assert mine[0].weight.grad is None  # the model itself is untouched


def test_plots_of_filters_and_maps(tmp_path):
    pytest.importorskip("matplotlib")
    from deltaprop.inspect.plots import plot_feature_maps, plot_filters

    model = _cnn(nn)
    tr = trace(model, np.random.default_rng(1).standard_normal((2, 1, 8, 8)), np.array([0, 1]),
               loss="cross_entropy")
    plot_filters(model[0], str(tmp_path / "f.png"))
    plot_feature_maps(tr[4], str(tmp_path / "m.png"))
    plot_feature_maps(tr[1], str(tmp_path / "d.png"), which="delta")
    for name in ("f.png", "m.png", "d.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="weight"):
        plot_filters(np.ones((3, 3)))


def test_gradient_flow_reports_conv_and_norm_layers_and_dead_channels():
    dp.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(4), nn.Flatten(),
                          nn.Linear(4 * 6 * 6, 3))
    with dp.no_grad():
        model[0].weight.array[0] = -1.0  # inputs are >= 0: channel 0 never fires
        model[0].bias.array[0] = -1.0
    x = np.random.default_rng(0).random((40, 1, 6, 6)).astype(np.float32)
    y = np.random.default_rng(1).integers(0, 3, 40)
    flow = GradientFlow(warn=False)
    history = dp.fit(model, x, y, loss=nn.CrossEntropyLoss(), epochs=1, batch_size=20, callbacks=[flow],
                     optimizer=optim.SGD(model.parameters(), lr=0.01), progress=False)
    for layer in ("0", "2", "4"):
        assert history.history[f"grad_norm/{layer}"][-1] > 0
    assert history.history["dead_relu/0"][-1] == pytest.approx(0.25)  # one channel of four, at every pixel


def _example(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_digits_gan_trains_both_networks(tmp_path):
    out = _example("digits_gan").main(steps=60, path=str(tmp_path / "gan.png"))
    d, g = np.array(out["d_loss"]), np.array(out["g_loss"])
    assert np.all(np.isfinite(d)) and np.all(np.isfinite(g))
    assert abs(d[-10:].mean() - d[:10].mean()) > 0.01 and abs(g[-10:].mean() - g[:10].mean()) > 0.01
    samples = out["samples"]
    assert samples.shape == (32, 1, 8, 8) and samples.std(axis=0).mean() > 0.01  # not one constant image


@pytest.mark.slow
def test_the_fashion_mnist_example_runs_on_a_slice():
    try:
        dp.data.load_fashion_mnist()
    except FileNotFoundError:
        pytest.skip("Fashion-MNIST is not installed here (apt-get install dataset-fashion-mnist)")
    result = _example("fashion_mnist_cnn").main(epochs=1, limit=600, out=None)  # pictures: tested above
    assert result["accuracy"] > 0.3 and len(result["trace"].layers) == 13  # chance is 0.1
