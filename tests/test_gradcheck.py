"""`deltaprop.gradcheck`: passes correct backwards, and names the culprit of a wrong one."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import GradcheckError
from deltaprop.tensor import as_tensor, make_result


def _square_wrong(a):
    """x^2 with a deliberately wrong backward: 3x instead of 2x, but right at element 0."""
    a = as_tensor(a)
    return make_result(a.array**2, (a,), _square_wrong_backward, (a.array,), "square_wrong")


def _square_wrong_backward(g, saved, parents):
    (x,) = saved
    wrong = 2 * x
    wrong.reshape(-1)[1:] *= 1.5
    return (g * wrong,)


def test_gradcheck_returns_true_for_correct_ops() -> None:
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((3, 4)), rng.standard_normal((4, 2))
    assert dp.gradcheck(lambda a, b: dp.tanh(a @ b).sum(), x, w) is True
    assert dp.gradcheck(lambda a: dp.softmax(a), x) is True  # non-scalar: random projection
    assert dp.gradcheck(lambda a: a * 2, dp.tensor(x.astype(np.float32))) is True  # copied to float64


def test_gradcheck_names_input_element_and_both_values() -> None:
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    w = np.array([0.5, -1.0])
    with pytest.raises(GradcheckError) as info:
        dp.gradcheck(lambda a, b: (_square_wrong(a) * b).sum(), w, x)
    message = str(info.value)
    assert "input 0" in message and "shape (2,)" in message and "element (1,)" in message
    # d/dw_1 of sum_j x_j1... : backprop gives 1.5 * 2 w_1 * sum(x[:, 1]); finite differences 2 w_1 * 6
    assert "backprop gives -18" in message and "finite differences give -12" in message
    assert "error 6" in message


def test_gradcheck_error_names_the_second_input_when_that_one_is_wrong() -> None:
    x = np.array([1.0, 2.0, 3.0])
    with pytest.raises(GradcheckError, match=r"input 1 \(shape \(3,\)\), element \(1,\)"):
        dp.gradcheck(lambda a, b: (a * _square_wrong(b)).sum(), x, x)


def test_gradcheck_is_an_assertion_error_for_test_frameworks() -> None:
    assert issubclass(GradcheckError, AssertionError)


def test_gradcheck_rejects_functions_that_do_not_return_a_tensor() -> None:
    with pytest.raises(TypeError, match="must return a Tensor"):
        dp.gradcheck(lambda a: a.array.sum(), np.ones(2))


def test_gradcheck_leaves_the_callers_arrays_untouched() -> None:
    x = np.array([1.0, 2.0])
    t = dp.tensor(x.copy(), requires_grad=True)
    dp.gradcheck(lambda a, b: (a * b).sum(), x, t)
    np.testing.assert_array_equal(x, [1.0, 2.0])
    assert t.grad is None


def _forgets_to_unbroadcast_backward(g, saved, parents):
    return (g, g)  # wrong: the (3,) input gets the (4, 3) gradient


def test_a_backward_returning_the_wrong_shape_is_caught_at_the_op():
    a = dp.Tensor(np.ones((4, 3)), requires_grad=True)
    b = dp.Tensor(np.ones(3), requires_grad=True)
    out = make_result(a.array + b.array, (a, b), _forgets_to_unbroadcast_backward, (), "sloppy_add")
    with pytest.raises(dp.GraphError, match=r"backward of 'sloppy_add' returned a gradient of shape "
                       r"\(4, 3\) for an input of shape \(3,\).*unbroadcast"):
        out.sum().backward()
