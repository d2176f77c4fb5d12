"""Every op's backward, checked three ways in float64.

1. Against central finite differences (`deltaprop.gradcheck`) on shapes drawn by
   hypothesis, including broadcasting and size-1 axes.
2. Against HIPS autograd, an independent reverse-mode engine, with the same
   random output projection v: both must give the same vector-Jacobian product.
3. Against PyTorch where it is installed (skipped otherwise).

Each op is one `Case`: the deltaprop function, the same maths in autograd.numpy
and in torch, how many inputs, whether they broadcast, and the input domain
(positive for log/sqrt/pow, away from kinks for abs/relu).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import autograd
import autograd.numpy as anp
import autograd.scipy.special as asp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes

import deltaprop as dp
from deltaprop import ops
from deltaprop.ops.losses import cross_entropy  # noqa: F401 - (losses are tested in tests/nn)


@dataclass(frozen=True)
class Case:
    name: str
    fn: Callable  # deltaprop
    ag: Callable  # autograd.numpy
    th: Callable | None  # torch (called with torch tensors), None: no torch twin
    arity: int = 1
    broadcast: bool = True  # binary ops: draw mutually broadcastable shapes
    domain: str = "any"  # any | positive | away_from_zero
    min_dims: int = 0


def _th():
    import torch

    return torch


def _ag_softmax(x, axis=-1):
    e = anp.exp(x - anp.max(x, axis=axis, keepdims=True))
    return e / anp.sum(e, axis=axis, keepdims=True)


def _ag_sigmoid(x):
    return 0.5 * (anp.tanh(x / 2) + 1)


def _ag_softplus(x):
    return anp.logaddexp(0, x)


CASES = [
    # binary arithmetic, broadcasting
    Case("add", lambda a, b: a + b, lambda a, b: a + b, lambda a, b: a + b, 2),
    Case("sub", lambda a, b: a - b, lambda a, b: a - b, lambda a, b: a - b, 2),
    Case("mul", lambda a, b: a * b, lambda a, b: a * b, lambda a, b: a * b, 2),
    Case("div", lambda a, b: a / b, lambda a, b: a / b, lambda a, b: a / b, 2, domain="away_from_zero"),
    Case("pow", lambda a, b: a**b, lambda a, b: a**b, lambda a, b: a**b, 2, domain="positive"),
    Case("pow_scalar", lambda a: a**3, lambda a: a**3, lambda a: a**3),
    Case("pow_square", lambda a: a**2, lambda a: a**2, lambda a: a**2),
    Case("rsub_scalar", lambda a: 2.0 - a, lambda a: 2.0 - a, lambda a: 2.0 - a),
    Case("rdiv_scalar", lambda a: 2.0 / a, lambda a: 2.0 / a, lambda a: 2.0 / a, domain="away_from_zero"),
    Case("maximum", dp.maximum, anp.maximum, lambda a, b: _th().maximum(a, b), 2),
    Case("minimum", dp.minimum, anp.minimum, lambda a, b: _th().minimum(a, b), 2),
    Case(
        "where",
        lambda a, b: dp.where(a.array > 0, a, b),
        # autograd's own where() returns b's gradient at the broadcast shape; this form does not
        lambda a, b: (a > 0) * a + (a <= 0) * b,
        lambda a, b: _th().where(a > 0, a, b),
        2,
    ),
    # unary elementwise
    Case("neg", lambda a: -a, lambda a: -a, lambda a: -a),
    Case("abs", dp.abs, anp.abs, lambda a: a.abs(), domain="away_from_zero"),
    Case("exp", dp.exp, anp.exp, lambda a: a.exp()),
    Case("log", dp.log, anp.log, lambda a: a.log(), domain="positive"),
    Case("sqrt", dp.sqrt, anp.sqrt, lambda a: a.sqrt(), domain="positive"),
    Case(
        "clip",
        lambda a: dp.clip(a, -0.5, 0.7),
        lambda a: anp.clip(a, -0.5, 0.7),
        lambda a: a.clamp(-0.5, 0.7),
    ),
    # reductions (axis variants drawn separately in test_reductions_over_axes)
    Case("sum", lambda a: a.sum(), anp.sum, lambda a: a.sum()),
    Case("mean", lambda a: a.mean(), anp.mean, lambda a: a.mean()),
    Case("max", lambda a: a.max(), anp.max, lambda a: a.max()),
    Case("min", lambda a: a.min(), anp.min, lambda a: a.min()),
    Case("prod", lambda a: a.prod(), anp.prod, lambda a: a.prod()),
    Case("norm", lambda a: a.norm(), lambda a: anp.sqrt(anp.sum(a * a)), lambda a: a.norm(),
         domain="away_from_zero"),
    Case("norm_1", lambda a: a.norm(p=1), lambda a: anp.sum(anp.abs(a)), lambda a: a.norm(p=1),
         domain="away_from_zero"),
    Case("norm_3", lambda a: a.norm(p=3), lambda a: anp.sum(anp.abs(a) ** 3) ** (1 / 3),
         lambda a: a.norm(p=3),
         domain="away_from_zero"),
    Case("var", lambda a: a.var(unbiased=False), anp.var, lambda a: a.var(unbiased=False)),
    Case("logsumexp", lambda a: dp.logsumexp(a), asp.logsumexp, lambda a: a.flatten().logsumexp(0)),
    # shape
    Case("reshape", lambda a: a.reshape(-1), lambda a: anp.reshape(a, -1), lambda a: a.reshape(-1)),
    Case("flatten", lambda a: a.flatten(), lambda a: anp.reshape(a, -1), lambda a: a.flatten()),
    Case(
        "transpose", lambda a: a.T, lambda a: anp.transpose(a), lambda a: a.permute(*reversed(range(a.ndim)))
    ),
    Case(
        "swapaxes",
        lambda a: dp.swapaxes(a, 0, -1),
        lambda a: anp.swapaxes(a, 0, -1),
        lambda a: a.swapaxes(0, -1),
        min_dims=1,
    ),
    Case(
        "expand_dims",
        lambda a: dp.expand_dims(a, 0),
        lambda a: anp.expand_dims(a, 0),
        lambda a: a.unsqueeze(0),
    ),
    Case("squeeze", dp.squeeze, anp.squeeze, lambda a: a.squeeze()),
    Case(
        "getitem_slice",
        lambda a: a[..., ::2],
        lambda a: a[..., ::2],
        lambda a: a[..., ::2],
        min_dims=1,
    ),
    Case(
        "getitem_int_array_repeats",
        lambda a: a[np.array([0, 0, -1, 0])],
        lambda a: a[np.array([0, 0, -1, 0])],
        lambda a: a[_th().tensor([0, 0, -1, 0])],
        min_dims=1,
    ),
    Case(
        "getitem_boolean",
        lambda a: a[a.array > 0],
        lambda a: a[a > 0],
        lambda a: a[a > 0],
        min_dims=1,
    ),
    Case(
        "concatenate",
        lambda a: dp.concatenate([a, a * 2, a], axis=0),
        lambda a: anp.concatenate([a, a * 2, a], axis=0),
        lambda a: _th().cat([a, a * 2, a], 0),
        min_dims=1,
    ),
    Case(
        "stack",
        lambda a: dp.stack([a, a * 3], axis=-1),
        lambda a: anp.stack([a, a * 3], axis=-1),
        lambda a: _th().stack([a, a * 3], -1),
    ),
    Case(
        "pad",
        lambda a: dp.pad(a, 1),
        lambda a: anp.pad(a, 1, mode="constant"),
        lambda a: _th().nn.functional.pad(a, [1, 1] * a.ndim),
        min_dims=1,
    ),
    # activations
    Case("sigmoid", dp.sigmoid, _ag_sigmoid, lambda a: a.sigmoid()),
    Case("tanh", dp.tanh, anp.tanh, lambda a: a.tanh()),
    Case("relu", dp.relu, lambda a: anp.maximum(a, 0), lambda a: a.relu(), domain="away_from_zero"),
    Case(
        "leaky_relu",
        lambda a: dp.leaky_relu(a, 0.1),
        lambda a: anp.where(a > 0, a, 0.1 * a),
        lambda a: _th().nn.functional.leaky_relu(a, 0.1),
        domain="away_from_zero",
    ),
    Case(
        "elu",
        lambda a: dp.elu(a, 1.5),
        lambda a: anp.where(a > 0, a, 1.5 * (anp.exp(anp.minimum(a, 0)) - 1)),
        lambda a: _th().nn.functional.elu(a, 1.5),
        domain="away_from_zero",
    ),
    Case("softplus", dp.softplus, _ag_softplus, lambda a: _th().nn.functional.softplus(a)),
    Case("silu", dp.silu, lambda a: a * _ag_sigmoid(a), lambda a: _th().nn.functional.silu(a)),
    Case(
        "mish",
        dp.mish,
        lambda a: a * anp.tanh(_ag_softplus(a)),
        lambda a: _th().nn.functional.mish(a),
    ),
    Case(
        "gelu",
        dp.gelu,
        lambda a: a * 0.5 * (1 + asp.erf(a / np.sqrt(2))),
        lambda a: _th().nn.functional.gelu(a),
    ),
    Case(
        "gelu_tanh",
        lambda a: dp.gelu(a, approximate="tanh"),
        lambda a: 0.5 * a * (1 + anp.tanh(np.sqrt(2 / np.pi) * (a + 0.044715 * a**3))),
        lambda a: _th().nn.functional.gelu(a, approximate="tanh"),
    ),
    # more elementwise maths (ops/elementwise.py); rounding has derivative 0 wherever it has one
    Case("sin", dp.sin, anp.sin, lambda a: a.sin()),
    Case("cos", dp.cos, anp.cos, lambda a: a.cos()),
    Case("tan", lambda a: dp.tan(a * 0.5), lambda a: anp.tan(a * 0.5), lambda a: (a * 0.5).tan()),
    Case("atan", dp.atan, anp.arctan, lambda a: a.atan()),
    Case("log1p", dp.log1p, anp.log1p, lambda a: a.log1p(), domain="positive"),
    Case("expm1", dp.expm1, anp.expm1, lambda a: a.expm1()),
    Case("log2", dp.log2, anp.log2, lambda a: a.log2(), domain="positive"),
    Case("log10", dp.log10, anp.log10, lambda a: a.log10(), domain="positive"),
    Case("reciprocal", dp.reciprocal, lambda a: 1 / a, lambda a: a.reciprocal(), domain="away_from_zero"),
    Case("rsqrt", dp.rsqrt, lambda a: 1 / anp.sqrt(a), lambda a: a.rsqrt(), domain="positive"),
    Case("square", dp.square, anp.square, lambda a: a.square()),
    Case("erf", dp.erf, asp.erf, lambda a: a.erf()),
    Case("sign", dp.sign, lambda a: anp.sign(a) + 0 * a, lambda a: a.sign()),
    Case("floor", dp.floor, lambda a: anp.floor(a) + 0 * a, lambda a: a.floor()),
    Case("ceil", dp.ceil, lambda a: anp.ceil(a) + 0 * a, lambda a: a.ceil()),
    Case("round", dp.round, lambda a: anp.round(a) + 0 * a, lambda a: a.round()),
    Case("trunc", dp.trunc, lambda a: anp.trunc(a) + 0 * a, lambda a: a.trunc()),
    Case("remainder", lambda a, b: a % b, lambda a, b: a - anp.floor(a / b) * b, lambda a, b: a % b, 2,
         domain="away_from_zero"),
    Case("clone", lambda a: a.clone() * 2, lambda a: a * 2, lambda a: a.clone() * 2),
    Case("softmax", dp.softmax, _ag_softmax, lambda a: a.softmax(-1), min_dims=1),
    Case(
        "log_softmax",
        dp.log_softmax,
        lambda a: a - asp.logsumexp(a, axis=-1, keepdims=True),
        lambda a: a.log_softmax(-1),
        min_dims=1,
    ),
]
UNARY = [c for c in CASES if c.arity == 1]
BINARY = [c for c in CASES if c.arity == 2]


def _values(rng: np.random.Generator, shape: tuple, domain: str) -> np.ndarray:
    x = rng.uniform(-2, 2, size=shape)
    if domain == "positive":
        return rng.uniform(0.3, 2, size=shape)
    if domain == "away_from_zero":
        return np.sign(x + 1e-12) * (np.abs(x) + 0.2)
    return x


def _vjp_agrees_with_autograd(case: Case, arrays: list[np.ndarray], rng: np.random.Generator) -> None:
    leaves = [dp.tensor(x, requires_grad=True) for x in arrays]
    out = case.fn(*leaves)
    v = rng.standard_normal(out.shape)
    out.backward(v)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.array, case.ag(*arrays), rtol=1e-10, atol=1e-12)
    for i, leaf in enumerate(leaves):
        expected = autograd.grad(lambda *xs: anp.sum(case.ag(*xs) * v), i)(*arrays)
        np.testing.assert_allclose(
            leaf.grad, expected, rtol=1e-8, atol=1e-10, err_msg=f"{case.name} input {i}"
        )


SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("case", UNARY, ids=lambda c: c.name)
@SETTINGS
@given(data=st.data())
def test_unary_op_gradient(case: Case, data) -> None:
    shape = data.draw(array_shapes(min_dims=max(case.min_dims, 0), max_dims=3, min_side=1, max_side=4))
    if case.min_dims == 0 and data.draw(st.booleans()):
        shape = ()
    seed = data.draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    x = _values(rng, shape, case.domain)
    assert dp.gradcheck(case.fn, x)
    _vjp_agrees_with_autograd(case, [x], rng)


@pytest.mark.parametrize("case", BINARY, ids=lambda c: c.name)
@SETTINGS
@given(
    shapes=mutually_broadcastable_shapes(num_shapes=2, max_dims=3, min_side=1, max_side=3),
    seed=st.integers(0, 2**16),
)
def test_binary_op_gradient_with_broadcasting(case: Case, shapes, seed: int) -> None:
    rng = np.random.default_rng(seed)
    a, b = (_values(rng, s, case.domain) for s in shapes.input_shapes)
    assert dp.gradcheck(case.fn, a, b)
    _vjp_agrees_with_autograd(case, [a, b], rng)


@SETTINGS
@given(
    shape=array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4),
    seed=st.integers(0, 2**16),
    keepdims=st.booleans(),
    which=st.sampled_from(["sum", "mean", "amax", "amin", "var", "std", "prod", "logsumexp"]),
    data=st.data(),
)
def test_reductions_over_axes(shape, seed, keepdims, which, data) -> None:
    ndim = len(shape)
    axis = data.draw(
        st.one_of(
            st.integers(-ndim, ndim - 1),
            st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True).map(tuple),
        )
    )
    x = np.random.default_rng(seed).uniform(-2, 2, shape)
    count = int(np.prod([shape[a] for a in np.atleast_1d(axis)]))
    # var/std: PyTorch's default (unbiased) where there are two values or more, else the population formula
    extra, ddof = ({}, {"ddof": 1}) if count > 1 else ({"correction": 0}, {"ddof": 0})
    if which not in ("var", "std"):
        extra, ddof = {}, {}
    ours = {"logsumexp": lambda t: dp.logsumexp(t, axis=axis, keepdims=keepdims)}.get(
        which, lambda t: getattr(t, which)(axis=axis, keepdims=keepdims, **extra)
    )
    theirs = {"logsumexp": lambda a: asp.logsumexp(a, axis=axis, keepdims=keepdims)}.get(
        which, lambda a: getattr(anp, which)(a, axis=axis, keepdims=keepdims, **ddof)
    )
    if which == "std" and count == 1:
        return  # a single value: std is 0 and its derivative undefined (NaN in both libraries)
    case = Case(which, ours, theirs, None)
    assert dp.gradcheck(ours, x)
    _vjp_agrees_with_autograd(case, [x], np.random.default_rng(seed + 1))


def test_var_with_ddof_matches_autograd() -> None:
    x = np.random.default_rng(3).standard_normal((4, 5))
    case = Case("var_ddof", lambda t: t.var(axis=1, ddof=1), lambda a: anp.var(a, axis=1, ddof=1), None)
    assert dp.gradcheck(case.fn, x)
    _vjp_agrees_with_autograd(case, [x], np.random.default_rng(0))


MATMUL_SHAPES = [
    ((3,), (3,)),
    ((3,), (3, 4)),
    ((2, 3), (3,)),
    ((2, 3), (3, 4)),
    ((5, 2, 3), (3, 4)),
    ((2, 3), (5, 3, 4)),
    ((5, 2, 3), (5, 3, 4)),
    ((1, 2, 3), (4, 3, 2)),
    ((6, 1, 2, 3), (5, 3, 1)),
    ((4,), (2, 4, 3)),
    ((2, 3, 4), (4,)),
]


@pytest.mark.parametrize("shape_a, shape_b", MATMUL_SHAPES, ids=str)
def test_matmul_gradient_1d_2d_batched(shape_a, shape_b) -> None:
    shapes = (shape_a, shape_b)
    rng = np.random.default_rng(len(shapes[0]) * 10 + len(shapes[1]))
    a, b = (rng.standard_normal(s) for s in shapes)
    case = Case("matmul", lambda x, y: x @ y, anp.matmul, None, 2)
    assert dp.gradcheck(case.fn, a, b)
    _vjp_agrees_with_autograd(case, [a, b], rng)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("x_shape", [(4, 3), (2, 4, 3)])
def test_linear_gradient(bias: bool, x_shape) -> None:
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal((5, 3)), rng.standard_normal(5)
    if bias:
        case = Case("linear", ops.linear, lambda x, w, b: anp.matmul(x, w.T) + b, None, 3)
        arrays = [x, w, b]
    else:
        case = Case("linear", ops.linear, lambda x, w: anp.matmul(x, w.T), None, 2)
        arrays = [x, w]
    assert dp.gradcheck(case.fn, *arrays)
    _vjp_agrees_with_autograd(case, arrays, rng)


def test_softmax_and_logsumexp_along_other_axes() -> None:
    x = np.random.default_rng(2).standard_normal((3, 4, 2))
    for axis in (0, 1, -1):
        for ours, theirs in [
            (lambda t, axis=axis: dp.softmax(t, axis=axis), lambda a, axis=axis: _ag_softmax(a, axis)),
            (
                lambda t, axis=axis: dp.log_softmax(t, axis=axis),
                lambda a, axis=axis: a - asp.logsumexp(a, axis=axis, keepdims=True),
            ),
        ]:
            assert dp.gradcheck(ours, x)
            _vjp_agrees_with_autograd(Case("s", ours, theirs, None), [x], np.random.default_rng(axis + 5))


def test_getitem_int_array_scatters_with_accumulation_in_2d() -> None:
    x = np.random.default_rng(4).standard_normal((4, 3))
    rows, cols = np.array([0, 2, 0, 0]), np.array([1, 1, 1, 2])
    case = Case("fancy", lambda t: t[rows, cols], lambda a: a[rows, cols], None)
    assert dp.gradcheck(case.fn, x)
    _vjp_agrees_with_autograd(case, [x], np.random.default_rng(0))
    t = dp.tensor(x, requires_grad=True)
    t[rows, cols].sum().backward()
    expected = np.zeros((4, 3))
    expected[0, 1], expected[2, 1], expected[0, 2] = 2, 1, 1
    np.testing.assert_array_equal(t.grad, expected)


def test_a_reused_tensor_gets_the_sum_of_its_paths() -> None:
    """x feeds three ops; backprop must add the three contributions (the chain rule's sum)."""
    x = np.random.default_rng(5).standard_normal((3, 2))
    case = Case(
        "diamond",
        lambda t: (dp.sigmoid(t) * t + dp.exp(t) * t.sum(axis=0)).sum(),
        lambda a: anp.sum(_ag_sigmoid(a) * a + anp.exp(a) * anp.sum(a, axis=0)),
        None,
    )
    assert dp.gradcheck(case.fn, x)
    _vjp_agrees_with_autograd(case, [x], np.random.default_rng(0))


# ----------------------------------------------------------------- vs PyTorch
TORCH_SHAPES = {1: [(3, 4), (1, 4)], 2: [((3, 4), (3, 4)), ((2, 1, 4), (3, 1))]}


@pytest.mark.parametrize("case", [c for c in CASES if c.th is not None], ids=lambda c: c.name)
def test_gradient_matches_torch(case: Case) -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(11)
    for shapes in TORCH_SHAPES[case.arity]:
        shapes = (shapes,) if case.arity == 1 else shapes
        _agrees_with_torch(case, [_values(rng, s, case.domain) for s in shapes], rng, torch)


def _agrees_with_torch(case: Case, arrays: list[np.ndarray], rng: np.random.Generator, torch) -> None:
    """The same values and the same vector-Jacobian product as PyTorch, for a random upstream gradient."""
    leaves = [dp.tensor(x, requires_grad=True) for x in arrays]
    out = case.fn(*leaves)
    v = rng.standard_normal(out.shape)
    out.backward(v)
    tleaves = [torch.tensor(x, requires_grad=True) for x in arrays]
    tout = case.th(*tleaves)
    tout.backward(torch.tensor(v).reshape(tout.shape))
    np.testing.assert_allclose(out.array, tout.detach().numpy().reshape(out.shape), rtol=1e-9, atol=1e-12)
    for leaf, tleaf in zip(leaves, tleaves, strict=True):
        np.testing.assert_allclose(leaf.grad, tleaf.grad.numpy(), rtol=1e-8, atol=1e-10, err_msg=case.name)


@pytest.mark.parametrize("shape_a, shape_b", MATMUL_SHAPES, ids=str)
def test_matmul_gradient_matches_torch(shape_a, shape_b) -> None:
    shapes = (shape_a, shape_b)
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    a, b = (rng.standard_normal(s) for s in shapes)
    ta, tb = (torch.tensor(x, requires_grad=True) for x in (a, b))
    da, db = (dp.tensor(x, requires_grad=True) for x in (a, b))
    out = da @ db
    tout = ta @ tb
    v = rng.standard_normal(out.shape)
    out.backward(v)
    tout.backward(torch.tensor(v))
    np.testing.assert_allclose(da.grad, ta.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(db.grad, tb.grad.numpy(), rtol=1e-10)


# ----------------------------------------------------------------- PyTorch's shape, indexing and ordering ops
# Fixed shapes (these ops take dims and indices that must fit the shape); each checked against finite
# differences, HIPS autograd and PyTorch, like the cases above, and run on the stand-in array library.
def _raw(a):
    """The plain values inside an autograd box (for index computations that carry no gradient)."""
    return getattr(a, "_value", a)


def _ag_sort(a, axis, descending=False):
    order = np.argsort(-_raw(a) if descending else _raw(a), axis=axis, kind="stable")
    return a[_grid(order, axis)]


def _grid(index, axis):
    parts = list(np.indices(index.shape, sparse=True))
    parts[axis] = index
    return tuple(parts)


GATHER_INDEX = np.array([[0, 0, 3], [1, 2, 1], [3, 3, 0]])
SCATTER_INDEX = np.array([[3, 0], [1, 2], [0, 1]])  # unique within each row
SCATTER_ADD_INDEX = np.array([[3, 3], [1, 2], [0, 0]])  # repeats add up
MASK = np.array([[True, False, False, True], [False, True, False, False], [True, True, False, False]])


def _one_hot(index, classes):
    return (index[..., None] == np.arange(classes)).astype(np.float64)


FIXED = [
    (Case("permute", lambda a: a.permute(2, 0, 1), lambda a: anp.transpose(a, (2, 0, 1)),
          lambda a: a.permute(2, 0, 1)), [(2, 3, 4)]),
    (Case("transpose_two", lambda a: a.transpose(0, 2), lambda a: anp.swapaxes(a, 0, 2),
          lambda a: a.transpose(0, 2)), [(2, 3, 4)]),
    (Case("mT", lambda a: a.mT, lambda a: anp.swapaxes(a, -1, -2), lambda a: a.mT), [(2, 3, 4)]),
    (Case("t", lambda a: a.t(), lambda a: a.T, lambda a: a.t()), [(3, 4)]),
    (Case("flatten_range", lambda a: a.flatten(1, 2), lambda a: anp.reshape(a, (2, 12, 2)),
          lambda a: a.flatten(1, 2)), [(2, 3, 4, 2)]),
    (Case("unflatten", lambda a: a.unflatten(1, (2, 3)), lambda a: anp.reshape(a, (4, 2, 3)),
          lambda a: a.unflatten(1, (2, 3))), [(4, 6)]),
    (Case("view_infer", lambda a: a.view(-1, 2), lambda a: anp.reshape(a, (-1, 2)), lambda a: a.view(-1, 2)),
     [(3, 4)]),
    (Case("expand", lambda a: a.expand(2, 3, 4), lambda a: a * anp.ones((2, 3, 4)),
          lambda a: a.expand(2, 3, 4)), [(3, 1)]),
    (Case("expand_keep", lambda a: a.expand(-1, 4), lambda a: a * anp.ones((3, 4)),
          lambda a: a.expand(-1, 4)),
     [(3, 1)]),
    (Case("repeat", lambda a: a.repeat(2, 1, 3), lambda a: anp.tile(a, (2, 1, 3)),
          lambda a: a.repeat(2, 1, 3)),
     [(2, 3)]),
    (Case("split_sizes", lambda a: a.split([1, 3], dim=1)[1] * 2, lambda a: a[:, 1:4] * 2,
          lambda a: a.split([1, 3], dim=1)[1] * 2), [(3, 4)]),
    (Case("split_size", lambda a: a.split(3)[-1] * 2, lambda a: a[6:] * 2, lambda a: a.split(3)[-1] * 2),
     [(7, 2)]),
    (Case("chunk", lambda a: a.chunk(3)[-1] * 2, lambda a: a[6:] * 2, lambda a: a.chunk(3)[-1] * 2),
     [(7, 2)]),
    (Case("unbind", lambda a: a.unbind(1)[1] * 3, lambda a: a[:, 1] * 3, lambda a: a.unbind(1)[1] * 3),
     [(3, 4)]),
    (Case("narrow", lambda a: a.narrow(1, 1, 2), lambda a: a[:, 1:3], lambda a: a.narrow(1, 1, 2)), [(3, 4)]),
    (Case("flip", lambda a: a.flip(0), lambda a: a[::-1], lambda a: a.flip(0)), [(3, 4)]),
    (Case("squeeze_dim", lambda a: a.squeeze(1).squeeze(0), lambda a: anp.reshape(a, (3, 4)),
          lambda a: a.squeeze(1).squeeze(0)), [(3, 1, 4)]),
    (Case("unsqueeze", lambda a: a.unsqueeze(-1), lambda a: a[..., None], lambda a: a.unsqueeze(-1)),
     [(3, 4)]),
    (Case("cat_dim", lambda a, b: dp.cat([a, b], dim=1), lambda a, b: anp.concatenate([a, b], axis=1),
          lambda a, b: _th().cat([a, b], dim=1), 2), [(3, 2), (3, 4)]),
    (Case("stack_dim", lambda a, b: dp.stack((a, b), dim=1), lambda a, b: anp.stack([a, b], axis=1),
          lambda a, b: _th().stack((a, b), dim=1), 2), [(3, 4), (3, 4)]),
    (Case("gather", lambda a: a.gather(1, dp.tensor(GATHER_INDEX)),
          lambda a: a[np.arange(3)[:, None], GATHER_INDEX],
          lambda a: a.gather(1, _th().tensor(GATHER_INDEX))), [(3, 4)]),
    (Case("index_select", lambda a: a.index_select(0, dp.tensor([2, 0, 2])), lambda a: a[np.array([2, 0, 2])],
          lambda a: a.index_select(0, _th().tensor([2, 0, 2]))), [(3, 4)]),
    (Case("take_along_dim", lambda a: dp.take_along_dim(a, dp.tensor(GATHER_INDEX[:, :1]), 1),
          lambda a: a[np.arange(3)[:, None], GATHER_INDEX[:, :1]],
          lambda a: _th().take_along_dim(a, _th().tensor(GATHER_INDEX[:, :1]), 1)), [(3, 4)]),
    (Case("scatter", lambda a, b: a.scatter(1, dp.tensor(SCATTER_INDEX), b),
          lambda a, b: a * (1 - _one_hot(SCATTER_INDEX, 4).sum(1)) + anp.einsum("rk,rkc->rc", b,
                                                                                _one_hot(SCATTER_INDEX, 4)),
          lambda a, b: a.scatter(1, _th().tensor(SCATTER_INDEX), b), 2), [(3, 4), (3, 2)]),
    (Case("scatter_add", lambda a, b: a.scatter_add(1, dp.tensor(SCATTER_ADD_INDEX), b),
          lambda a, b: a + anp.einsum("rk,rkc->rc", b, _one_hot(SCATTER_ADD_INDEX, 4)),
          lambda a, b: a.scatter_add(1, _th().tensor(SCATTER_ADD_INDEX), b), 2), [(3, 4), (3, 2)]),
    (Case("masked_fill", lambda a: a.masked_fill(dp.tensor(MASK), 0.5), lambda a: anp.where(MASK, 0.5, a),
          lambda a: a.masked_fill(_th().tensor(MASK), 0.5)), [(3, 4)]),
    (Case("max_dim", lambda a: a.max(1).values, lambda a: anp.max(a, axis=1), lambda a: a.max(1).values),
     [(3, 4)]),
    (Case("min_dim_keep", lambda a: a.min(0, keepdim=True)[0], lambda a: anp.min(a, axis=0, keepdims=True),
          lambda a: a.min(0, keepdim=True)[0]), [(3, 4)]),
    (Case("sort", lambda a: a.sort(dim=0).values, lambda a: _ag_sort(a, 0), lambda a: a.sort(dim=0).values),
     [(3, 4)]),
    (Case("sort_descending", lambda a: a.sort(descending=True)[0], lambda a: _ag_sort(a, -1, True),
          lambda a: a.sort(descending=True)[0]), [(3, 4)]),
    (Case("topk", lambda a: a.topk(2).values, lambda a: _ag_sort(a, -1, True)[:, :2],
          lambda a: a.topk(2).values), [(3, 4)]),
    (Case("cumsum", lambda a: a.cumsum(1), lambda a: anp.cumsum(a, 1), lambda a: a.cumsum(1)), [(3, 4)]),
    (Case("prod_dim_with_zero", lambda a: (a * a.new_tensor([1.0, 0.0, 1.0, 1.0])).prod(1),
          lambda a: a[:, 0] * (a[:, 1] * 0.0) * a[:, 2] * a[:, 3],  # (autograd's prod divides by 0 here)
          lambda a: (a * _th().tensor([1.0, 0.0, 1.0, 1.0])).prod(1)), [(3, 4)]),
    (Case("norm_dim", lambda a: a.norm(dim=1), lambda a: anp.sqrt(anp.sum(a * a, axis=1)),
          lambda a: a.norm(dim=1)), [(3, 4)]),
    (Case("norm_inf", lambda a: a.norm(p=float("inf"), dim=1), lambda a: anp.max(anp.abs(a), axis=1),
          lambda a: a.norm(p=float("inf"), dim=1)), [(3, 4)]),
    (Case("var_default", lambda a: a.var(), lambda a: anp.var(a, ddof=1), lambda a: a.var()), [(3, 4)]),
    (Case("std_dim", lambda a: a.std(1, keepdim=True), lambda a: anp.std(a, axis=1, ddof=1, keepdims=True),
          lambda a: a.std(1, keepdim=True)), [(3, 4)]),
    (Case("einsum_matmul", lambda a, b: dp.einsum("ij,jk->ik", a, b),
          lambda a, b: anp.einsum("ij,jk->ik", a, b),
          lambda a, b: _th().einsum("ij,jk->ik", a, b), 2), [(3, 4), (4, 2)]),
    (Case("einsum_batch", lambda a, b: dp.einsum("bij,bkj->bik", a, b),
          lambda a, b: anp.einsum("bij,bkj->bik", a, b),
          lambda a, b: _th().einsum("bij,bkj->bik", a, b), 2), [(2, 3, 4), (2, 5, 4)]),
    (Case("einsum_sum_inside", lambda a, b: dp.einsum("ij,k->ik", a, b),
          lambda a, b: anp.einsum("ij,k->ik", a, b),
          lambda a, b: _th().einsum("ij,k->ik", a, b), 2), [(3, 4), (2,)]),
    (Case("einsum_ellipsis", lambda a, b: dp.einsum("...ij,...jk", a, b),
          lambda a, b: anp.einsum("...ij,...jk", a, b), lambda a, b: _th().einsum("...ij,...jk", a, b), 2),
     [(2, 3, 4), (2, 4, 2)]),
    (Case("mm", dp.mm, anp.dot, lambda a, b: _th().mm(a, b), 2), [(3, 4), (4, 2)]),
    (Case("bmm", dp.bmm, anp.matmul, lambda a, b: _th().bmm(a, b), 2), [(2, 3, 4), (2, 4, 2)]),
    (Case("dot", dp.dot, anp.dot, lambda a, b: _th().dot(a, b), 2), [(4,), (4,)]),
    (Case("outer", dp.outer, anp.outer, lambda a, b: _th().outer(a, b), 2), [(3,), (4,)]),
    (Case("softmax_dim", lambda a: dp.softmax(a, dim=0), lambda a: _ag_softmax(a, 0),
          lambda a: _th().softmax(a, dim=0)), [(3, 4)]),
]  # fmt: skip


@pytest.mark.parametrize("case, shapes", FIXED, ids=[c.name for c, _ in FIXED])
def test_pytorch_shape_and_indexing_op_gradients(case: Case, shapes) -> None:
    rng = np.random.default_rng(21)
    arrays = [rng.uniform(0.3, 2.0, s) * rng.choice([-1, 1], s) for s in shapes]
    assert dp.gradcheck(case.fn, *arrays)
    _vjp_agrees_with_autograd(case, arrays, rng)
    _agrees_with_torch(case, arrays, rng, pytest.importorskip("torch"))


def test_to_keeps_the_gradient_inside_a_graph() -> None:
    """The issue's example: ((x*3) + (x*2).to('cpu')).sum().backward() gives 5, not 3 (PyTorch's answer)."""
    x = dp.tensor([1.0, 2.0], requires_grad=True)
    ((x * 3) + (x * 2).to("cpu")).sum().backward()
    np.testing.assert_array_equal(x.grad, [5.0, 5.0])
    y = dp.tensor([1.0, 2.0], dtype=np.float64, requires_grad=True)
    (y.float() * y.to(dp.float32)).sum().backward()  # casts are differentiable, the gradient in y's dtype
    assert y.grad.dtype == np.float64
    np.testing.assert_allclose(y.grad, 2 * y.array, rtol=1e-7)
    assert not y.long().requires_grad  # integer results carry no gradient, as in PyTorch


def test_floor_divide_has_no_derivative_as_in_pytorch() -> None:
    x = dp.tensor([3.0, 5.0], requires_grad=True)
    np.testing.assert_array_equal((x // 2).array, [1.0, 2.0])
    with pytest.raises(dp.GraphError, match="floor_divide.*no derivative"):
        ((x // 2) + x).sum().backward()
