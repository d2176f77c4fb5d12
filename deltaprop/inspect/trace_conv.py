"""`trace` for convolutional networks: every layer's input, output and delta maps, and its gradients.

A dense net's trace is the textbook recursion of `deltaprop.inspect.trace`.
A conv net has more kinds of layer (convolution, pooling, normalization,
flattening), so this trace follows the engine instead: it runs a float64
copy of the model once forward and once backward, and keeps, per layer (in
forward order),

- ``input`` and ``output``: the maps a^(l-1) and a^l, shape (N, C, H, W) for images;
- ``delta``: dC/d(output) and ``input_delta``: dC/d(input), the error maps
  flowing backwards (a max-pool's input delta is zero except at each window's maximum);
- ``grads``: dC/d(parameter) by name, with shapes and norms in the printout.

And it shows the work: each convolution's dC/dW is recomputed here directly
as the correlation of the layer's (padded) input with its output delta,
``dC/dW[o, c, i, j] = sum_{n,p,q} delta[n, o, p, q] x[n, c, s p + i d, s q + j d]``
(an einsum over sliding windows, independent of the engine's im2col), dC/db
as the sum of the delta, and each Linear's as delta^T a; any disagreement
raises `GradcheckError`. The maps are arrays, ready for
`deltaprop.inspect.plots.plot_feature_maps`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from deltaprop import nn
from deltaprop.errors import GradcheckError, ShapeError
from deltaprop.tensor import Tensor

__all__ = ["ConvTrace", "LayerRecord", "trace_network", "uses_image_layers"]

IMAGE_LAYERS = (nn.Conv1d, nn.Conv2d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.MaxPool1d, nn.MaxPool2d,
                nn.AvgPool1d, nn.AvgPool2d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool1d,
                nn.AdaptiveMaxPool2d, nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm, nn.Flatten,
                nn.Unflatten, nn.Upsample, nn.Dropout1d, nn.Dropout2d)


def uses_image_layers(model: nn.Module) -> bool:
    """Whether the model has a layer the dense (textbook) trace does not cover."""
    return any(isinstance(m, IMAGE_LAYERS) for m in model.modules())


@dataclass
class LayerRecord:
    """One layer of one forward and backward pass (arrays in float64)."""

    index: int
    name: str
    kind: str
    input: np.ndarray
    output: np.ndarray
    delta: np.ndarray  # dC/d(output)
    input_delta: np.ndarray | None  # dC/d(input)
    grads: dict[str, np.ndarray] = field(default_factory=dict)

    def summary(self) -> str:
        shape = lambda a: "x".join(str(n) for n in a.shape)  # noqa: E731
        text = (f"{self.index:>2}  {self.name or '(model)':<6} {self.kind:<18} {shape(self.input):>12} -> "
                f"{shape(self.output):<12} |delta| {np.linalg.norm(self.delta):9.3e}")
        for pname, g in self.grads.items():
            text += f"   dC/d{pname} {shape(g)} |{np.linalg.norm(g):.3e}|"
        return text


@dataclass
class ConvTrace:
    """A checked forward and backward pass through a conv net, layer by layer."""

    layers: list[LayerRecord]
    x: np.ndarray
    prediction: np.ndarray
    loss: float
    loss_name: str
    max_mismatch: float = 0.0  # largest |direct formula - engine| over the checked gradients

    def __getitem__(self, l: int) -> LayerRecord:
        """trace[l] is the l-th layer, counting from 1."""
        if not 1 <= l <= len(self.layers):
            raise IndexError(f"ConvTrace: layers are numbered 1..{len(self.layers)}, got {l}")
        return self.layers[l - 1]

    def gradients(self) -> dict[str, np.ndarray]:
        """dC/dparameter by the model's parameter names ('0.weight', ...)."""
        return {(f"{r.name}.{p}" if r.name else p): g for r in self.layers for p, g in r.grads.items()}

    def __str__(self) -> str:
        lines = [
            f"ConvTrace: {len(self.layers)} layers, {len(self.x)} example(s), loss {self.loss_name} = "
            f"{self.loss:.9g}",
            "  forward a^l = layer_l(a^(l-1)); backward delta^(l-1) = dC/da^(l-1) from delta^l;",
            "  conv: dC/dW = input correlated with delta, dC/db = sum of delta (checked directly: max "
            f"difference {self.max_mismatch:.2e})",
            "   l  module kind                      input ->   output",
        ]
        lines += ["  " + r.summary() for r in self.layers]
        return "\n".join(lines)

    __repr__ = __str__


def _leaves(module: nn.Module, prefix: str = ""):
    children = list(module.named_children())
    if not children:
        yield prefix, module
    for name, child in children:
        yield from _leaves(child, f"{prefix}.{name}" if prefix else name)


def trace_network(model: nn.Module, x: Any, y: Any, loss: Any = "cross_entropy", *, check: bool = True
                  ) -> ConvTrace:
    """Forward and backward of a float64 copy of ``model`` on (x, y), every layer's maps kept.

    ``x``: a batch (N, C, H, W) or one example (C, H, W); ``y``: labels or targets.
    The model itself is not modified.
    """
    from deltaprop.inspect.trace import as_loss

    loss_fn = as_loss(loss)
    twin = copy.deepcopy(model).double()
    twin.zero_grad()
    x64 = np.asarray(x.array if isinstance(x, Tensor) else x, dtype=np.float64)
    first = next((m for _, m in _leaves(twin) if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))), None)
    if first is not None and x64.ndim == 3:
        x64 = x64[None]
    records, handles = [], []
    for name, layer in _leaves(twin):
        def hook(module, args, output, name=name):
            if isinstance(output, Tensor) and output.requires_grad:
                output.retain_grad()
            records.append((name, module, args[0], output))
        handles.append(layer.register_forward_hook(hook))
    inputs = Tensor(x64, requires_grad=True)
    try:
        prediction = twin(inputs)
    finally:
        for handle in handles:
            handle.remove()
    target = np.asarray(y.array if isinstance(y, Tensor) else y)
    target = target.astype(np.int64) if target.dtype.kind in "iub" else target.astype(np.float64)
    value = loss_fn(prediction, Tensor(target))
    value.backward()
    layers = []
    for index, (name, module, a_in, a_out) in enumerate(records, start=1):
        grads = {p: np.asarray(t.grad_array, dtype=np.float64) for p, t in module._parameters.items()
                 if t is not None and t.grad_array is not None}
        delta = np.zeros(a_out.shape) if a_out.grad_array is None else np.asarray(a_out.grad_array)
        din = None if a_in.grad_array is None else np.asarray(a_in.grad_array)
        layers.append(LayerRecord(index, name, type(module).__name__, np.asarray(a_in.array),
                                  np.asarray(a_out.array), delta, din, grads))
    result = ConvTrace(layers, x64, np.asarray(prediction.array), float(value.item()),
                       loss if isinstance(loss, str) else type(loss_fn).__name__)
    if check:
        result.max_mismatch = max((_check(record, module) for record, (_, module, _, _) in
                                   zip(layers, records, strict=True)), default=0.0)
    return result


# ----------------------------------------------------------------- the direct formulas
def _check(record: LayerRecord, module: nn.Module) -> float:
    if isinstance(module, nn.Conv2d) and "weight" in record.grads:
        expected = {"weight": _conv_weight_gradient(module, record.input, record.delta)}
    elif isinstance(module, nn.Linear) and "weight" in record.grads and record.input.ndim == 2:
        expected = {"weight": record.delta.T @ record.input}
    else:
        return 0.0
    if "bias" in record.grads:  # the bias is added at every position: its gradient sums the delta
        over = (0, 2, 3) if isinstance(module, nn.Conv2d) else (0,)
        expected["bias"] = record.delta.sum(axis=over)
    worst = 0.0
    for pname, want in expected.items():
        got = record.grads[pname]
        difference = float(np.max(np.abs(got - want))) if got.size else 0.0
        scale = 1.0 + float(np.max(np.abs(want))) if want.size else 1.0
        if not difference <= 1e-9 * scale:
            raise GradcheckError(f"trace: layer {record.index} ({record.kind}, module {record.name!r}): the "
                                 f"engine's dC/d{pname} differs from the direct formula by {difference:.3g}")
        worst = max(worst, difference)
    return worst


_NUMPY_PAD = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def _conv_weight_gradient(conv: nn.Conv2d, x: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """sum_{n,p,q} delta[n,o,p,q] x_padded[n, c, s p + i d, s q + j d], group by group (an einsum)."""
    if x.ndim != 4:
        raise ShapeError(f"trace: Conv2d input of shape {x.shape} is not a batch of images")
    (kh, kw), (sh, sw), (dh, dw) = conv.kernel_size, conv.stride, conv.dilation
    if conv.padding == "same":
        pads = [(d * (k - 1) // 2, d * (k - 1) - d * (k - 1) // 2) for k, d in ((kh, dh), (kw, dw))]
    elif conv.padding == "valid":
        pads = [(0, 0), (0, 0)]
    else:
        pads = [(p, p) for p in conv.padding]
    mode: Any = _NUMPY_PAD.get(conv.padding_mode, "constant")
    padded = np.pad(x, [(0, 0), (0, 0), *pads], mode=mode)
    ho, wo = delta.shape[2:]
    spans = (dh * (kh - 1) + 1, dw * (kw - 1) + 1)
    view = np.lib.stride_tricks.sliding_window_view(padded, spans, axis=(2, 3))
    # (n, c, ho, wo, kh, kw): the pixel each weight met at each output position
    windows = view[:, :, : (ho - 1) * sh + 1 : sh, : (wo - 1) * sw + 1 : sw, ::dh, ::dw]
    g, cg, og = conv.groups, x.shape[1] // conv.groups, delta.shape[1] // conv.groups
    parts = [np.einsum("nopq,ncpqij->ocij", delta[:, k * og:(k + 1) * og], windows[:, k * cg:(k + 1) * cg])
             for k in range(g)]
    return np.concatenate(parts, axis=0)

