"""Module and tensor hooks: PyTorch's order and arguments, removal, replacement, composition."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn

torch = pytest.importorskip("torch")


def twin_models():
    """The same 3-4-2 network in deltaprop and in PyTorch (weights copied)."""
    dp.manual_seed(0)
    ours = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2)).double()
    theirs.load_state_dict({k: torch.from_numpy(v.astype(np.float64)) for k, v in ours.state_dict().items()})
    return ours.double(), theirs


def as_numpy(value):
    if value is None:
        return None
    if isinstance(value, torch.Tensor):
        return value.detach().numpy()
    return np.asarray(value.array)


def record_all_hooks(model, events):
    """Every hook kind on every module, recording (module name, kind, argument values)."""
    handles = []
    for name, module in model.named_modules():
        label = name or "root"

        def pre(m, args, label=label):
            events.append((label, "pre", [as_numpy(a) for a in args]))

        def fwd(m, args, output, label=label):
            events.append((label, "forward", [as_numpy(output)]))

        def bpre(m, grad_output, label=label):
            events.append((label, "backward_pre", [as_numpy(g) for g in grad_output]))

        def bwd(m, grad_input, grad_output, label=label):
            events.append((label, "backward", [as_numpy(g) for g in (*grad_input, *grad_output)]))

        handles += [
            module.register_forward_pre_hook(pre),
            module.register_forward_hook(fwd),
            module.register_full_backward_pre_hook(bpre),
            module.register_full_backward_hook(bwd),
        ]
    return handles


def run_both(x_requires_grad):
    ours, theirs = twin_models()
    x = np.random.default_rng(1).standard_normal((5, 3))
    ours_events, theirs_events = [], []
    record_all_hooks(ours, ours_events)
    record_all_hooks(theirs, theirs_events)
    xo = dp.Tensor(x, requires_grad=x_requires_grad)
    xt = torch.tensor(x, requires_grad=x_requires_grad)
    (ours(xo) ** 2).sum().backward()
    (theirs(xt) ** 2).sum().backward()
    return ours_events, theirs_events


@pytest.mark.parametrize("x_requires_grad", [False, True])
def test_hooks_fire_in_pytorchs_order_with_pytorchs_arguments(x_requires_grad):
    ours, theirs = run_both(x_requires_grad)
    assert [e[:2] for e in ours] == [e[:2] for e in theirs]
    for (label, kind, values), (_, _, expected) in zip(ours, theirs, strict=True):
        assert len(values) == len(expected), (label, kind)
        for got, want in zip(values, expected, strict=True):
            if want is None:
                assert got is None, (label, kind)
            else:
                np.testing.assert_allclose(got, want, rtol=1e-12, err_msg=f"{label} {kind}")


def test_a_removed_hook_no_longer_fires_and_the_handle_is_a_context_manager():
    layer = nn.Linear(2, 2)
    calls = []
    handle = layer.register_forward_hook(lambda m, a, o: calls.append("a"))
    with layer.register_forward_hook(lambda m, a, o: calls.append("b")):
        layer(dp.ones(1, 2))
    layer(dp.ones(1, 2))
    handle.remove()
    handle.remove()  # a second remove is harmless
    layer(dp.ones(1, 2))
    assert calls == ["a", "b", "a"]
    assert not layer._has_hooks


def test_hooks_replace_args_output_and_grad_input_as_in_pytorch():
    ours, theirs = twin_models()
    for model in (ours, theirs):
        model[0].register_forward_pre_hook(lambda m, args: (args[0] * 2,))
        model[1].register_forward_hook(lambda m, args, out: out + 1)
        model[2].register_full_backward_hook(lambda m, gin, gout: (gin[0] * 3,))
        model[2].register_full_backward_pre_hook(lambda m, gout: (gout[0] * 0.5,))
    x = np.random.default_rng(2).standard_normal((4, 3))
    out_o = ours(dp.Tensor(x))
    out_t = theirs(torch.tensor(x))
    np.testing.assert_allclose(out_o.array, out_t.detach().numpy(), rtol=1e-12)
    (out_o**2).sum().backward()
    (out_t**2).sum().backward()
    for (name, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters(), strict=True):
        np.testing.assert_allclose(p.grad, q.grad.numpy(), rtol=1e-10, err_msg=name)


def test_prepend_with_kwargs_and_always_call():
    layer = nn.Linear(2, 2)
    order = []
    layer.register_forward_hook(lambda m, a, o: order.append("second"))
    layer.register_forward_hook(lambda m, a, o: order.append("first"), prepend=True)

    def pre(m, args, kwargs):
        order.append(("kwargs", sorted(kwargs)))
        return args, kwargs

    layer.register_forward_pre_hook(pre, with_kwargs=True)
    layer(dp.ones(1, 2))
    assert order == [("kwargs", []), "first", "second"]

    seen = []
    layer.register_forward_hook(lambda m, a, o: seen.append(o), always_call=True)
    with pytest.raises(dp.ShapeError):
        layer(dp.ones(1, 5))
    assert seen == [None]


def test_backward_hook_on_a_module_returning_a_tuple_says_so():
    class Pair(nn.Module):
        def forward(self, x):
            return x * 2, x * 3

    pair = Pair()
    pair.register_full_backward_hook(lambda m, gi, go: None)
    with pytest.raises(dp.GraphError, match="returns one Tensor.*returned tuple"):
        pair(dp.Tensor([1.0], requires_grad=True))


def test_tensor_hooks_see_the_total_gradient_and_can_replace_it():
    w = dp.Tensor([1.0, 2.0], requires_grad=True)
    seen = []
    w.register_hook(lambda g: seen.append(g.numpy().copy()))
    ready = []
    w.register_post_accumulate_grad_hook(lambda t: ready.append(t.grad.numpy().copy()))
    ((w * 3).sum() + (w * 4).sum()).backward()
    np.testing.assert_array_equal(seen[0], [7.0, 7.0])  # both uses summed, delivered once
    np.testing.assert_array_equal(ready[0], [7.0, 7.0])

    v = dp.Tensor([1.0, 2.0], requires_grad=True)
    hidden = v * 2
    hidden.register_hook(lambda g: g * 10)
    (hidden * hidden).sum().backward()
    np.testing.assert_allclose(v.grad, 10 * 2 * 2 * 2 * np.array([1.0, 2.0]))


def test_queued_callbacks_run_once_backward_has_finished():
    from deltaprop.tensor import queue_callback

    w = dp.Tensor([1.0], requires_grad=True)
    events = []

    def hook(grad):
        events.append(("hook", w.grad))
        queue_callback(lambda: events.append(("done", w.grad.numpy().copy())))

    w.register_hook(hook)
    (w * 2).sum().backward()
    assert events[0] == ("hook", None)  # the hook runs before the gradient is accumulated
    assert events[1][0] == "done"
    np.testing.assert_array_equal(events[1][1], [2.0])  # the callback after it


def test_capture_guard_and_gradient_flow_compose_with_user_hooks():
    """Jacobian capture, the non-finite guard's replay and GradientFlow all use hooks at once."""
    from deltaprop.inspect import GradientFlow
    from deltaprop.optim.jacobian import capture_affine, residual_jacobian
    from deltaprop.train.guards import _first_nonfinite_output

    dp.manual_seed(3)
    model = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2)).double()
    x = np.random.default_rng(4).standard_normal((6, 3))
    counted = []
    model[0].register_forward_hook(lambda m, a, o: counted.append(1))
    with capture_affine(model) as calls:
        where, _ = _first_nonfinite_output(model, dp.Tensor(x))
        assert where is None and len(calls) == 2  # the guard's replay was captured too
    with capture_affine(model) as calls:
        model[2].weight.array[0, 0] = np.inf
        where, _ = _first_nonfinite_output(model, dp.Tensor(x))
        model[2].weight.array[0, 0] = 0.5
    assert where == "2 (Linear)"
    # route 2 (one backward per output) with a user hook active equals route 1 (no graph at all)
    wrapped = nn.Sequential(model)  # a Sequential inside a Sequential: not a flat chain
    _, j_hooks = residual_jacobian(wrapped, x)
    _, j_plain = residual_jacobian(model, x)
    np.testing.assert_allclose(j_hooks, j_plain, rtol=1e-12)
    flow = GradientFlow(warn=False)
    history = dp.fit(model, x, np.zeros((6, 2)), loss="mse", optimizer=dp.optim.NaturalGradient(
        model.parameters(), lr=0.01), epochs=2, callbacks=[flow], progress=False)
    assert len(history["grad_norm/0"]) == 2 and history["dead_relu/0"][0] >= 0
    assert counted and not model[2]._has_hooks


def test_a_weight_used_twice_gets_its_whole_gradient_with_hooks_alive_and_flat_buffers():
    """With any tensor hook alive, leaf gradients are summed before storing: no slot is handed out twice."""
    import gc
    import importlib

    engine = importlib.import_module("deltaprop.tensor")  # the module (dp.tensor is the function)

    def gradient(with_hook: bool):
        dp.manual_seed(0)
        layer = nn.Linear(3, 3).double()
        opt = dp.optim.SGD(layer.parameters(), lr=0.1)
        x = dp.Tensor(np.random.default_rng(0).standard_normal((4, 3)))
        for _ in range(2):  # the second step runs with the optimizer's gradient slots in place
            watched = dp.Tensor([1.0], requires_grad=True)
            handle = watched.register_hook(lambda g: None) if with_hook else None
            opt.zero_grad()
            (layer(layer(x)) ** 2).sum().backward()  # the weight is used twice
            grad = layer.weight.grad_array.copy()
            opt.step()
            if handle is not None:
                handle.remove()
        return grad

    np.testing.assert_allclose(gradient(True), gradient(False), rtol=1e-12)
    count = engine._live_tensor_hooks
    orphan = dp.Tensor([1.0], requires_grad=True)
    orphan.register_hook(lambda g: None)
    assert engine._live_tensor_hooks == count + 1
    del orphan
    gc.collect()
    assert engine._live_tensor_hooks == count  # a tensor that died with a hook no longer counts
