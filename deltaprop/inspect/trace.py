"""`trace`: every z, a, f'(z), delta and gradient of a dense network, by the textbook recursion.

For a `Sequential` of `Linear` layers, each optionally followed by an
activation, layer l computes

    z^l = W^l a^{l-1} + b^l        a^l = f(z^l)        (a^0 = x)

and backpropagation is the matrix-form recursion

    delta^L     = f'(z^L) * dC/da^L
    delta^{l-1} = f'(z^{l-1}) * (W^l)^T delta^l
    dC/dW^l     = delta^l (a^{l-1})^T          dC/db^l = delta^l

(``*`` elementwise; for a softmax layer f'(z) is a full Jacobian and the
product is a matrix product). `trace` does these steps itself with NumPy in
float64, so a learner sees every number, and then runs the engine's own
backward on a float64 copy of the model: if the two disagree it raises
`GradcheckError`, so a printed trace is always a checked one.

Arrays are stored one row per example (shape (N, n_l)); for a single example
(``x`` one-dimensional) the batch axis is dropped, so ``z``, ``a`` and
``delta`` are plain vectors as in the textbook.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from deltaprop import nn
from deltaprop.errors import GradcheckError, ShapeError
from deltaprop.tensor import Tensor, no_grad

if TYPE_CHECKING:
    from deltaprop.inspect.trace_conv import ConvTrace

__all__ = ["LayerTrace", "Trace", "activation_derivative", "as_loss", "dense_layers", "trace"]


# ----------------------------------------------------------------- the network as (Linear, activation) pairs
def dense_layers(model: nn.Module) -> list[tuple[str, nn.Linear, str | None, nn.Module | None]]:
    """Split a `Sequential` into layers: (linear name, Linear, activation name, activation module).

    Nested Sequentials are flattened; `Identity` and (in eval mode) `Dropout`
    are skipped because they do not change the numbers.
    """
    if isinstance(model, nn.Linear):
        return [("", model, None, None)]
    if not isinstance(model, nn.Sequential):
        raise TypeError(
            f"trace: expected a Sequential of Linear and activation layers, got {type(model).__name__}; "
            "wrap the layers in deltaprop.nn.Sequential(...)"
        )
    layers: list[list[Any]] = []
    for name, module in _leaves(model, ""):
        if isinstance(module, nn.Linear):
            layers.append([name, module, None, None])
        elif isinstance(module, nn.Identity) or (isinstance(module, nn.Dropout) and not module.training):
            continue
        elif isinstance(module, nn.Dropout):
            raise ValueError(
                f"trace: layer {name!r} is Dropout in training mode, which makes the trace random; "
                "call model.eval() first"
            )
        elif _is_activation(module):
            if not layers or layers[-1][3] is not None:
                where = "comes before any Linear" if not layers else "follows another activation"
                raise ValueError(
                    f"trace: activation {name!r} ({type(module).__name__}) {where}; trace expects "
                    "Linear, activation, Linear, activation, ..."
                )
            layers[-1][2], layers[-1][3] = name, module
        else:
            raise TypeError(
                f"trace: layer {name!r} is a {type(module).__name__}; trace handles Linear layers and "
                f"the activations {sorted(_DERIVATIVES) + ['Softmax', 'LogSoftmax']}"
            )
    if not layers:
        raise ValueError("trace: the model has no Linear layer")
    return [tuple(layer) for layer in layers]


def _leaves(module: nn.Module, prefix: str):
    for name, child in module.named_children():
        full = f"{prefix}.{name}" if prefix else name
        if isinstance(child, nn.Sequential):
            yield from _leaves(child, full)
        else:
            yield full, child


def _is_activation(module: nn.Module) -> bool:
    return type(module).__name__ in _DERIVATIVES or isinstance(module, nn.Softmax)


# ----------------------------------------------------------------- f'(z), independently of the engine
def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _gelu_prime(module, z, a):
    if getattr(module, "approximate", "none") == "tanh":
        c = math.sqrt(2.0 / math.pi)
        t = np.tanh(c * (z + 0.044715 * z**3))
        return 0.5 * (1 + t) + 0.5 * z * (1 - t * t) * c * (1 + 3 * 0.044715 * z * z)
    cdf = 0.5 * (1.0 + np.vectorize(math.erf)(z / math.sqrt(2.0)))
    return cdf + z * np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


def _mish_prime(module, z, a):
    t = np.tanh(np.logaddexp(0.0, z))
    return t + z * (1 - t * t) * _sigmoid(z)


_DERIVATIVES = {
    "Sigmoid": lambda m, z, a: a * (1 - a),
    "Tanh": lambda m, z, a: 1 - a * a,
    "ReLU": lambda m, z, a: (z > 0).astype(z.dtype),
    "LeakyReLU": lambda m, z, a: np.where(z > 0, 1.0, m.negative_slope),
    "ELU": lambda m, z, a: np.where(z > 0, 1.0, a + m.alpha),
    "Softplus": lambda m, z, a: _sigmoid(z),
    "SiLU": lambda m, z, a: _sigmoid(z) * (1 + z * (1 - _sigmoid(z))),
    "Mish": _mish_prime,
    "GELU": _gelu_prime,
}


def activation_derivative(module: nn.Module | None, z: np.ndarray, a: np.ndarray) -> np.ndarray:
    """f'(z) for an activation module: shape (N, n) for elementwise ones, (N, n, n) for softmax.

    The softmax Jacobian is diag(s) - s s^T; log-softmax's is I - 1 s^T.
    """
    if module is None:
        return np.ones_like(z)
    if isinstance(module, nn.LogSoftmax):
        s = np.exp(a)
        eye = np.eye(z.shape[-1])
        return eye[None] - s[:, None, :]
    if isinstance(module, nn.Softmax):
        return a[:, :, None] * np.eye(z.shape[-1])[None] - a[:, :, None] * a[:, None, :]
    return np.asarray(_DERIVATIVES[type(module).__name__](module, z, a), dtype=np.float64)


def _times_fprime(fprime: np.ndarray, upstream: np.ndarray) -> np.ndarray:
    """delta = f'(z) * dC/da: elementwise, or J^T dC/da per example for a Jacobian."""
    if fprime.ndim == 3:
        return np.einsum("nij,ni->nj", fprime, upstream)
    return fprime * upstream


# ----------------------------------------------------------------- the result
@dataclass
class LayerTrace:
    """Everything about layer l (1-based) for one forward and backward pass."""

    index: int
    linear_name: str
    activation_name: str | None
    activation: str  # e.g. "Sigmoid" or "identity"
    weight: np.ndarray  # W^l, shape (out, in)
    bias: np.ndarray | None  # b^l
    a_prev: np.ndarray  # a^{l-1}
    z: np.ndarray  # z^l = W^l a^{l-1} + b^l
    a: np.ndarray  # a^l = f(z^l)
    fprime: np.ndarray  # f'(z^l) (a Jacobian for softmax)
    delta: np.ndarray  # delta^l = dC/dz^l
    grad_weight: np.ndarray  # dC/dW^l = delta^l (a^{l-1})^T
    grad_bias: np.ndarray | None  # dC/db^l

    @property
    def name(self) -> str:
        return f"layer {self.index}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "linear": self.linear_name,
            "activation_module": self.activation_name,
            "activation": self.activation,
            "W": self.weight,
            "b": self.bias,
            "a_prev": self.a_prev,
            "z": self.z,
            "a": self.a,
            "fprime": self.fprime,
            "delta": self.delta,
            "dW": self.grad_weight,
            "db": self.grad_bias,
        }


@dataclass
class Trace:
    """A checked forward + backward pass, layer by layer (see the module docstring)."""

    layers: list[LayerTrace]
    x: np.ndarray
    y: np.ndarray
    prediction: np.ndarray
    loss: float
    loss_name: str
    output_grad: np.ndarray  # dC/da^L, the loss's gradient that starts the recursion
    single: bool
    max_mismatch: float = 0.0  # largest |trace - engine| over all gradients
    extra: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, l: int) -> LayerTrace:
        """trace[l] is layer l, counting from 1 as the textbooks do."""
        if not 1 <= l <= len(self.layers):
            raise IndexError(f"Trace: layers are numbered 1..{len(self.layers)}, got {l}")
        return self.layers[l - 1]

    def gradients(self) -> dict[str, np.ndarray]:
        """dC/dparameter by the model's parameter names ('0.weight', '0.bias', ...)."""
        out = {}
        for layer in self.layers:
            prefix = f"{layer.linear_name}." if layer.linear_name else ""
            out[prefix + "weight"] = layer.grad_weight
            if layer.grad_bias is not None:
                out[prefix + "bias"] = layer.grad_bias
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of NumPy arrays and numbers (``layers`` is a list of per-layer dicts)."""
        return {
            "loss": self.loss,
            "loss_name": self.loss_name,
            "x": self.x,
            "y": self.y,
            "prediction": self.prediction,
            "output_grad": self.output_grad,
            "single_example": self.single,
            "max_mismatch": self.max_mismatch,
            "layers": [layer.to_dict() for layer in self.layers],
        }

    def to_json(self, path: str | None = None, indent: int | None = 2) -> str:
        """The dict as JSON (arrays become nested lists); also written to ``path`` if given."""
        text = json.dumps(_jsonable(self.to_dict()), indent=indent)
        if path is not None:
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(text)
        return text

    def __str__(self) -> str:
        n = 1 if self.single else self.x.shape[0]
        lines = [
            f"Trace: {len(self.layers)} layer(s), {n} example(s), loss {self.loss_name} = {self.loss:.9g}",
            "  forward:  z^l = W^l a^(l-1) + b^l,  a^l = f(z^l)   (a^0 = x)",
            "  backward: delta^L = f'(z^L) * dC/da^L,  delta^(l-1) = f'(z^(l-1)) * (W^l)^T delta^l,",
            "            dC/dW^l = delta^l (a^(l-1))^T,  dC/db^l = delta^l",
            f"  checked against the engine's backward: max difference {self.max_mismatch:.2e}",
        ]
        for layer in self.layers:
            shape = layer.weight.shape
            lines.append("")
            lines.append(
                f"layer {layer.index}: Linear({shape[1]} -> {shape[0]}) + {layer.activation}"
                f"   [module {layer.linear_name or '(model)'}]"
            )
            rows = [
                ("W", layer.weight),
                ("b", layer.bias),
                (f"a^{layer.index - 1}", layer.a_prev),
                (f"z^{layer.index}", layer.z),
                (f"a^{layer.index}", layer.a),
                (f"f'(z^{layer.index})", layer.fprime),
            ]
            if layer.index == len(self.layers):
                rows.append(("dC/da^L", self.output_grad))
            rows += [
                (f"delta^{layer.index}", layer.delta),
                (f"dC/dW^{layer.index}", layer.grad_weight),
                (f"dC/db^{layer.index}", layer.grad_bias),
            ]
            for label, value in rows:
                if value is not None:
                    lines.append(_row(label, value))
        return "\n".join(lines)

    __repr__ = __str__


def _row(label: str, value: np.ndarray) -> str:
    text = np.array2string(
        np.asarray(value), precision=9, suppress_small=False, max_line_width=100, threshold=60
    )
    pad = " " * 16
    body = text.replace("\n", "\n" + pad)
    return f"  {label:<13} {body}"


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


# ----------------------------------------------------------------- trace
def as_loss(loss: Any):
    """A loss Module, a name such as 'squared_error', or any callable(prediction, target) -> Tensor."""
    if isinstance(loss, str):
        return nn.loss_by_name(loss)
    if not callable(loss):
        raise TypeError(f"trace: loss must be a loss module, a name or a callable, got {loss!r}")
    return loss


def _prepare(x: Any, y: Any, n_out: int) -> tuple[np.ndarray, np.ndarray, bool]:
    x = np.asarray(x.array if isinstance(x, Tensor) else x)
    y = np.asarray(y.array if isinstance(y, Tensor) else y)
    single = x.ndim == 1
    if x.ndim not in (1, 2):
        raise ShapeError(f"trace: x must be one example (n_in,) or a batch (N, n_in), got shape {x.shape}")
    x = x.astype(np.float64).reshape(1, -1) if single else x.astype(np.float64)
    if y.dtype.kind in "iub":
        y = y.reshape(-1).astype(np.int64)
    else:
        y = y.astype(np.float64)
        if single or (y.ndim == 1 and n_out == 1) or y.ndim == 0:
            y = y.reshape(x.shape[0], -1)
    return x, y, single


def trace(model: nn.Module, x: Any, y: Any, loss: Any = "squared_error", *, check: bool = True
          ) -> Trace | ConvTrace:
    """Forward and backward pass of ``model`` on (x, y), every intermediate value kept.

    ``x``: one example (n_in,) or a batch (N, n_in); ``y``: its target(s)
    (class labels for the class losses). ``loss``: a loss module or name.
    With ``check=True`` (default) the gradients are compared with the
    engine's backward and a disagreement raises `GradcheckError`. The model
    itself is not modified (no .grad is touched). A model with convolution,
    pooling or normalization layers gets the layer-by-layer `ConvTrace` of
    `deltaprop.inspect.trace_conv` instead (x then a batch of images).
    """
    from deltaprop.inspect.trace_conv import trace_network, uses_image_layers

    if uses_image_layers(model):  # convolutions, pooling, normalization: the layer-by-layer trace
        return trace_network(model, x, y, loss, check=check)
    return dense_trace(model, x, y, loss, check=check)


def dense_trace(model: nn.Module, x: Any, y: Any, loss: Any = "squared_error", *,
                check: bool = True) -> Trace:
    """`trace` of a dense network (Linear layers and activations); any other layer is refused by name.

    For what needs the textbook quantities (z, a, f'(z), delta per layer): the
    derivative chain and the worked examples.
    """
    loss_fn = as_loss(loss)
    blocks = dense_layers(model)
    x64, y64, single = _prepare(x, y, blocks[-1][1].out_features)

    # forward: z^l, a^l, f'(z^l)
    a_prev = x64
    forward = []
    for l, (lin_name, linear, act_name, act) in enumerate(blocks, start=1):
        W = np.asarray(linear.weight.array, dtype=np.float64)
        b = None if linear.bias is None else np.asarray(linear.bias.array, dtype=np.float64)
        if a_prev.shape[1] != W.shape[1]:
            raise ShapeError(
                f"trace: layer {l} ({lin_name or 'Linear'}) expects {W.shape[1]} inputs but gets "
                f"{a_prev.shape[1]} (a^{l - 1} has shape {a_prev.shape}); fix x or in_features"
            )
        z = a_prev @ W.T + (0.0 if b is None else b)
        if act is None:
            a = z
        else:
            with no_grad():
                a = np.asarray(act(Tensor(z)).array, dtype=np.float64)
        forward.append(
            (l, lin_name, linear, act_name, act, W, b, a_prev, z, a, activation_derivative(act, z, a))
        )
        a_prev = a

    # the loss and its gradient dC/da^L (from the loss op's own backward)
    prediction = a_prev
    leaf = Tensor(prediction.copy(), requires_grad=True)
    target = Tensor(y64)
    value = loss_fn(leaf, target)
    value.backward()
    output_grad = np.asarray(leaf.grad_array, dtype=np.float64)

    # backward: the matrix-form recursion, last layer first
    layers: list[LayerTrace] = []
    upstream = output_grad
    for l, lin_name, _linear, act_name, act, W, b, a_in, z, a, fprime in reversed(forward):
        delta = _times_fprime(fprime, upstream)
        grad_w = delta.T @ a_in  # sum over examples of delta^l (a^{l-1})^T
        grad_b = None if b is None else delta.sum(axis=0)
        upstream = delta @ W  # (W^l)^T delta^l, one row per example
        strip = (lambda v: v[0]) if single else (lambda v: v)
        layers.append(
            LayerTrace(
                index=l,
                linear_name=lin_name,
                activation_name=act_name,
                activation="identity" if act is None else type(act).__name__,
                weight=W,
                bias=b,
                a_prev=strip(a_in),
                z=strip(z),
                a=strip(a),
                fprime=strip(fprime),
                delta=strip(delta),
                grad_weight=grad_w,
                grad_bias=grad_b,
            )
        )
    layers.reverse()
    result = Trace(
        layers=layers,
        x=x64[0] if single else x64,
        y=y64[0] if single else y64,
        prediction=prediction[0] if single else prediction,
        loss=float(np.asarray(value.array)),
        loss_name=type(loss_fn).__name__ if not isinstance(loss, str) else loss,
        output_grad=output_grad[0] if single else output_grad,
        single=single,
    )
    if check:
        result.max_mismatch = _check_against_engine(model, loss_fn, x64, y64, result)
    return result


def _check_against_engine(model, loss_fn, x64, y64, result: Trace) -> float:
    """Run the engine's backward on a float64 copy of the model; raise if any gradient differs."""
    twin = copy.deepcopy(model).double()
    twin.zero_grad()
    out = twin(Tensor(x64))
    value = loss_fn(out, Tensor(y64))
    value.backward()
    params = dict(twin.named_parameters())
    if isinstance(model, nn.Linear):
        params = {"weight": twin.weight, "bias": twin.bias}
    worst = abs(float(np.asarray(value.array)) - result.loss)
    for name, mine in result.gradients().items():
        engine = params[name].grad_array
        engine = np.zeros_like(mine) if engine is None else np.asarray(engine, dtype=np.float64)
        diff = float(np.max(np.abs(engine - mine))) if mine.size else 0.0
        scale = 1.0 + float(np.max(np.abs(engine))) if engine.size else 1.0
        if not diff <= 1e-8 * scale:
            raise GradcheckError(
                f"trace: the recursion's dC/d{name} differs from the engine's backward by {diff:.3g} "
                f"(max |engine| {scale - 1:.3g}); one of the activation derivatives or the engine's "
                "backward is wrong"
            )
        worst = max(worst, diff)
    return worst
