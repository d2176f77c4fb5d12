"""GradientFlow flags a saturated sigmoid net and an exploding net, and records into History."""

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn, optim
from deltaprop.inspect.diagnostics import GradientFlow, GradientFlowWarning


def _run_loop(model, x, y, callback, epochs=2, lr=0.1, batch=16):
    """Train with the real `deltaprop.fit`, so the callback sees fit's own hook order."""
    return dp.fit(
        model, x, y, loss=nn.MSELoss(), optimizer=optim.SGD(model.parameters(), lr=lr), epochs=epochs,
        batch_size=batch, shuffle=False, callbacks=[callback], progress=False,
    )


def _data(n=32, d=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)).astype(np.float32), rng.uniform(size=(n, 1)).astype(np.float32)


def test_saturated_sigmoid_net_is_flagged():
    dp.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Sigmoid(), nn.Linear(8, 8), nn.Sigmoid(), nn.Linear(8, 1))
    for p in model.parameters():
        p.array *= 60.0  # pre-activations in the hundreds: every sigmoid sits in its flat tail
    x, y = _data()
    flow = GradientFlow()
    with pytest.warns(GradientFlowWarning, match="saturate"):
        history = _run_loop(model, x, y, flow)
    assert history["saturated/0"][0] > 0.9
    assert any("layer 1 (module '0')" in m and "fix:" in m for m in flow.messages)
    assert history["gradient_warnings"][0] >= 1


def test_exploding_net_is_flagged():
    dp.manual_seed(1)
    layers = []
    for _ in range(6):
        lin = nn.Linear(8, 8)
        lin.weight.array *= 6.0
        layers += [lin, nn.ReLU()]
    model = nn.Sequential(*layers, nn.Linear(8, 1))
    x, y = _data(d=8)
    flow = GradientFlow()
    with pytest.warns(GradientFlowWarning, match="explode"):
        history = _run_loop(model, x, y, flow, epochs=1, lr=1e-3)
    assert max(history["grad_norm/0"][0], history["grad_norm/2"][0]) > 1e3
    assert any("lower the learning rate" in m for m in flow.messages)


def test_healthy_net_records_without_warnings(recwarn):
    dp.manual_seed(2)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
    x, y = _data()
    history = _run_loop(model, x, y, GradientFlow(), epochs=3)
    assert len(history["grad_norm/0"]) == 3 and history["grad_norm/0"][0] > 0
    assert 0 < history["update_ratio/2"][0] < 0.5
    assert history["saturated/0"][0] < 0.5
    assert history["gradient_warnings"] == [0.0, 0.0, 0.0]
    assert not [w for w in recwarn if issubclass(w.category, GradientFlowWarning)]


def test_dead_relu_fraction():
    dp.manual_seed(3)
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 1))
    model[0].bias.array[:] = -100.0  # every ReLU unit outputs 0
    x, y = _data()
    flow = GradientFlow(warn=False)
    history = _run_loop(model, x, y, flow, epochs=1)
    assert history["dead_relu/0"] == [1.0]
    assert any("ReLU units are dead" in m for m in flow.messages)
