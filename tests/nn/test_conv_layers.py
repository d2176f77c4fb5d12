"""The convolutional family as layers: PyTorch's parameters, state_dicts, buffers and outputs.

Each layer is compared with its PyTorch twin after copying the state_dict
(forward, input gradient, every parameter gradient, in float64); BatchNorm's
running statistics and counters are followed over several training steps;
a whole PyTorch CNN's state_dict runs in deltaprop with the same outputs;
every new layer saves and loads; second-order optimizers either work on a
conv net (the Jacobian's generic route) or refuse it by name (K-FAC).
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import deltaprop as dp
from deltaprop import nn, optim

torch = pytest.importorskip("torch")


def copy_into(mine: nn.Module, theirs) -> None:
    mine.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})


def compare_layers(mine: nn.Module, theirs, x: np.ndarray, seed: int = 0, tol: float = 1e-10) -> None:
    """Same output, input gradient and parameter gradients for the same upstream gradient."""
    xd, xt = dp.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, expected = mine(xd), theirs(xt)
    assert out.shape == tuple(expected.shape)
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), atol=tol, rtol=tol)
    upstream = np.random.default_rng(seed).standard_normal(out.shape)
    out.backward(upstream)
    expected.backward(torch.tensor(upstream))
    np.testing.assert_allclose(xd.grad.numpy(), xt.grad.numpy(), atol=tol, rtol=tol)
    grads = {name: p.grad for name, p in theirs.named_parameters()}
    for name, p in mine.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), grads[name].numpy(), atol=tol, rtol=tol, err_msg=name)


def twins(make_mine, make_theirs):
    """A deltaprop layer in float64 holding the PyTorch layer's (float64) parameters and buffers."""
    theirs = make_theirs().double()
    mine = make_mine().double()
    assert sorted(mine.state_dict()) == sorted(theirs.state_dict())
    for name, value in theirs.state_dict().items():
        assert mine.state_dict()[name].shape == tuple(value.shape), name
    copy_into(mine, theirs)
    return mine, theirs


@st.composite
def conv_layers(draw):
    groups = draw(st.sampled_from([1, 2]))
    c_in, c_out = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    kernel = draw(st.tuples(st.integers(1, 3), st.integers(1, 3)))
    mode = draw(st.sampled_from(["zeros", "reflect", "replicate", "circular"]))
    padding = draw(st.sampled_from([0, 1, (1, 0), "same", "valid"]))
    stride = 1 if padding == "same" else draw(st.sampled_from([1, 2, (2, 1)]))
    dilation = draw(st.sampled_from([1, 2]))
    bias = draw(st.booleans())
    args = dict(kernel_size=kernel, stride=stride, padding=padding, dilation=dilation, groups=groups,
                bias=bias, padding_mode=mode)
    height, width = draw(st.integers(5, 8)), draw(st.integers(5, 8))
    return c_in, c_out, args, (draw(st.integers(1, 2)), c_in, height, width)


@settings(max_examples=25)
@given(conv_layers())
def test_conv2d_layer_matches_torch_with_every_padding_mode(case):
    c_in, c_out, args, shape = case
    mine, theirs = twins(lambda: nn.Conv2d(c_in, c_out, **args), lambda: torch.nn.Conv2d(c_in, c_out, **args))
    compare_layers(mine, theirs, np.random.default_rng(sum(shape)).standard_normal(shape))


@settings(max_examples=15)
@given(st.sampled_from(["zeros", "reflect", "replicate", "circular"]), st.sampled_from([0, 1, "same"]),
       st.integers(1, 3))
def test_conv1d_layer_matches_torch(mode, padding, kernel):
    args = dict(padding=padding, padding_mode=mode)
    mine, theirs = twins(lambda: nn.Conv1d(2, 3, kernel, **args),
                         lambda: torch.nn.Conv1d(2, 3, kernel, **args))
    compare_layers(mine, theirs, np.random.default_rng(kernel).standard_normal((2, 2, 7)))


@pytest.mark.parametrize("args", [
    dict(kernel_size=4, stride=2, padding=1), dict(kernel_size=3, stride=2, padding=1, output_padding=1),
    dict(kernel_size=(2, 3), stride=(1, 2), groups=2, bias=False), dict(kernel_size=3, dilation=2),
])
def test_conv_transpose2d_layer_matches_torch(args):
    mine, theirs = twins(lambda: nn.ConvTranspose2d(4, 6, **args),
                         lambda: torch.nn.ConvTranspose2d(4, 6, **args))
    compare_layers(mine, theirs, np.random.default_rng(0).standard_normal((2, 4, 3, 5)))
    mine, theirs = twins(lambda: nn.ConvTranspose1d(4, 2, 3, stride=2),
                         lambda: torch.nn.ConvTranspose1d(4, 2, 3, stride=2))
    compare_layers(mine, theirs, np.random.default_rng(1).standard_normal((2, 4, 5)))


@pytest.mark.parametrize("name, args, shape", [
    ("MaxPool2d", (3, 2, 1), (2, 3, 7, 8)), ("MaxPool1d", (2,), (2, 3, 7)),
    ("AvgPool2d", (3, 2, 1), (2, 3, 7, 8)), ("AvgPool1d", (3, 1, 1), (2, 3, 7)),
    ("AdaptiveAvgPool2d", ((3, 4),), (2, 3, 7, 8)), ("AdaptiveMaxPool2d", (3,), (2, 3, 7, 8)),
    ("AdaptiveAvgPool1d", (4,), (2, 3, 7)), ("AdaptiveMaxPool1d", (4,), (2, 3, 7)),
    ("LayerNorm", ((7, 8),), (2, 3, 7, 8)), ("GroupNorm", (3, 6), (2, 6, 4, 4)),
    ("Upsample", (None, 2), (2, 3, 3, 4)), ("Unflatten", (1, (3, 4)), (2, 12, 5)),
    ("BatchNorm2d", (3,), (4, 3, 5, 5)), ("BatchNorm1d", (3,), (4, 3, 5)),
])
def test_parameterless_and_normalization_layers_match_torch(name, args, shape):
    mine, theirs = twins(lambda: getattr(nn, name)(*args), lambda: getattr(torch.nn, name)(*args))
    x = np.random.default_rng(len(shape)).standard_normal(shape)
    compare_layers(mine, theirs, x)
    mine.eval(), theirs.eval()
    compare_layers(mine, theirs, x)


@pytest.mark.parametrize("momentum", [0.1, 0.7, None])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_follows_torch_over_several_steps(momentum, affine):
    """Running mean, variance and num_batches_tracked after training steps, then eval outputs."""
    mine, theirs = twins(lambda: nn.BatchNorm2d(3, momentum=momentum, affine=affine),
                         lambda: torch.nn.BatchNorm2d(3, momentum=momentum, affine=affine))
    assert list(mine.state_dict()) == list(theirs.state_dict())
    rng = np.random.default_rng(5)
    for step in range(4):
        x = rng.standard_normal((3 + step, 3, 4, 5)) * (step + 1) + step
        compare_layers(mine, theirs, x, seed=step)
        for name, value in theirs.state_dict().items():
            np.testing.assert_allclose(mine.state_dict()[name], value.numpy(), atol=1e-12, err_msg=name)
    assert int(mine.num_batches_tracked.item()) == 4
    mine.eval(), theirs.eval()
    compare_layers(mine, theirs, rng.standard_normal((2, 3, 4, 5)))
    assert int(mine.num_batches_tracked.item()) == 4  # eval does not count


def test_batch_norm_without_running_statistics_always_uses_the_batch():
    mine, theirs = twins(lambda: nn.BatchNorm1d(4, track_running_stats=False),
                         lambda: torch.nn.BatchNorm1d(4, track_running_stats=False))
    assert mine.state_dict().keys() == theirs.state_dict().keys() == {"weight", "bias"}
    x = np.random.default_rng(2).standard_normal((6, 4))
    mine.eval(), theirs.eval()
    compare_layers(mine, theirs, x)


def test_dropout2d_zeros_whole_channels_and_keeps_the_expectation():
    dp.manual_seed(0)
    layer = nn.Dropout2d(0.5)
    out = layer(dp.tensor(np.ones((64, 8, 3, 3)))).numpy()
    per_channel = out.reshape(64, 8, 9)
    assert np.all((per_channel == 0).all(axis=2) | (per_channel == 2.0).all(axis=2))
    assert 0.4 < (per_channel[:, :, 0] == 0).mean() < 0.6
    layer.eval()
    assert (layer(dp.tensor(np.ones((2, 8, 3, 3)))).numpy() == 1).all()
    with pytest.raises(ValueError, match="dropout1d"):
        nn.Dropout2d()(dp.tensor(np.ones((2, 3, 4))))


def small_cnn(lib):
    return lib.Sequential(
        lib.Conv2d(1, 4, 3, padding=1), lib.BatchNorm2d(4), lib.ReLU(), lib.MaxPool2d(2),
        lib.Conv2d(4, 6, 3, padding="same", padding_mode="reflect"), lib.GroupNorm(2, 6), lib.ReLU(),
        lib.AdaptiveAvgPool2d(2), lib.Flatten(), lib.Linear(24, 5),
    )


def test_a_pytorch_cnn_state_dict_runs_in_deltaprop_with_the_same_outputs():
    torch.manual_seed(0)
    theirs = small_cnn(torch.nn)
    x = np.random.default_rng(0).standard_normal((5, 1, 8, 8)).astype(np.float32)
    theirs(torch.tensor(x))  # one training-mode call moves the BatchNorm statistics
    theirs.eval()
    mine = small_cnn(nn).eval()
    mine.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    with torch.no_grad():
        expected = theirs(torch.tensor(x)).numpy()
    np.testing.assert_allclose(mine(dp.tensor(x)).numpy(), expected, atol=1e-5)


NEW_LAYERS = [
    nn.Conv2d(2, 4, (3, 2), stride=(2, 1), padding=1, dilation=(1, 2), groups=2,
              padding_mode="reflect"),
    nn.Conv2d(2, 3, 3, padding="same", bias=False, dtype=np.float64), nn.Conv1d(2, 3, 3, padding="valid"),
    nn.ConvTranspose2d(2, 4, 3, stride=2, padding=1, output_padding=1), nn.ConvTranspose1d(2, 2, 2),
    nn.MaxPool2d(3, 2, 1, ceil_mode=True), nn.MaxPool1d(2), nn.AvgPool2d(2, count_include_pad=False),
    nn.AvgPool1d(3, 1, 1), nn.AdaptiveAvgPool2d((2, None)), nn.AdaptiveMaxPool2d(2), nn.AdaptiveAvgPool1d(3),
    nn.AdaptiveMaxPool1d(2), nn.BatchNorm2d(2, momentum=None), nn.BatchNorm1d(2, affine=False),
    nn.BatchNorm1d(2, track_running_stats=False), nn.LayerNorm([4], elementwise_affine=False),
    nn.LayerNorm(4, bias=False), nn.GroupNorm(1, 2), nn.Dropout2d(0.3), nn.Dropout1d(0.2),
    nn.Unflatten(1, (2, -1)), nn.Upsample(scale_factor=2),
]


@pytest.mark.parametrize("layer", NEW_LAYERS, ids=lambda layer: type(layer).__name__)
def test_every_new_layer_saves_and_loads(layer, tmp_path):
    inputs = {"Conv1d": (2, 2, 6), "ConvTranspose1d": (2, 2, 6), "MaxPool1d": (2, 2, 6),
              "AvgPool1d": (2, 2, 6),
              "AdaptiveAvgPool1d": (2, 2, 6), "AdaptiveMaxPool1d": (2, 2, 6), "BatchNorm1d": (3, 2, 5),
              "LayerNorm": (2, 2, 3, 4), "Dropout1d": (2, 2, 5), "Unflatten": (2, 6, 3)}
    x = np.random.default_rng(0).standard_normal(inputs.get(type(layer).__name__, (3, 2, 5, 6)))
    x = x.astype(next(iter(layer.parameters()), dp.tensor(np.float32(0))).dtype)
    layer.train()
    layer(dp.tensor(x))  # BatchNorm: statistics that differ from the defaults
    layer.eval()
    dp.save(layer, tmp_path / "layer.npz")
    loaded = dp.load(tmp_path / "layer.npz")
    assert type(loaded) is type(layer) and repr(loaded) == repr(layer)
    assert loaded.state_dict().keys() == layer.state_dict().keys()
    for name, value in layer.state_dict().items():
        np.testing.assert_array_equal(loaded.state_dict()[name], value)
    np.testing.assert_array_equal(loaded.eval()(dp.tensor(x)).numpy(), layer(dp.tensor(x)).numpy())


def test_conv_weights_start_as_pytorchs_do():
    """kaiming_uniform_(a=sqrt(5)): weights and biases in +-1/sqrt(fan_in), fan_in = in/groups * k*k."""
    dp.manual_seed(0)
    layer = nn.Conv2d(8, 16, 3, groups=2)
    bound = 1 / np.sqrt(4 * 9)
    w = layer.weight.numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
    assert np.abs(layer.bias.numpy()).max() <= bound
    t = nn.ConvTranspose2d(8, 6, 3)
    assert t.weight.shape == (8, 6, 3, 3) and np.abs(t.weight.numpy()).max() <= 1 / np.sqrt(6 * 9)


def test_kfac_refuses_a_convolution_by_name():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(8, 2))
    opt = optim.NaturalGradient(model.parameters(), fisher="kfac")
    x, y = np.random.default_rng(0).standard_normal((4, 1, 4, 4)).astype(np.float32), np.array([0, 1, 0, 1])
    with pytest.raises(TypeError, match=r"'0' \(Conv2d\) is not the weight or bias of an affine layer"):
        opt.train_step(model, nn.CrossEntropyLoss(), x, y)


def test_levenberg_marquardt_trains_a_conv_net_through_the_generic_jacobian():
    dp.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Tanh(), nn.Flatten(), nn.Linear(8, 1)).double()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((12, 1, 4, 4))
    y = x[:, 0, 1:3, 1:3].sum(axis=(1, 2)).reshape(-1, 1)
    opt = optim.LevenbergMarquardt(model.parameters())
    losses = [opt.train_step(model, nn.MSELoss(), x, y)[0] for _ in range(15)]
    assert losses[-1] < 0.05 * losses[0]


@pytest.mark.parametrize(("make", "message"), [
    (lambda: nn.Conv2d(3, 4, 3, groups=2), "divisible by groups"),
    (lambda: nn.Conv2d(2, 4, 3, padding_mode="mirror"), "padding_mode must be one of"),
    (lambda: nn.Conv2d(2, 4, 3, stride=2, padding="same"), "not supported for strided"),
    (lambda: nn.ConvTranspose2d(2, 4, 3, padding_mode="reflect"), "only padding_mode='zeros'"),
    (lambda: nn.Conv2d(2, 4, 0), "kernel_size must be >= 1"),
    (lambda: nn.BatchNorm2d(0), "num_features"),
    (lambda: nn.GroupNorm(3, 4), "divisible by num_groups"),
    (lambda: nn.Upsample(scale_factor=2, mode="bilinear"), "mode='nearest'"),
])
def test_bad_layer_arguments_say_what_is_wrong(make, message):
    with pytest.raises((ValueError, TypeError), match=message):
        make()


def test_wrong_input_shapes_name_the_layer():
    with pytest.raises(dp.errors.ShapeError, match=r"BatchNorm2d\(3\): expected input \(N, C, H, W\)"):
        nn.BatchNorm2d(3)(dp.tensor(np.ones((2, 4, 3, 3))))
    with pytest.raises(dp.errors.ShapeError, match="input has 3 channels but the weight expects 2"):
        nn.Conv2d(2, 4, 3)(dp.tensor(np.ones((1, 3, 5, 5))))


def _conv_run(path, resume=None, epochs=4, stop_after=None):
    from deltaprop.train import Callback

    class Stop(Callback):
        def on_epoch_end(self, run):
            if stop_after is not None and run.epoch == stop_after:
                raise RuntimeError("stopped")

    dp.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout2d(0.3),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16, 3))
    x = np.random.default_rng(0).standard_normal((24, 1, 4, 4)).astype(np.float32)
    y = np.random.default_rng(1).integers(0, 3, 24)
    opt = optim.Adam(model.parameters(), lr=0.01)
    with contextlib.suppress(RuntimeError):  # the stop, as a crash would
        dp.fit(model, x, y, loss=nn.CrossEntropyLoss(), optimizer=opt, epochs=epochs, batch_size=8, seed=0,
               checkpoint=path, resume_from=resume, callbacks=[Stop()], progress=False)
    return model


def test_a_conv_net_with_batch_norm_and_dropout2d_resumes_bit_identically(tmp_path):
    """Running statistics, num_batches_tracked and the dropout masks' random state are all checkpointed."""
    whole = _conv_run(tmp_path / "a.npz")
    _conv_run(tmp_path / "b.npz", stop_after=2)
    resumed = _conv_run(tmp_path / "b.npz", resume=tmp_path / "b.npz")
    for (name, a), b in zip(whole.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert a.dtype == b.dtype and np.array_equal(a, b), name
    assert int(resumed[1].num_batches_tracked.item()) == 4 * 3


def test_normalization_keeps_pytorchs_affine_flag_and_stays_out_of_the_curvature_code():
    """``bn.affine`` is PyTorch's bool; K-FAC asks ``affine_parameters()``, which BatchNorm answers None."""
    for layer in (nn.BatchNorm2d(3), nn.GroupNorm(1, 3)):
        assert layer.affine is True and layer.affine_parameters() is None
    plain = nn.BatchNorm2d(3, affine=False)
    assert plain.affine is False and plain.get_config()["affine"] is False
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(8, 2))
    opt = optim.NaturalGradient(list(model[3].parameters()) + list(model[1].parameters()), fisher="kfac")
    x, y = np.random.default_rng(0).standard_normal((4, 1, 4, 4)).astype(np.float32), np.array([0, 1, 0, 1])
    with pytest.raises(TypeError, match=r"'1' \(BatchNorm2d\) is not the weight or bias of an affine layer"):
        opt.train_step(model, nn.CrossEntropyLoss(), x, y)
