"""The fused recurrent op: against the engine's autodiff of the unrolled loop, finite differences, the
array-module stand-in; and the embedding and packing ops.

The unrolled loop below is the textbook cell written with elementary deltaprop
ops (linear, sigmoid, tanh, products), so the engine differentiates it node by
node; the fused op's hand-written backward through time must agree with it to
float64 rounding, for every mode, both directions and a projection.
"""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import backend, ops
from deltaprop.ops.embedding import embedding
from deltaprop.ops.recurrent import GATES, pack_steps, recurrent, unpack_steps
from deltaprop.testing import StandinArray, standin

T, N, I, H = 12, 2, 3, 4
MODES = list(GATES)


def _weights(mode: str, rng, proj: int = 0, bias: bool = True):
    rows, out = GATES[mode] * H, proj or H
    shapes = [(rows, I), (rows, out)] + ([(rows,), (rows,)] if bias else []) + ([(proj, H)] if proj else [])
    arrays = [rng.uniform(-0.6, 0.6, s) for s in shapes]
    if not bias:
        arrays[2:2] = [None, None]
    if not proj:
        arrays.append(None)
    return arrays


def _unrolled(mode, x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr=None, reverse=False):
    """The same layer as a Python loop of elementary ops: (outputs stacked in time order, h_n, c_n)."""
    h, c, outputs = h0, c0, {}
    for t in (range(T - 1, -1, -1) if reverse else range(T)):
        gx, gh = ops.linear(x[t], w_ih, b_ih), ops.linear(h, w_hh, b_hh)
        if mode in ("rnn_tanh", "rnn_relu"):
            h = dp.tanh(gx + gh) if mode == "rnn_tanh" else dp.relu(gx + gh)
        elif mode == "lstm":
            z = gx + gh
            i, f, g, o = (z[:, k * H : (k + 1) * H] for k in range(4))
            c = dp.sigmoid(f) * c + dp.sigmoid(i) * dp.tanh(g)
            h = dp.sigmoid(o) * dp.tanh(c)
            if w_hr is not None:
                h = ops.linear(h, w_hr)
        else:
            r = dp.sigmoid(gx[:, :H] + gh[:, :H])
            zg = dp.sigmoid(gx[:, H : 2 * H] + gh[:, H : 2 * H])
            n = dp.tanh(gx[:, 2 * H :] + r * gh[:, 2 * H :])
            h = (1 - zg) * n + zg * h
        outputs[t] = h
    return dp.stack([outputs[t] for t in range(T)]), h, c


def _leaves(arrays):
    return [None if a is None else dp.tensor(a, requires_grad=True) for a in arrays]


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("mode, proj", [(m, 0) for m in MODES] + [("lstm", 2)])
def test_fused_backward_equals_autodiff_of_the_unrolled_loop(mode, proj, reverse) -> None:
    rng = np.random.default_rng(0)
    out = proj or H
    inputs = [rng.standard_normal((T, N, I)), rng.standard_normal((N, out)), rng.standard_normal((N, H))]
    arrays = inputs + _weights(mode, rng, proj)
    seeds = [rng.standard_normal(s) for s in [(T, N, out), (N, out), (N, H)]]
    results = []
    for run in (recurrent, None):
        leaves = _leaves(arrays)
        if mode != "lstm":
            leaves[2] = None
        if run is None:
            y, h, c = _unrolled(mode, *leaves, reverse=reverse)
        else:
            y, h, c = recurrent(mode, *leaves, reverse=reverse)
        loss = (y * seeds[0]).sum() + (h * seeds[1]).sum() + ((c * seeds[2]).sum() if c is not None else 0)
        loss.backward()
        results.append([y.numpy(), h.numpy()] + [leaf.grad.numpy() for leaf in leaves if leaf is not None])
    for fused, unrolled in zip(*results, strict=True):
        np.testing.assert_allclose(fused, unrolled, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("mode", MODES)
def test_gradients_through_time_match_finite_differences(mode) -> None:
    """T = 12 steps, float64, every input and weight (including h0 and c0)."""
    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal((T, N, I)), rng.standard_normal((N, H)), rng.standard_normal((N, H))]
    arrays += _weights(mode, rng)[:4]
    lstm = mode == "lstm"

    def layer(x, h0, c0, *weights):
        y, h, c = recurrent(mode, x, h0, c0 if lstm else None, *weights)
        return dp.concatenate([y.reshape(-1), h.reshape(-1)] + ([c.reshape(-1)] if lstm else []))

    if mode == "rnn_relu":  # keep every pre-activation away from the kink at 0
        arrays[0] = np.abs(arrays[0])
        arrays[3:] = [np.abs(a) * 0.5 for a in arrays[3:]]
    assert dp.gradcheck(layer, *arrays, eps=1e-6, atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("mode", MODES)
def test_packed_steps_equal_running_each_sequence_alone(mode, reverse) -> None:
    """With batch_sizes, each sequence's outputs, final state and gradients are those of running it alone."""
    rng = np.random.default_rng(2)
    lengths = [T, 7, 3]
    sizes = [sum(1 for n in lengths if n > t) for t in range(T)]
    x = rng.standard_normal((T, 3, I))
    h0, c0 = rng.standard_normal((3, H)), rng.standard_normal((3, H))
    weights = _weights(mode, rng)
    lstm = mode == "lstm"
    leaves = _leaves([x, h0, c0 if lstm else None] + weights)
    y, h, c = recurrent(mode, *leaves, reverse=reverse, batch_sizes=sizes)
    (y.sum() + h.sum() + (c.sum() if lstm else 0)).backward()
    for b, n in enumerate(lengths):
        alone = _leaves([x[:n, b : b + 1], h0[b : b + 1], c0[b : b + 1] if lstm else None] + weights)
        ya, ha, ca = recurrent(mode, *alone, reverse=reverse)
        (ya.sum() + ha.sum() + (ca.sum() if lstm else 0)).backward()
        np.testing.assert_allclose(y.numpy()[:n, b], ya.numpy()[:, 0], rtol=1e-12)
        assert not y.numpy()[n:, b].any()  # past the end: zero, as PyTorch's padded output
        np.testing.assert_allclose(h.numpy()[b], ha.numpy()[0], rtol=1e-12)
        np.testing.assert_allclose(leaves[0].grad.numpy()[:n, b], alone[0].grad.numpy()[:, 0], rtol=1e-10)
        assert not leaves[0].grad.numpy()[n:, b].any()
        np.testing.assert_allclose(leaves[1].grad.numpy()[b], alone[1].grad.numpy()[0], rtol=1e-10)


def test_only_the_used_outputs_carry_gradient() -> None:
    """A loss on h_n alone equals the same loss through the last output step (the riders cost nothing)."""
    rng = np.random.default_rng(3)
    arrays = [rng.standard_normal((T, N, I)), np.zeros((N, H)), np.zeros((N, H))] + _weights("lstm", rng)
    grads = []
    for pick in ("h_n", "y[-1]"):
        leaves = _leaves(arrays)
        y, h, _ = recurrent("lstm", *leaves)
        ((h if pick == "h_n" else y[-1]) ** 2).sum().backward()
        grads.append([leaf.grad.numpy() for leaf in leaves if leaf is not None])
    for a, b in zip(*grads, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_bad_shapes_name_the_weight() -> None:
    rng = np.random.default_rng(4)
    w = _leaves(_weights("gru", rng))
    with pytest.raises(dp.ShapeError, match="weight_hh has shape"):
        recurrent("gru", np.zeros((T, N, I)), np.zeros((N, H)), None, w[0], w[0], w[2], w[3])
    with pytest.raises(dp.ShapeError, match="h0 has shape"):
        recurrent("gru", np.zeros((T, N, I)), np.zeros((N + 1, H)), None, *w[:4])
    with pytest.raises(dp.ShapeError, match="batch_sizes"):
        recurrent("gru", np.zeros((T, N, I)), np.zeros((N, H)), None, *w[:4], batch_sizes=[1] * T)
    with pytest.raises(ValueError, match="mode"):
        recurrent("lstm2", np.zeros((T, N, I)), np.zeros((N, H)), None, *w[:4])


# --------------------------------------------------------------------------- the array-module stand-in


def _on(xp, arrays):
    return [None if a is None else dp.tensor(backend.to_module(a.copy(), xp), requires_grad=True)
            for a in arrays]


@pytest.mark.parametrize("packed", [False, True])
@pytest.mark.parametrize("mode, proj", [(m, 0) for m in MODES] + [("lstm", 2)])
def test_recurrent_runs_on_the_array_module_of_its_inputs(mode, proj, packed) -> None:
    rng = np.random.default_rng(5)
    out = proj or H
    arrays = [rng.standard_normal((T, 3, I)), rng.standard_normal((3, out)),
              rng.standard_normal((3, H)) if mode == "lstm" else None] + _weights(mode, rng, proj)
    sizes = [3] * 4 + [2] * 5 + [1] * 3 if packed else None
    results = {}
    for xp in (np, standin):
        for reverse in (False, True):
            leaves = _on(xp, arrays)
            y, h, c = recurrent(mode, *leaves, reverse=reverse, batch_sizes=sizes)
            (y.sum() + (h * h).sum() + (c.sum() if c is not None else 0)).backward()
            got = [y.array, h.array] + [leaf.grad_array for leaf in leaves if leaf is not None]
            if xp is standin:
                assert all(type(a) is StandinArray for a in got), "something fell back to the host"
            results[xp, reverse] = [backend.to_numpy(a) for a in got]
    for reverse in (False, True):
        for a, b in zip(results[np, reverse], results[standin, reverse], strict=True):
            np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-14)


def test_embedding_and_packing_run_on_the_array_module() -> None:
    rng = np.random.default_rng(6)
    table = rng.standard_normal((5, 3))
    ids = np.array([[0, 4, 4], [2, 0, 1]])
    sizes = [2, 2, 1]
    for xp in (np, standin):
        (weight,) = _on(xp, [table])
        out = embedding(backend.to_module(ids, xp), weight, padding_idx=1, scale_grad_by_freq=True)
        packed = pack_steps(ops.swapaxes(out, 0, 1), sizes)
        back = unpack_steps(packed, sizes)
        (back * back).sum().backward()
        assert type(back.array) is type(weight.grad_array) is (StandinArray if xp is standin else np.ndarray)


# --------------------------------------------------------------------------- embedding and packing


def test_embedding_matches_pytorch() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    table = rng.standard_normal((6, 3)) * 3
    ids = np.array([[0, 5, 5, 2], [2, 2, 1, 0]])
    seed = rng.standard_normal((2, 4, 3))
    ours = dp.nn.Embedding.from_pretrained(table, freeze=False, padding_idx=2, max_norm=1.5,
                                           scale_grad_by_freq=True)
    theirs = torch.nn.Embedding.from_pretrained(torch.tensor(table), freeze=False, padding_idx=2,
                                                max_norm=1.5, scale_grad_by_freq=True)
    out_d, out_t = ours(ids), theirs(torch.tensor(ids))
    (out_d * seed).sum().backward()
    (out_t * torch.tensor(seed)).sum().backward()
    np.testing.assert_allclose(out_d.numpy(), out_t.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(ours.weight.numpy(), theirs.weight.detach().numpy(), rtol=1e-6)  # renormed
    np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(), rtol=1e-12)


def test_embedding_defaults_and_errors() -> None:
    dp.manual_seed(0)
    layer = dp.nn.Embedding(100, 8, padding_idx=-1)
    assert layer.padding_idx == 99 and not layer.weight.numpy()[99].any()
    assert abs(float(layer.weight.numpy()[:99].std()) - 1.0) < 0.1  # N(0, 1) as PyTorch
    with pytest.raises(dp.ShapeError, match="indices must be in \\[0, 100\\)"):
        layer(np.array([100]))
    with pytest.raises(TypeError, match="integers"):
        layer(np.array([1.5]))
    same = layer(np.array([3.0])).numpy(), layer(np.array([3])).numpy()  # whole floats, as fit passes ids
    np.testing.assert_array_equal(*same)
    with pytest.raises(ValueError, match="sparse"):
        dp.nn.Embedding(3, 2, sparse=True)


def test_pack_and_unpack_are_inverse_and_differentiable() -> None:
    rng = np.random.default_rng(8)
    sizes = [3, 3, 2, 1]
    padded = rng.standard_normal((4, 3, 2))
    for t, n in enumerate(sizes):
        padded[t, n:] = 0
    assert dp.gradcheck(lambda p: unpack_steps(pack_steps(p, sizes) * 2.0, sizes), padded)
    np.testing.assert_array_equal(unpack_steps(pack_steps(padded, sizes), sizes).numpy(), padded)
    with pytest.raises(dp.ShapeError, match="batch_sizes add up"):
        unpack_steps(np.zeros((5, 2)), sizes)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_the_benchmark_floor_computes_deltaprop_s_training_step(kind) -> None:
    """benchmarks/lean_numpy_rnn.py must do the same step as nn.RNN/LSTM/GRU + SGD, else it is no floor."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from lean_numpy_rnn import LeanRecurrent

    floor = LeanRecurrent(kind, I, H, T, N, lr=0.5)
    rng = np.random.default_rng(9)
    x = rng.standard_normal((T, N, I)).astype(np.float32)
    target = rng.standard_normal((N, H)).astype(np.float32)
    layer = getattr(dp.nn, {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}[kind])(I, H, dtype=np.float64)
    names = ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
    layer.load_state_dict(dict(zip(names, (floor.w_ih, floor.w_hh, floor.b_ih, floor.b_hh), strict=True)))
    sgd = dp.optim.SGD(layer.parameters(), lr=0.5)
    _, h = layer(x.astype(np.float64))
    loss = dp.nn.functional.mse_loss((h[0] if kind == "lstm" else h)[0], dp.tensor(target.astype(np.float64)))
    loss.backward()
    sgd.step()
    assert floor.step(x, target) == pytest.approx(loss.item(), rel=1e-5)
    for name, array in zip(names, (floor.w_ih, floor.w_hh, floor.b_ih, floor.b_hh), strict=True):
        np.testing.assert_allclose(array, getattr(layer, name).numpy(), atol=2e-6, err_msg=name)


def test_the_op_holds_blas_to_one_thread_and_restores_it(monkeypatch) -> None:
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from deltaprop.ops import recurrent as module

    controller = threadpoolctl.ThreadpoolController()
    if not any(lib.user_api == "blas" for lib in controller.lib_controllers):
        pytest.skip("no BLAS library that threadpoolctl can see")
    seen = []

    def spy(*args, **kwargs):  # what the kernels run under
        seen.append(controller.select(user_api="blas").info()[0]["num_threads"])
        return real(*args, **kwargs)

    with controller.limit(limits=2, user_api="blas"):
        real = module._KERNELS["rnn_tanh"][0]
        monkeypatch.setitem(module._KERNELS, "rnn_tanh", (spy, module._KERNELS["rnn_tanh"][1]))
        rng = np.random.default_rng(0)
        recurrent("rnn_tanh", rng.standard_normal((3, 2, I)), np.zeros((2, H)), None,
                  *_leaves(_weights("rnn_tanh", rng)[:4]))
        after = controller.select(user_api="blas").info()[0]["num_threads"]
        monkeypatch.setattr(module, "ONE_BLAS_THREAD", False)
        recurrent("rnn_tanh", rng.standard_normal((3, 2, I)), np.zeros((2, H)), None,
                  *_leaves(_weights("rnn_tanh", rng)[:4]))
    assert seen == [1, 2] and after == 2
