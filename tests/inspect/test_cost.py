"""gradient_cost: counted multiply-adds grow linearly (backprop) vs quadratically (naive)."""

import numpy as np
import pytest

from deltaprop import nn
from deltaprop.inspect import gradient_cost


def test_backprop_linear_naive_quadratic():
    table = gradient_cost(sizes=[(n, n, 1) for n in (2, 4, 8, 16, 32)])
    W = np.array([r.weights for r in table.rows], dtype=float)
    bp = np.array([r.backprop_macs for r in table.rows], dtype=float)
    naive = np.array([r.naive_macs for r in table.rows], dtype=float)
    # backprop: a bounded number of MACs per weight; naive: a bounded number per weight squared
    assert np.all((bp / W > 1) & (bp / W < 3))
    assert np.all((naive / W**2 > 0.5) & (naive / W**2 < 1.5))
    # log-log slopes: ~1 and ~2
    assert np.polyfit(np.log(W), np.log(bp), 1)[0] == pytest.approx(1.0, abs=0.1)
    assert np.polyfit(np.log(W), np.log(naive), 1)[0] == pytest.approx(2.0, abs=0.1)
    # exact count for the 2-2-1 net: forward 2*2 + 2*1 = 6, dW 6, input grad of layer 2 only 2 -> 14
    assert table.rows[0].backprop_macs == 14
    # naive: (W + 1) forward passes of 6 MACs, W = 9
    assert table.rows[0].naive_macs == 10 * 6
    # and both give the same gradient
    assert all(r.max_difference < 1e-5 for r in table.rows)
    text = str(table)
    assert "backprop MACs" in text and "32-32-1" in text
    assert table.to_markdown().count("\n") == 6


def test_gradient_cost_of_a_given_model():
    model = nn.Sequential(nn.Linear(3, 5, dtype=np.float64), nn.ReLU(), nn.Linear(5, 2, dtype=np.float64))
    table = gradient_cost(model, n_examples=4)
    (row,) = table.rows
    assert row.sizes == (3, 5, 2) and row.weights == 3 * 5 + 5 + 5 * 2 + 2
    assert row.backprop_macs == 4 * (15 + 10) + 4 * (15 + 10) + 4 * 10
