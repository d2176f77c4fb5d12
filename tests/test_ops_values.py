"""Forward values of the ops against NumPy and PyTorch, including the numerically hard corners."""

from __future__ import annotations

import math

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import ShapeError


def _x64(values) -> dp.Tensor:
    return dp.tensor(np.asarray(values, dtype=np.float64))


# ----------------------------------------------------------------- stability
def test_sigmoid_is_stable_at_plus_minus_1000() -> None:
    for dtype in (np.float32, np.float64):
        x = dp.tensor(np.array([-1000.0, -30.0, 0.0, 30.0, 1000.0], dtype=dtype), requires_grad=True)
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            s = dp.sigmoid(x)
            s.sum().backward()
        assert s.dtype == dtype
        assert np.all(np.isfinite(s.array)) and np.all(np.isfinite(x.grad))
        assert s.array[0] == 0.0 and s.array[-1] == 1.0 and s.array[2] == 0.5
        np.testing.assert_allclose(s.array[1], 1 / (1 + math.exp(30)), rtol=1e-5)  # tiny, not 0
        np.testing.assert_allclose(
            x.grad, [0, s.array[1] * (1 - s.array[1]), 0.25, s.array[1], 0], rtol=1e-4, atol=1e-12
        )


def test_softmax_log_softmax_logsumexp_are_stable_for_huge_inputs() -> None:
    z = np.array([[1000.0, 1001.0, 1002.0], [-1000.0, -1001.0, -1002.0]])
    base = np.array([0.0, 1.0, 2.0])
    expected_softmax = np.exp(base) / np.exp(base).sum()
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        s = dp.softmax(_x64(z)).array
        ls = dp.log_softmax(_x64(z)).array
        lse = dp.logsumexp(_x64(z), axis=1).array
    np.testing.assert_allclose(s[0], expected_softmax, rtol=1e-12)
    np.testing.assert_allclose(s[1], expected_softmax[::-1], rtol=1e-12)
    np.testing.assert_allclose(ls[0], np.log(expected_softmax), rtol=1e-12)
    np.testing.assert_allclose(lse, [1002 + np.log(np.exp(-base).sum()), -1000 + np.log(np.exp(-base).sum())])


def test_logsumexp_of_all_minus_infinity_is_minus_infinity_not_nan() -> None:
    out = dp.logsumexp(_x64([-np.inf, -np.inf]))
    assert out.item() == -np.inf


def test_softplus_does_not_overflow() -> None:
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        out = dp.softplus(_x64([-1000.0, 0.0, 1000.0])).array
    np.testing.assert_allclose(out, [0.0, np.log(2.0), 1000.0])


# ----------------------------------------------------------------- against PyTorch
ACTIVATIONS = [
    ("sigmoid", dp.sigmoid, lambda F, t: t.sigmoid()),
    ("tanh", dp.tanh, lambda F, t: t.tanh()),
    ("relu", dp.relu, lambda F, t: F.relu(t)),
    ("leaky_relu", lambda x: dp.leaky_relu(x, 0.2), lambda F, t: F.leaky_relu(t, 0.2)),
    ("elu", dp.elu, lambda F, t: F.elu(t)),
    ("softplus", dp.softplus, lambda F, t: F.softplus(t)),
    ("silu", dp.silu, lambda F, t: F.silu(t)),
    ("mish", dp.mish, lambda F, t: F.mish(t)),
    ("gelu", dp.gelu, lambda F, t: F.gelu(t)),
    ("gelu_tanh", lambda x: dp.gelu(x, approximate="tanh"), lambda F, t: F.gelu(t, approximate="tanh")),
    ("softmax", lambda x: dp.softmax(x, axis=0), lambda F, t: t.softmax(0)),
    ("log_softmax", lambda x: dp.log_softmax(x, axis=0), lambda F, t: t.log_softmax(0)),
]


@pytest.mark.parametrize("name, ours, theirs", ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS])
def test_activation_values_match_torch(name, ours, theirs) -> None:
    torch = pytest.importorskip("torch")
    x = np.linspace(-8, 8, 41)
    expected = theirs(torch.nn.functional, torch.tensor(x)).numpy()
    np.testing.assert_allclose(ours(_x64(x)).array, expected, rtol=1e-12, atol=1e-14)
    x32 = x.astype(np.float32)
    out32 = ours(dp.tensor(x32))
    assert out32.dtype == np.float32
    np.testing.assert_allclose(
        out32.array, theirs(torch.nn.functional, torch.tensor(x32)).numpy(), rtol=2e-6, atol=1e-6
    )


def test_gelu_mish_silu_known_values() -> None:
    # exact values at 1: gelu = Phi(1) = 0.841344746..., silu = sigmoid(1), mish = tanh(log(1 + e))
    np.testing.assert_allclose(dp.gelu(_x64([1.0])).array, [0.8413447460685429], rtol=1e-12)
    np.testing.assert_allclose(dp.silu(_x64([1.0])).array, [1 / (1 + math.exp(-1))], rtol=1e-12)
    np.testing.assert_allclose(dp.mish(_x64([1.0])).array, [math.tanh(math.log1p(math.e))], rtol=1e-12)


def test_unknown_gelu_approximation_is_rejected() -> None:
    with pytest.raises(ValueError, match="approximate must be 'none' or 'tanh'"):
        dp.gelu(_x64([1.0]), approximate="erf")


# ----------------------------------------------------------------- elementwise and reductions vs NumPy
def test_elementwise_and_reductions_match_numpy() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0.5, 2, (3, 4)), rng.uniform(0.5, 2, (4,))
    ta, tb = _x64(a), _x64(b)
    pairs = [
        (ta + tb, a + b),
        (ta - tb, a - b),
        (ta * tb, a * b),
        (ta / tb, a / b),
        (ta**tb, a**b),
        (-ta, -a),
        (abs(ta - 1), np.abs(a - 1)),
        (dp.exp(ta), np.exp(a)),
        (dp.log(ta), np.log(a)),
        (dp.sqrt(ta), np.sqrt(a)),
        (dp.maximum(ta, tb), np.maximum(a, b)),
        (dp.minimum(ta, tb), np.minimum(a, b)),
        (dp.clip(ta, 0.8, 1.5), np.clip(a, 0.8, 1.5)),
        (dp.where(ta > 1, ta, tb), np.where(a > 1, a, b)),
        (ta.sum(axis=0), a.sum(axis=0)),
        (ta.mean(axis=1, keepdims=True), a.mean(axis=1, keepdims=True)),
        (ta.amax(axis=(0, 1)), a.max()),
        (ta.min(axis=-1).values, a.min(axis=-1)),
        (ta.var(axis=0, ddof=1), a.var(axis=0, ddof=1)),
        (ta.T, a.T),
        (dp.swapaxes(ta, 0, 1), a.swapaxes(0, 1)),
        (dp.expand_dims(ta, 1), a[:, None]),
        (dp.squeeze(dp.expand_dims(ta, 0), 0), a),
        (ta.reshape(2, 6), a.reshape(2, 6)),
        (dp.flatten(ta), a.ravel()),
        (dp.concatenate([ta, ta], axis=1), np.concatenate([a, a], 1)),
        (dp.stack([ta, ta], axis=1), np.stack([a, a], 1)),
        (dp.pad(ta, ((1, 0), (0, 2))), np.pad(a, ((1, 0), (0, 2)))),
        (ta[1:, ::2], a[1:, ::2]),
        (ta[[2, 0, 2]], a[[2, 0, 2]]),
    ]
    for ours, expected in pairs:
        np.testing.assert_allclose(ours.array, expected, rtol=1e-12)
        assert ours.shape == np.shape(expected)


def test_indexing_with_repeated_integer_arrays_accumulates_in_backward() -> None:
    x = dp.tensor(np.arange(5.0), requires_grad=True)
    idx = np.array([1, 3, 1, 1, 4])
    y = x[idx]
    np.testing.assert_array_equal(y.array, [1, 3, 1, 1, 4])
    y.backward(np.array([1.0, 10.0, 100.0, 1000.0, 10000.0]))
    np.testing.assert_array_equal(x.grad, [0, 1101, 0, 10, 10000])
    z = dp.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    z[dp.tensor(np.array([1, 1]))].sum().backward()  # an index held in a Tensor works too
    np.testing.assert_array_equal(z.grad, [[0, 0, 0], [2, 2, 2]])


# ----------------------------------------------------------------- matmul semantics
@pytest.mark.parametrize(
    "shape_a, shape_b",
    [
        ((3,), (3,)),
        ((3,), (3, 4)),
        ((2, 3), (3,)),
        ((2, 3), (3, 4)),
        ((5, 2, 3), (3, 4)),
        ((2, 3), (5, 3, 4)),
        ((1, 2, 3), (4, 3, 5)),
        ((2, 3, 4), (4,)),
    ],
)
def test_matmul_follows_numpy_for_1d_2d_and_batched(shape_a, shape_b) -> None:
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal(shape_a), rng.standard_normal(shape_b)
    out = dp.matmul(_x64(a), _x64(b))
    np.testing.assert_allclose(out.array, np.matmul(a, b), rtol=1e-12)
    assert out.shape == np.matmul(a, b).shape
    np.testing.assert_allclose((_x64(a) @ b).array, a @ b, rtol=1e-12)  # ndarray on the right
    np.testing.assert_allclose((a @ _x64(b)).array, a @ b, rtol=1e-12)  # ndarray on the left


# ----------------------------------------------------------------- error messages
def test_matmul_shape_mismatch_names_op_shapes_and_dimension() -> None:
    with pytest.raises(ShapeError) as info:
        dp.matmul(dp.zeros(2, 3), dp.zeros(4, 5))
    message = str(info.value)
    assert "matmul" in message and "(2, 3)" in message and "(4, 5)" in message
    assert "(3)" in message and "(4)" in message and "second-to-last" in message
    with pytest.raises(ShapeError, match="first"):
        dp.matmul(dp.zeros(2, 3), dp.zeros(4))
    with pytest.raises(ShapeError, match="at least 1-D"):
        dp.matmul(dp.tensor(2.0), dp.zeros(2))


def test_reshape_concatenate_stack_squeeze_errors_name_the_op_and_shapes() -> None:
    with pytest.raises(ShapeError, match=r"reshape.*6 elements.*\(2, 3\).*\(4,\)"):
        dp.zeros(2, 3).reshape(4)
    with pytest.raises(ShapeError, match=r"concatenate\(axis=0\).*\(2, 3\).*\(2, 4\)"):
        dp.concatenate([dp.zeros(2, 3), dp.zeros(2, 4)])
    with pytest.raises(ShapeError, match=r"stack.*\(2,\).*\(3,\)"):
        dp.stack([dp.zeros(2), dp.zeros(3)])
    assert dp.squeeze(dp.zeros(2, 3), 1).shape == (2, 3)  # PyTorch: a dim whose size is not 1 stays
    with pytest.raises(ShapeError, match="pad"):
        dp.pad(dp.tensor(1.0), 1)


def test_broadcasting_mismatch_in_arithmetic_is_a_clear_error() -> None:
    with pytest.raises(ShapeError, match=r"add.*\(2, 3\).*\(4,\)"):
        dp.zeros(2, 3) + dp.zeros(4)
    with pytest.raises(ShapeError, match=r"mul.*\(2, 3\).*\(2,\)"):
        dp.zeros(2, 3) * dp.zeros(2)
