"""`GradientFlow`: a `fit` callback that watches gradients flow back through the layers.

Per layer with a weight (Linear, Conv1d/Conv2d, BatchNorm/LayerNorm/GroupNorm,
any other layer that owns a ``weight`` Parameter; for recurrent layers each
recurrent weight ``weight_hh_l{k}``, as ``<layer>.weight_hh_l{k}``) and per
epoch it records in the History:

- ``grad_norm/<layer>``: the mean over the epoch's batches of ||dC/dW||;
- ``update_ratio/<layer>``: ||W_after - W_before|| / ||W_before|| of one step, mean over batches
  (about 1e-3 is healthy; far below, the layer barely learns; near 1, it thrashes);
- ``dead_relu/<layer>``: the fraction of ReLU units that output 0 for every example of the
  last batch (they get no gradient, ever, unless the inputs change); for feature maps
  (after a convolution or a BatchNorm2d) a unit is a channel, dead when it is 0 at every
  pixel, since one filter serves all the pixels;
- ``saturated/<layer>``: the fraction of sigmoid/tanh outputs in the flat tails (sigmoid
  a(1 - a) < 0.01, tanh |a| > 0.99), where f'(z) ~ 0: the literature's "network paralysis";
  both measured on the activation that follows the layer, seen by a forward hook while the
  model itself re-runs the epoch's last batch in eval mode;
- ``gradient_warnings``: how many problems were seen that epoch.

and it warns (`GradientFlowWarning`, once per layer and kind) when a layer's
gradients vanish (tiny in absolute terms, or 1e4 times smaller than the
largest layer's) or explode (huge, non-finite, or updates as large as the
weights), naming the layer and a fix. ``messages`` keeps every warning text.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from deltaprop import nn
from deltaprop.tensor import Tensor, no_grad
from deltaprop.train.callbacks import Callback

__all__ = ["GradientFlow", "GradientFlowWarning"]

_FIXES = {
    "vanishing": (
        "use ReLU-family or tanh hidden activations instead of sigmoid, initialise with "
        "deltaprop.nn.init.xavier_uniform_/kaiming_uniform_, standardize the inputs, or use fewer layers"
    ),
    "exploding": (
        "lower the learning rate, clip gradients (deltaprop.optim.clip_grad_norm_), or initialise with "
        "smaller weights (deltaprop.nn.init.xavier_uniform_)"
    ),
    "saturated": (
        "scale the inputs (deltaprop.data.Standardizer) and start from smaller weights "
        "(deltaprop.nn.init.xavier_uniform_), or switch to ReLU"
    ),
    "dead_relu": "lower the learning rate, use LeakyReLU or ELU, or initialise with kaiming_uniform_",
}


class GradientFlowWarning(UserWarning):
    """A layer's gradients vanish or explode, or its units saturate or die."""


class GradientFlow(Callback):
    """Record per-layer gradient statistics each epoch and warn about unhealthy gradient flow."""

    def __init__(
        self,
        vanish: float = 1e-7,
        vanish_ratio: float = 1e-4,
        explode: float = 1e3,
        saturated: float = 0.5,
        dead: float = 0.5,
        warn: bool = True,
    ) -> None:
        self.vanish, self.vanish_ratio, self.explode = vanish, vanish_ratio, explode
        self.saturated_limit, self.dead_limit, self.warn = saturated, dead, warn
        self.messages: list[str] = []
        self._warned: set[tuple[str, str]] = set()

    # ------------------------------------------------------------------ hooks
    def on_train_begin(self, run: Any) -> None:
        self._layers, self._activation_of = _weighted_layers(run.model)
        self._reset()

    def on_epoch_begin(self, run: Any) -> None:
        self._reset()

    def on_after_backward(self, run: Any) -> None:
        for name, layer in self._layers:
            grad = layer.weight.grad_array
            norm = float("nan") if grad is None else float(np.linalg.norm(np.asarray(grad, dtype=np.float64)))
            self._norms[name].append(norm)
            self._before[name] = np.array(layer.weight.array, dtype=np.float64)

    def on_batch_end(self, run: Any) -> None:
        for name, layer in self._layers:
            before = self._before.pop(name, None)
            if before is None:
                continue
            change = np.linalg.norm(np.asarray(layer.weight.array, dtype=np.float64) - before)
            self._ratios[name].append(float(change / (np.linalg.norm(before) + 1e-12)))

    def on_epoch_end(self, run: Any) -> None:
        stats = self._activation_stats(run)
        norms = {n: float(np.mean(v)) if v else float("nan") for n, v in self._norms.items()}
        largest = max((v for v in norms.values() if math.isfinite(v)), default=0.0)
        problems = 0
        for index, (name, _) in enumerate(self._layers, start=1):
            label = f"layer {index} (module {name!r})" if name else f"layer {index}"
            norm = norms[name]
            ratio = float(np.mean(self._ratios[name])) if self._ratios[name] else float("nan")
            run.history.record(f"grad_norm/{name}", norm)
            run.history.record(f"update_ratio/{name}", ratio)
            if not math.isfinite(norm) or norm > self.explode or (math.isfinite(ratio) and ratio > 1.0):
                problems += self._flag(
                    run,
                    name,
                    "exploding",
                    f"{label}: gradients explode (||dC/dW|| = {norm:.3g}, update/weight = {ratio:.3g})",
                )
            elif norm < self.vanish or (largest > 0 and norm < self.vanish_ratio * largest):
                problems += self._flag(
                    run,
                    name,
                    "vanishing",
                    f"{label}: gradients vanish (||dC/dW|| = {norm:.3g}, largest layer {largest:.3g})",
                )
            if name in stats:
                kind, fraction = stats[name]
                run.history.record(f"{kind}/{name}", fraction)
                limit = self.dead_limit if kind == "dead_relu" else self.saturated_limit
                if fraction > limit:
                    act = self._activation_of[name]
                    what = (
                        "ReLU units are dead"
                        if kind == "dead_relu"
                        else f"{type(act).__name__} units saturate"
                    )
                    problems += self._flag(run, name, kind, f"{label}: {fraction:.0%} of the {what}")
        run.history.record("gradient_warnings", problems)

    # ------------------------------------------------------------------ helpers
    def _reset(self) -> None:
        self._norms: dict[str, list[float]] = {name: [] for name, _ in self._layers}
        self._ratios: dict[str, list[float]] = {name: [] for name, _ in self._layers}
        self._before: dict[str, np.ndarray] = {}

    def _flag(self, run: Any, name: str, kind: str, text: str) -> int:
        message = f"GradientFlow, epoch {getattr(run, 'epoch', '?')}: {text}; fix: {_FIXES[kind]}"
        if (name, kind) not in self._warned:
            self._warned.add((name, kind))
            self.messages.append(message)
            if self.warn:
                warnings.warn(message, GradientFlowWarning, stacklevel=2)
        return 1

    def _activation_stats(self, run: Any) -> dict[str, tuple[str, float]]:
        """Dead-ReLU or saturation fraction per layer, from re-running the model on the last batch.

        A forward hook on each watched activation sees its output; the model
        runs its own forward, so any architecture works, not only Sequential.
        """
        x = getattr(run, "x_batch", None)
        if x is None or not self._activation_of:
            return {}
        out: dict[str, tuple[str, float]] = {}

        def watcher(layer_name: str):
            def watch(module: Any, args: tuple, output: Any) -> None:
                if layer_name not in out and isinstance(output, Tensor):
                    out[layer_name] = _activation_health(module, output)

            return watch

        handles = [act.register_forward_hook(watcher(name)) for name, act in self._activation_of.items()]
        model, was_training = run.model, run.model.training
        model.eval()  # dropout off, and no random draws that would change the rest of the run
        try:
            with no_grad():
                model(x if isinstance(x, Tensor) else Tensor(np.asarray(x)))
        finally:
            model.train(was_training)
            for handle in handles:
                handle.remove()
        return out


def _weighted_layers(model: Any) -> tuple[list[tuple[str, Any]], dict[str, Any]]:
    """Layers that own a ``weight`` (in forward order for a Sequential), and the activation after each.

    The activation of a layer is the next ReLU, Sigmoid or Tanh module in
    ``named_modules()`` order before the next weighted layer, which for a
    Sequential is the one its output flows into.
    """
    layers: list[tuple[str, Any]] = []
    activation_of: dict[str, Any] = {}
    for name, module in model.named_modules():
        if isinstance(module._parameters.get("weight"), nn.Parameter):
            layers.append((name, module))
        elif getattr(module, "recurrent", False):  # RNN, LSTM, GRU, cells: each recurrent weight W_hh
            layers += [(f"{name}.{key}" if name else key, _Watched(param))
                       for key, param in module._parameters.items()
                       if key.startswith("weight_hh") and param is not None]
        elif isinstance(module, _WATCHED) and layers and layers[-1][0] not in activation_of:
            activation_of[layers[-1][0]] = module
    return layers, activation_of


_WATCHED = (nn.ReLU, nn.Sigmoid, nn.Tanh)


class _Watched:
    """One parameter of a layer with several (a recurrent layer's W_hh), watched as a layer's weight."""

    def __init__(self, weight: Any) -> None:
        self.weight = weight


def _activation_health(act: Any, output: Tensor) -> tuple[str, float]:
    values = np.asarray(output.array, dtype=np.float64).reshape(output.shape[0] if output.ndim > 1 else 1, -1)
    if isinstance(act, nn.ReLU):
        if output.ndim > 2:  # feature maps (N, C, ...): a unit is a channel, dead at every pixel
            maps = np.moveaxis(np.asarray(output.array, dtype=np.float64), 1, 0)
            per_channel = maps.reshape(output.shape[1], -1)
            return "dead_relu", float(np.mean(np.all(per_channel <= 0, axis=1)))
        return "dead_relu", float(np.mean(np.all(values <= 0, axis=0)))
    if isinstance(act, nn.Sigmoid):
        return "saturated", float(np.mean(values * (1 - values) < 0.01))
    return "saturated", float(np.mean(np.abs(values) > 0.99))
