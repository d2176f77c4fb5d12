"""The PyTorch method surface of `Tensor`: ``x.sum(1)``, ``x.view(-1, 4)``, ``x.to('cuda')``, ``x.size(0)``.

`Tensor` (in `deltaprop.tensor`) is the engine: values, gradient, graph,
operators and in-place rules. This mixin gives it the methods PyTorch code
calls, with PyTorch's names, signatures and defaults. Most are the op of the
same name in `deltaprop.ops` with the tensor as its first argument (so
``x.sum(1, keepdim=True)`` is ``deltaprop.sum(x, 1, keepdim=True)``, and the
derivative lives with the op); the rest are facts about the tensor (size,
device, dtype), conversions, and in-place variants that follow
`deltaprop.inplace`'s rules.
"""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any

import numpy as np

from deltaprop import dtypes

_ops_module = None
_Bool = builtins.bool  # (the class below has a method named bool)


def _ops():
    global _ops_module
    if _ops_module is None:
        from deltaprop import ops

        _ops_module = ops
    return _ops_module


def _inplace():
    from deltaprop import inplace

    return inplace


class Size(tuple):
    """A shape, as ``x.size()`` returns it: a tuple of ints (PyTorch's ``torch.Size``)."""

    def numel(self) -> int:
        count = 1
        for n in self:
            count *= n
        return count

    def __repr__(self) -> str:
        return f"deltaprop.Size({list(self)})"


def _op_method(name: str):
    """A method that is ``deltaprop.ops.<name>(self, *args, **kwargs)``."""

    def method(self, *args, **kwargs):
        return getattr(_ops(), name)(self, *args, **kwargs)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"``deltaprop.{name}(self, ...)``: the op of that name with this tensor first."
    return method


def _in_place(name: str):
    """``x.exp_()`` and friends: the op's values written into this tensor (the in-place rules apply)."""

    def method(self, *args, **kwargs):
        inplace = _inplace()
        inplace.check_allowed(self, f"{name}_", *args)
        values = getattr(_ops(), name)(self.detach(), *args, **kwargs).array
        self.array[...] = values
        inplace.stamp(self)
        return self

    method.__name__ = method.__qualname__ = f"{name}_"
    method.__doc__ = f"In place: this tensor becomes ``{name}(self, ...)``."
    return method


class TensorMethods:
    """The methods (see the module docstring); `Tensor` provides ``array``, ``xp`` and the operators."""

    __slots__ = ()

    if TYPE_CHECKING:  # provided by Tensor
        array: Any
        xp: Any
        dtype: Any
        @property
        def shape(self) -> tuple[int, ...]: ...
        @property
        def ndim(self) -> int: ...
        requires_grad: _Bool
        _wrap: Any

    # ------------------------------------------------------------------ facts
    def size(self, dim: int | None = None) -> Any:
        """The shape as a `Size`, or the length of dimension ``dim`` (``x.size(0)``: the batch size)."""
        shape = self.array.shape
        if dim is None:
            return Size(shape)
        from deltaprop.ops.dims import axis

        return shape[axis(dim, len(shape), "size")] if shape else 1

    def numel(self) -> int:
        """The number of elements (NumPy's ``a.size``)."""
        return int(self.array.size)

    nelement = numel

    def dim(self) -> int:
        """The number of dimensions (``ndim``)."""
        return self.array.ndim

    ndimension = dim

    def element_size(self) -> int:
        return self.array.dtype.itemsize

    @property
    def itemsize(self) -> int:
        return self.array.dtype.itemsize

    @property
    def nbytes(self) -> int:
        return int(self.array.nbytes)

    @property
    def device(self):
        """Where the values live: ``device(type='cpu')``, ``device(type='cuda', index=0)``, ..."""
        from deltaprop.device import device_of

        return device_of(self.array)

    @property
    def is_cuda(self) -> _Bool:
        return getattr(self.xp, "__name__", "") == "cupy"

    def is_floating_point(self) -> _Bool:
        return self.array.dtype.kind == "f"

    def is_complex(self) -> _Bool:
        return False

    def is_contiguous(self, memory_format: Any = None) -> _Bool:
        return True  # deltaprop's ops never depend on memory layout

    def contiguous(self, memory_format: Any = None):
        """Itself: values never depend on layout here (PyTorch also returns self when already contiguous)."""
        return self

    # ------------------------------------------------------------------ dtype and device
    def to(self, *args: Any, **kwargs: Any):
        """``to(dtype)``, ``to(device)``, ``to(device, dtype)``, ``to(other)``: differentiable, as in PyTorch.

        Returns this very tensor when nothing changes (and ``copy`` is False).
        Inside a graph the move or cast is an op, so the gradient flows back to
        where the tensor came from; moving a leaf gives a non-leaf whose
        gradient reaches the leaf, exactly as PyTorch does. Float casts are
        differentiable; casts to integer or bool dtypes give constants.
        """
        where, dtype, copy = _to_arguments(self, args, kwargs)
        out = self
        if dtype is not None:
            out = _ops().cast(out, dtype)
        if where is not None:
            out = _ops().to_module(out, where.namespace)
        if copy and out is self:
            out = self.clone()
        return out

    def cpu(self, memory_format: Any = None):
        return self.to("cpu")

    def cuda(self, device: Any = None, non_blocking: _Bool = False, memory_format: Any = None):
        return self.to("cuda" if device is None else device)

    def float(self):  # noqa: A003
        return self.to(dtypes.float32)

    def double(self):
        return self.to(dtypes.float64)

    def long(self):
        return self.to(dtypes.int64)

    def int(self):  # noqa: A003
        return self.to(dtypes.int32)

    def short(self):
        return self.to(dtypes.int16)

    def byte(self):
        return self.to(dtypes.uint8)

    def bool(self):  # noqa: A003
        return self.to(dtypes.bool_)

    def half(self):
        raise TypeError(
            "half(): deltaprop computes in float32 and float64 only (no float16); keep float() "
            "or use double() for more precision"
        )

    bfloat16 = half

    def type(self, dtype: Any = None, non_blocking: _Bool = False):  # noqa: A003
        """With no argument the type's name ('deltaprop.FloatTensor'); with a dtype or type name, a cast."""
        if dtype is None:
            return dtypes.type_name(self.array.dtype, self.xp is not np)
        return self.to(dtypes.as_dtype(dtype))

    def type_as(self, other):
        return self.to(other.dtype)

    def astype(self, dtype: Any):
        """NumPy's spelling of a cast (always a new tensor, differentiable for float dtypes)."""
        return _ops().astype(self, dtypes.as_dtype(dtype))

    # ------------------------------------------------------------------ copies and new tensors
    def clone(self, memory_format: Any = None):
        """A copy with its own memory; in a graph, the gradient passes through unchanged."""
        from deltaprop.ops.convert import clone

        return clone(self)

    def detach_(self):
        """Cut this tensor off the graph in place (it becomes a leaf that needs no gradient)."""
        self._parents, self._backward, self._saved, self._op = (), None, None, None
        self.requires_grad = False
        return self

    def new_tensor(self, data: Any, dtype: Any = None, device: Any = None, requires_grad: _Bool = False):
        from deltaprop.creation import tensor

        dtype = self.dtype if dtype is None else dtype
        device = self.device if device is None else device
        return tensor(data, dtype=dtype, device=device, requires_grad=requires_grad)

    def new_zeros(self, *size: Any, dtype: Any = None, device: Any = None, requires_grad: _Bool = False):
        return self._new("zeros", size, dtype, device, requires_grad)

    def new_ones(self, *size: Any, dtype: Any = None, device: Any = None, requires_grad: _Bool = False):
        return self._new("ones", size, dtype, device, requires_grad)

    def new_empty(self, *size: Any, dtype: Any = None, device: Any = None, requires_grad: _Bool = False):
        return self._new("zeros", size, dtype, device, requires_grad)

    def new_full(self, size: Any, fill_value: Any, dtype: Any = None, device: Any = None,
                 requires_grad: _Bool = False):  # fmt: skip
        from deltaprop import creation

        dtype, device = self.dtype if dtype is None else dtype, self.device if device is None else device
        return creation.full(size, fill_value, dtype=dtype, device=device, requires_grad=requires_grad)

    def _new(self, kind: str, size: tuple, dtype: Any, device: Any, requires_grad: _Bool):
        from deltaprop import creation

        return getattr(creation, kind)(*size, dtype=self.dtype if dtype is None else dtype,
                                       device=self.device if device is None else device,
                                       requires_grad=requires_grad)  # fmt: skip

    # ------------------------------------------------------------------ shape
    def view(self, *shape: Any):
        """The values in another shape (``-1`` infers one size); ``view(dtype)`` reinterprets the bits."""
        if len(shape) == 1 and not isinstance(shape[0], (builtins.int, tuple, list, np.integer)):
            dtype = dtypes.as_dtype(shape[0])
            if self.requires_grad:
                raise TypeError("view(dtype): reinterpreting bits has no gradient; detach() first")
            return type(self)._wrap(self.array.view(dtype))
        return self.reshape(*shape)

    def reshape(self, *shape: Any):
        from deltaprop.ops.dims import sizes

        return _ops().reshape(self, sizes(shape))

    def view_as(self, other):
        return _ops().reshape(self, tuple(other.shape))

    reshape_as = view_as

    def transpose(self, *dims: Any):
        """PyTorch's ``x.transpose(0, 1)`` swaps two dims; NumPy's ``a.transpose(2, 0, 1)`` permutes them."""
        if len(dims) == 2 and all(isinstance(d, (builtins.int, np.integer)) for d in dims):
            return _ops().transpose(self, dims[0], dims[1])
        if len(dims) == 1 and (dims[0] is None or isinstance(dims[0], (tuple, list))):
            dims = () if dims[0] is None else tuple(dims[0])  # (NumPy's np.transpose(t) passes None)
        return _ops().transpose(self, dims or None)

    swapdims = swapaxes = _op_method("swapaxes")

    def t(self):
        """The transpose of a matrix (0-d and 1-d tensors come back as they are)."""
        if self.ndim > 2:
            raise ValueError(
                f"t(): expects a tensor with <= 2 dims, got shape {self.shape}; use transpose(d0, d1)"
            )
        return self if self.ndim < 2 else _ops().transpose(self, 0, 1)

    @property
    def T(self):  # noqa: N802
        """Every dimension reversed (the transpose of a matrix)."""
        return _ops().transpose(self, None)

    @property
    def mT(self):  # noqa: N802 - PyTorch's name
        """The last two dims swapped (a batch of matrices, each transposed)."""
        return _ops().transpose(self, -2, -1)

    permute = _op_method("permute")
    flatten = _op_method("flatten")
    unflatten = _op_method("unflatten")
    squeeze = _op_method("squeeze")
    unsqueeze = _op_method("unsqueeze")
    expand_dims = _op_method("expand_dims")
    expand = _op_method("expand")
    expand_as = _op_method("expand_as")
    repeat = _op_method("repeat")
    repeat_interleave = _op_method("repeat_interleave")
    tile = _op_method("tile")
    split = _op_method("split")
    chunk = _op_method("chunk")
    tensor_split = _op_method("tensor_split")
    unbind = _op_method("unbind")
    narrow = _op_method("narrow")
    flip = _op_method("flip")
    movedim = _op_method("movedim")

    # ------------------------------------------------------------------ reductions
    sum = _op_method("sum")
    mean = _op_method("mean")
    prod = _op_method("prod")
    max = _op_method("max")
    min = _op_method("min")
    amax = _op_method("amax")
    amin = _op_method("amin")
    argmax = _op_method("argmax")
    argmin = _op_method("argmin")
    var = _op_method("var")
    std = _op_method("std")
    logsumexp = _op_method("logsumexp")
    norm = _op_method("norm")
    cumsum = _op_method("cumsum")
    any = _op_method("any")
    all = _op_method("all")
    count_nonzero = _op_method("count_nonzero")

    # ------------------------------------------------------------------ picking and placing
    gather = _op_method("gather")
    scatter = _op_method("scatter")
    scatter_add = _op_method("scatter_add")
    index_select = _op_method("index_select")
    masked_fill = _op_method("masked_fill")
    take_along_dim = _op_method("take_along_dim")
    topk = _op_method("topk")
    sort = _op_method("sort")
    argsort = _op_method("argsort")
    nonzero = _op_method("nonzero")
    argwhere = _op_method("argwhere")
    unique = _op_method("unique")

    def where(self, condition, other):
        """``torch.where(condition, self, other)``."""
        return _ops().where(condition, self, other)

    # ------------------------------------------------------------------ maths
    exp = _op_method("exp")
    log = _op_method("log")
    sqrt = _op_method("sqrt")
    abs = _op_method("abs")
    absolute = abs
    neg = negative = _op_method("neg")
    sign = _op_method("sign")
    floor = _op_method("floor")
    ceil = _op_method("ceil")
    round = _op_method("round")
    trunc = _op_method("trunc")
    sin = _op_method("sin")
    cos = _op_method("cos")
    tan = _op_method("tan")
    atan = arctan = _op_method("atan")
    log1p = _op_method("log1p")
    expm1 = _op_method("expm1")
    log2 = _op_method("log2")
    log10 = _op_method("log10")
    reciprocal = _op_method("reciprocal")
    rsqrt = _op_method("rsqrt")
    square = _op_method("square")
    erf = _op_method("erf")
    sigmoid = _op_method("sigmoid")
    tanh = _op_method("tanh")
    relu = _op_method("relu")
    clip = clamp = _op_method("clip")
    maximum = _op_method("maximum")
    minimum = _op_method("minimum")
    matmul = _op_method("matmul")
    mm = _op_method("mm")
    bmm = _op_method("bmm")
    dot = _op_method("dot")
    outer = _op_method("outer")
    floor_divide = _op_method("floor_divide")
    remainder = _op_method("remainder")
    pow = _op_method("pow")

    def clamp_min(self, min):  # noqa: A002
        return _ops().clip(self, min, None)

    def clamp_max(self, max):  # noqa: A002
        return _ops().clip(self, None, max)

    def softmax(self, dim: Any = -1, dtype: Any = None):
        return _ops().softmax(self if dtype is None else self.to(dtype), dim)

    def log_softmax(self, dim: Any = -1, dtype: Any = None):
        return _ops().log_softmax(self if dtype is None else self.to(dtype), dim)

    def add(self, other, *, alpha: Any = 1):
        return _ops().add(self, other if alpha == 1 else other * alpha)

    def sub(self, other, *, alpha: Any = 1):
        return _ops().sub(self, other if alpha == 1 else other * alpha)

    subtract = sub

    def mul(self, other):
        return _ops().mul(self, other)

    multiply = mul

    def div(self, other, *, rounding_mode: str | None = None):
        """``self / other``; ``rounding_mode='floor'`` is ``//``, ``'trunc'`` rounds toward zero."""
        if rounding_mode is None:
            return _ops().div(self, other)
        if rounding_mode == "floor":
            return _ops().floor_divide(self, other)
        if rounding_mode == "trunc":
            return _ops().trunc(_ops().div(self, other))
        raise ValueError(f"div: rounding_mode must be None, 'floor' or 'trunc', got {rounding_mode!r}")

    divide = true_divide = div

    # ------------------------------------------------------------------ questions
    lt = less = _op_method("lt")
    le = less_equal = _op_method("le")
    gt = greater = _op_method("gt")
    ge = greater_equal = _op_method("ge")
    isclose = _op_method("isclose")
    allclose = _op_method("allclose")
    equal = _op_method("equal")
    isnan = _op_method("isnan")
    isinf = _op_method("isinf")
    isfinite = _op_method("isfinite")
    logical_and = _op_method("logical_and")
    logical_or = _op_method("logical_or")
    logical_xor = _op_method("logical_xor")
    logical_not = _op_method("logical_not")

    # ------------------------------------------------------------------ in place (deltaprop.inplace's rules)
    exp_ = _in_place("exp")
    log_ = _in_place("log")
    sqrt_ = _in_place("sqrt")
    abs_ = _in_place("abs")
    neg_ = _in_place("neg")
    sigmoid_ = _in_place("sigmoid")
    tanh_ = _in_place("tanh")
    relu_ = _in_place("relu")
    pow_ = _in_place("pow")
    floor_ = _in_place("floor")
    round_ = _in_place("round")
    masked_fill_ = _in_place("masked_fill")
    scatter_ = _in_place("scatter")
    scatter_add_ = _in_place("scatter_add")


def _is_dtype(value: Any) -> bool:
    if isinstance(value, np.dtype):
        return True
    if isinstance(value, type):
        return issubclass(value, np.generic) or value in (builtins.float, builtins.int, builtins.bool)
    return False


def _to_arguments(tensor: Any, args: tuple, kwargs: dict) -> tuple[Any, Any, bool]:
    """(device or None, dtype or None, copy) for ``tensor.to(...)``; None where nothing changes."""
    from deltaprop.device import device_of

    where, dtype, copy = parse_to(args, kwargs)
    if where is not None and where == device_of(tensor.array):
        where = None
    return where, dtype, copy


def parse_to(args: tuple, kwargs: dict) -> tuple[Any, Any, bool]:
    """(device or None, dtype or None, copy) from ``to``'s PyTorch signatures (tensors' and modules')."""
    from deltaprop.device import as_device, is_device

    unknown = set(kwargs) - {"device", "dtype", "non_blocking", "copy", "memory_format"}
    if unknown:
        raise TypeError(f"to() got unexpected keyword arguments {sorted(unknown)}")
    where, dtype = kwargs.get("device"), kwargs.get("dtype")
    rest = list(args)
    if rest and hasattr(rest[0], "array") and hasattr(rest[0], "device"):  # to(other)
        other = rest.pop(0)
        where, dtype = other.device, other.dtype
    elif rest and not _is_dtype(rest[0]) and is_device(rest[0]):
        where = rest.pop(0)
    if rest and _is_dtype(rest[0]):
        dtype = rest.pop(0)
    if rest:
        raise TypeError(
            f"to(): could not read {rest!r}; expected to(dtype), to(device), to(device, dtype) or to(tensor)"
        )
    where = None if where is None else as_device(where)
    return where, (None if dtype is None else dtypes.as_dtype(dtype)), bool(kwargs.get("copy", False))
