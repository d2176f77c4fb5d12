"""Every op, layer, loss, initialiser and creation function, run on another array library.

deltaprop must run on CuPy arrays exactly as on NumPy ones: every op and layer
allocates, draws and computes with the array module of its inputs. Without a
GPU that is checked against a stand-in, `deltaprop.testing.StandinArray`: a
NumPy array in a box that NumPy cannot open, with its own namespace, which
behaves like CuPy where it matters (NumPy's ufunc and array-function protocols
dispatch to it, implicit conversion to NumPy and host arrays mixed in raise
TypeError, ``.get()`` copies to the host, host reads are counted).

Why not array-api-strict, the package made for such tests: its arrays have no
NumPy methods (``.sum``, ``.reshape``, ``.astype``) and no ``ufunc.at``, and
NumPy ufuncs silently turn them into host arrays instead of failing, so the
NumPy-API ops (which CuPy runs as they are) could not be tested with it at all,
and a host fallback in a ufunc would pass unseen.
`test_array_api_strict_cannot_stand_in` keeps that evidence.

Each test runs the same computation on NumPy and on the stand-in and checks
that the outputs and every gradient are stand-in arrays (nothing fell back to
the host) and that the values equal the NumPy run, to float rounding in
float64. Where CuPy is installed and sees a GPU, the same tests run on CuPy
(marked ``gpu``; they skip with the reason otherwise).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_ops_gradients import CASES, FIXED, MATMUL_SHAPES, _values

import deltaprop as dp
from deltaprop import backend, nn, ops
from deltaprop import random as dp_random
from deltaprop.nn import functional as F
from deltaprop.nn import init
from deltaprop.testing import StandinArray, count_host_reads, standin


def _cupy_or_skip():
    cupy = pytest.importorskip("cupy", reason="CuPy is not installed: the GPU run of these tests is skipped")
    if not backend.gpu_available():
        pytest.skip("CuPy is installed but sees no GPU")
    return cupy


@pytest.fixture(params=["standin", pytest.param("cupy", marks=pytest.mark.gpu)])
def xp(request):
    """The array library under test: the stand-in always, CuPy where there is a GPU."""
    return standin if request.param == "standin" else _cupy_or_skip()


# --------------------------------------------------------------------------- helpers


def _device_of(xp) -> str:
    """The device name Module.to takes for an array library."""
    return "standin" if xp is standin else "cuda"


def _assert_on(xp, array, what: str) -> None:
    assert isinstance(array, xp.ndarray), f"{what} is a {type(array).__name__}, not an array of {xp.__name__}"


def _leaves(arrays, xp, requires_grad: bool = True) -> list[dp.Tensor]:
    return [dp.tensor(backend.to_module(a.copy(), xp), requires_grad=requires_grad) for a in arrays]


def _forward_backward(fn, arrays, xp, seed: int = 0):
    """fn on leaves in ``xp``, then backward with a fixed random upstream gradient."""
    leaves = _leaves(arrays, xp)
    out = fn(*leaves)
    upstream = np.random.default_rng(seed).standard_normal(out.shape)
    out.backward(backend.to_module(upstream, xp))
    return out, [leaf.grad_array for leaf in leaves]


def _recorded_ops(out: dp.Tensor) -> set[str]:
    seen, stack = set(), [out]
    while stack:
        node = stack.pop()
        if node is not None and node._op is not None:
            seen.add(node._op)
            stack.extend(node._parents)
    return seen


def _same_as_numpy(fn, arrays, xp, rtol: float = 1e-12) -> set[str]:
    """Run on NumPy and on ``xp``; outputs and gradients must live in xp and agree. Returns the ops run."""
    expected, expected_grads = _forward_backward(fn, arrays, np)
    out, grads = _forward_backward(fn, arrays, xp)
    _assert_on(xp, out.array, "the output")
    np.testing.assert_allclose(backend.to_numpy(out.array), expected.array, rtol=rtol, atol=1e-14)
    for i, (grad, want) in enumerate(zip(grads, expected_grads, strict=True)):
        _assert_on(xp, grad, f"the gradient of input {i}")
        np.testing.assert_allclose(backend.to_numpy(grad), want, rtol=rtol, atol=1e-14, err_msg=f"input {i}")
    return _recorded_ops(out)


# --------------------------------------------------------------------------- the stand-in itself


def test_array_api_strict_cannot_stand_in() -> None:
    """The reason the stand-in is our own type (revisit the choice if this ever fails)."""
    strict = pytest.importorskip("array_api_strict")
    x = strict.asarray([1.0, -2.0])
    assert type(np.exp(x)) is np.ndarray  # a NumPy ufunc silently computes on the host
    assert not hasattr(x, "sum") and not hasattr(x, "astype")  # no NumPy methods, which the ops use


def test_the_stand_in_refuses_the_host_as_cupy_does() -> None:
    x = standin.asarray(np.arange(6.0).reshape(2, 3))
    with pytest.raises(TypeError, match="get()"):
        np.asarray(x)
    for mix in (lambda: x + np.ones(3), lambda: np.where(x > 1, x, np.zeros(3)), lambda: x[np.array([0])]):
        with pytest.raises(TypeError, match="host numpy.ndarray"):
            mix()
    with pytest.raises(TypeError):  # like CuPy, ufunc.at only through the namespace (standin.add.at)
        np.add.at(x, 0, 1.0)
    scipy_special = pytest.importorskip("scipy.special")
    with pytest.raises(TypeError):  # and no SciPy ufuncs: backend.special_functions(xp) finds erf
        scipy_special.erf(x)
    assert type(np.exp(x)) is StandinArray and type(x.sum()) is StandinArray  # 0-d, not a host scalar
    np.testing.assert_array_equal(x.get(), np.arange(6.0).reshape(2, 3))


def test_backend_finds_moves_and_names_registered_arrays() -> None:
    host = np.arange(3.0)
    device = backend.to_module(host, standin)
    assert backend.array_module(device) is standin and backend.array_module(host) is np
    assert backend.array_module(2.0) is np and backend.array_module([1, 2]) is np
    assert backend.to_module(device, standin) is device
    np.testing.assert_array_equal(backend.to_numpy(device), host)
    assert backend.device_module("standin") is standin and backend.device_module("cpu") is np
    with pytest.raises(ValueError, match="unknown device 'tpu'.*register_device"):
        backend.device_module("tpu")
    with pytest.raises(ValueError, match="built in"):
        backend.register_device("cpu", standin)
    with pytest.raises(ValueError, match="unknown backend 'tpu'"):
        backend.set_default_backend("tpu")


def test_tensor_to_moves_a_leaf_there_and_back() -> None:
    """As in PyTorch: moving a leaf is an op; the copy is no leaf, and the gradient reaches the original."""
    t = dp.tensor([1.0, 2.0], requires_grad=True)
    moved = t.to("standin")
    assert type(moved.array) is StandinArray and moved.requires_grad and not moved.is_leaf
    assert moved.device == dp.device("standin") and t.to("cpu") is t and moved.to("standin") is moved
    back = moved.to("cpu")
    assert type(back.array) is np.ndarray
    np.testing.assert_array_equal(back.array, t.array)
    (back * 3).sum().backward()
    np.testing.assert_array_equal(t.grad, [3.0, 3.0])
    assert moved.detach().is_leaf and type(moved.cpu().array) is np.ndarray


# --------------------------------------------------------------------------- every op

SHAPES = {1: [((3, 4),), ((2, 3, 2),)], 2: [((3, 4), (3, 4)), ((2, 1, 4), (3, 1))]}


def _run_case(case, xp) -> set[str]:
    rng = np.random.default_rng(3)
    seen = set()
    for shapes in SHAPES[case.arity]:
        seen |= _same_as_numpy(case.fn, [_values(rng, s, case.domain) for s in shapes], xp)
    return seen


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_op_runs_on_the_array_module_of_its_inputs(case, xp) -> None:
    _run_case(case, xp)


EXTRA_OPS = [
    ("astype", lambda a: ops.astype(a, np.float32).astype(np.float64) * a, [(3, 4)]),
    ("linear", ops.linear, [(4, 3), (5, 3), (5,)]),
    ("linear_3d_no_bias", ops.linear, [(2, 4, 3), (5, 3)]),
    ("sum_axis", lambda a: a.sum(axis=1, keepdims=True), [(3, 4, 2)]),
    ("mean_axes", lambda a: a.mean(axis=(0, 2)), [(3, 4, 2)]),
    ("max_axis", lambda a: a.amax(axis=-1), [(3, 4)]),
    ("min_axis", lambda a: a.min(axis=0, keepdims=True).values, [(3, 4)]),
    ("to_the_host_and_back", lambda a: ops.to_module(ops.to_module(a, np), a.xp) * 2, [(3, 4)]),
    ("cast_float32", lambda a: ops.cast(a, np.float32).double() * a, [(3, 4)]),
    ("var_ddof", lambda a: a.var(axis=1, ddof=1), [(3, 4)]),
    ("logsumexp_axis", lambda a: dp.logsumexp(a, axis=1), [(3, 4)]),
    ("softmax_axis0", lambda a: dp.softmax(a, axis=0), [(3, 4)]),
    ("getitem_rows_cols", lambda a: a[np.array([0, 2, 0]), np.array([1, 1, 3])], [(3, 4)]),
    ("getitem_list", lambda a: a[[1, 1, 0]], [(3, 4)]),
    ("transpose_axes", lambda a: a.transpose(2, 0, 1), [(2, 3, 4)]),
    ("expand_squeeze", lambda a: dp.squeeze(dp.expand_dims(a, (0, -1)), -1), [(3, 4)]),
    ("flatten_start", lambda a: ops.flatten(a, 1), [(2, 3, 4)]),
    ("concatenate_axis1", lambda a, b: dp.concatenate([a, b], axis=1), [(3, 2), (3, 4)]),
    ("pad_widths", lambda a: dp.pad(a, ((1, 0), (0, 2))), [(3, 4)]),
    ("clip_min_only", lambda a: dp.clip(a, min=0.1), [(3, 4)]),
    ("where_tensor_condition", lambda a, b: dp.where(a > b, a, b), [(3, 4), (3, 4)]),
    ("scalar_arithmetic", lambda a: (2.0 - a) / 3.0 + a**1.5 * 0.5, [(3, 4)]),
    ("l2_penalty", lambda a, b: ops.l2_penalty(a, b, scale=0.3), [(3, 4), (5,)]),
]


def _run_variant(fn, shapes, xp) -> set[str]:
    rng = np.random.default_rng(4)
    return _same_as_numpy(fn, [rng.uniform(0.2, 2.0, s) for s in shapes], xp)


@pytest.mark.parametrize("fn, shapes", [c[1:] for c in EXTRA_OPS], ids=[c[0] for c in EXTRA_OPS])
def test_more_op_variants_run_on_the_array_module(fn, shapes, xp) -> None:
    _run_variant(fn, shapes, xp)


def _run_matmul(shape_a, shape_b, xp) -> set[str]:
    rng = np.random.default_rng(5)
    arrays = [rng.standard_normal(shape_a), rng.standard_normal(shape_b)]
    return _same_as_numpy(lambda a, b: a @ b, arrays, xp)


@pytest.mark.parametrize("shape_a, shape_b", MATMUL_SHAPES, ids=str)
def test_matmul_runs_on_the_array_module(shape_a, shape_b, xp) -> None:
    _run_matmul(shape_a, shape_b, xp)


def _run_fixed(case, shapes, xp) -> set[str]:
    rng = np.random.default_rng(9)
    arrays = [rng.uniform(0.3, 2.0, s) * rng.choice([-1, 1], s) for s in shapes]
    return _same_as_numpy(case.fn, arrays, xp)


@pytest.mark.parametrize("case, shapes", FIXED, ids=[c.name for c, _ in FIXED])
def test_pytorch_shape_and_indexing_ops_run_on_the_array_module(case, shapes, xp) -> None:
    _run_fixed(case, shapes, xp)


# Ops that record another op's node: flatten/expand_dims/squeeze are reshapes,
# swapaxes and permute transposes, swish is silu, the named products matmul or einsum, pieces slices.
RECORDED_AS = {"flatten": "reshape", "expand_dims": "reshape", "squeeze": "reshape", "swapaxes": "transpose",
               "swish": "silu", "permute": "transpose", "unflatten": "reshape", "mm": "matmul",
               "bmm": "matmul",
               "dot": "matmul", "outer": "einsum", "split": "getitem", "chunk": "getitem", "flip": "getitem",
               "std": "var", "cast": "astype", "to_module": "to", "floor_divide": None}  # fmt: skip


def test_the_op_tables_above_cover_every_op_of_deltaprop_ops() -> None:
    """Each public op must record its node in one of the stand-in runs above (a new op needs a case)."""
    seen = set().union(*(_run_case(case, standin) for case in CASES))
    seen |= set().union(*(_run_variant(fn, shapes, standin) for _, fn, shapes in EXTRA_OPS))
    seen |= set().union(*(_run_fixed(case, shapes, standin) for case, shapes in FIXED))
    seen |= _run_matmul((2, 3), (3, 4), standin)
    missing = {name for name in ops.__all__ if name not in RECORDED_AS and name not in seen}
    missing |= {name for name, op in RECORDED_AS.items() if op is not None and op not in seen}
    assert not missing, f"ops no test runs on the stand-in: {sorted(missing)}"


def test_floor_divide_runs_on_the_array_module(xp) -> None:
    """(No derivative, so no gradient run: PyTorch's floor_divide has none either.)"""
    x = dp.tensor(backend.to_module(np.array([7.0, -7.0]), xp), requires_grad=True)
    out = x // 2
    _assert_on(xp, out.array, "the quotient")
    assert out.grad_fn == "floor_divide"
    np.testing.assert_array_equal(backend.to_numpy(out.array), [3.0, -4.0])


# The ops without a derivative (ops.CONSTANT_OPS): each run on the stand-in, its answer on the stand-in.
CONSTANT_CALLS = {
    "all": lambda a: a.all(1), "allclose": lambda a: dp.allclose(a, a + 1e-9), "any": lambda a: (a > 1).any(),
    "argmax": lambda a: a.argmax(1), "argmin": lambda a: a.argmin(), "argsort": lambda a: a.argsort(1),
    "argwhere": lambda a: dp.argwhere(a > 1), "count_nonzero": lambda a: dp.count_nonzero(a > 1, 0),
    "eq": lambda a: dp.eq(a, a), "equal": lambda a: dp.equal(a, a), "ge": lambda a: dp.ge(a, 1.0),
    "gt": lambda a: a.gt(a * 0.5), "isclose": lambda a: a.isclose(a), "isfinite": dp.isfinite,
    "isinf": dp.isinf,
    "isnan": dp.isnan, "le": lambda a: a.le(1.0), "logical_and": lambda a: dp.logical_and(a > 0, a < 1),
    "logical_not": lambda a: dp.logical_not(a > 1), "logical_or": lambda a: (a > 1).logical_or(a < 0.5),
    "logical_xor": lambda a: dp.logical_xor(a > 1, a > 0.5), "lt": lambda a: dp.lt(a, 1.0),
    "ne": lambda a: a.ne(1.0), "nonzero": lambda a: (a > 1).nonzero(),
    "unique": lambda a: dp.unique(a.round()),
}  # fmt: skip


def test_the_constant_ops_table_covers_every_constant_op() -> None:
    assert set(CONSTANT_CALLS) == set(ops.CONSTANT_OPS)


@pytest.mark.parametrize("name", sorted(CONSTANT_CALLS))
def test_constant_ops_answer_on_the_array_module(name, xp) -> None:
    host = np.random.default_rng(10).uniform(0.2, 2.0, (3, 4))
    expected = CONSTANT_CALLS[name](dp.tensor(host))
    got = CONSTANT_CALLS[name](dp.tensor(backend.to_module(host, xp)))
    if isinstance(expected, bool):
        assert got is expected
        return
    _assert_on(xp, got.array, f"the answer of {name}")
    assert not got.requires_grad and got.dtype == expected.dtype
    np.testing.assert_array_equal(backend.to_numpy(got.array), expected.array)


# --------------------------------------------------------------------------- losses

REGRESSION = ["mse", "squared_error", "l1", "huber", "bce", "bce_with_logits"]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", REGRESSION)
def test_elementwise_losses_run_on_the_array_module(name, reduction, xp) -> None:
    loss = type(nn.loss_by_name(name))(reduction=reduction)
    rng = np.random.default_rng(6)
    prediction = rng.uniform(0.05, 0.95, (4, 3))  # inside (0, 1) for BCE
    target = rng.uniform(0.0, 1.0, (4, 3))
    assert _same_as_numpy(loss, [prediction, target], xp)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("labels_as", ["device", "host", "list"])
def test_cross_entropy_with_labels_on_the_array_module(labels_as, smoothing, reduction, xp) -> None:
    rng = np.random.default_rng(7)
    logits = rng.standard_normal((5, 4))
    labels = np.array([0, 3, 1, 1, 2])
    given = {"device": backend.to_module(labels, xp), "host": labels, "list": labels.tolist()}[labels_as]
    loss = nn.CrossEntropyLoss(reduction=reduction, label_smoothing=smoothing)
    expected, (expected_grad,) = _forward_backward(lambda z: loss(z, labels), [logits], np)
    out, (grad,) = _forward_backward(lambda z: loss(z, given), [logits], xp)
    _assert_on(xp, out.array, "the loss")
    _assert_on(xp, grad, "the gradient")
    np.testing.assert_allclose(backend.to_numpy(out.array), expected.array, rtol=1e-12)
    np.testing.assert_allclose(backend.to_numpy(grad), expected_grad, rtol=1e-12)


def test_cross_entropy_with_probabilities_and_nll_on_the_array_module(xp) -> None:
    rng = np.random.default_rng(8)
    logits = rng.standard_normal((5, 4))
    probabilities = rng.dirichlet(np.ones(4), 5)
    labels = np.array([0, 3, 1, 1, 2])
    device_probabilities = dp.tensor(backend.to_module(probabilities, xp))
    device_labels = dp.tensor(backend.to_module(labels, xp))
    for ours_np, ours_xp in [
        (lambda z: F.cross_entropy(z, probabilities), lambda z: F.cross_entropy(z, device_probabilities)),
        (
            lambda z: F.nll_loss(F.log_softmax(z), labels),
            lambda z: F.nll_loss(F.log_softmax(z), device_labels),
        ),
        (
            lambda z: nn.NLLLoss(reduction="none")(z, labels),
            lambda z: nn.NLLLoss(reduction="none")(z, device_labels),
        ),
    ]:
        expected, (expected_grad,) = _forward_backward(ours_np, [logits], np)
        out, (grad,) = _forward_backward(ours_xp, [logits], xp)
        _assert_on(xp, grad, "the gradient")
        np.testing.assert_allclose(backend.to_numpy(out.array), expected.array, rtol=1e-12)
        np.testing.assert_allclose(backend.to_numpy(grad), expected_grad, rtol=1e-12)


# --------------------------------------------------------------------------- layers


LAYERS = [
    ("linear", lambda: nn.Linear(3, 4)),
    ("linear_no_bias", lambda: nn.Linear(3, 4, bias=False, dtype=np.float64)),
    *[(name, cls) for name, cls in nn.ACTIVATIONS.items()],
    ("softmax", lambda: nn.Softmax(dim=0)),
    ("log_softmax", nn.LogSoftmax),
    ("identity", nn.Identity),
    ("flatten", nn.Flatten),
    ("dropout_eval", lambda: nn.Dropout(0.5).eval()),
    ("mlp", lambda: nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2), nn.Sigmoid())),
]


@pytest.mark.parametrize("make", [c[1] for c in LAYERS], ids=[c[0] for c in LAYERS])
def test_layer_runs_on_the_array_module(make, xp) -> None:
    dp.manual_seed(0)
    reference, layer = make(), make()
    layer.load_state_dict(reference.state_dict())
    reference.double()
    layer.double().to(_device_of(xp))
    x = np.random.default_rng(9).standard_normal((2, 3))
    out, (grad_x,) = _forward_backward(layer, [x], xp)
    expected, (expected_x,) = _forward_backward(reference, [x], np)
    _assert_on(xp, out.array, "the output")
    _assert_on(xp, grad_x, "the input gradient")
    np.testing.assert_allclose(backend.to_numpy(out.array), expected.array, rtol=1e-12)
    np.testing.assert_allclose(backend.to_numpy(grad_x), expected_x, rtol=1e-12)
    for (name, param), ref in zip(layer.named_parameters(), reference.parameters(), strict=True):
        _assert_on(xp, param.grad_array, f"the gradient of {name}")
        got = backend.to_numpy(param.grad_array)
        np.testing.assert_allclose(got, ref.grad_array, rtol=1e-12, err_msg=name)


def test_dropout_draws_its_mask_on_the_device_from_the_package_generator(xp) -> None:
    x = dp.tensor(backend.to_module(np.ones((40, 50)), xp), requires_grad=True)
    dp.manual_seed(5)
    out = nn.Dropout(0.5)(x)
    out.sum().backward()
    _assert_on(xp, out.array, "the output")
    _assert_on(xp, x.grad_array, "the gradient")
    values = backend.to_numpy(out.array)
    assert set(np.unique(values)) == {0.0, 2.0} and 0.4 < (values == 0).mean() < 0.6
    np.testing.assert_array_equal(backend.to_numpy(x.grad_array), values)  # d(x * mask)/dx = mask
    after_one_draw = np.random.default_rng(5)
    after_one_draw.bit_generator.random_raw()  # the device generator's seed: one 64-bit draw
    assert dp.get_rng_state() == after_one_draw.bit_generator.state
    dp.manual_seed(5)
    np.testing.assert_array_equal(backend.to_numpy(nn.Dropout(0.5)(x).array), values)


def test_a_training_step_reads_nothing_from_the_host_and_uploads_nothing() -> None:
    dp.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.2), nn.Linear(8, 2)).to("standin")
    x = dp.tensor(standin.asarray(np.ones((6, 4), dtype=np.float32)))
    y = dp.tensor(standin.asarray(np.zeros((6, 2), dtype=np.float32)))
    with count_host_reads() as reads:
        nn.MSELoss()(model(x), y).backward()
    assert reads == []
    assert all(type(p.grad_array) is StandinArray for p in model.parameters())


def test_dropout_on_numpy_draws_what_it_always_drew() -> None:
    x = dp.tensor(np.arange(12.0, dtype=np.float32).reshape(3, 4))
    dp.manual_seed(3)
    out = F.dropout(x, 0.25)
    keep = np.random.default_rng(3).random((3, 4)) >= 0.25
    np.testing.assert_array_equal(out.array, x.array * (keep / 0.75).astype(np.float32))


# --------------------------------------------------------------------------- creation, init, random


@pytest.fixture
def default_on(xp):
    backend.set_default_backend("standin" if xp is standin else "cupy")
    yield xp
    backend.set_default_backend("numpy")


# (name, make, what it may copy from the host: Python data has to be uploaded once)
CREATIONS = [
    ("zeros", lambda: dp.zeros(2, 3), []),
    ("ones", lambda: dp.ones((2, 3), dtype=np.float64), []),
    ("full", lambda: dp.full((2, 3), 1.5), []),
    ("eye", lambda: dp.eye(3), []),
    ("eye_rect", lambda: dp.eye(2, 4), []),
    ("arange_int", lambda: dp.arange(5), []),
    ("arange_float", lambda: dp.arange(0.0, 1.0, 0.25), []),
    ("tensor_list", lambda: dp.tensor([1.0, 2.0]), ["upload"]),
    ("tensor_list_dtype", lambda: dp.tensor([[1, 2]], dtype=np.float64), ["upload"]),
    ("tensor_scalar", lambda: dp.tensor(3.0, requires_grad=True), ["upload"]),
    ("zeros_like", lambda: dp.zeros_like(dp.ones(2, 2)), []),
    ("ones_like", lambda: dp.ones_like(dp.zeros(2, 2)), []),
]


@pytest.mark.parametrize("make, copies", [c[1:] for c in CREATIONS], ids=[c[0] for c in CREATIONS])
def test_creation_functions_allocate_on_the_default_backend(make, copies, default_on) -> None:
    with count_host_reads() as reads:
        made = make()
    if default_on is standin:
        assert reads == copies  # made on the device, not on the host and copied over
    backend.set_default_backend("numpy")
    expected = make()
    _assert_on(default_on, made.array, "the new tensor")
    assert made.dtype == expected.dtype and made.requires_grad == expected.requires_grad
    np.testing.assert_array_equal(backend.to_numpy(made.array), expected.array)


@pytest.mark.parametrize("draw", [dp.randn, dp.rand], ids=["randn", "rand"])
def test_random_tensors_are_drawn_on_the_default_backend_and_repeat(draw, default_on) -> None:
    dp.manual_seed(11)
    with count_host_reads() as reads:
        first = draw(200, 3)
    assert reads == []
    dp.manual_seed(11)
    again, other = draw(200, 3), draw(200, 3)
    _assert_on(default_on, first.array, "the draw")
    assert first.dtype == np.float32 and first.shape == (200, 3)
    values = backend.to_numpy(first.array)
    np.testing.assert_array_equal(backend.to_numpy(again.array), values)
    assert not np.array_equal(backend.to_numpy(other.array), values)
    assert abs(values.mean() - (0.0 if draw is dp.randn else 0.5)) < 0.1


def test_device_draws_are_covered_by_the_json_checkpoint_state(xp) -> None:
    dp.manual_seed(2)
    dp_random.random((3,), xp=xp)
    state = json.loads(json.dumps(dp.get_rng_state()))
    def draw():
        return backend.to_numpy(dp_random.normal((4, 2), 1.0, 2.0, dtype=np.float32, xp=xp))

    first = draw()
    dp.set_rng_state(state)
    np.testing.assert_array_equal(draw(), first)


def test_numpy_draws_are_the_package_generator_s_float64_draws_rounded() -> None:
    dp.manual_seed(7)
    drawn = dp_random.uniform((3, 4), -1.0, 1.0, dtype=np.float32)
    np.testing.assert_array_equal(drawn, np.random.default_rng(7).uniform(-1, 1, (3, 4)).astype(np.float32))
    assert dp_random.generator_for(np) is dp.generator()
    with pytest.raises(TypeError, match="register_generator"):
        dp_random.generator_for(object())


INITS = [
    ("uniform_", lambda t: init.uniform_(t, -0.5, 0.5), 0.5),
    ("normal_", lambda t: init.normal_(t, 0.0, 0.1), None),
    ("xavier_uniform_", init.xavier_uniform_, np.sqrt(6 / 9)),
    ("xavier_normal_", init.xavier_normal_, None),
    ("kaiming_uniform_", lambda t: init.kaiming_uniform_(t, nonlinearity="relu"), np.sqrt(6 / 4)),
    ("kaiming_normal_", init.kaiming_normal_, None),
]


@pytest.mark.parametrize("fill, bound", [c[1:] for c in INITS], ids=[c[0] for c in INITS])
def test_initialisers_draw_in_place_on_the_device(fill, bound) -> None:
    weight = nn.Parameter(standin.zeros((5, 4), dtype=np.float32))
    array = weight.array
    dp.manual_seed(1)
    with count_host_reads() as reads:
        fill(weight)
    assert reads == [] and weight.array is array and weight.dtype == np.float32
    values = weight.array.get()
    assert np.unique(values).size == values.size  # drawn, not filled
    if bound is not None:
        assert np.abs(values).max() <= bound
    dp.manual_seed(1)
    again = fill(nn.Parameter(standin.zeros((5, 4), dtype=np.float32)))
    np.testing.assert_array_equal(again.array.get(), values)


def test_constant_initialisers_on_the_device() -> None:
    weight = nn.Parameter(standin.zeros((2, 3), dtype=np.float32))
    fills = [(init.ones_, 1.0), (lambda t: init.constant_(t, 0.3), np.float32(0.3)), (init.zeros_, 0.0)]
    for fill, value in fills:
        fill(weight)
        assert type(weight.array) is StandinArray
        np.testing.assert_array_equal(weight.array.get(), np.full((2, 3), value, dtype=np.float32))


def test_fit_predict_and_evaluate_move_every_batch_to_the_models_array_module():
    from deltaprop.train import evaluate, predict

    dp.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double().to("standin")
    seen = []
    model[0].register_forward_pre_hook(lambda m, args: seen.append(type(args[0].array)))
    X = np.random.default_rng(0).standard_normal((12, 3))
    y = np.arange(12) % 2
    history = dp.fit(model, X, y, loss="cross_entropy", optimizer=dp.optim.SGD(model.parameters(), lr=0.1),
                     epochs=2, batch_size=4, metrics=["accuracy"], validation_data=(X, y), progress=False)
    assert set(seen) == {standin.ndarray} and len(history["val_accuracy"]) == 2
    assert all(isinstance(p.array, standin.ndarray) for p in model.parameters())
    assert isinstance(predict(model, X), np.ndarray)  # results come back to the host
    assert evaluate(model, nn.CrossEntropyLoss(), X, y)["loss"] == pytest.approx(history["val_loss"][-1])
