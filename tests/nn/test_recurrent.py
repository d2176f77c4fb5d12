"""RNN, LSTM, GRU and their cells against PyTorch, after copying the state_dict.

Every case runs the same float64 computation in both libraries (inputs,
initial states and weights identical) and compares the outputs, the final
states and every gradient: of the weights, of the input and of the initial
states, for a random upstream gradient on every output at once.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn
from deltaprop.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

torch = pytest.importorskip("torch")

T, N, I, H = 5, 3, 4, 6
KINDS = {"rnn_tanh": ("RNN", {"nonlinearity": "tanh"}), "rnn_relu": ("RNN", {"nonlinearity": "relu"}),
         "lstm": ("LSTM", {}), "gru": ("GRU", {})}


def _pair(kind: str, **options):
    """The same layer in deltaprop and in PyTorch (float64), with deltaprop's weights copied over."""
    name, extra = KINDS[kind]
    ours = getattr(nn, name)(I, H, **extra, **options, dtype=np.float64)
    theirs = getattr(torch.nn, name)(I, H, **extra, **options).double()
    state = {k: torch.tensor(v) for k, v in ours.state_dict().items()}
    assert list(state) == list(theirs.state_dict())  # the same names, in the same order
    theirs.load_state_dict(state)
    return ours, theirs


def _states(kind: str, layers: int, directions: int, batch: int, out: int, rng):
    shape = (layers * directions, batch, out)
    h = rng.standard_normal(shape)
    if kind != "lstm":
        return (h,)
    cell_shape = shape[:-1] + (H,)
    return h, rng.standard_normal(cell_shape)


def _run_both(ours, theirs, x, states, kind, rng, packed_lengths=None, batch_first=False):
    """Forward and backward in both libraries; returns pairs (ours, theirs) of everything to compare."""
    xd = dp.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    sd = [dp.tensor(s, requires_grad=True) for s in states]
    st = [torch.tensor(s, requires_grad=True) for s in states]
    hx_d = None if not states else (tuple(sd) if kind == "lstm" else sd[0])
    hx_t = None if not states else (tuple(st) if kind == "lstm" else st[0])
    if packed_lengths is not None:
        in_d = pack_padded_sequence(xd, packed_lengths, batch_first=batch_first, enforce_sorted=False)
        in_t = torch.nn.utils.rnn.pack_padded_sequence(xt, torch.tensor(packed_lengths),
                                                       batch_first=batch_first, enforce_sorted=False)
    else:
        in_d, in_t = xd, xt
    out_d, fin_d = ours(in_d, hx_d)
    out_t, fin_t = theirs(in_t, hx_t)
    if packed_lengths is not None:
        out_d = pad_packed_sequence(out_d, batch_first=batch_first)[0]
        out_t = torch.nn.utils.rnn.pad_packed_sequence(out_t, batch_first=batch_first)[0]
    finals_d = list(fin_d) if kind == "lstm" else [fin_d]
    finals_t = list(fin_t) if kind == "lstm" else [fin_t]
    seeds = [rng.standard_normal(tuple(t.shape)) for t in [out_t, *finals_t]]
    loss_d = sum((a * s).sum() for a, s in zip([out_d, *finals_d], seeds, strict=True))
    loss_t = sum((a * torch.tensor(s)).sum() for a, s in zip([out_t, *finals_t], seeds, strict=True))
    loss_d.backward()
    loss_t.backward()
    pairs = [("output", out_d.numpy(), out_t.detach().numpy())]
    pairs += [(f"final {k}", a.numpy(), b.detach().numpy()) for k, (a, b) in enumerate(zip(finals_d, finals_t,
                                                                                              strict=True))]
    pairs.append(("d input", xd.grad.numpy(), xt.grad.numpy()))
    pairs += [(f"d state {k}", a.grad.numpy(), b.grad.numpy()) for k, (a, b) in enumerate(zip(sd, st,
                                                                                             strict=True))]
    theirs_params = dict(theirs.named_parameters())
    pairs += [(f"d {name}", p.grad.numpy(), theirs_params[name].grad.numpy())
              for name, p in ours.named_parameters()]
    return pairs


def _assert_pairs(pairs, atol=1e-10):
    for what, a, b in pairs:
        assert a.shape == b.shape, f"{what}: shape {a.shape} vs PyTorch {b.shape}"
        np.testing.assert_allclose(a, b, atol=atol, rtol=1e-9, err_msg=what)


@pytest.mark.parametrize(
    "kind, layers, bidirectional, batch_first, with_states",
    [(k, layers, bi, bf, st) for k, layers, bi, bf, st in itertools.product(
        KINDS, (1, 2), (False, True), (False, True), (False, True))
     if (layers, bi, bf, st) in {(1, False, False, False), (1, False, True, True), (2, True, False, True),
                                 (2, False, True, False), (1, True, True, False), (2, True, True, True)}],
)
def test_layer_matches_pytorch(kind, layers, bidirectional, batch_first, with_states) -> None:
    rng = np.random.default_rng(1)
    ours, theirs = _pair(kind, num_layers=layers, bidirectional=bidirectional, batch_first=batch_first)
    x = rng.standard_normal((N, T, I) if batch_first else (T, N, I))
    states = _states(kind, layers, 1 + bidirectional, N, H, rng) if with_states else ()
    _assert_pairs(_run_both(ours, theirs, x, states, kind, rng))


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("bidirectional", [False, True])
def test_packed_sequences_match_pytorch(kind, bidirectional) -> None:
    """Unsorted lengths (enforce_sorted=False), a padded tail, two layers, given initial states."""
    rng = np.random.default_rng(2)
    ours, theirs = _pair(kind, num_layers=2, bidirectional=bidirectional, batch_first=True)
    lengths = [3, 6, 1, 6]
    x = rng.standard_normal((4, 7, I))
    states = _states(kind, 2, 1 + bidirectional, 4, H, rng)
    _assert_pairs(_run_both(ours, theirs, x, states, kind, rng, packed_lengths=lengths, batch_first=True))


def test_lstm_with_projection_matches_pytorch() -> None:
    rng = np.random.default_rng(3)
    ours, theirs = _pair("lstm", num_layers=2, bidirectional=True, proj_size=3)
    assert ours.weight_hr_l1_reverse.shape == (3, H)
    x = rng.standard_normal((T, N, I))
    h = rng.standard_normal((4, N, 3))
    c = rng.standard_normal((4, N, H))
    _assert_pairs(_run_both(ours, theirs, x, (h, c), "lstm", rng))


@pytest.mark.parametrize("kind", list(KINDS))
def test_unbatched_sequence_matches_pytorch(kind) -> None:
    rng = np.random.default_rng(4)
    ours, theirs = _pair(kind, bidirectional=True)
    x = rng.standard_normal((T, I))
    states = [rng.standard_normal((2, H))] + ([rng.standard_normal((2, H))] if kind == "lstm" else [])
    _assert_pairs(_run_both(ours, theirs, x, states, kind, rng))


def test_without_bias_and_with_dropout_in_eval_mode_matches_pytorch() -> None:
    rng = np.random.default_rng(5)
    ours, theirs = _pair("gru", num_layers=2, bias=False, dropout=0.3)
    ours.eval()
    theirs.eval()
    _assert_pairs(_run_both(ours, theirs, rng.standard_normal((T, N, I)), (), "gru", rng))


def test_dropout_between_layers_acts_only_while_training() -> None:
    dp.manual_seed(0)
    layer = nn.LSTM(I, H, num_layers=2, dropout=0.5)
    x = np.random.default_rng(0).standard_normal((T, N, I)).astype(np.float32)
    single = nn.LSTM(I, H, num_layers=2)
    single.load_state_dict(layer.state_dict())
    assert not np.allclose(layer(x)[0].numpy(), single(x)[0].numpy())
    layer.eval()
    np.testing.assert_allclose(layer(x)[0].numpy(), single(x)[0].numpy(), rtol=1e-6)


# --------------------------------------------------------------------------- cells


@pytest.mark.parametrize("name, extra", [("RNNCell", {}), ("RNNCell", {"nonlinearity": "relu"}),
                                          ("LSTMCell", {}), ("GRUCell", {})])
@pytest.mark.parametrize("unbatched", [False, True])
def test_cells_match_pytorch(name, extra, unbatched) -> None:
    rng = np.random.default_rng(6)
    ours = getattr(nn, name)(I, H, **extra, dtype=np.float64)
    theirs = getattr(torch.nn, name)(I, H, **extra).double()
    theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    shape = (I,) if unbatched else (N, I)
    x = rng.standard_normal(shape)
    states = [rng.standard_normal(shape[:-1] + (H,)) for _ in range(2 if name == "LSTMCell" else 1)]
    xd, xt = dp.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    sd = [dp.tensor(s, requires_grad=True) for s in states]
    st = [torch.tensor(s, requires_grad=True) for s in states]
    out_d = ours(xd, tuple(sd) if name == "LSTMCell" else sd[0])
    out_t = theirs(xt, tuple(st) if name == "LSTMCell" else st[0])
    out_d = list(out_d) if name == "LSTMCell" else [out_d]
    out_t = list(out_t) if name == "LSTMCell" else [out_t]
    seeds = [rng.standard_normal(tuple(o.shape)) for o in out_t]
    sum((o * s).sum() for o, s in zip(out_d, seeds, strict=True)).backward()
    sum((o * torch.tensor(s)).sum() for o, s in zip(out_t, seeds, strict=True)).backward()
    for a, b in zip(out_d, out_t, strict=True):
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(xd.grad.numpy(), xt.grad.numpy(), atol=1e-12)
    for a, b in zip(sd, st, strict=True):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), atol=1e-12)
    theirs_params = dict(theirs.named_parameters())
    for pname, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), theirs_params[pname].grad.numpy(), atol=1e-12,
                                   err_msg=pname)


def test_cell_without_state_starts_from_zeros() -> None:
    cell = nn.GRUCell(I, H)
    x = np.ones((2, I), np.float32)
    np.testing.assert_array_equal(cell(x).numpy(), cell(x, np.zeros((2, H), np.float32)).numpy())


# --------------------------------------------------------------------------- float32, errors, save/load


def test_float32_layer_matches_pytorch_to_float_rounding() -> None:
    rng = np.random.default_rng(7)
    ours = nn.LSTM(I, H, num_layers=2)
    theirs = torch.nn.LSTM(I, H, num_layers=2)
    theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    x = rng.standard_normal((T, N, I)).astype(np.float32)
    np.testing.assert_allclose(ours(x)[0].numpy(), theirs(torch.tensor(x))[0].detach().numpy(), atol=2e-6)
    assert ours(x)[0].dtype == np.float32


def test_bad_shapes_and_settings_raise_clear_errors() -> None:
    layer = nn.LSTM(I, H)
    with pytest.raises(dp.ShapeError, match="expected 4 input features"):
        layer(np.zeros((T, N, I + 1), np.float32))
    with pytest.raises(dp.ShapeError, match="must be \\(T, N, 4\\)"):
        layer(np.zeros((T, N, I, 1), np.float32))
    with pytest.raises(dp.ShapeError, match="h_0 must have shape"):
        layer(np.zeros((T, N, I), np.float32), (np.zeros((1, N + 1, H)), np.zeros((1, N + 1, H))))
    with pytest.raises(ValueError, match="tuple \\(h_0, c_0\\)"):
        layer(np.zeros((T, N, I), np.float32), (np.zeros((1, N, H)),))
    with pytest.raises(ValueError, match="proj_size"):
        nn.LSTM(I, H, proj_size=H)
    with pytest.raises(ValueError, match="nonlinearity"):
        nn.RNN(I, H, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="dropout"):
        nn.GRU(I, H, dropout=1.5)
    with pytest.raises(ValueError, match="hidden_size"):
        nn.GRU(I, 0)


@pytest.mark.parametrize("make", [
    lambda: nn.RNN(I, H, num_layers=2, nonlinearity="relu", bidirectional=True, batch_first=True),
    lambda: nn.LSTM(I, H, proj_size=2, dropout=0.1, num_layers=2, bias=False),
    lambda: nn.GRU(I, H, dtype=np.float64),
    lambda: nn.RNNCell(I, H, nonlinearity="relu"),
    lambda: nn.LSTMCell(I, H, bias=False),
    lambda: nn.GRUCell(I, H),
    lambda: nn.Embedding(10, 3, padding_idx=0, max_norm=2.0),
    lambda: nn.Sequential(nn.Embedding(7, I), nn.GRU(I, H, batch_first=True)),
])
def test_save_load_round_trip(tmp_path, make) -> None:
    dp.manual_seed(3)
    model = make()
    path = tmp_path / "model.npz"
    dp.save(model, str(path))
    loaded = dp.load(str(path))
    assert type(loaded) is type(model) and repr(loaded) == repr(model)
    if not isinstance(model, nn.Sequential):  # (a container's config holds its layers themselves)
        assert loaded.get_config() == model.get_config()
    for (name, a), (other, b) in zip(model.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert name == other and a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
