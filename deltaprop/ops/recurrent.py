"""Fused recurrent layers: a whole RNN, LSTM or GRU layer as one op, differentiated through time by hand.

Unrolled into elementary ops, one LSTM step is some forty graph nodes, and a
sequence of 50 steps two thousand; Python's overhead per node then costs far
more than the arithmetic. `recurrent` runs one layer (one direction) over the
whole sequence instead, and records one node:

- the input projection of every time step is one matrix product,
  ``X (T*N, I) @ W_ih^T``, hoisted out of the time loop; only ``h @ W_hh^T``
  stays inside it;
- the gates of a step (i, f, g, o for the LSTM; r, z, n for the GRU) come from
  one fused weight matrix, so a step is one small GEMM plus a handful of
  element-wise calls on whole gate blocks. Sigmoid gates use
  sigmoid(z) = (tanh(z/2) + 1)/2 with the 1/2 folded into a scaled copy of the
  weights, so one ``tanh`` call activates all four LSTM gates at once;
- the backward is backpropagation through time written out: the per-step
  factors that do not depend on the incoming gradient (f'(z) of every gate,
  products of saved gates) are computed for all steps in a few large calls
  before the loop, so each step of the backward is one GEMM (dC/dh_{t-1} =
  dC/dz_t W_hh) and four or five element-wise calls; dC/dW_ih, dC/dW_hh,
  dC/db and dC/dx are then one GEMM each over all steps.

Variable-length batches (packed sequences) give ``batch_sizes``: at time t
only the first ``batch_sizes[t]`` rows (sequences sorted longest first) are
still running, the rest keep their state, and their outputs are zero, as in
PyTorch. The reverse direction of a bidirectional layer runs the same loop
from t = T-1 down to 0; a sequence joins it at its own last step, from h0.

The time loop runs many small matrix products (N x P times P x gates); a
second BLAS thread cannot speed those up, and on a busy machine its
synchronisation makes each one many times slower. So while the op runs, the
BLAS library is held to one thread (through threadpoolctl when it is
installed, as it is with scikit-learn; `ONE_BLAS_THREAD = False` turns this off).

The op's outputs are the final hidden state (the graph node) and, as views
riding on it, the output sequence and the LSTM's final cell state: each of
those two passes its gradient to the main node through a shared slot instead
of a full-size array, so they cost nothing when unused.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from deltaprop import backend
from deltaprop.errors import ShapeError
from deltaprop.tensor import Tensor, as_tensor, gradient_buffer, make_result

#: gate blocks per mode: the rows of W_ih and W_hh are that many hidden_size blocks, in PyTorch's order
GATES = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}

#: hold BLAS to one thread inside the op (see the module docstring)
ONE_BLAS_THREAD = True


def recurrent(
    mode: str,
    x: Any,
    h0: Any,
    c0: Any,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None = None,
    b_hh: Tensor | None = None,
    w_hr: Tensor | None = None,
    *,
    reverse: bool = False,
    batch_sizes: Any = None,
    sequence: bool = True,
) -> tuple[Tensor | None, Tensor, Tensor | None]:
    """One recurrent layer over a time-major sequence: ``(output, h_n, c_n)``.

    ``x`` is (T, N, input_size); ``h0`` (N, P) and, for 'lstm', ``c0`` (N, hidden)
    the initial states (P = hidden, or proj_size when ``w_hr`` is given). The
    weights follow PyTorch: ``w_ih`` (G*hidden, input), ``w_hh`` (G*hidden, P),
    biases (G*hidden,), ``w_hr`` (P, hidden), with G gate blocks in PyTorch's
    order. Returns output (T, N, P) (None when ``sequence=False``, as cells
    want), h_n (N, P) and c_n (N, hidden) or None.
    """
    if mode not in GATES:
        raise ValueError(f"recurrent: mode must be one of {', '.join(GATES)}, got {mode!r}")
    w_ih, w_hh = as_tensor(w_ih), as_tensor(w_hh)
    x, h0 = _as_input(x, w_ih, "input"), _as_input(h0, w_ih, "h0")
    c0 = _as_input(c0, w_ih, "c0") if mode == "lstm" else None
    hidden = _check_shapes(mode, x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr)
    sizes = _batch_sizes(batch_sizes, x.shape)
    forward, backward = _KERNELS[mode]
    biases = None if b_ih is None or b_hh is None else (b_ih.array, b_hh.array)  # both or neither (checked)
    weights = (w_ih.array, w_hh.array, biases, None if w_hr is None else w_hr.array)
    c0_array = None if c0 is None else c0.array
    with _one_blas_thread():
        h_n, c_n, y, state = forward(x.array, h0.array, c0_array, weights, hidden, reverse, sizes)
    parents = tuple(_NOTHING if p is None else p for p in (x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr))
    holder: dict[str, Any] = {}
    saved = (x.array, weights, b_ih is not None, state, reverse, sizes, holder)
    core = make_result(h_n, parents, _single_threaded[backward], saved, mode)
    c_out = None if c_n is None else _rider(core, c_n, holder, "c", mode + "_c_n")
    y_out = _rider(core, y, holder, "y", mode + "_output") if sequence else None
    return y_out, core, c_out


_NOTHING = Tensor._wrap(np.zeros(()))  # stands in for an absent input (no c0, no bias, no projection)


class _one_blas_thread:  # noqa: N801 - used like a function: `with _one_blas_thread():`
    """Lower the BLAS thread count to 1 for the duration of a block, restoring it after (no-op if unknown)."""

    _libraries: list | None = None

    def __enter__(self) -> None:
        self.restore = []
        if not ONE_BLAS_THREAD:
            return
        if _one_blas_thread._libraries is None:
            _one_blas_thread._libraries = _blas_libraries()
        for library in _one_blas_thread._libraries:
            threads = library.get_num_threads()
            if threads and threads > 1:
                library.set_num_threads(1)
                self.restore.append((library, threads))

    def __exit__(self, *exc: Any) -> None:
        for library, threads in self.restore:
            library.set_num_threads(threads)


def _blas_libraries() -> list:
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return []
    return [lib for lib in ThreadpoolController().lib_controllers if lib.user_api == "blas"]


def _in_one_thread(backward):
    def run(g, saved, parents):
        with _one_blas_thread():
            return backward(g, saved, parents)

    run.__name__ = backward.__name__
    return run


def _as_input(value: Any, like: Tensor, what: str) -> Tensor:
    """Data (no gradient wanted) takes the layer's dtype; a tensor that wants its gradient must match it."""
    value = as_tensor(value, like=like)
    if value.dtype != like.dtype:
        if value.requires_grad:
            raise TypeError(
                f"recurrent: {what} is {value.dtype} but the layer's weights are {like.dtype}; cast one of "
                f"them (x.astype(...) or layer.double()/float())"
            )
        value = Tensor._wrap(value.array.astype(like.dtype))
    return value


def _check_shapes(mode, x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr) -> int:
    """hidden_size from the weights, after checking every shape against it; ShapeError names the culprit."""
    gates = GATES[mode]
    if x.ndim != 3:
        raise ShapeError(f"{mode}: input must be (T, N, features), got shape {x.shape}")
    rows = w_ih.shape[0]
    if w_ih.ndim != 2 or rows % gates:
        raise ShapeError(f"{mode}: weight_ih must be ({gates} * hidden, input), got {w_ih.shape}")
    hidden = rows // gates
    out = hidden if w_hr is None else w_hr.shape[0]
    expected = {
        "weight_ih": (w_ih, (rows, x.shape[2])),
        "weight_hh": (w_hh, (rows, out)),
        "h0": (h0, (x.shape[1], out)),
        "c0": (c0, (x.shape[1], hidden)),
        "bias_ih": (b_ih, (rows,)),
        "bias_hh": (b_hh, (rows,)),
        "weight_hr": (w_hr, (out, hidden)),
    }
    for name, (tensor, shape) in expected.items():
        if tensor is not None and tuple(tensor.shape) != shape:
            raise ShapeError(
                f"{mode}: {name} has shape {tuple(tensor.shape)} but input {x.shape} (T, N, features) and "
                f"hidden size {hidden} need {shape}; check input_size/hidden_size or the state's batch size"
            )
    if (b_ih is None) != (b_hh is None):
        raise ValueError(f"{mode}: give both biases or neither")
    if w_hr is not None and mode != "lstm":
        raise ValueError(f"{mode}: a projection (weight_hr) exists only for 'lstm'")
    return hidden


def _batch_sizes(batch_sizes: Any, shape: tuple[int, ...]) -> list[int] | None:
    """The running rows per time step of a packed batch (non-increasing, first = N), or None."""
    if batch_sizes is None:
        return None
    sizes = [int(s) for s in np.asarray(batch_sizes).reshape(-1)]
    T, N = shape[0], shape[1]
    ok = len(sizes) == T and sizes and sizes[0] == N and sizes[-1] >= 1
    if not ok or any(b > a for a, b in zip(sizes, sizes[1:], strict=False)):
        raise ShapeError(
            f"recurrent: batch_sizes {sizes} do not describe {T} steps of {N} sequences sorted longest "
            "first (one count per step, non-increasing, starting at N); build them with "
            "deltaprop.nn.utils.rnn.pack_padded_sequence"
        )
    return None if sizes[-1] == N else sizes


def _rider(core: Tensor, array: Any, holder: dict, key: str, name: str) -> Tensor:
    """An output computed by the core node: its gradient waits in ``holder`` for the core's backward."""
    return make_result(array, (core,), _deliver, (holder, key, core.array), name)


def _deliver(g, saved, parents):
    holder, key, like = saved
    holder[key] = g if key not in holder else holder[key] + g
    return (np.zeros_like(like),)  # a token gradient, so the core node runs even if only this output is used


# --------------------------------------------------------------------------- the time loop's bookkeeping


def _order(T: int, reverse: bool) -> range:
    return range(T - 1, -1, -1) if reverse else range(T)


def _slots(t: int, reverse: bool) -> tuple[int, int]:
    """(slot of h_{t-1}, slot of h_t) in the (T+1)-slot state arrays: slot 0 (or T in reverse) holds h0."""
    return (t + 1, t) if reverse else (t, t + 1)


def _states(xp, T: int, N: int, width: int, dtype, start: Any, reverse: bool, sizes) -> Any:
    """(T+1, N, width) state array with h0 in its first slot; zeros when rows stop early (their outputs)."""
    states = (xp.zeros if sizes is not None else xp.empty)((T + 1, N, width), dtype=dtype)
    states[T if reverse else 0] = start
    return states


def _join(states: Any, start: Any, t: int, reverse: bool, sizes) -> int:
    """Running rows at time t; in reverse, rows whose sequence ends at t start there from h0."""
    if sizes is None:
        return states.shape[1]
    n = sizes[t]
    if reverse and t + 1 < len(sizes) and sizes[t + 1] < n:
        states[t + 1, sizes[t + 1] : n] = start[sizes[t + 1] : n]
    return n


def _outputs(states: Any, reverse: bool, sizes) -> Any:
    """The output sequence h_1..h_T in time order, zero where a sequence has ended."""
    T = states.shape[0] - 1
    if not reverse:
        return states[1:]
    if sizes is None:
        return states[:T]
    out = states[:T].copy()  # the slot where a sequence joined holds its h0, not an output
    for t in range(1, T):
        out[t, sizes[t] :] = 0
    return out


def _final(states: Any, reverse: bool, sizes) -> Any:
    """The last state of each sequence: at its own length when rows stop early."""
    if reverse:
        return states[0]
    if sizes is None:
        return states[-1]
    rows = np.arange(states.shape[1])
    lengths = (np.asarray(sizes)[:, None] > rows).sum(axis=0)  # each sequence's own length
    return states[_like(states, lengths), _like(states, rows)]


def _like(array: Any, host: np.ndarray) -> Any:
    return backend.to_module(host, backend.array_module(array))


def _previous(states: Any, reverse: bool) -> Any:
    """h_{t-1} for every t, in time order: the states the recurrent weights multiplied."""
    T = states.shape[0] - 1
    return states[1:] if reverse else states[:T]


def _project(x: Any, w: Any, bias: Any) -> Any:
    """x (T, N, I) @ w^T + bias for every step at once: the hoisted input projection, (T, N, rows)."""
    T, N, I = x.shape
    out = (x.reshape(T * N, I) @ w.T).reshape(T, N, w.shape[0])
    if bias is not None:
        out += bias
    return out


def _scaled(w: Any, scale: Any) -> Any:
    return w * scale[:, None]


def _running(xp, grad: Any, like: Any) -> Any:
    """A fresh array holding dC/d(final state) (zeros when the final state was not used)."""
    return xp.zeros_like(like) if grad is None else grad.astype(like.dtype, copy=True)


# --------------------------------------------------------------------------- Elman RNN (tanh or ReLU)


def _rnn_forward(x, h0, c0, weights, hidden, reverse, sizes, relu=False):
    w_ih, w_hh, bias, _ = weights
    xp, (T, N, _) = _xp(x), x.shape
    z = _project(x, w_ih, None if bias is None else bias[0] + bias[1])
    states = _states(xp, T, N, hidden, x.dtype, h0, reverse, sizes)
    w_hh_t = w_hh.T
    for t in _order(T, reverse):
        before, after = _slots(t, reverse)
        n = _join(states, h0, t, reverse, sizes)
        h = states[after, :n]
        np.matmul(states[before, :n], w_hh_t, out=h)
        h += z[t, :n]
        if relu:
            np.maximum(h, 0, out=h)
        else:
            np.tanh(h, out=h)
    return _final(states, reverse, sizes), None, _outputs(states, reverse, sizes), (states,)


def _relu_forward(*args):
    return _rnn_forward(*args, relu=True)


def _rnn_backward(g, saved, parents, relu=False):
    x, weights, has_bias, (states,), reverse, sizes, holder = saved
    w_ih, w_hh, _, _ = weights
    dy = holder.pop("y", None)
    xp, (T, N, _) = _xp(x), x.shape
    y = states[:T] if reverse else states[1:]
    slope = (y > 0).astype(y.dtype) if relu else 1 - y * y  # f'(z) for every step at once
    dz = (xp.zeros if sizes is not None else xp.empty)(y.shape, dtype=y.dtype)
    dh = _running(xp, g, states[0])
    for t in _order(T, not reverse):
        n = N if sizes is None else sizes[t]
        if dy is not None:
            dh[:n] += dy[t, :n]
        np.multiply(dh[:n], slope[t, :n], out=dz[t, :n])
        np.matmul(dz[t, :n], w_hh, out=dh[:n])
    return _weight_gradients(parents, dz, x, w_ih, None, states, reverse, has_bias,
                             dh, None, None, None)


def _relu_backward(g, saved, parents):
    return _rnn_backward(g, saved, parents, relu=True)


# --------------------------------------------------------------------------- LSTM


def _sigmoid_scale(xp, hidden: int, blocks: str, dtype) -> tuple[Any, Any, Any]:
    """Per-column (scale, a, b) turning one tanh into sigmoid for 's' blocks: s = a * tanh(scale * z) + b."""
    scale = np.concatenate([np.full(hidden, 0.5 if k == "s" else 1.0) for k in blocks]).astype(dtype)
    a = scale.copy()
    b = np.concatenate([np.full(hidden, 0.5 if k == "s" else 0.0) for k in blocks]).astype(dtype)
    return tuple(_like_xp(xp, v) for v in (scale, a, b))


def _like_xp(xp, host: np.ndarray) -> Any:
    return host if xp is np else xp.asarray(host)


def _lstm_forward(x, h0, c0, weights, hidden, reverse, sizes):
    w_ih, w_hh, bias, w_hr = weights
    xp, (T, N, _), H = _xp(x), x.shape, hidden
    scale, a, b = _sigmoid_scale(xp, H, "ssts", x.dtype)  # gates i, f, g, o: sigmoid, sigmoid, tanh, sigmoid
    gates = _project(x, _scaled(w_ih, scale), None if bias is None else (bias[0] + bias[1]) * scale)
    w_hh_t = _scaled(w_hh, scale).T
    states = _states(xp, T, N, h0.shape[1], x.dtype, h0, reverse, sizes)
    cells = _states(xp, T, N, H, x.dtype, c0, reverse, sizes)
    tanh_c = xp.empty((T, N, H), dtype=x.dtype)
    unprojected = None if w_hr is None else xp.empty((T, N, H), dtype=x.dtype)
    recurrent, product = xp.empty((N, 4 * H), dtype=x.dtype), xp.empty((N, H), dtype=x.dtype)
    for t in _order(T, reverse):
        before, after = _slots(t, reverse)
        n = _join(states, h0, t, reverse, sizes)
        _join(cells, c0, t, reverse, sizes)
        z = gates[t, :n]
        np.matmul(states[before, :n], w_hh_t, out=recurrent[:n])
        z += recurrent[:n]
        np.tanh(z, out=z)  # all four gates in one call, then sigmoid = (tanh(z/2) + 1)/2 for i, f, o
        z *= a
        z += b
        c = cells[after, :n]
        np.multiply(z[:, H : 2 * H], cells[before, :n], out=c)
        np.multiply(z[:, :H], z[:, 2 * H : 3 * H], out=product[:n])
        c += product[:n]
        tc = np.tanh(c, out=tanh_c[t, :n])
        if w_hr is None:
            np.multiply(z[:, 3 * H :], tc, out=states[after, :n])
        else:
            np.multiply(z[:, 3 * H :], tc, out=unprojected[t, :n])
            np.matmul(unprojected[t, :n], w_hr.T, out=states[after, :n])
    state = (states, cells, gates, tanh_c, unprojected)
    return (_final(states, reverse, sizes), _final(cells, reverse, sizes), _outputs(states, reverse, sizes),
            state)


def _lstm_factors(gates, cells_before, tanh_c, H):
    """The per-step factors of the LSTM backward that do not depend on the incoming gradient, all at once.

    ``after_c`` (T, N, 4H) multiplies dC/dc_t into [dC/dc_{t-1}, dC/dz_i, dC/dz_f, dC/dz_g]:
    [f, g i(1-i), c_{t-1} f(1-f), i(1-g^2)]; ``after_h`` (T, N, 2H) multiplies dC/dh_t into
    [dC/dz_o, the part of dC/dc_t that comes through h_t]: [tanh(c) o(1-o), o (1 - tanh(c)^2)].
    """
    i, f, g, o = (gates[..., k * H : (k + 1) * H] for k in range(4))
    slope = gates * gates
    np.subtract(gates, slope, out=slope)  # s (1 - s) for the sigmoid gates (the g block is unused)
    after_c = np.empty_like(gates)
    after_c[..., :H] = f
    np.multiply(g, slope[..., :H], out=after_c[..., H : 2 * H])
    np.multiply(cells_before, slope[..., H : 2 * H], out=after_c[..., 2 * H : 3 * H])
    dg = after_c[..., 3 * H :]
    np.multiply(g, g, out=dg)
    np.subtract(1, dg, out=dg)
    dg *= i
    after_h = _xp(gates).empty(gates.shape[:2] + (2 * H,), dtype=gates.dtype)
    np.multiply(tanh_c, slope[..., 3 * H :], out=after_h[..., :H])
    through = after_h[..., H:]
    np.multiply(tanh_c, tanh_c, out=through)
    np.subtract(1, through, out=through)
    through *= o
    return after_c, after_h


def _lstm_backward(g, saved, parents):
    x, weights, has_bias, state, reverse, sizes, holder = saved
    w_ih, w_hh, _, w_hr = weights
    states, cells, gates, tanh_c, unprojected = state
    dy, dc_final = holder.pop("y", None), holder.pop("c", None)
    xp, (T, N, _) = _xp(x), x.shape
    H, P = tanh_c.shape[2], states.shape[2]
    after_c, after_h = _lstm_factors(gates, _previous(cells, reverse), tanh_c, H)
    # per step: [dC/dc_{t-1}, dC/dz_i, dC/dz_f, dC/dz_g, dC/dz_o, dC/dc_t through h_t]
    work = (xp.zeros if sizes is not None else xp.empty)((T, N, 6 * H), dtype=x.dtype)
    dh, dc = _running(xp, g, states[0]), _running(xp, dc_final, cells[0])
    dh_steps = None if w_hr is None else xp.zeros((T, N, P), dtype=x.dtype)
    for t in _order(T, not reverse):
        n = N if sizes is None else sizes[t]
        d = dh[:n]
        if dy is not None:
            d += dy[t, :n]
        if w_hr is not None:  # dC/dh_t is kept for dC/dW_hr; the gates see dC/d(o tanh c) = dC/dh_t W_hr
            dh_steps[t, :n] = d
            d = d @ w_hr
        row = work[t, :n]
        np.multiply(d[:, None, :], after_h[t, :n].reshape(n, 2, H), out=row[:, 4 * H :].reshape(n, 2, H))
        dc[:n] += row[:, 5 * H :]
        np.multiply(dc[:n, None, :], after_c[t, :n].reshape(n, 4, H), out=row[:, : 4 * H].reshape(n, 4, H))
        dc[:n] = row[:, :H]
        np.matmul(row[:, H : 5 * H], w_hh, out=dh[:n])
    projection = None if w_hr is None else (dh_steps, unprojected)
    return _weight_gradients(parents, work[..., H : 5 * H], x, w_ih, None, states,
                             reverse, has_bias, dh, dc, projection, None)


# --------------------------------------------------------------------------- GRU


def _gru_forward(x, h0, c0, weights, hidden, reverse, sizes):
    w_ih, w_hh, bias, _ = weights
    xp, (T, N, _), H = _xp(x), x.shape, hidden
    scale, a, b = _sigmoid_scale(xp, H, "sst", x.dtype)  # gates r, z (sigmoid) and n (tanh)
    input_bias = None
    if bias is not None:  # b_hr and b_hz join the hoisted projection; b_hn must stay inside r * (...)
        input_bias = bias[0].copy()
        input_bias[: 2 * H] += bias[1][: 2 * H]
        input_bias *= scale
    gates = _project(x, _scaled(w_ih, scale), input_bias)
    w_hh_t = _scaled(w_hh, scale).T
    b_hn = None if bias is None else bias[1][2 * H :]
    states = _states(xp, T, N, H, x.dtype, h0, reverse, sizes)
    hidden_n = xp.empty((T, N, H), dtype=x.dtype)  # W_hn h_{t-1} + b_hn, which the backward needs
    recurrent, product = xp.empty((N, 3 * H), dtype=x.dtype), xp.empty((N, H), dtype=x.dtype)
    for t in _order(T, reverse):
        before, after = _slots(t, reverse)
        n = _join(states, h0, t, reverse, sizes)
        rec, z = recurrent[:n], gates[t, :n]
        np.matmul(states[before, :n], w_hh_t, out=rec)
        rz = z[:, : 2 * H]
        rz += rec[:, : 2 * H]
        np.tanh(rz, out=rz)
        rz *= a[: 2 * H]
        rz += b[: 2 * H]
        hn = hidden_n[t, :n]
        if b_hn is not None:
            np.add(rec[:, 2 * H :], b_hn, out=hn)
        else:
            hn[...] = rec[:, 2 * H :]
        np.multiply(z[:, :H], hn, out=product[:n])
        new = z[:, 2 * H :]
        new += product[:n]
        np.tanh(new, out=new)
        h = states[after, :n]  # h_t = n + z (h_{t-1} - n)
        np.subtract(states[before, :n], new, out=h)
        h *= z[:, H : 2 * H]
        h += new
    return _final(states, reverse, sizes), None, _outputs(states, reverse, sizes), (states, gates, hidden_n)


def _gru_factors(gates, before, hidden_n, H):
    """GRU backward factors for all steps: ``after_h`` multiplies dC/dh_t into [dC/dz_z, dC/da_n, the
    direct path dC/dh_{t-1}], i.e. [(h_{t-1} - n) z(1-z), (1-z)(1-n^2), z]; ``after_n`` multiplies
    dC/da_n (a_n = x W_in + r (h W_hn + b_hn)) into [dC/dz_r, dC/d(h W_hn + b_hn)]: [hn r(1-r), r]."""
    r, z, n = (gates[..., k * H : (k + 1) * H] for k in range(3))
    xp = _xp(gates)
    after_h = xp.empty(gates.shape, dtype=gates.dtype)
    dz, dn = after_h[..., :H], after_h[..., H : 2 * H]
    np.subtract(before, n, out=dz)
    dz *= z
    np.subtract(1, z, out=dn)
    dz *= dn
    np.multiply(n, n, out=after_h[..., 2 * H :])
    np.subtract(1, after_h[..., 2 * H :], out=after_h[..., 2 * H :])
    dn *= after_h[..., 2 * H :]
    after_h[..., 2 * H :] = z
    after_n = xp.empty(gates.shape[:2] + (2 * H,), dtype=gates.dtype)
    np.subtract(1, r, out=after_n[..., :H])
    after_n[..., :H] *= r
    after_n[..., :H] *= hidden_n
    after_n[..., H:] = r
    return after_h, after_n


def _gru_backward(g, saved, parents):
    x, weights, has_bias, (states, gates, hidden_n), reverse, sizes, holder = saved
    w_ih, w_hh, _, _ = weights
    dy = holder.pop("y", None)
    xp, (T, N, _) = _xp(x), x.shape
    H = states.shape[2]
    after_h, after_n = _gru_factors(gates, _previous(states, reverse), hidden_n, H)
    # per step: [dC/dz_r, dC/d(hW_hn + b_hn), dC/dz_z, dC/da_n, dC/dh_{t-1} directly (z dC/dh_t)]
    work = (xp.zeros if sizes is not None else xp.empty)((T, N, 5 * H), dtype=x.dtype)
    w_hh_rnz = xp.concatenate([w_hh[:H], w_hh[2 * H :], w_hh[H : 2 * H]])  # rows in work's order
    dh = _running(xp, g, states[0])
    for t in _order(T, not reverse):
        n = N if sizes is None else sizes[t]
        d = dh[:n]
        if dy is not None:
            d += dy[t, :n]
        row = work[t, :n]
        np.multiply(d[:, None, :], after_h[t, :n].reshape(n, 3, H), out=row[:, 2 * H :].reshape(n, 3, H))
        np.multiply(row[:, None, 3 * H : 4 * H], after_n[t, :n].reshape(n, 2, H),
                    out=row[:, : 2 * H].reshape(n, 2, H))
        np.matmul(row[:, : 3 * H], w_hh_rnz, out=d)
        d += row[:, 4 * H :]
    # W_ih sees [dz_r, dz_z, da_n] = work blocks 0 and 2..3; W_hh sees work blocks 0..2 as [r, n, z]
    input_blocks = [(slice(0, H), slice(0, H)), (slice(2 * H, 4 * H), slice(H, 3 * H))]
    hidden_rows = [(slice(0, H), slice(0, H)), (slice(H, 2 * H), slice(2 * H, 3 * H)),
                   (slice(2 * H, 3 * H), slice(H, 2 * H))]
    return _weight_gradients(parents, work, x, w_ih, input_blocks, states, reverse, has_bias, dh, None, None,
                             hidden_rows)


# --------------------------------------------------------------------------- gradients over all steps


def _weight_gradients(parents, dz, x, w_ih, input_blocks, states, reverse, has_bias, dh0, dc0, projection,
                      hidden_blocks):
    """dC/dx, dC/dh0, dC/dc0, dC/dW_ih, dC/dW_hh, dC/db_ih, dC/db_hh, dC/dW_hr: one GEMM each over all steps.

    ``dz`` (T, N, cols) holds dC/d(pre-activation) of every step; ``input_blocks`` pairs its columns with
    rows of W_ih and ``hidden_blocks`` with rows of W_hh (None: column k is row k, as for the RNN and LSTM).
    """
    p_x, p_h0, p_c0, p_wih, p_whh, p_bih, p_bhh, p_whr = parents
    T, N, _ = x.shape
    flat = dz.reshape(T * N, dz.shape[2])
    rows = w_ih.shape[0]
    input_blocks = input_blocks or [(slice(None), slice(None))]
    hidden_blocks = hidden_blocks or [(slice(None), slice(None))]
    gx = gw_ih = gw_hh = gb_ih = gb_hh = gw_hr = None
    if p_x is not None:
        cols, wrows = input_blocks[0]
        gx = flat[:, cols] @ w_ih[wrows]
        for cols, wrows in input_blocks[1:]:
            gx += flat[:, cols] @ w_ih[wrows]
        gx = gx.reshape(x.shape)
    if p_wih is not None:
        gw_ih = _blocks(flat, x.reshape(T * N, -1), input_blocks, gradient_buffer(p_wih), w_ih.shape)
    if p_whh is not None:
        before = _previous(states, reverse).reshape(T * N, -1)
        gw_hh = _blocks(flat, before, hidden_blocks, gradient_buffer(p_whh), (rows, before.shape[1]))
    if has_bias:
        sums = flat.sum(axis=0)
        gb_ih = None if p_bih is None else _gather(sums, input_blocks, rows)
        gb_hh = None if p_bhh is None else _gather(sums, hidden_blocks, rows)
    if projection is not None and p_whr is not None:
        dh_steps, unprojected = projection
        gw_hr = np.matmul(dh_steps.reshape(T * N, -1).T, unprojected.reshape(T * N, -1),
                          out=gradient_buffer(p_whr))
    return (gx, None if p_h0 is None else dh0, None if p_c0 is None else dc0, gw_ih, gw_hh, gb_ih, gb_hh,
            gw_hr)


def _blocks(flat, inputs, blocks, out, shape):
    """A weight-shaped gradient: for each (dz columns, weight rows) pair, dz[:, columns]^T @ inputs."""
    if len(blocks) == 1:
        return np.matmul(flat[:, blocks[0][0]].T, inputs, out=out)
    result = out if out is not None else _xp(flat).empty(shape, dtype=flat.dtype)
    for cols, rows in blocks:
        np.matmul(flat[:, cols].T, inputs, out=result[rows])
    return result


def _gather(sums, blocks, rows):
    """A bias-shaped gradient from the column sums of dz, block by block."""
    if len(blocks) == 1:
        return sums[blocks[0][0]]
    out = _xp(sums).empty(rows, dtype=sums.dtype)
    for cols, wrows in blocks:
        out[wrows] = sums[cols]
    return out


def _xp(array: Any):
    return backend.array_module(array)


_KERNELS = {
    "rnn_tanh": (_rnn_forward, _rnn_backward),
    "rnn_relu": (_relu_forward, _relu_backward),
    "lstm": (_lstm_forward, _lstm_backward),
    "gru": (_gru_forward, _gru_backward),
}


# --------------------------------------------------------------------------- packed <-> padded


def unpack_steps(data: Tensor, batch_sizes: Any, padding_value: float = 0.0) -> Tensor:
    """Packed rows (sum of batch_sizes, F) -> padded (T, N, F): step t's rows are the first batch_sizes[t]."""
    data = as_tensor(data)
    sizes = [int(s) for s in np.asarray(batch_sizes).reshape(-1)]
    if sum(sizes) != data.shape[0]:
        raise ShapeError(f"unpack_steps: batch_sizes add up to {sum(sizes)} rows but the data has "
                         f"{data.shape[0]}; the PackedSequence's data and batch_sizes do not belong together")
    out = data.xp.full((len(sizes), sizes[0], *data.shape[1:]), padding_value, dtype=data.dtype)
    start = 0
    for t, n in enumerate(sizes):
        out[t, :n] = data.array[start : start + n]
        start += n
    return make_result(out, (data,), _unpack_backward, (sizes,), "unpack_steps")


def _unpack_backward(g, saved, parents):
    (sizes,) = saved
    return (_xp(g).concatenate([g[t, :n] for t, n in enumerate(sizes)]),)


def pack_steps(padded: Tensor, batch_sizes: Any) -> Tensor:
    """Padded (T, N, F) -> packed rows (sum of batch_sizes, F), the inverse of `unpack_steps`."""
    padded = as_tensor(padded)
    sizes = [int(s) for s in np.asarray(batch_sizes).reshape(-1)]
    out = padded.xp.concatenate([padded.array[t, :n] for t, n in enumerate(sizes)])
    return make_result(out, (padded,), _pack_backward, (sizes, padded.shape), "pack_steps")


def _pack_backward(g, saved, parents):
    sizes, shape = saved
    out = _xp(g).zeros(shape, dtype=g.dtype)
    start = 0
    for t, n in enumerate(sizes):
        out[t, :n] = g[start : start + n]
        start += n
    return (out,)


_single_threaded = {backward: _in_one_thread(backward) for _, backward in _KERNELS.values()}
