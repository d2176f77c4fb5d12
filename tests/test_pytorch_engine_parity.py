"""The engine's PyTorch-facing pieces the idiom table touches only lightly: autograd.grad's options,
grad modes as decorators, LazyLinear with an early optimizer, the containers' list and dict behaviour."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn

torch = pytest.importorskip("torch")
X = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -2.5]])


def test_autograd_grad_matches_torch_for_intermediates_several_outputs_and_unused_inputs():
    results = []
    for lib in (torch, dp):
        x = lib.tensor(X, requires_grad=True)
        unused = lib.tensor([1.0], requires_grad=True)
        hidden = (x * x).tanh()
        a, b = hidden.sum(), (hidden * x).sum(1)
        grads = lib.autograd.grad([a, b], [x, hidden, unused], grad_outputs=[None, lib.tensor([1.0, -2.0])],
                                  retain_graph=True, allow_unused=True)  # fmt: skip
        again = lib.autograd.grad(a, x, materialize_grads=True)
        results.append([g.detach().numpy() for g in (grads[0], grads[1], again[0])] + [grads[2]])
        assert x.grad is None  # grad never touches .grad
    (tx, th, ta, tu), (dx, dh, da, du) = results
    np.testing.assert_allclose(dx, tx, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(dh, th, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(da, ta, rtol=1e-10, atol=1e-14)
    assert tu is None and du is None


def test_autograd_grad_refuses_an_unused_input_and_second_derivatives():
    x, y = dp.tensor([1.0], requires_grad=True), dp.tensor([2.0], requires_grad=True)
    with pytest.raises(dp.GraphError, match="allow_unused=True"):
        dp.autograd.grad((x * 2).sum(), [x, y])
    with pytest.raises(NotImplementedError, match="first derivatives only"):
        (x * x).sum().backward(create_graph=True)


def test_backward_inputs_accumulates_only_into_those():
    for lib in (torch, dp):
        a, b = lib.tensor([1.0, 2.0], requires_grad=True), lib.tensor([3.0], requires_grad=True)
        (a * b).sum().backward(inputs=[a])
        assert b.grad is None
        np.testing.assert_allclose(np.asarray(a.grad.detach() if lib is torch else a.grad), [3.0, 3.0])


def test_grad_modes_as_context_managers_and_decorators_nest_and_restore():
    x = dp.tensor([1.0], requires_grad=True)

    @dp.no_grad
    def bare():
        return (x * 2).requires_grad

    @dp.enable_grad()
    def inner():
        return (x * 2).requires_grad

    @dp.no_grad()
    def outer():
        return inner(), (x * 2).requires_grad

    assert bare() is False and outer() == (True, False) and dp.is_grad_enabled()
    with dp.inference_mode(False):
        assert (x * 2).requires_grad
    with dp.set_grad_enabled(False):
        assert not dp.is_grad_enabled()
    assert dp.is_grad_enabled()
    with pytest.raises(ValueError), dp.no_grad():
        raise ValueError("restored even after an exception")
    assert dp.is_grad_enabled()


def test_lazy_linear_learns_with_an_optimizer_made_before_its_first_call_and_saves_as_linear(tmp_path):
    dp.manual_seed(0)
    model = nn.Sequential(nn.LazyLinear(4), nn.ReLU(), nn.LazyLinear(1))
    optimizer = dp.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    x, y = dp.tensor(X.astype("f")), dp.tensor([[1.0], [-1.0]])
    losses = []
    for _ in range(30):
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert type(model[0]) is nn.Linear and model[0].in_features == 3 and losses[-1] < 0.2 * losses[0]
    dp.save(model, tmp_path / "lazy.npz")
    loaded = dp.load(tmp_path / "lazy.npz")
    np.testing.assert_array_equal(loaded(x).numpy(), model(x).numpy())


def test_module_list_behaves_like_a_list_and_parameter_containers_save_and_load(tmp_path):
    layers = nn.ModuleList([nn.Linear(2, 2), nn.Tanh(), nn.Linear(2, 1)])
    layers.insert(1, nn.ReLU())
    del layers[2]
    layers += [nn.Sigmoid()]
    assert [type(m).__name__ for m in layers] == ["Linear", "ReLU", "Linear", "Sigmoid"]
    assert isinstance(layers[1:3], nn.ModuleList) and len(layers[1:3]) == 2 and layers[-1] is layers[3]
    with pytest.raises(IndexError):
        layers[4]
    bag = nn.Module()
    bag.plist = nn.ParameterList([dp.randn(2, 3), nn.Parameter(dp.ones(4, dtype=dp.float64))])
    bag.pdict = nn.ParameterDict({"scale": dp.ones(2)})
    bag.blocks = nn.ModuleDict({"a": nn.Linear(3, 1)})
    assert sorted(n for n, _ in bag.named_parameters()) == ["blocks.a.bias", "blocks.a.weight", "pdict.scale",
                                                             "plist.0", "plist.1"]  # fmt: skip
    holder = nn.Sequential(bag.plist, bag.pdict, bag.blocks)
    dp.save(holder, tmp_path / "containers.npz")
    loaded = dp.load(tmp_path / "containers.npz")
    for (name, a), (_, b) in zip(holder.named_parameters(), loaded.named_parameters(), strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)
        assert a.dtype == b.dtype


def test_grad_mode_is_per_thread_as_in_pytorch():
    """A thread evaluating under no_grad leaves another thread's training recording; new threads record."""
    import threading

    inside, release = threading.Event(), threading.Event()
    seen = {}

    def evaluate():
        with dp.no_grad():
            inside.set()
            release.wait(5)
            seen["evaluator"] = dp.is_grad_enabled()

    def fresh():
        seen["new thread"] = dp.is_grad_enabled()

    evaluator = threading.Thread(target=evaluate)
    evaluator.start()
    assert inside.wait(5)
    w = dp.tensor([1.0, 2.0], requires_grad=True)
    (w * w).sum().backward()  # while the other thread is inside no_grad
    assert dp.is_grad_enabled() and w.grad.tolist() == [2.0, 4.0]
    with dp.no_grad():
        starter = threading.Thread(target=fresh)
        starter.start()
        starter.join(5)
    release.set()
    evaluator.join(5)
    assert seen == {"evaluator": False, "new thread": True}
    torch = pytest.importorskip("torch")
    with torch.no_grad():
        other = threading.Thread(target=lambda: seen.update(torch_new_thread=torch.is_grad_enabled()))
        other.start()
        other.join(5)
    assert seen["torch_new_thread"] is True  # PyTorch's behaviour, which ours matches
