"""PyTorch idioms, each run under PyTorch and under deltaprop (``import deltaprop as torch``): same answer.

Each idiom is a small function of the library module ``T`` (``torch`` or
``deltaprop``), written the way PyTorch code is written: the mnist and
regression examples, micrograd ports, d2l chapters, training loops. It must
give the same value (and dtype and shape) under both, or, for the few
deliberately unsupported ones (`UNSUPPORTED`, listed with their reasons in
docs/pytorch.md), deltaprop must raise a clear error while PyTorch computes.
No idiom may give a different value silently: that is what this file checks.
Random idioms compare shape, dtype and range, not values (no two libraries'
random streams agree).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

import deltaprop

torch = pytest.importorskip("torch")

A = np.array([[0.5, -1.0, 2.0, 3.5], [1.5, 0.25, -2.5, 1.0], [-0.75, 4.0, 0.5, -1.25]], dtype=np.float32)
B = np.array([[1.0, 2.0, -1.0, 0.5], [0.5, -0.5, 3.0, 2.0], [2.5, -1.5, 1.0, 1.0]], dtype=np.float32)
V = np.array([3.0, -1.0, 2.0, 0.5], dtype=np.float32)
LABELS = np.array([2, 0, 3])
D = np.arange(24, dtype=np.float64).reshape(2, 3, 4) / 7 - 1


@dataclass(frozen=True)
class Idiom:
    name: str
    run: Callable  # run(T) with T the library module
    compare: str = "value"  # value | shape (random draws) | raises (deltaprop refuses, see UNSUPPORTED)
    match: str = ""  # for "raises": a regex the error message must match
    rtol: float = 1e-5


def t(T, array):
    return T.tensor(array)


def leaf(T, array):
    return T.tensor(array, requires_grad=True)


def grad_of(T, fn, array):
    x = leaf(T, array)
    fn(T, x).backward()
    return x.grad


def linear_with_weights(T, out_features=2):
    layer = T.nn.Linear(4, out_features)
    with T.no_grad():
        layer.weight.copy_(
            T.tensor(np.linspace(-1, 1, 4 * out_features).reshape(out_features, 4).astype("f"))
        )
        layer.bias.fill_(0.1)
    return layer


def sgd_steps(T, make_optimizer, steps=3):
    """A small regression trained by a PyTorch-style loop: the weights after ``steps`` updates."""
    layer = linear_with_weights(T, 1)
    optimizer = make_optimizer(T, layer.parameters())
    x, y = t(T, A), t(T, A.sum(1, keepdims=True))
    for _ in range(steps):
        optimizer.zero_grad()
        loss = T.nn.functional.mse_loss(layer(x), y)
        loss.backward()
        optimizer.step()
    return layer.weight.detach()


def scheduled_lrs(T, make_scheduler, steps=6):
    layer = T.nn.Linear(2, 1)
    optimizer = T.optim.SGD(layer.parameters(), lr=0.1, momentum=0.9)
    scheduler = make_scheduler(T, optimizer)
    lrs = []
    for _ in range(steps):
        optimizer.step()
        scheduler.step()
        lrs.append(scheduler.get_last_lr()[0])
    return lrs


def in_place_alias(T, update):
    w = t(T, A)
    alias = w
    update(alias)
    return w


def recording_under(T, make_context):
    x = leaf(T, V)
    with make_context(T):
        return (x * 2).requires_grad


def enable_grad_inside_no_grad(T):
    x = leaf(T, V)
    with T.no_grad(), T.enable_grad():
        return (x * 2).requires_grad


def set_grad_enabled_off_and_on(T):
    x = leaf(T, V)
    T.set_grad_enabled(False)
    off = (x * 2).requires_grad
    T.set_grad_enabled(True)
    return off, (x * 2).requires_grad


def sgd_through_data(T):
    """d2l's from-scratch step: p.data -= lr * p.grad; p.grad.zero_()."""
    w = leaf(T, V)
    for _ in range(3):
        (w * w).sum().backward()
        w.data -= 0.1 * w.grad
        w.grad.zero_()
    return w.detach()


def sgd_under_no_grad(T):
    """The other spelling: with torch.no_grad(): param -= lr * param.grad (aliases see it)."""
    w = leaf(T, V)
    params = [w]
    for _ in range(3):
        (w**3).sum().backward()
        with T.no_grad():
            for param in params:
                param -= 0.05 * param.grad
                param.grad.zero_()
    return w.detach()


def hook_scales_the_gradient(T):
    x = leaf(T, V)
    x.register_hook(lambda g: g * 10)
    (x * 2).sum().backward()
    return x.grad


def retained_intermediate_grad(T):
    y = leaf(T, V) * 3
    y.retain_grad()
    (y * y).sum().backward()
    return y.grad


def accumulated_grad(T):
    x = leaf(T, V)
    for _ in range(2):
        (x * 2).sum().backward()
    return x.grad


IDIOMS = [
    # ------------------------------------------------------------------ making tensors
    Idiom("tensor_from_floats", lambda T: T.tensor([[1.0, 2.0], [3.0, 4.0]])),
    Idiom("tensor_from_ints", lambda T: T.tensor([1, 2, 3])),
    Idiom("tensor_from_bools", lambda T: T.tensor([True, False])),
    Idiom("tensor_from_float64_array", lambda T: T.tensor(D)),
    Idiom("tensor_with_dtype", lambda T: T.tensor([1, 2], dtype=T.float32)),
    Idiom("tensor_copies_its_data", lambda T: (lambda a: (T.tensor(a), a.__setitem__(0, 9.0))[0])(V.copy())),
    Idiom(
        "from_numpy_shares_memory",
        lambda T: (lambda a: (T.from_numpy(a), a.__setitem__(0, 9.0))[0])(V.copy()),
    ),
    Idiom("from_numpy_keeps_float64", lambda T: T.from_numpy(D).dtype),
    Idiom("as_tensor", lambda T: T.as_tensor(A)),
    Idiom("zeros", lambda T: T.zeros(2, 3)),
    Idiom("zeros_tuple", lambda T: T.zeros((2, 3))),
    Idiom("ones_float64", lambda T: T.ones(2, dtype=T.float64)),
    Idiom("full_int", lambda T: T.full((2, 2), 7)),
    Idiom("full_float", lambda T: T.full((2,), 1.5)),
    Idiom("eye", lambda T: T.eye(3)),
    Idiom("eye_rectangular", lambda T: T.eye(2, 3)),
    Idiom("arange_int", lambda T: T.arange(5)),
    Idiom("arange_float_step", lambda T: T.arange(0, 1, 0.25)),
    Idiom("arange_float_bounds", lambda T: T.arange(1.0, 4.0)),
    Idiom("linspace", lambda T: T.linspace(0, 1, 5)),
    Idiom("zeros_like", lambda T: T.zeros_like(t(T, A))),
    Idiom("ones_like_long", lambda T: T.ones_like(t(T, A), dtype=T.long)),
    Idiom("full_like", lambda T: T.full_like(t(T, A), 3.0)),
    Idiom("empty_shape", lambda T: T.empty(2, 3).shape),
    Idiom("new_zeros", lambda T: t(T, A).new_zeros(2)),
    Idiom("new_tensor_takes_dtype", lambda T: t(T, A).new_tensor([1, 2])),
    Idiom("new_full", lambda T: t(T, A).new_full((2,), 4.0)),
    Idiom("meshgrid_ij", lambda T: T.meshgrid(T.arange(3), T.arange(2), indexing="ij")),
    Idiom("meshgrid_xy", lambda T: T.meshgrid(T.arange(3), T.arange(2), indexing="xy")),
    Idiom("clone_is_independent", lambda T: (lambda x: (x, x.clone().fill_(0))[0])(t(T, V))),
    Idiom("randn", lambda T: T.randn(3, 4), compare="shape"),
    Idiom("rand_in_unit_interval", lambda T: ((T.rand(50) >= 0) & (T.rand(50) < 1)).all()),
    Idiom("randint", lambda T: T.randint(0, 10, (5,)), compare="shape"),
    Idiom("randint_range", lambda T: ((T.randint(3, 5, (40,)) >= 3) & (T.randint(3, 5, (40,)) < 5)).all()),
    Idiom("randperm_is_a_permutation", lambda T: T.randperm(6).sort().values),
    Idiom("randn_like", lambda T: T.randn_like(t(T, A)), compare="shape"),
    Idiom("normal", lambda T: T.normal(0.0, 1.0, (3,)), compare="shape"),
    Idiom("multinomial", lambda T: T.multinomial(T.tensor([0.1, 0.9, 0.0]), 2), compare="shape"),
    Idiom(
        "manual_seed_repeats",
        lambda T: (T.manual_seed(0), T.randn(3))[1].equal((T.manual_seed(0), T.randn(3))[1]),
    ),
    # ------------------------------------------------------------------ facts
    Idiom("shape", lambda T: t(T, A).shape),
    Idiom("size", lambda T: t(T, A).size()),
    Idiom("size_dim", lambda T: t(T, A).size(1)),
    Idiom("size_negative_dim", lambda T: t(T, A).size(-1)),
    Idiom("shape_index", lambda T: t(T, A).shape[0]),
    Idiom("numel", lambda T: t(T, A).numel()),
    Idiom("dim", lambda T: t(T, D).dim()),
    Idiom("ndim", lambda T: t(T, D).ndim),
    Idiom("dtype_name", lambda T: t(T, A).dtype),
    Idiom("dtype_compare", lambda T: t(T, A).dtype == T.float32),
    Idiom("long_is_int64", lambda T: T.tensor([1]).dtype == T.long),
    Idiom("is_floating_point", lambda T: (t(T, A).is_floating_point(), T.tensor([1]).is_floating_point())),
    Idiom("len", lambda T: len(t(T, A))),
    Idiom("requires_grad_default", lambda T: t(T, A).requires_grad),
    Idiom("is_leaf", lambda T: (leaf(T, A).is_leaf, (leaf(T, A) * 2).is_leaf)),
    Idiom("device_is_cpu", lambda T: str(t(T, A).device)),
    Idiom("device_compare", lambda T: t(T, A).device == T.device("cpu")),
    Idiom("element_size", lambda T: t(T, A).element_size()),
    Idiom(
        "device_names", lambda T: (T.device("cuda:0").type, T.device("cuda:0").index, str(T.device("cpu")))
    ),
    Idiom("is_tensor", lambda T: (T.is_tensor(t(T, A)), T.is_tensor(A))),
    Idiom("iterate_rows", lambda T: [row.sum() for row in t(T, A)]),
    Idiom("contains", lambda T: 2.0 in t(T, A)),
    # ------------------------------------------------------------------ arithmetic
    Idiom("add_scalar", lambda T: t(T, A) + 1),
    Idiom("rsub", lambda T: 1 - t(T, A)),
    Idiom("mul_broadcast", lambda T: t(T, A) * t(T, V)),
    Idiom("div", lambda T: t(T, A) / t(T, B)),
    Idiom("rdiv", lambda T: 1.0 / t(T, B)),
    Idiom("pow", lambda T: t(T, A) ** 2),
    Idiom("rpow", lambda T: 2 ** t(T, A)),
    Idiom("matmul", lambda T: t(T, A) @ t(T, B).T),
    Idiom("matvec", lambda T: t(T, A) @ t(T, V)),
    Idiom("floor_divide", lambda T: t(T, A) // 0.75),
    Idiom("int_floor_divide", lambda T: T.tensor([7, -7]) // 2),
    Idiom("remainder", lambda T: t(T, A) % 1.5),
    Idiom("int_remainder", lambda T: T.tensor([7, -7]) % 3),
    Idiom("neg_abs", lambda T: (-t(T, A)).abs()),
    Idiom("exp_log", lambda T: t(T, B).exp().log()),
    Idiom("sqrt", lambda T: t(T, B).abs().sqrt()),
    Idiom("clamp_min", lambda T: t(T, A).clamp(min=0)),
    Idiom("clamp_range", lambda T: T.clamp(t(T, A), -1, 1)),
    Idiom("clip", lambda T: t(T, A).clip(-0.5, 0.5)),
    Idiom(
        "sign_floor_ceil_round", lambda T: (t(T, A).sign(), t(T, A).floor(), t(T, A).ceil(), t(T, A).round())
    ),
    Idiom("sin_cos", lambda T: T.sin(t(T, A)) + T.cos(t(T, A))),
    Idiom("log1p_expm1", lambda T: (t(T, B).abs().log1p(), t(T, A).expm1())),
    Idiom("maximum", lambda T: T.maximum(t(T, A), t(T, B))),
    Idiom("max_of_two", lambda T: T.max(t(T, A), t(T, B))),
    Idiom("sigmoid_tanh", lambda T: (T.sigmoid(t(T, A)), t(T, A).tanh())),
    Idiom("add_alpha", lambda T: t(T, A).add(t(T, B), alpha=2)),
    Idiom("div_floor_mode", lambda T: t(T, A).div(0.75, rounding_mode="floor")),
    Idiom("einsum", lambda T: T.einsum("ij,kj->ik", t(T, A), t(T, B))),
    Idiom("mm_bmm", lambda T: (T.mm(t(T, A), t(T, B).t()), T.bmm(t(T, D), t(T, D).transpose(1, 2)))),
    Idiom("dot_outer", lambda T: (T.dot(t(T, V), t(T, V)), T.outer(t(T, V), t(T, V)))),
    # ------------------------------------------------------------------ comparisons and masks
    Idiom("eq_values", lambda T: T.tensor([1.0, 2.0]) == T.tensor([1.0, 2.0])),
    Idiom("accuracy", lambda T: (t(T, A).argmax(1) == T.tensor(LABELS)).float().mean()),
    Idiom("correct_count", lambda T: (t(T, A).argmax(dim=1) == T.tensor(LABELS)).sum().item()),
    Idiom("micrograd_accuracy", lambda T: ((t(T, V) > 0) == (t(T, V) * 2 > 0)).float().mean()),
    Idiom("ne_lt_ge", lambda T: (t(T, A) != 0.5, t(T, A) < 1, t(T, A) >= 1)),
    Idiom("compare_methods", lambda T: (t(T, A).gt(0), t(T, A).eq(t(T, B)), t(T, A).le(1.0))),
    Idiom(
        "mask_and_or_not",
        lambda T: ((t(T, A) > 0) & (t(T, A) < 2), (t(T, A) < 0) | (t(T, A) > 3), ~(t(T, A) > 0)),
    ),
    Idiom("allclose", lambda T: T.allclose(t(T, A), t(T, A) + 1e-7)),
    Idiom("isclose", lambda T: T.isclose(t(T, A), t(T, B))),
    Idiom("equal", lambda T: (T.equal(t(T, A), t(T, A)), T.equal(t(T, A), t(T, B)))),
    Idiom("any_all", lambda T: ((t(T, A) > 3).any(), (t(T, A) > -5).all(), (t(T, A) > 0).all(dim=1))),
    Idiom(
        "isnan_isinf",
        lambda T: (T.isnan(T.tensor([1.0, float("nan")])), T.isinf(T.tensor([float("inf"), 0.0]))),
    ),
    Idiom("isfinite", lambda T: T.isfinite(T.tensor([1.0, float("inf"), float("nan")]))),
    Idiom("where", lambda T: T.where(t(T, A) > 0, t(T, A), t(T, B))),
    Idiom("where_scalar", lambda T: T.where(t(T, A) > 0, t(T, A), 0.0)),
    Idiom("where_one_argument", lambda T: T.where(t(T, A) > 1)),
    Idiom("nonzero", lambda T: (t(T, A) > 1).nonzero()),
    Idiom("nonzero_as_tuple", lambda T: T.nonzero(t(T, A) > 1, as_tuple=True)),
    Idiom("unique", lambda T: T.unique(T.tensor([3, 1, 3, 2, 1]))),
    Idiom("unique_counts", lambda T: T.unique(T.tensor([3, 1, 3, 2, 1]), return_counts=True)),
    Idiom("hash_by_identity", lambda T: (lambda x: {x: 1}[x])(t(T, V))),
    Idiom("bool_of_one_value", lambda T: bool(T.tensor([2.0]) > 1)),
    # ------------------------------------------------------------------ reductions
    Idiom("sum_all", lambda T: t(T, A).sum()),
    Idiom("sum_dim", lambda T: t(T, A).sum(0)),
    Idiom("sum_keepdim", lambda T: t(T, A).sum(1, keepdim=True)),
    Idiom("sum_dims", lambda T: t(T, D).sum(dim=(0, 2))),
    Idiom("sum_axis_alias", lambda T: T.sum(t(T, A), axis=1)),
    Idiom("sum_bools", lambda T: (t(T, A) > 0).sum()),
    Idiom("mean_all_and_dim", lambda T: (t(T, A).mean(), t(T, A).mean(dim=0), t(T, D).mean((1, 2)))),
    Idiom("max_value", lambda T: t(T, A).max()),
    Idiom("max_dim_values_indices", lambda T: t(T, A).max(1)),
    Idiom("torch_max_unpack", lambda T: T.max(t(T, A), 1)[1]),
    Idiom("max_named_fields", lambda T: (t(T, A).max(dim=0).values, t(T, A).max(dim=0).indices)),
    Idiom("max_keepdim", lambda T: t(T, A).max(dim=1, keepdim=True)),
    Idiom("min_dim", lambda T: t(T, A).min(0)),
    Idiom("argmax", lambda T: (t(T, A).argmax(), t(T, A).argmax(1), t(T, A).argmax(dim=0, keepdim=True))),
    Idiom("argmin", lambda T: t(T, A).argmin(1)),
    Idiom("amax_amin", lambda T: (t(T, D).amax(dim=(0, 1)), t(T, A).amin(1))),
    Idiom("prod", lambda T: (t(T, A).prod(), t(T, A).prod(1))),
    Idiom("std_unbiased_default", lambda T: (t(T, A).std(), t(T, A).std(0))),
    Idiom("std_population", lambda T: t(T, A).std(1, unbiased=False)),
    Idiom("var_default", lambda T: (t(T, A).var(), T.var(t(T, A), 1))),
    Idiom("var_correction", lambda T: t(T, A).var(correction=0)),
    Idiom("var_keepdim", lambda T: t(T, A).var(dim=1, keepdim=True)),
    Idiom("logsumexp", lambda T: T.logsumexp(t(T, A), dim=1)),
    Idiom(
        "norm", lambda T: (t(T, A).norm(), t(T, A).norm(dim=1), t(T, A).norm(p=1), t(T, A).norm(float("inf")))
    ),
    Idiom("cumsum", lambda T: (t(T, A).cumsum(0), T.cumsum(t(T, A), dim=1))),
    Idiom("topk", lambda T: t(T, A).topk(2)),
    Idiom("topk_smallest", lambda T: T.topk(t(T, A), 2, dim=0, largest=False)),
    Idiom("sort", lambda T: (t(T, A).sort(), t(T, A).sort(dim=0, descending=True))),
    Idiom("argsort", lambda T: (t(T, A).argsort(), T.argsort(t(T, A), dim=0, descending=True))),
    Idiom("count_nonzero", lambda T: T.count_nonzero(t(T, A) > 0)),
    # ------------------------------------------------------------------ shapes
    Idiom("view_flat", lambda T: t(T, A).view(-1)),
    Idiom("view_shape", lambda T: t(T, A).view(2, 6)),
    Idiom("view_tuple", lambda T: t(T, A).view((6, 2))),
    Idiom("reshape", lambda T: t(T, A).reshape(4, -1)),
    Idiom("view_as", lambda T: t(T, V).view_as(t(T, V)[None])),
    Idiom("permute", lambda T: t(T, D).permute(2, 0, 1)),
    Idiom("transpose_two_dims", lambda T: t(T, D).transpose(0, 2)),
    Idiom("t", lambda T: t(T, A).t()),
    Idiom("T_property", lambda T: t(T, A).T),
    Idiom("mT", lambda T: t(T, D).mT),
    Idiom("flatten", lambda T: (t(T, D).flatten(), t(T, D).flatten(1), T.flatten(t(T, D), 0, 1))),
    Idiom("unflatten", lambda T: t(T, A).unflatten(1, (2, 2))),
    Idiom("squeeze", lambda T: T.zeros(1, 3, 1).squeeze()),
    Idiom("squeeze_dim_not_one_is_kept", lambda T: t(T, A).squeeze(0)),
    Idiom("squeeze_dim", lambda T: T.zeros(3, 1).squeeze(1)),
    Idiom("unsqueeze", lambda T: (t(T, V).unsqueeze(0), t(T, V).unsqueeze(-1), T.unsqueeze(t(T, V), 1))),
    Idiom("none_index", lambda T: (t(T, V)[None], t(T, A)[:, None].shape)),
    Idiom("expand", lambda T: t(T, V).expand(3, 4)),
    Idiom("expand_minus_one", lambda T: T.tensor([[1.0], [2.0]]).expand(-1, 3)),
    Idiom("expand_as", lambda T: t(T, V).expand_as(t(T, A))),
    Idiom("repeat_tiles", lambda T: t(T, V).repeat(2, 1)),
    Idiom("repeat_interleave", lambda T: t(T, V).repeat_interleave(2)),
    Idiom("split", lambda T: t(T, A).split(3, dim=1)),
    Idiom("split_sizes", lambda T: T.split(t(T, A), [1, 2])),
    Idiom("chunk", lambda T: t(T, A).chunk(2, dim=1)),
    Idiom("cat", lambda T: (T.cat([t(T, A), t(T, B)]), T.cat((t(T, A), t(T, B)), dim=1))),
    Idiom("concat", lambda T: T.concat([t(T, A), t(T, B)], 1)),
    Idiom("stack", lambda T: (T.stack([t(T, A), t(T, B)]), T.stack([t(T, V), t(T, V)], dim=1))),
    Idiom("contiguous", lambda T: t(T, A).t().contiguous().view(-1)),
    Idiom("narrow_flip", lambda T: (t(T, A).narrow(1, 1, 2), t(T, A).flip(0), T.flip(t(T, A), [0, 1]))),
    Idiom("unbind", lambda T: t(T, A).unbind(1)),
    Idiom("movedim_tile", lambda T: (T.movedim(t(T, D), 0, -1), T.tile(t(T, V), (2,)))),
    # ------------------------------------------------------------------ indexing and placing
    Idiom("index_row", lambda T: t(T, A)[0]),
    Idiom("index_element", lambda T: t(T, A)[1, 2]),
    Idiom("index_column", lambda T: t(T, A)[:, 1]),
    Idiom("index_list", lambda T: t(T, A)[[0, 2]]),
    Idiom("index_tensor", lambda T: t(T, A)[T.tensor([2, 2, 0])]),
    Idiom("index_mask", lambda T: t(T, A)[t(T, A) > 1]),
    Idiom("index_ellipsis", lambda T: t(T, D)[..., 0]),
    Idiom("index_negative_step", lambda T: t(T, A)[:, -2:]),
    Idiom("pick_per_row", lambda T: t(T, A)[T.arange(3), T.tensor(LABELS)]),
    Idiom("gather", lambda T: t(T, A).gather(1, T.tensor(LABELS).unsqueeze(1))),
    Idiom("index_select", lambda T: T.index_select(t(T, A), 1, T.tensor([3, 0]))),
    Idiom("masked_fill", lambda T: t(T, A).masked_fill(t(T, A) < 0, 0.0)),
    Idiom("scatter_one_hot", lambda T: T.zeros(3, 4).scatter_(1, T.tensor(LABELS).unsqueeze(1), 1.0)),
    Idiom(
        "scatter_add",
        lambda T: T.zeros(3, 4).scatter_add(1, T.tensor([[0, 0], [1, 1], [3, 0]]), T.ones(3, 2)),
    ),
    Idiom("take_along_dim", lambda T: T.take_along_dim(t(T, A), t(T, A).argmax(1, keepdim=True), 1)),
    Idiom("item", lambda T: t(T, A)[1, 1].item()),
    Idiom("tolist", lambda T: t(T, A).tolist()),
    Idiom("setitem_mask", lambda T: in_place_alias(T, lambda w: w.__setitem__(w > 1, 0))),
    Idiom("setitem_row", lambda T: in_place_alias(T, lambda w: w.__setitem__(0, 5))),
    Idiom("setitem_column_add", lambda T: in_place_alias(T, lambda w: w[:, 0].add_(1))),
    # ------------------------------------------------------------------ dtypes and devices
    Idiom(
        "float_double_long_int_bool",
        lambda T: (
            T.tensor([1.7, -2.5]).long(),
            T.tensor([1, 0]).float(),
            T.tensor([1, 0]).double(),
            T.tensor([1.7]).int(),
            T.tensor([0.0, 2.0]).bool(),
        ),
    ),
    Idiom("to_dtype", lambda T: t(T, A).to(T.float64)),
    Idiom("to_cpu_is_self", lambda T: (lambda x: x.to("cpu") is x and x.cpu() is x)(t(T, A))),
    Idiom("to_device_object", lambda T: t(T, A).to(T.device("cpu"))),
    Idiom("to_other", lambda T: T.tensor([1, 2]).to(t(T, A)).dtype),
    Idiom("to_device_and_dtype", lambda T: T.tensor([1, 2]).to("cpu", T.float64)),
    Idiom("type_cast", lambda T: t(T, A).type(T.float64)),
    Idiom("type_as", lambda T: T.tensor([1, 2]).type_as(t(T, A))),
    Idiom("float_is_self_when_float", lambda T: (lambda x: x.float() is x)(t(T, A))),
    Idiom("numpy", lambda T: t(T, A).cpu().numpy()),
    Idiom("detach_numpy", lambda T: leaf(T, A).detach().numpy()),
    Idiom("python_numbers", lambda T: (float(T.tensor(2.5)), int(T.tensor(3)), T.tensor([4.0]).item())),
    Idiom("format", lambda T: f"{T.tensor(0.123456):.3f} {T.tensor([2.5]).item():.2f}"),
    Idiom("default_dtype", lambda T: T.get_default_dtype()),
    Idiom("float_ops_stay_float32", lambda T: (t(T, A) * np.float64(2.0)).dtype),
    Idiom("int_and_float_promote", lambda T: (T.tensor([1, 2]) + t(T, V)[:2]).dtype),
    Idiom(
        "int_true_division",
        lambda T: (T.tensor([1, 2, 3]) / 2, 1 / T.tensor([1, 2]), T.tensor([4]) / T.tensor([3])),
    ),
    Idiom(
        "int_float_functions",
        lambda T: (
            T.arange(4).exp(),
            T.arange(4).sqrt(),
            T.arange(4).sin(),
            T.arange(4).sigmoid(),
            T.arange(1, 4).log(),
            T.arange(4) ** 0.5,
        ),
    ),
    Idiom("int_rounding_keeps_dtype", lambda T: (T.arange(3).floor(), T.arange(3).sign(), T.arange(3) ** 2)),
    # ------------------------------------------------------------------ autograd
    Idiom("backward_sum", lambda T: grad_of(T, lambda T, x: (x * x).sum(), A)),
    Idiom("backward_mean", lambda T: grad_of(T, lambda T, x: (x**3).mean(), A)),
    Idiom("backward_through_max_dim", lambda T: grad_of(T, lambda T, x: x.max(1).values.sum(), A)),
    Idiom("backward_through_max", lambda T: grad_of(T, lambda T, x: x.max(), A)),
    Idiom(
        "backward_through_to_cpu", lambda T: grad_of(T, lambda T, x: ((x * 3) + (x * 2).to("cpu")).sum(), V)
    ),
    Idiom("backward_through_dtype", lambda T: grad_of(T, lambda T, x: (x.double() ** 2).sum(), V)),
    Idiom(
        "backward_through_view_permute", lambda T: grad_of(T, lambda T, x: (x.view(2, 6).t() ** 2).sum(), A)
    ),
    Idiom("backward_through_indexing", lambda T: grad_of(T, lambda T, x: x[[0, 0, 2], 1:].sum(), A)),
    Idiom("backward_through_where", lambda T: grad_of(T, lambda T, x: T.where(x > 0, x, x * 0.1).sum(), A)),
    Idiom("backward_through_norm_std", lambda T: grad_of(T, lambda T, x: x.norm() + x.std(), A)),
    Idiom(
        "backward_through_gather",
        lambda T: grad_of(T, lambda T, x: x.gather(0, T.tensor([[0, 1, 2, 0]])).sum(), A),
    ),
    Idiom(
        "backward_through_cat_split",
        lambda T: grad_of(T, lambda T, x: (T.cat(x.split(2, dim=1)[::-1], 1) * T.arange(4.0)).sum(), A),
    ),
    Idiom("backward_through_einsum", lambda T: grad_of(T, lambda T, x: T.einsum("ij,ij->", x, x), A)),
    Idiom(
        "backward_with_gradient", lambda T: (lambda x: (x * 2).backward(T.ones_like(x)) or x.grad)(leaf(T, V))
    ),
    Idiom("grad_accumulates", accumulated_grad),
    Idiom("grad_zero_", lambda T: (lambda x: ((x * 2).sum().backward(), x.grad.zero_())[1])(leaf(T, V))),
    Idiom("grad_is_none_first", lambda T: leaf(T, V).grad is None),
    Idiom("grad_norm", lambda T: (lambda x: ((x * x).sum().backward(), x.grad.norm())[1])(leaf(T, V))),
    Idiom("retain_grad", retained_intermediate_grad),
    Idiom("register_hook", hook_scales_the_gradient),
    Idiom("no_grad_context", lambda T: recording_under(T, lambda T: T.no_grad())),
    Idiom("no_grad_decorator", lambda T: T.no_grad()(lambda x: (x * 2).requires_grad)(leaf(T, V))),
    Idiom("inference_mode", lambda T: recording_under(T, lambda T: T.inference_mode())),
    Idiom(
        "inference_mode_decorator", lambda T: T.inference_mode()(lambda x: (x * 2).requires_grad)(leaf(T, V))
    ),
    Idiom("set_grad_enabled", set_grad_enabled_off_and_on),
    Idiom("set_grad_enabled_context", lambda T: recording_under(T, lambda T: T.set_grad_enabled(False))),
    Idiom("enable_grad_inside_no_grad", enable_grad_inside_no_grad),
    Idiom("detach", lambda T: (leaf(T, V) * 2).detach().requires_grad),
    Idiom("requires_grad_", lambda T: t(T, V).requires_grad_().requires_grad),
    Idiom("autograd_grad", lambda T: (lambda x: T.autograd.grad((x**2).sum(), x))(leaf(T, V))),
    Idiom(
        "autograd_grad_two_inputs",
        lambda T: (lambda x, w: T.autograd.grad((x * w).sum(), [x, w]))(leaf(T, V), leaf(T, V[::-1].copy())),
    ),
    Idiom(
        "autograd_grad_leaves_grad_alone",
        lambda T: (lambda x: (T.autograd.grad((x * 2).sum(), x), x.grad)[1])(leaf(T, V)),
    ),
    Idiom("hand_written_sgd_with_data", sgd_through_data),
    Idiom("hand_written_sgd_no_grad", sgd_under_no_grad),
    Idiom("data_normal_init_shape", lambda T: T.nn.Linear(3, 2).weight.data.normal_(0, 0.01).shape),
    # ------------------------------------------------------------------ in place
    Idiom("augmented_assignment_aliases", lambda T: in_place_alias(T, lambda w: w.__isub__(0.5 * t(T, B)))),
    Idiom("imul_idiv_alias", lambda T: in_place_alias(T, lambda w: (w.__imul__(2), w.__itruediv__(4)))),
    Idiom("ipow_alias", lambda T: in_place_alias(T, lambda w: w.__ipow__(2))),
    Idiom("add_mul_", lambda T: in_place_alias(T, lambda w: w.add_(1).mul_(3))),
    Idiom("zero_fill_", lambda T: (t(T, A).zero_(), t(T, A).fill_(2.5))),
    Idiom("clamp_", lambda T: in_place_alias(T, lambda w: w.clamp_(-1, 1))),
    Idiom("copy_", lambda T: in_place_alias(T, lambda w: w.copy_(t(T, B)))),
    Idiom("masked_fill_", lambda T: in_place_alias(T, lambda w: w.masked_fill_(w > 1, -1.0))),
    Idiom("exp_relu_", lambda T: (t(T, A).exp_(), t(T, A).relu_())),
    Idiom("uniform_shape", lambda T: T.empty(3, 2).uniform_(-1, 1).shape),
    # ------------------------------------------------------------------ nn.functional
    Idiom("relu_softmax", lambda T: (T.nn.functional.relu(t(T, A)), T.nn.functional.softmax(t(T, A), dim=1))),
    Idiom("softmax_positional_dim", lambda T: T.nn.functional.softmax(t(T, A), 0)),
    Idiom("log_softmax", lambda T: T.nn.functional.log_softmax(t(T, A), dim=1)),
    Idiom("tensor_softmax", lambda T: (t(T, A).softmax(dim=-1), t(T, A).log_softmax(1))),
    Idiom("cross_entropy", lambda T: T.nn.functional.cross_entropy(t(T, A), T.tensor(LABELS))),
    Idiom(
        "cross_entropy_weight",
        lambda T: T.nn.functional.cross_entropy(
            t(T, A), T.tensor(LABELS), weight=T.tensor([1.0, 2.0, 0.5, 3.0])
        ),
    ),
    Idiom(
        "cross_entropy_ignore_index", lambda T: T.nn.functional.cross_entropy(t(T, A), T.tensor([2, -100, 3]))
    ),
    Idiom(
        "cross_entropy_smoothing",
        lambda T: T.nn.functional.cross_entropy(t(T, A), T.tensor(LABELS), label_smoothing=0.1),
    ),
    Idiom(
        "cross_entropy_probabilities", lambda T: T.nn.functional.cross_entropy(t(T, A), t(T, B).softmax(1))
    ),
    Idiom(
        "cross_entropy_sum_none",
        lambda T: (
            T.nn.functional.cross_entropy(t(T, A), T.tensor(LABELS), reduction="sum"),
            T.nn.functional.cross_entropy(t(T, A), T.tensor(LABELS), reduction="none"),
        ),
    ),
    Idiom(
        "cross_entropy_image_shaped",
        lambda T: T.nn.functional.cross_entropy(t(T, D).permute(0, 2, 1), T.tensor([[0, 1, 2], [2, 2, 0]])),
    ),
    Idiom(
        "cross_entropy_gradient",
        lambda T: grad_of(
            T,
            lambda T, x: T.nn.functional.cross_entropy(
                x, T.tensor([2, -100, 3]), weight=T.tensor([1.0, 2.0, 0.5, 3.0]), label_smoothing=0.2
            ),
            A,
        ),
    ),
    Idiom(
        "nll_loss",
        lambda T: T.nn.functional.nll_loss(T.nn.functional.log_softmax(t(T, A), 1), T.tensor(LABELS)),
    ),
    Idiom(
        "nll_loss_weight",
        lambda T: T.nn.NLLLoss(weight=T.tensor([1.0, 2.0, 0.5, 3.0]))(t(T, A), T.tensor(LABELS)),
    ),
    Idiom(
        "mse_l1",
        lambda T: (T.nn.functional.mse_loss(t(T, A), t(T, B)), T.nn.functional.l1_loss(t(T, A), t(T, B))),
    ),
    Idiom(
        "smooth_l1_huber",
        lambda T: (
            T.nn.functional.smooth_l1_loss(t(T, A), t(T, B), beta=0.5),
            T.nn.HuberLoss(delta=0.5)(t(T, A), t(T, B)),
        ),
    ),
    Idiom("bce", lambda T: T.nn.BCELoss()(t(T, A).sigmoid(), (t(T, B) > 0).float())),
    Idiom(
        "bce_with_logits_pos_weight",
        lambda T: T.nn.BCEWithLogitsLoss(pos_weight=T.tensor([1.0, 2.0, 3.0, 0.5]))(
            t(T, A), (t(T, B) > 0).float()
        ),
    ),
    Idiom("one_hot", lambda T: T.nn.functional.one_hot(T.tensor(LABELS), 5)),
    Idiom("one_hot_float", lambda T: T.nn.functional.one_hot(T.tensor(LABELS)).float()),
    Idiom("dropout_eval", lambda T: T.nn.functional.dropout(t(T, A), 0.5, training=False)),
    Idiom("pad", lambda T: T.nn.functional.pad(t(T, A), (1, 2))),
    Idiom("pad_two_dims", lambda T: T.nn.functional.pad(t(T, A), (1, 0, 0, 2), value=9.0)),
    Idiom("normalize", lambda T: T.nn.functional.normalize(t(T, A), dim=1)),
    Idiom("cosine_similarity", lambda T: T.nn.functional.cosine_similarity(t(T, A), t(T, B))),
    Idiom(
        "leaky_relu_gelu_elu",
        lambda T: (
            T.nn.functional.leaky_relu(t(T, A), 0.2),
            T.nn.functional.gelu(t(T, A)),
            T.nn.functional.elu(t(T, A)),
        ),
    ),
    Idiom(
        "margin_ranking_loss",
        lambda T: T.nn.functional.margin_ranking_loss(
            t(T, V), t(T, V) * 0.5, T.tensor([1.0, -1.0, 1.0, -1.0])
        ),
    ),
    # ------------------------------------------------------------------ nn modules
    Idiom("linear_forward", lambda T: linear_with_weights(T)(t(T, A))),
    Idiom(
        "sequential_forward",
        lambda T: T.nn.Sequential(linear_with_weights(T), T.nn.ReLU(inplace=True), T.nn.Softmax(dim=1))(
            t(T, A)
        ),
    ),
    Idiom(
        "state_dict_keys",
        lambda T: list(
            T.nn.Sequential(T.nn.Linear(2, 3), T.nn.Tanh(), T.nn.Linear(3, 1)).state_dict().keys()
        ),
    ),
    Idiom(
        "named_parameters", lambda T: [(n, tuple(p.shape)) for n, p in T.nn.Linear(2, 3).named_parameters()]
    ),
    Idiom(
        "parameter_count",
        lambda T: sum(p.numel() for p in T.nn.Sequential(T.nn.Linear(4, 8), T.nn.Linear(8, 2)).parameters()),
    ),
    Idiom(
        "module_list",
        lambda T: len(list(T.nn.ModuleList([T.nn.Linear(2, 2) for _ in range(3)]).parameters())),
    ),
    Idiom(
        "module_dict",
        lambda T: sorted(T.nn.ModuleDict({"enc": T.nn.Linear(2, 2), "act": T.nn.ReLU()}).keys()),
    ),
    Idiom(
        "parameter_list",
        lambda T: [
            tuple(p.shape)
            for p in T.nn.ParameterList([T.nn.Parameter(T.zeros(2, 3)), T.nn.Parameter(T.ones(4))])
        ],
    ),
    Idiom(
        "parameter_dict", lambda T: T.nn.ParameterDict({"w": T.nn.Parameter(T.ones(2))})["w"].requires_grad
    ),
    Idiom("lazy_linear", lambda T: T.nn.LazyLinear(5)(t(T, A)).shape),
    Idiom("flatten_module", lambda T: T.nn.Flatten()(t(T, D)).shape),
    Idiom(
        "train_eval_flags",
        lambda T: (lambda m: (m.training, m.eval().training, m[1].training, m.train().training))(
            T.nn.Sequential(T.nn.Linear(2, 2), T.nn.Dropout(0.5))
        ),
    ),
    Idiom(
        "apply_init",
        lambda T: (
            T.nn.Sequential(T.nn.Linear(2, 3), T.nn.Linear(3, 1))
            .apply(lambda m: T.nn.init.constant_(m.weight, 0.5) if isinstance(m, T.nn.Linear) else None)[1]
            .weight.detach()
        ),
    ),
    Idiom(
        "init_functions",
        lambda T: (
            T.nn.init.zeros_(T.empty(2)),
            T.nn.init.ones_(T.empty(2)),
            T.nn.init.xavier_uniform_(T.empty(3, 4)).shape,
        ),
    ),
    Idiom(
        "model_requires_grad_",
        lambda T: [p.requires_grad for p in T.nn.Linear(2, 2).requires_grad_(False).parameters()],
    ),
    Idiom("model_to_double", lambda T: T.nn.Linear(2, 2).double().weight.dtype),
    Idiom("model_to_dtype", lambda T: T.nn.Linear(2, 2).to(T.float64).weight.dtype),
    Idiom("model_to_device", lambda T: T.nn.Linear(2, 2).to(T.device("cpu")).weight.device.type),
    Idiom(
        "load_state_dict",
        lambda T: (lambda a, b: (b.load_state_dict(a.state_dict()), b.weight.detach())[1])(
            linear_with_weights(T), T.nn.Linear(4, 2)
        ),
    ),
    Idiom(
        "clip_grad_norm",
        lambda T: (
            lambda m: (
                m(t(T, A)).sum().backward(),
                T.nn.utils.clip_grad_norm_(m.parameters(), 1.0),
                m.weight.grad,
            )[1:]
        )(linear_with_weights(T)),
    ),
    Idiom(
        "clip_grad_value",
        lambda T: (
            lambda m: (
                m(t(T, A)).sum().backward(),
                T.nn.utils.clip_grad_value_(m.parameters(), 0.5),
                m.weight.grad,
            )[2]
        )(linear_with_weights(T)),
    ),
    Idiom(
        "parameters_to_vector", lambda T: T.nn.utils.parameters_to_vector(linear_with_weights(T).parameters())
    ),
    Idiom(
        "vector_to_parameters",
        lambda T: (
            lambda m: (T.nn.utils.vector_to_parameters(T.arange(10.0), m.parameters()), m.bias.detach())[1]
        )(linear_with_weights(T)),
    ),
    # ------------------------------------------------------------------ optim
    Idiom("sgd_momentum_loop", lambda T: sgd_steps(T, lambda T, p: T.optim.SGD(p, lr=0.01, momentum=0.9))),
    Idiom("adam_loop", lambda T: sgd_steps(T, lambda T, p: T.optim.Adam(p, lr=0.01))),
    Idiom("adamw_loop", lambda T: sgd_steps(T, lambda T, p: T.optim.AdamW(p, lr=0.01))),
    Idiom("adadelta_loop", lambda T: sgd_steps(T, lambda T, p: T.optim.Adadelta(p))),
    Idiom(
        "rmsprop_adagrad_loop",
        lambda T: (
            sgd_steps(T, lambda T, p: T.optim.RMSprop(p, lr=0.01)),
            sgd_steps(T, lambda T, p: T.optim.Adagrad(p, lr=0.1)),
        ),
    ),
    Idiom(
        "zero_grad_sets_none",
        lambda T: (lambda m, o: (m(t(T, A)).sum().backward(), o.zero_grad(), m.weight.grad)[2])(
            *(lambda m: (m, T.optim.SGD(m.parameters(), lr=0.1)))(T.nn.Linear(4, 1))
        ),
    ),
    Idiom(
        "param_groups_lr",
        lambda T: [
            g["lr"] for g in T.optim.SGD([{"params": T.nn.Linear(2, 1).parameters()}], lr=0.3).param_groups
        ],
    ),
    Idiom(
        "step_lr",
        lambda T: scheduled_lrs(T, lambda T, o: T.optim.lr_scheduler.StepLR(o, step_size=2, gamma=0.5)),
    ),
    Idiom(
        "multistep_lr", lambda T: scheduled_lrs(T, lambda T, o: T.optim.lr_scheduler.MultiStepLR(o, [2, 4]))
    ),
    Idiom(
        "lambda_lr",
        lambda T: scheduled_lrs(T, lambda T, o: T.optim.lr_scheduler.LambdaLR(o, lambda e: 0.9**e)),
    ),
    Idiom(
        "one_cycle_lr",
        lambda T: scheduled_lrs(T, lambda T, o: T.optim.lr_scheduler.OneCycleLR(o, 0.5, total_steps=8)),
    ),
    Idiom(
        "cosine_linear_lr",
        lambda T: (
            scheduled_lrs(T, lambda T, o: T.optim.lr_scheduler.CosineAnnealingLR(o, 4)),
            scheduled_lrs(T, lambda T, o: T.optim.lr_scheduler.LinearLR(o, 0.5, 1.0, 3)),
        ),
    ),
    Idiom(
        "sequential_lr",
        lambda T: scheduled_lrs(
            T,
            lambda T, o: T.optim.lr_scheduler.SequentialLR(
                o,
                [
                    T.optim.lr_scheduler.LinearLR(o, 0.2, total_iters=2),
                    T.optim.lr_scheduler.ExponentialLR(o, 0.9),
                ],
                [2],
            ),
        ),
    ),
    Idiom(
        "reduce_on_plateau",
        lambda T: (
            lambda o: (
                [T.optim.lr_scheduler.ReduceLROnPlateau(o, patience=0).step(1.0) for _ in range(1)]
                and o.param_groups[0]["lr"]
            )
        )(T.optim.SGD(T.nn.Linear(2, 1).parameters(), lr=0.1)),
    ),
    # ------------------------------------------------------------------ utils.data
    Idiom(
        "tensor_dataset",
        lambda T: (lambda d: (len(d), d[1]))(T.utils.data.TensorDataset(t(T, A), T.tensor(LABELS))),
    ),
    Idiom(
        "data_loader_batches",
        lambda T: list(
            T.utils.data.DataLoader(T.utils.data.TensorDataset(t(T, A), T.tensor(LABELS)), batch_size=2)
        ),
    ),
    Idiom(
        "data_loader_len",
        lambda T: len(
            T.utils.data.DataLoader(T.utils.data.TensorDataset(T.arange(10)), batch_size=4, drop_last=False)
        ),
    ),
    Idiom(
        "random_split_lengths",
        lambda T: [
            len(s)
            for s in T.utils.data.random_split(
                T.utils.data.TensorDataset(T.arange(10)), [0.8, 0.2], generator=T.Generator().manual_seed(42)
            )
        ],
    ),
]


# Deliberately unsupported: deltaprop raises a clear error where PyTorch computes (docs/pytorch.md says why).
UNSUPPORTED = [
    Idiom(
        "second_derivatives",
        lambda T: (lambda x: T.autograd.grad((x**3).sum(), x, create_graph=True))(leaf(T, V)),
        compare="raises",
        match="first derivatives only",
    ),
    Idiom("half_precision", lambda T: t(T, A).half(), compare="raises", match="float32 and float64 only"),
    Idiom(
        "set_default_dtype",
        lambda T: (T.set_default_dtype(T.float64), T.set_default_dtype(T.float32)),  # (PyTorch's restored)
        compare="raises",
        match="set_default_dtype is not supported",
    ),
    Idiom(
        "in_place_on_a_graph_tensor",
        lambda T: (lambda x: (lambda y: (y.add_(1), y.sum().backward(), x.grad)[2])(x * 2))(leaf(T, V)),
        compare="raises",
        match="deltaprop does not record in-place ops",
    ),
    Idiom(
        "var_of_one_value", lambda T: T.tensor([2.0]).var(), compare="raises", match="no degrees of freedom"
    ),
    Idiom(
        "all_labels_ignored",
        lambda T: T.nn.functional.cross_entropy(t(T, A), T.tensor([-100, -100, -100])),
        compare="raises",
        match="every example of the batch is ignored",
    ),
    Idiom(
        "einsum_trace",
        lambda T: T.einsum("ii->", T.eye(3, requires_grad=True)),
        compare="raises",
        match="repeated index",
    ),
    Idiom(
        "scatter_repeated_index",
        lambda T: T.zeros(4).scatter(0, T.tensor([1, 1]), T.tensor([1.0, 2.0])),
        compare="raises",
        match="writes the same position more than once",
    ),
    Idiom(
        "positional_reduction",
        lambda T: T.nn.MSELoss("sum")(t(T, A), t(T, B)),
        compare="raises",
        match="reduction must be passed by keyword",
    ),
]


# --------------------------------------------------------------------------- comparing answers


def plain(value):
    """A library-neutral form of an answer: arrays, Python numbers, strings, tuples and lists of them."""
    if isinstance(value, (torch.Tensor, deltaprop.Tensor)):
        array = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else value.numpy()
        return np.array(array, copy=True)
    if isinstance(value, (torch.dtype, np.dtype)):
        return str(value).removeprefix("torch.")
    if isinstance(value, (torch.device, deltaprop.device)):
        return str(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):  # torch.Size, named tuples and our Size and named tuples included
        return [plain(v) for v in value]
    return value


def assert_same(ours, theirs, rtol: float, where: str = "answer") -> None:
    if isinstance(theirs, np.ndarray):
        assert isinstance(ours, np.ndarray), (
            f"{where}: deltaprop gave {type(ours).__name__}, PyTorch an array"
        )
        assert ours.shape == theirs.shape, f"{where}: shape {ours.shape} vs PyTorch's {theirs.shape}"
        assert ours.dtype == theirs.dtype, f"{where}: dtype {ours.dtype} vs PyTorch's {theirs.dtype}"
        if theirs.dtype.kind == "f":
            np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=1e-6, err_msg=where)
        else:
            np.testing.assert_array_equal(ours, theirs, err_msg=where)
        return
    if isinstance(theirs, list):
        assert isinstance(ours, list) and len(ours) == len(theirs), (
            f"{where}: {ours!r} vs PyTorch's {theirs!r}"
        )
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            assert_same(a, b, rtol, f"{where}[{i}]")
        return
    if isinstance(theirs, dict):
        assert isinstance(ours, dict) and set(ours) == set(theirs), f"{where}: keys differ"
        for key in theirs:
            assert_same(ours[key], theirs[key], rtol, f"{where}[{key!r}]")
        return
    if isinstance(theirs, float):
        assert isinstance(ours, float) and math.isclose(ours, theirs, rel_tol=rtol, abs_tol=1e-7), (
            f"{where}: {ours!r} vs PyTorch's {theirs!r}"
        )
        return
    assert type(ours) is type(theirs) and ours == theirs, f"{where}: {ours!r} vs PyTorch's {theirs!r}"


def assert_same_kind(ours, theirs, where: str = "answer") -> None:
    """Random draws: the same structure, shapes and dtypes (the values differ by design)."""
    if isinstance(theirs, np.ndarray):
        assert isinstance(ours, np.ndarray) and ours.shape == theirs.shape and ours.dtype == theirs.dtype, (
            where
        )
        return
    assert_same(ours, theirs, 1e-5, where)


def _run(idiom: Idiom, lib):
    try:
        return idiom.run(lib)
    finally:
        lib.set_grad_enabled(True)  # idioms that switch recording off leave it on for the next


@pytest.mark.parametrize("idiom", IDIOMS, ids=[i.name for i in IDIOMS])
def test_idiom_gives_pytorchs_answer(idiom: Idiom) -> None:
    theirs = plain(_run(idiom, torch))
    ours = plain(_run(idiom, deltaprop))
    if idiom.compare == "shape":
        assert_same_kind(ours, theirs)
    else:
        assert_same(ours, theirs, idiom.rtol)


@pytest.mark.parametrize("idiom", UNSUPPORTED, ids=[i.name for i in UNSUPPORTED])
def test_unsupported_idiom_raises_a_clear_error(idiom: Idiom) -> None:
    _run(idiom, torch)  # PyTorch computes something here (or warns)...
    with pytest.raises((TypeError, ValueError, NotImplementedError, RuntimeError), match=idiom.match):
        _run(idiom, deltaprop)  # ...deltaprop says why it will not


def test_the_table_is_long_enough_and_its_names_are_unique() -> None:
    names = [i.name for i in IDIOMS + UNSUPPORTED]
    assert len(IDIOMS) >= 150 and len(names) == len(set(names))


def test_every_unsupported_idiom_is_listed_with_its_reason_in_the_docs() -> None:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "pytorch.md").read_text()
    for idiom in UNSUPPORTED:
        assert f"`{idiom.name}`" in text, f"docs/pytorch.md does not explain {idiom.name}"
