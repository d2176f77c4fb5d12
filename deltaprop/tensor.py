"""`Tensor` and reverse-mode automatic differentiation (backpropagation).

Every op (in ``deltaprop/ops/``) computes its forward value and, when some
input needs a gradient, records on the output tensor three things: its
parents, a plain module-level function giving the vector-Jacobian product,
and the arrays that function needs (``saved``). Nothing is a closure, so the
graph holds no reference cycles and is freed by reference counting alone.

`Tensor.backward` walks that graph once in reverse topological order. Each
node's incoming gradient is complete before its backward runs, so every
intermediate derivative is computed exactly once: backpropagation is dynamic
programming over the chain rule.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from deltaprop import backend
from deltaprop.errors import GraphError, NonFiniteError, ShapeError
from deltaprop.hooks import RemovableHandle, add_hook
from deltaprop.tensor_methods import TensorMethods

# --------------------------------------------------------------------------- state

class _ThreadState(threading.local):
    """Per-thread switches, as PyTorch keeps its grad mode per thread (a new thread records by default)."""

    grad_enabled = True


_state = _ThreadState()
_anomaly_mode = False

DEFAULT_DTYPE = np.float32


def is_grad_enabled() -> bool:
    """Whether ops record the graph right now (False inside `no_grad`)."""
    return _state.grad_enabled


class _GradMode:
    """Sets whether ops record the graph for a ``with`` block, or around every call of a decorated function.

    As in PyTorch, each class works as ``with no_grad():``, as ``@no_grad()``
    and as a bare ``@no_grad``; the previous mode comes back on exit, even
    after an exception.
    """

    __slots__ = ("_previous",)
    _mode = False
    _previous: bool  # the mode to restore on exit

    def __new__(cls, func: Callable | None = None):  # type: ignore[misc]
        self = super().__new__(cls)
        return self if func is None else self(func)

    def __init__(self, func: Callable | None = None) -> None:
        self._previous = _state.grad_enabled

    def __enter__(self) -> None:
        self._previous, _state.grad_enabled = _state.grad_enabled, self._mode

    def __exit__(self, *exc: object) -> None:
        _state.grad_enabled = self._previous

    def __call__(self, func: Callable) -> Callable:
        import functools

        again = self._again

        @functools.wraps(func)
        def with_grad_mode(*args: Any, **kwargs: Any) -> Any:
            with again():  # a fresh context per call, so recursion and threads nest correctly
                return func(*args, **kwargs)

        return with_grad_mode

    def _again(self) -> _GradMode:
        return type(self)()


class no_grad(_GradMode):  # noqa: N801 - PyTorch's name
    """Run ops without recording anything (evaluation, optimizer updates)."""

    __slots__ = ()


class enable_grad(_GradMode):  # noqa: N801
    """Record the graph again inside a `no_grad` block."""

    __slots__ = ()
    _mode = True


class inference_mode(_GradMode):  # noqa: N801
    """PyTorch's faster `no_grad` for inference; here the same thing (``inference_mode(False)`` records).

    PyTorch also forbids using tensors made inside it in a later backward;
    deltaprop's tensors made without recording are ordinary constants, so
    that use is allowed here.
    """

    __slots__ = ("_mode",)

    def __new__(cls, mode: Any = True):  # type: ignore[misc]
        if callable(mode):  # bare @inference_mode
            return cls(True)(mode)
        return object.__new__(cls)

    def __init__(self, mode: Any = True) -> None:
        self._previous = _state.grad_enabled
        self._mode = not bool(mode)

    def _again(self) -> _GradMode:
        return inference_mode(not self._mode)


class set_grad_enabled(_GradMode):  # noqa: N801
    """Turn recording on or off now (``set_grad_enabled(False)``), or for a ``with`` block."""

    __slots__ = ("_mode",)

    def __new__(cls, mode: bool):  # type: ignore[misc]
        return object.__new__(cls)

    def __init__(self, mode: bool) -> None:
        self._mode = bool(mode)
        self._previous, _state.grad_enabled = _state.grad_enabled, self._mode

    def __enter__(self) -> None:
        pass  # already set when made

    def __call__(self, func: Callable) -> Callable:
        _state.grad_enabled = self._previous  # as a decorator it applies per call, not from now on
        return super().__call__(func)

    def _again(self) -> _GradMode:
        return set_grad_enabled(self._mode)


@contextmanager
def detect_anomaly() -> Iterator[None]:
    """Check every op's output and every backward gradient for NaN/Inf.

    Slower, but the `NonFiniteError` it raises names the first op that
    produced a non-finite value, in the forward or in the backward pass.
    """
    global _anomaly_mode
    previous, _anomaly_mode = _anomaly_mode, True
    try:
        yield
    finally:
        _anomaly_mode = previous


def is_anomaly_enabled() -> bool:
    return _anomaly_mode


# --------------------------------------------------------------------------- Tensor

BackwardFn = Callable[[Any, tuple, tuple], tuple]


class Tensor(TensorMethods):
    """An array plus what backpropagation needs: ``grad``, ``requires_grad`` and the op that made it.

    ``array`` is the NumPy (or CuPy) array; ``grad`` is a tensor of the same
    shape, filled by `backward` and accumulated across calls until cleared.
    The PyTorch methods (``x.sum(1)``, ``x.view(-1)``, ``x.to('cuda')``) come
    from `deltaprop.tensor_methods.TensorMethods`.
    """

    __slots__ = (
        "array",
        "grad_array",
        "_grad_tensor",
        "requires_grad",
        "_parents",
        "_backward",
        "_saved",
        "_op",
        "_retains_grad",
        "_hooks",
        "_grad_slot",
        "_seq",
        "_version",
        "_inputs",
        "_born",
        "name",
        "__weakref__",
    )
    __array_priority__ = 1000  # so ndarray <op> Tensor defers to Tensor's reflected op

    # What each slot holds (annotations only; NumPy/CuPy arrays are typed loosely on purpose).
    array: Any
    grad_array: Any
    _grad_tensor: Tensor | None
    requires_grad: bool
    _parents: tuple[Tensor | None, ...]  # None where an input needs no gradient
    _backward: BackwardFn | None
    _saved: tuple | None  # None once backward has freed the graph
    _op: str | None
    _retains_grad: bool
    _hooks: dict[str, dict[int, Callable]] | None
    _grad_slot: Any
    _seq: int  # the three below are set only on recorded nodes (see make_result)
    _inputs: tuple[Tensor, ...] | None
    _born: int
    _version: int
    name: str | None

    def __init__(self, data: Any, dtype: Any = None, requires_grad: bool = False) -> None:
        array = _as_array(data, dtype)
        if requires_grad and array.dtype.kind != "f":
            raise TypeError(
                f"requires_grad=True needs a floating-point tensor, got dtype {array.dtype}; "
                "pass dtype=float32 or float64"
            )
        self.array = array
        self.grad_array = None
        self._grad_tensor = None
        self.requires_grad = bool(requires_grad)
        self._parents = ()
        self._backward = None
        self._saved = None
        self._op = None
        self._retains_grad = False
        self._hooks = None
        self._grad_slot = None
        self._version = 0
        self.name = None

    # ------------------------------------------------------------------ the values
    @property
    def data(self) -> Tensor:
        """The same values as a new tensor outside the graph, sharing memory (PyTorch's ``.data``).

        Changes made through it (``p.data -= lr * p.grad``, ``p.data.normal_()``)
        change this tensor, but autograd does not see them: use it for updates
        and initialisation, never inside a computation to be differentiated.
        Assigning ``t.data = other`` replaces the values (any shape).
        ``.array`` is the underlying NumPy (or CuPy) array itself.
        """
        return Tensor._wrap(self.array)

    @data.setter
    def data(self, value: Any) -> None:
        self.array = value.array if isinstance(value, Tensor) else _as_array(value, None)

    @property
    def grad(self) -> Tensor | None:
        """dC/d(this tensor) after ``backward()`` (None before), as a tensor of this tensor's shape.

        Accumulated across backward calls until cleared (``zero_grad``), as in
        PyTorch; the same Tensor object is returned as long as the gradient
        array is the same, so ``p.grad.zero_()`` and ``p.grad is g`` behave as
        PyTorch users expect. ``.grad_array`` is the raw array itself (what
        ops and optimizers use).
        """
        g = self.grad_array
        if g is None:
            return None
        wrapper = self._grad_tensor
        if wrapper is None or wrapper.array is not g:
            wrapper = self._grad_tensor = Tensor._wrap(g)
        return wrapper

    @grad.setter
    def grad(self, value: Any) -> None:
        if value is None:
            self.grad_array = self._grad_tensor = None
            return
        array = value.array if isinstance(value, Tensor) else value
        if not hasattr(array, "shape"):
            array = backend.array_module(self.array).asarray(array)
        if array.shape != self.array.shape:
            raise ShapeError(
                f"assigned grad has shape {tuple(array.shape)} but the tensor has shape {self.shape}; "
                "a gradient must have its tensor's shape"
            )
        self.grad_array = array
        self._grad_tensor = value if isinstance(value, Tensor) else None

    # ------------------------------------------------------------------ facts
    @property
    def shape(self) -> tuple[int, ...]:
        return self.array.shape

    @property
    def ndim(self) -> int:
        return self.array.ndim

    @property
    def dtype(self) -> np.dtype:
        return self.array.dtype

    @property
    def is_leaf(self) -> bool:
        """True for tensors made by the user, not by an op that recorded a backward."""
        return self._backward is None

    @property
    def xp(self):
        """The array namespace (numpy or cupy) holding ``data``."""
        return backend.array_module(self.array)

    @property
    def grad_fn(self) -> str | None:
        """Name of the op that produced this tensor (None for leaves)."""
        return self._op

    def __len__(self) -> int:
        return len(self.array)

    def __repr__(self) -> str:
        body = np.array2string(
            backend.to_numpy(self.array), precision=4, separator=", ", prefix="tensor("
        )
        extra = ""
        if self.dtype != DEFAULT_DTYPE:
            extra += f", dtype={self.dtype}"
        if self._op is not None:
            extra += f", grad_fn={self._op}"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    # ------------------------------------------------------------------ conversions
    def numpy(self) -> np.ndarray:
        """The values as a NumPy array (shares memory on the CPU)."""
        return backend.to_numpy(self.array)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        array = backend.to_numpy(self.array)
        return array if dtype is None else array.astype(dtype, copy=False)

    def item(self) -> float:
        """The single value of a one-element tensor as a Python number."""
        if self.array.size != 1:
            raise ValueError(f"item(): tensor has {self.array.size} elements, expected exactly 1")
        return self.array.item()

    def tolist(self) -> Any:
        return self.array.tolist()

    def detach(self) -> Tensor:
        """The same values, cut off from the graph (shares the array)."""
        return Tensor._wrap(self.array)

    def requires_grad_(self, flag: bool = True) -> Tensor:
        if not self.is_leaf:
            raise GraphError("requires_grad_ can only change leaf tensors; use .detach() first")
        self.requires_grad = flag
        return self

    def retain_grad(self) -> Tensor:
        """Keep ``.grad`` on this intermediate tensor after backward (leaves always keep it)."""
        self._retains_grad = True
        return self

    def zero_grad(self) -> None:
        self.grad_array = None

    # ------------------------------------------------------------------ making tensors
    @staticmethod
    def _wrap(data: Any) -> Tensor:
        """A constant tensor around an existing array, skipping conversion (fast path)."""
        out = Tensor.__new__(Tensor)
        out.array = data
        out.grad_array = None
        out._grad_tensor = None
        out.requires_grad = False
        out._parents = ()
        out._backward = None
        out._saved = None
        out._op = None
        out._retains_grad = False
        out._hooks = None
        out._grad_slot = None
        out._version = 0
        out.name = None
        return out

    # ------------------------------------------------------------------ backpropagation
    def backward(
        self,
        gradient: Any = None,
        retain_graph: bool | None = None,
        create_graph: bool = False,
        inputs: Any = None,
        *,
        grad: Any = None,
    ) -> None:
        """Backpropagate from this tensor: fill ``.grad`` of every leaf that needs one.

        ``gradient`` (``grad`` is the older name) is dC/d(this tensor); it may
        be omitted for a one-element tensor (a loss), where it is 1. The saved
        arrays of the graph are freed as soon as they have been used unless
        ``retain_graph=True``. ``inputs``: only these tensors' ``.grad`` is
        accumulated (PyTorch's argument). Second derivatives
        (``create_graph=True``) are not supported: that raises.
        """
        if grad is not None:
            if gradient is not None:
                raise TypeError("backward(): got both gradient= and grad=; pass one")
            gradient = grad
        if create_graph:
            raise NotImplementedError(
                "backward(create_graph=True): deltaprop computes first derivatives only (no graph of the "
                "backward pass); for a Hessian-vector product use finite differences of gradients"
            )
        if inputs is not None:
            from deltaprop.autograd import backward_into

            backward_into(self, inputs, gradient, bool(retain_graph))
            return
        run_backward(self, gradient, bool(retain_graph))

    # ------------------------------------------------------------------ gradient hooks
    def register_hook(self, hook: Callable[[Tensor], Any]) -> RemovableHandle:
        """Call ``hook(grad)`` when dC/d(this tensor) is complete; a returned tensor replaces it.

        As in PyTorch: on a leaf the hook sees the gradient before it is added
        to ``.grad``; on an intermediate tensor, before it flows on to the
        inputs. Returns a handle whose ``remove()`` takes the hook off.
        """
        if not self.requires_grad:
            raise GraphError("register_hook: this tensor does not require grad, so no gradient reaches it")
        return self._add_hook("grad", hook)

    def register_post_accumulate_grad_hook(self, hook: Callable[[Tensor], Any]) -> RemovableHandle:
        """Call ``hook(tensor)`` on a leaf right after this backward has finished adding to its ``.grad``.

        The event distributed training waits for: a parameter's gradient is
        final for this backward, so its all-reduce can start while the rest of
        the graph is still being differentiated.
        """
        if not self.is_leaf or not self.requires_grad:
            raise GraphError(
                "register_post_accumulate_grad_hook: only leaf tensors that require grad (parameters) "
                "accumulate a .grad; register a plain register_hook on an intermediate tensor"
            )
        return self._add_hook("post_accumulate", hook)

    def _add_hook(self, kind: str, hook: Callable) -> RemovableHandle:
        global _live_tensor_hooks
        if self._hooks is None:
            self._hooks = {"grad": {}, "post_accumulate": {}}
            # a tensor that dies with hooks on it takes them out of the count
            weakref.finalize(self, _tensor_with_hooks_died, self._hooks)
        _live_tensor_hooks += 1
        return add_hook(self._hooks[kind], hook, prepend=False, on_remove=_one_tensor_hook_fewer)

    # ------------------------------------------------------------------ operators
    # Each operator forwards to the op in deltaprop/ops, where its derivative lives.
    def __add__(self, other):
        return _ops().add(self, other)

    def __radd__(self, other):
        return _ops().add(other, self)

    def __sub__(self, other):
        return _ops().sub(self, other)

    def __rsub__(self, other):
        return _ops().sub(other, self)

    def __mul__(self, other):
        return _ops().mul(self, other)

    def __rmul__(self, other):
        return _ops().mul(other, self)

    def __truediv__(self, other):
        return _ops().div(self, other)

    def __rtruediv__(self, other):
        return _ops().div(other, self)

    def __pow__(self, other):
        return _ops().pow(self, other)

    def __rpow__(self, other):
        return _ops().pow(other, self)

    def __matmul__(self, other):
        return _ops().matmul(self, other)

    def __rmatmul__(self, other):
        return _ops().matmul(other, self)

    def __floordiv__(self, other):
        return _ops().floor_divide(self, other)

    def __rfloordiv__(self, other):
        return _ops().floor_divide(other, self)

    def __mod__(self, other):
        return _ops().remainder(self, other)

    def __rmod__(self, other):
        return _ops().remainder(other, self)

    def __neg__(self):
        return _ops().neg(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return _ops().abs(self)

    def __getitem__(self, index):
        return _ops().getitem(self, index)

    def __iter__(self) -> Iterator[Tensor]:
        """The slices along the first dimension (each an op, so gradients flow), as PyTorch iterates."""
        if self.array.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        getitem = _ops().getitem
        return (getitem(self, i) for i in range(self.array.shape[0]))

    def __contains__(self, value) -> bool:
        return bool((self.array == _raw(value)).any())

    # Bitwise / logical operators on bool and integer tensors (masks): no gradient, as in PyTorch.
    def __and__(self, other):
        return _comparison(self.array & _raw(other))

    __rand__ = __and__

    def __or__(self, other):
        return _comparison(self.array | _raw(other))

    __ror__ = __or__

    def __xor__(self, other):
        return _comparison(self.array ^ _raw(other))

    __rxor__ = __xor__

    def __invert__(self):
        return _comparison(~self.array)

    # In place, as in PyTorch: aliases see the change (the rules are in deltaprop.inplace).
    def __iadd__(self, other):
        return _inplace().apply_ufunc(self, np.add, other, "add")

    def __isub__(self, other):
        return _inplace().apply_ufunc(self, np.subtract, other, "subtract")

    def __imul__(self, other):
        return _inplace().apply_ufunc(self, np.multiply, other, "multiply")

    def __itruediv__(self, other):
        return _inplace().apply_ufunc(self, np.true_divide, other, "true_divide")

    def __ifloordiv__(self, other):
        return _inplace().apply_ufunc(self, np.floor_divide, other, "floor_divide")

    def __imod__(self, other):
        return _inplace().apply_ufunc(self, np.remainder, other, "remainder")

    def __ipow__(self, other):
        return _inplace().apply_ufunc(self, np.power, other, "power")

    def __iand__(self, other):
        return _inplace().apply_ufunc(self, np.bitwise_and, other, "bitwise_and")

    def __ior__(self, other):
        return _inplace().apply_ufunc(self, np.bitwise_or, other, "bitwise_or")

    def __ixor__(self, other):
        return _inplace().apply_ufunc(self, np.bitwise_xor, other, "bitwise_xor")

    def __setitem__(self, index, value) -> None:
        _inplace().assign(self, index, value)

    def add_(self, other, alpha: float = 1) -> Tensor:
        value = other if alpha == 1 else _raw(other) * alpha
        return _inplace().apply_ufunc(self, np.add, value, "add")

    def sub_(self, other, alpha: float = 1) -> Tensor:
        value = other if alpha == 1 else _raw(other) * alpha
        return _inplace().apply_ufunc(self, np.subtract, value, "subtract")

    def mul_(self, other) -> Tensor:
        return _inplace().apply_ufunc(self, np.multiply, other, "multiply")

    def div_(self, other) -> Tensor:
        return _inplace().apply_ufunc(self, np.true_divide, other, "true_divide")

    def zero_(self) -> Tensor:
        return self.fill_(0)

    def fill_(self, value) -> Tensor:
        _inplace().assign(self, Ellipsis, value)
        return self

    def copy_(self, src) -> Tensor:
        source = src.array if isinstance(src, Tensor) else src
        _inplace().assign(self, Ellipsis, backend.to_module(source, self.xp))
        return self

    def clamp_(self, min=None, max=None) -> Tensor:  # noqa: A002 - PyTorch's names
        _inplace().check_allowed(self, "clamp_")
        self.xp.clip(self.array, min, max, out=self.array)
        _inplace().stamp(self)
        return self

    def normal_(self, mean: float = 0.0, std: float = 1.0) -> Tensor:
        from deltaprop import random

        values = random.normal(self.shape, mean, std, dtype=self.dtype, xp=self.xp)
        _inplace().assign(self, Ellipsis, values)
        return self

    def uniform_(self, a: float = 0.0, b: float = 1.0) -> Tensor:
        from deltaprop import random

        values = random.uniform(self.shape, a, b, dtype=self.dtype, xp=self.xp)
        _inplace().assign(self, Ellipsis, values)
        return self

    # NumPy functions on tensors: np.exp(t) is the op exp(t) (a tensor, differentiable); other
    # ufuncs run on the values and give a tensor; `ndarray -= tensor` updates the ndarray in place.
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return _numpy_ufunc(ufunc, method, inputs, kwargs)

    # Comparisons are elementwise and give boolean tensors (no derivative), as in PyTorch and NumPy;
    # hashing stays by identity, so tensors still work as dict keys and in sets (as in PyTorch).
    def __lt__(self, other):
        return _comparison(self.array < _raw(other))

    def __le__(self, other):
        return _comparison(self.array <= _raw(other))

    def __gt__(self, other):
        return _comparison(self.array > _raw(other))

    def __ge__(self, other):
        return _comparison(self.array >= _raw(other))

    def __eq__(self, other):  # type: ignore[override]
        return _comparison(self.array == _raw(other))

    def __ne__(self, other):  # type: ignore[override]
        return _comparison(self.array != _raw(other))

    def eq(self, other) -> Tensor:
        return _comparison(self.array == _raw(other))

    def ne(self, other) -> Tensor:
        return _comparison(self.array != _raw(other))

    def __format__(self, spec: str) -> str:
        """``f"{loss:.4f}"`` formats a one-element tensor's value, as in PyTorch."""
        if self.array.size == 1:
            return format(self.item(), spec)
        if spec:
            raise TypeError(f"unsupported format string {spec!r} for a tensor of shape {self.shape}")
        return str(self)

    __hash__ = object.__hash__

    def __bool__(self) -> bool:
        if self.array.size != 1:
            raise RuntimeError(
                f"Boolean value of a tensor with {self.array.size} values is ambiguous; use .any() or .all()"
            )
        return bool(self.array)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())


# --------------------------------------------------------------------------- helpers


_ops_module = None


def _ops():
    """The `deltaprop.ops` module, imported on first use (it imports this one).

    Cached in a global: an ``import`` statement inside every operator call
    cost more than the NumPy addition it wrapped.
    """
    global _ops_module
    if _ops_module is None:
        from deltaprop import ops

        _ops_module = ops
    return _ops_module


_inplace_module = None


def _inplace():
    global _inplace_module
    if _inplace_module is None:
        from deltaprop import inplace

        _inplace_module = inplace
    return _inplace_module


# NumPy ufuncs that are deltaprop ops with a derivative: np.exp(t) records exp
_UFUNC_OPS = {
    "add": "add", "subtract": "sub", "multiply": "mul", "true_divide": "div", "divide": "div",
    "power": "pow", "matmul": "matmul", "negative": "neg", "absolute": "abs", "exp": "exp",
    "log": "log", "sqrt": "sqrt", "maximum": "maximum", "minimum": "minimum", "tanh": "tanh",
}


def _numpy_ufunc(ufunc: Any, method: str, inputs: tuple, kwargs: dict) -> Any:
    out = kwargs.pop("out", None)
    if method == "__call__" and out is None and not kwargs and ufunc.__name__ in _UFUNC_OPS:
        return getattr(_ops(), _UFUNC_OPS[ufunc.__name__])(*inputs)
    raw = [_raw(x) for x in inputs]
    if out is None:
        result = getattr(ufunc, method)(*raw, **kwargs)
        if isinstance(result, tuple):
            return tuple(Tensor._wrap(r) for r in result)
        return Tensor._wrap(result) if hasattr(result, "shape") else result
    targets = [t for t in out if isinstance(t, Tensor)]
    for target in targets:
        _inplace().check_allowed(target, ufunc.__name__, *inputs)
    getattr(ufunc, method)(*raw, out=tuple(_raw(o) for o in out), **kwargs)
    for target in targets:
        _inplace().stamp(target)
    return out[0] if len(out) == 1 else out


def _comparison(result: Any) -> Tensor:
    """A comparison's answer as a boolean tensor (a plain bool from e.g. pytest.approx is wrapped too)."""
    return Tensor._wrap(result if hasattr(result, "shape") else np.asarray(result))


def _raw(x: Any) -> Any:
    return x.array if isinstance(x, Tensor) else x


# Casting to a real dtype would silently drop the imaginary part.
_COMPLEX_MESSAGE = (
    "deltaprop computes with real numbers and got complex data; pass the part you mean: "
    "x.real, np.abs(x), or the real and imaginary parts as separate features"
)


def _refuse_complex(data: Any) -> None:
    if isinstance(data, complex) or getattr(getattr(data, "dtype", None), "kind", "") == "c":
        raise TypeError(_COMPLEX_MESSAGE)


def _as_array(data: Any, dtype: Any) -> Any:
    """Turn user data into an array: Python floats become float32, float64 arrays stay float64."""
    if isinstance(data, Tensor):
        data = data.array
    _refuse_complex(data)
    xp = backend.array_module(data)
    if xp is not np or isinstance(data, (np.ndarray, np.generic)):  # an array stays where it is
        if dtype is not None:
            return xp.asarray(data, dtype=dtype)
        array = xp.asarray(data)
        if array.dtype.kind == "f" and array.dtype.itemsize < 4:
            array = array.astype(DEFAULT_DTYPE)
        return array
    # Python numbers and lists: made on the host, then put on the default backend
    array = np.asarray(data, dtype=dtype)
    if array.dtype.kind == "c":  # a list holding complex numbers
        raise TypeError(_COMPLEX_MESSAGE)
    if dtype is None and array.dtype.kind == "f":  # Python floats: float32 like PyTorch
        array = array.astype(DEFAULT_DTYPE)
    module = backend.default_module()
    return array if module is np else module.asarray(array)


def _seed_gradient(root: Tensor, grad: Any) -> Any:
    """dC/d(root) as an array: 1 for a one-element loss, else ``grad`` checked against root's shape."""
    if grad is None:
        data = root.array
        if data.size != 1:
            raise GraphError(
                f"backward(): output has shape {root.shape}, so the gradient is not implied; "
                "reduce it to a scalar (e.g. .sum() or .mean()) or pass grad= of that shape"
            )
        return root.xp.ones_like(data)
    seed = grad.array if isinstance(grad, Tensor) else grad
    if not hasattr(seed, "shape") or backend.array_module(seed) is not root.xp:
        seed = backend.to_module(seed, root.xp)
    if seed.shape != root.array.shape:
        raise GraphError(f"backward(): grad has shape {seed.shape} but the tensor has shape {root.shape}")
    if seed.dtype != root.array.dtype:
        seed = seed.astype(root.array.dtype)
    return seed


_end_of_backward: list[Callable[[], Any]] = []


def run_backward(root: Tensor, grad: Any, retain_graph: bool, leaves: Any = None) -> None:
    """Seed dC/d(root), walk the graph, then run the callbacks queued during the walk."""
    if not root.requires_grad:
        raise GraphError(
            "backward(): this tensor does not require grad; it was computed from inputs "
            "with requires_grad=False or inside no_grad()"
        )
    data = root.array
    if grad is None and type(data) is np.ndarray and data.ndim == 0:  # a loss: seed 1, cheaply
        seed = np.array(1, dtype=data.dtype)
    else:
        seed = _seed_gradient(root, grad)
    global _collecting_walks
    collecting = leaves is not None or _live_tensor_hooks > 0
    if collecting:
        _collecting_walks += 1
    try:
        _backpropagate(root, seed, retain_graph, leaves)
    except BaseException:
        _end_of_backward.clear()
        raise
    finally:
        if collecting:
            _collecting_walks -= 1
    while _end_of_backward:
        _end_of_backward.pop(0)()

# The in-place clock: how many in-place changes have happened (see deltaprop.inplace).
_modifications = 0


def queue_callback(callback: Callable[[], Any]) -> None:
    """Run ``callback()`` once the backward now in progress has finished (called from a hook).

    PyTorch's ``Variable._execution_engine.queue_callback``: a distributed
    wrapper queues "wait for the last all-reduce" from its first gradient
    hook, so that by the time ``backward()`` returns the averaged gradients
    are in place for ``optimizer.step()``.
    """
    _end_of_backward.append(callback)


# Tensor hooks are rare; while none is registered the walk skips looking for them.
_live_tensor_hooks = 0


def _one_tensor_hook_fewer() -> None:
    global _live_tensor_hooks
    _live_tensor_hooks -= 1


def _tensor_with_hooks_died(hooks: dict[str, dict]) -> None:
    global _live_tensor_hooks
    _live_tensor_hooks -= sum(len(table) for table in hooks.values())
    for table in hooks.values():
        table.clear()  # a handle removed later finds nothing to remove and leaves the count alone


# How many walks now in progress collect leaf gradients themselves (tensor hooks, autograd.grad):
# while any does, ops are handed no gradient slot (see gradient_buffer).
_collecting_walks = 0


def _backpropagate(root: Tensor, seed: Any, retain_graph: bool, leaves: Any = None) -> None:  # noqa: C901 - the hot loop of every training step: a call per node costs measurable time
    """The reverse sweep: each node's backward runs once, after every node that uses it.

    Every recorded node carries a sequence number, larger than its inputs'
    (an op is recorded after its inputs exist). Running the pending node with
    the largest number next therefore reaches a node only after all its
    consumers, with no separate topological sort (PyTorch's engine orders
    work the same way): a heap holds the pending nodes, and when a step
    discovers a single new node and nothing else is pending (a chain of
    layers) that node simply runs next. ``pending`` holds, by sequence
    number, the gradient summed so far for each node still to run.

    A gradient reaching a leaf is added to its ``.grad`` at once, except when
    tensor hooks exist somewhere: then `_LeafGradients` holds each leaf's
    gradient until its last consumer has run, so the leaf's hooks see the
    complete gradient exactly once, as soon as it is ready. `deltaprop.autograd.grad`
    passes its own ``leaves`` that keeps the gradients instead of adding them.
    """
    if leaves is None and _live_tensor_hooks > 0:
        leaves = _LeafGradients(root)
    if root._backward is None:  # a leaf: dC/d(itself) is the seed
        if leaves is None:
            _accumulate_into(root, seed)
        else:
            leaves.arrive(root, seed)
        return
    pending: dict[int, Any] = {root._seq: seed}
    heap: list[tuple[int, Tensor]] = []
    check = _anomaly_mode
    pop, push = heapq.heappop, heapq.heappush
    node: Tensor | None = root
    while node is not None:
        g = pending.pop(node._seq)
        if node._hooks is not None:
            g = _run_grad_hooks(node, g)
        if node._retains_grad:
            _accumulate_into(node, g)
        saved = node._saved
        if saved is None:
            raise GraphError(
                f"backward(): the graph through '{node._op}' was already freed by an earlier "
                "backward(); pass retain_graph=True to the first backward() to call it twice"
            )
        if node._born != _modifications:  # something was changed in place since this op ran
            _check_inputs_unchanged(node)
        parents = node._parents
        parent_grads = node._backward(g, saved, parents)  # type: ignore[misc]  # a recorded node: not None
        if not retain_graph:
            node._saved = node._inputs = None
        found = None  # the first node this step discovered: next, without a heap, if it is alone
        for parent, pg in zip(parents, parent_grads, strict=False):
            if parent is None or pg is None:
                continue
            if pg.shape != parent.array.shape:
                raise _wrong_gradient_shape(node, parent, pg)
            if check:
                _check_finite(pg, f"backward of '{node._op}'", parent.shape)
            if parent._backward is None:
                if leaves is not None:
                    leaves.arrive(parent, pg)
                elif pg is parent._grad_slot and parent.grad_array is None:
                    parent.grad_array = pg  # the op wrote it into the optimizer's buffer: nothing to copy
                else:
                    _accumulate_into(parent, pg)
                continue
            key = parent._seq
            previous = pending.get(key)
            if previous is not None:
                pending[key] = previous + pg
            elif found is None:
                pending[key] = pg
                found = parent
            else:
                pending[key] = pg
                push(heap, (-key, parent))
        # next: the pending node recorded last (a chain, the common case, never touches the heap)
        if found is not None:
            node = found if not heap else _push_pop(heap, found)
        else:
            node = pop(heap)[1] if heap else None


def _check_inputs_unchanged(node: Tensor) -> None:
    for t in node._inputs or ():
        if t._version > node._born:
            from deltaprop.inplace import stale_input_error

            raise stale_input_error(node, t)


def _push_pop(heap: list[tuple[int, Tensor]], node: Tensor) -> Tensor:
    return heapq.heappushpop(heap, (-node._seq, node))[1]


class _LeafGradients:
    """With tensor hooks: each leaf's gradient is summed until its last consumer has run."""

    def __init__(self, root: Tensor) -> None:
        self.waiting: dict[int, int] = {}  # id(leaf) -> consumer edges still to deliver
        self.partial: dict[int, Any] = {}
        for node in _reverse_topological(root):
            for parent in node._parents:
                if parent is not None and parent._backward is None:
                    self.waiting[id(parent)] = self.waiting.get(id(parent), 0) + 1
        if root._backward is None:
            self.waiting[id(root)] = 1

    def arrive(self, leaf: Tensor, g: Any) -> None:
        key = id(leaf)
        previous = self.partial.get(key)
        self.partial[key] = g if previous is None else previous + g
        self.waiting[key] -= 1
        if self.waiting[key]:
            return
        g = self.partial.pop(key)
        if leaf._hooks is not None:
            g = _run_grad_hooks(leaf, g)
        _accumulate_into(leaf, g)
        if leaf._hooks is not None:
            for hook in tuple(leaf._hooks["post_accumulate"].values()):
                hook(leaf)


def _run_grad_hooks(node: Tensor, g: Any) -> Any:
    """Apply ``register_hook`` hooks in order; each may return a replacement gradient."""
    hooks = node._hooks
    assert hooks is not None, "called only for a tensor with hooks"
    for hook in tuple(hooks["grad"].values()):
        result = hook(Tensor._wrap(g))
        if result is not None:
            replacement = result.array if isinstance(result, Tensor) else result
            if getattr(replacement, "shape", None) != node.array.shape:
                raise GraphError(
                    f"a tensor hook returned a gradient of shape {getattr(replacement, 'shape', None)} "
                    f"for a tensor of shape {node.shape}; a hook must return None or a gradient of the "
                    "tensor's own shape"
                )
            g = replacement
    return g


def _wrong_gradient_shape(node: Tensor, parent: Tensor, pg: Any) -> GraphError:
    """A backward returned a gradient the wrong shape: caught here, not later in the optimizer."""
    return GraphError(
        f"backward of '{node._op}' returned a gradient of shape {tuple(pg.shape)} for an input of shape "
        f"{tuple(parent.array.shape)}; a backward function must return one gradient per input, each "
        "with that input's shape (undo broadcasting with deltaprop.ops.broadcast.unbroadcast)"
    )


def _accumulate_into(node: Tensor, g: Any) -> None:
    """Add g to node.grad. The first gradient is copied, as g may be shared with another input.

    A parameter that an optimizer keeps in a flat buffer has a gradient slot
    (``_grad_slot``, see deltaprop.optim.flat): the first gradient goes there,
    unless the op already wrote it there itself (`gradient_buffer`).
    """
    if node.grad_array is None:
        slot = node._grad_slot
        if slot is None or slot.shape != node.array.shape or slot.dtype != node.array.dtype:
            node.grad_array = g.astype(node.array.dtype, copy=True)
        else:
            if g is not slot:
                slot[...] = g
            node.grad_array = slot
    else:
        node.grad_array += g


def gradient_buffer(t: Tensor | None) -> Any:
    """An array an op's backward may write ``t``'s gradient into directly (``out=``), or None.

    That is ``t``'s gradient slot while ``t.grad`` is still empty, so the
    gradient lands where the optimizer reads it without a copy. An op asks
    at most once per input and returns what it wrote, as usual.
    """
    if t is None or t.grad_array is not None or _collecting_walks:
        return None  # a walk that collects leaf gradients itself sums them before they are stored
    slot = t._grad_slot
    if slot is None or slot.shape != t.array.shape or slot.dtype != t.array.dtype:
        return None
    return slot


def _check_finite(array: Any, where: str, shape: tuple) -> None:
    xp = backend.array_module(array)
    if not bool(xp.isfinite(array).all()):
        bad = "NaN" if bool(xp.isnan(array).any()) else "Inf"
        raise NonFiniteError(
            f"{bad} appeared in the {where} (shape {tuple(shape)}); lower the learning rate, "
            "clip gradients, or scale the inputs",
            where=where,
        )


def _reverse_topological(root: Tensor) -> list[Tensor]:
    """Non-leaf nodes reachable from ``root``, each after every node that uses it (iterative DFS).

    `backward` does not need it (its heap orders the nodes); tools that want
    the graph in order (counting a leaf's consumers, printing the graph) do.
    """
    order: list[Tensor] = []
    visited: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(root, False)]
    while stack:
        node, inputs_done = stack.pop()
        if inputs_done:
            order.append(node)
            continue
        key = id(node)
        if key in visited:
            continue
        visited.add(key)
        stack.append((node, True))
        for parent in node._parents:
            if parent is not None and parent._backward is not None and id(parent) not in visited:
                stack.append((parent, False))
    order.reverse()
    return order


def make_result(data: Any, parents: tuple, backward: BackwardFn, saved: tuple, op: str) -> Tensor:
    """Wrap an op's output and, if any input needs a gradient, record how to backpropagate.

    ``parents`` are the op's tensor inputs; the recorded tuple keeps None in
    place of inputs that need no gradient, so the backward can skip them.
    Every op calls this, so it is written for speed: one object, each slot
    set once, and the one- and two-input cases without loops.
    """
    out = _new_tensor(Tensor)
    out.array = data
    out.grad_array = None
    out._grad_tensor = None
    out._retains_grad = False
    out._hooks = None
    out._grad_slot = None
    out._version = 0
    out.name = None
    recording = _state.grad_enabled
    if _anomaly_mode and recording:
        _check_finite(data, f"forward of '{op}'", data.shape)
    if recording:
        recorded: tuple | None  # the parents that need a gradient (None in place of the others), or None
        if len(parents) == 1:
            recorded = parents if parents[0].requires_grad else None
        elif len(parents) == 2:
            a, b = parents
            if a.requires_grad:
                recorded = parents if b.requires_grad else (a, None)
            elif b.requires_grad:
                recorded = (None, b)
            else:
                recorded = None
        elif len(parents) == 3:  # linear(x, weight, bias)
            a, b, c = parents
            if a.requires_grad or b.requires_grad or c.requires_grad:
                recorded = (
                    a if a.requires_grad else None,
                    b if b.requires_grad else None,
                    c if c.requires_grad else None,
                )
            else:
                recorded = None
        else:
            recorded = tuple([p if p.requires_grad else None for p in parents])
            if all(p is None for p in recorded):
                recorded = None
        if recorded is not None:
            out._seq = _next_seq()
            out._inputs = parents  # every input, for the in-place check (deltaprop.inplace)
            out._born = _modifications
            out.requires_grad = True
            out._parents = recorded
            out._backward = backward
            out._saved = saved
            out._op = op
            return out
    out.requires_grad = False
    out._parents = ()
    out._backward = None
    out._saved = None
    out._op = None
    return out


_new_tensor = object.__new__
_next_seq = itertools.count().__next__  # the order ops were recorded in (see _backpropagate)


def as_tensor(x: Any, like: Tensor | None = None) -> Tensor:
    """Wrap a non-Tensor operand; arrays and scalars take the float dtype of ``like``."""
    if isinstance(x, Tensor):
        return x
    if like is not None and like.array.dtype.kind == "f":
        _refuse_complex(x)  # the cast below would drop the imaginary part
        xp = backend.array_module(like.array)
        return Tensor._wrap(xp.asarray(x, dtype=like.array.dtype))
    return Tensor(x)
