"""deltaprop.compat.MLP: the tutorial's train/predict interface, with correct (gradchecked) gradients."""

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.compat import MLP


def test_tutorial_call_and_result_keys(capsys):
    x = np.array([0.1, 0.4, 4.1])
    y = np.array([0.2])
    trained = MLP.train(x=x, y=y, net_arch=[7, 5, 4], max_iter=500, learning_rate=0.7, debug=True, seed=0)
    assert {"derivative_chain", "training_time_sec", "elapsed_iter", "w", "network_error"} <= set(trained)
    assert trained["elapsed_iter"] == 500 and trained["training_time_sec"] > 0
    assert [w.shape for w in trained["w"]] == [(7, 3), (5, 7), (4, 5), (1, 4)]
    assert [d.shape for d in trained["derivative_chain"]] == [(1, 7), (1, 5), (1, 4), (1, 1)]
    err = trained["network_error"]
    assert err.shape == (500,) and err[-1] < 0.01 * err[0]
    assert MLP.predict(trained, x)[0, 0] == pytest.approx(0.2, abs=0.01)
    assert "iteration 500/500" in capsys.readouterr().out


def test_gradients_pass_gradcheck_many_samples_and_outputs():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(6, 3)), rng.uniform(size=(6, 2))
    trained = MLP.train(x, y, net_arch=[4], max_iter=3, learning_rate=0.5, seed=1)
    params = [a for pair in zip(trained["w"], trained["b"], strict=False) for a in pair]
    assert dp.gradcheck(lambda *ps: MLP.network_error(list(ps), x, y), *params)
    # the reported deltas are the real dE/dz of the last layer: (p - y) p (1 - p) / N
    p = MLP.predict(trained, x)
    assert p.shape == (6, 2)
    np.testing.assert_allclose(trained["derivative_chain"][-1], (p - y) * p * (1 - p) / 6, rtol=1e-10)


def test_bad_shapes_raise():
    with pytest.raises(dp.ShapeError, match="samples"):
        MLP.train(np.zeros((4, 2)), np.zeros((3, 1)), net_arch=[2], max_iter=1)
    trained = MLP.train(np.zeros((4, 2)), np.zeros(4), net_arch=[2], max_iter=1)
    with pytest.raises(dp.ShapeError, match="trained on 2 features"):
        MLP.predict(trained, np.zeros((1, 3)))
    with pytest.raises(ValueError, match="positive"):
        MLP.train(np.zeros((4, 2)), np.zeros(4), net_arch=[0])
