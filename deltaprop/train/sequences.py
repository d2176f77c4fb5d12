"""Training recurrent models with `fit`: full or truncated backpropagation through time, state, clipping.

`fit` hands sequence work to this module (``fit(..., tbptt=k, stateful=...,
clip_grad_norm=...)``) and keeps its own loop: what changes is only the batch
source and the ``gradients`` function of the training-step protocol.

Data are batch-first: X (N, T, features), or (N, T) token ids for a model
that starts with an `Embedding`. Targets are

- many-to-one: one target per sequence, y (N, ...) without a time axis;
- many-to-many: one target per step, y (N, T) class labels or y (N, T, D)
  values, matching X's first two axes. Cross-entropy over (N, T, C) logits
  and (N, T) labels is the mean over every step of every sequence
  (`SequenceLoss` flattens the time axis into the batch).

Backpropagation through time (BPTT) differentiates the loss through every
step of the sequence. Truncated BPTT (``tbptt=k``) cuts that chain after k
steps, bounding memory and cost per update:

- many-to-many: each batch is cut into chunks of k steps; each chunk is one
  update (loss on its own steps), and the hidden state is carried into the
  next chunk with ``detach()``: forward values flow across the cut, gradients
  do not. With k >= T this is exactly full BPTT;
- many-to-one: the first T - k steps only advance the state (no graph), and
  the loss at the end backpropagates through the last k steps. The gradient
  is full BPTT's with every path that reaches back more than k steps dropped;
  with k >= T it is full BPTT.

``stateful=True`` carries the final state of each batch into the next (rows
continuing rows: arrange the data with `stateful_order` and pass
``shuffle=False``), so a model reads a long text as one stream.

Gradient clipping: recurrent gradients can explode over long sequences
(a product of T Jacobians), so for a model containing recurrent layers
``clip_grad_norm='auto'`` (fit's default) clips the total gradient norm to
`DEFAULT_CLIP` = 5.0 before each update; pass a number to change it, or None
to turn it off. Models without recurrent layers are not clipped unless asked.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from deltaprop.optim.clip import clip_grad_norm_
from deltaprop.optim.optimizer import backprop
from deltaprop.tensor import Tensor, no_grad

#: the total gradient norm recurrent models are clipped to by default (``clip_grad_norm='auto'``)
DEFAULT_CLIP = 5.0

__all__ = ["DEFAULT_CLIP", "SequenceLoss", "SequencePlan", "plan_sequences", "stateful_order"]


def is_recurrent(model: Any) -> bool:
    """True when any sub-module declares itself recurrent (RNN, LSTM, GRU, their cells, PinedaRNN)."""
    return any(getattr(module, "recurrent", False) for module in model.modules())


def is_many_to_many(X: np.ndarray, y: np.ndarray) -> bool:
    """One target per step: y (N, T) labels or (N, T, D) values with X's first two axes."""
    if X.ndim < 2 or y.ndim < 2 or y.shape[:2] != X.shape[:2]:
        return False
    return y.ndim == 3 or (y.ndim == 2 and y.dtype.kind in "iu")


class SequenceLoss:
    """A loss applied to every step: (N, T, C) outputs and (N, T[, D]) targets become N*T rows.

    Outputs of any other shape pass straight to the wrapped loss, so the same
    loss serves a many-to-one model.
    """

    def __init__(self, loss: Any) -> None:
        self.loss = loss

    def __call__(self, output: Tensor, target: Tensor) -> Tensor:
        if output.ndim == 3 and target.ndim >= 2 and target.shape[:2] == output.shape[:2]:
            rows = output.shape[0] * output.shape[1]
            output = output.reshape(rows, output.shape[2])
            target = target.reshape((rows,) + tuple(target.shape[2:]))
        return self.loss(output, target)

    def output_curvature(self):  # second-order optimizers ask the loss; pass the question on
        return self.loss.output_curvature() if hasattr(self.loss, "output_curvature") else None


@dataclass
class SequencePlan:
    """What fit uses instead of its defaults: the loss, a batch source wrapper, the gradients function."""

    loss_fn: Any
    gradients: Any
    tbptt: int | None
    chunked: bool

    def wrap(self, batches: Any) -> Any:
        if not self.chunked:
            return _Resetting(batches, self.gradients)
        if self.tbptt is None:
            raise ValueError("SequencePlan: chunked batches need tbptt, the number of steps per chunk")
        return ChunkedBatches(batches, self.tbptt, self.gradients)


def plan_sequences(model: Any, X: np.ndarray, y: np.ndarray, loss_fn: Any, tbptt: int | None, stateful: bool,
                   clip_grad_norm: float | str | None, shuffle: bool) -> SequencePlan | None:
    """fit's sequence settings checked and turned into parts; None when the run needs none of this."""
    recurrent = is_recurrent(model)
    clip = (DEFAULT_CLIP if recurrent else None) if clip_grad_norm == "auto" else clip_grad_norm
    if clip is not None and not (isinstance(clip, (int, float)) and clip > 0):
        raise ValueError(f"fit: clip_grad_norm must be a norm > 0, 'auto' or None, got {clip_grad_norm!r}")
    many = is_many_to_many(X, y)
    if not recurrent and tbptt is None and not stateful and clip is None and not many:
        return None
    if tbptt is not None:
        if isinstance(tbptt, bool) or not isinstance(tbptt, (int, np.integer)) or tbptt < 1:
            raise ValueError(f"fit: tbptt must be a number of time steps >= 1, got {tbptt!r}")
        if X.ndim < 2:
            raise ValueError(f"fit: tbptt needs sequences X of shape (N, T, ...), got shape {X.shape}")
    if stateful and shuffle:
        raise ValueError("fit: stateful=True carries each row's state into the same row of the next batch, "
                         "which needs the batches in order: pass shuffle=False (and arrange rows with "
                         "deltaprop.train.sequences.stateful_order)")
    carries = tbptt is not None or stateful
    if carries:
        _check_carries_state(model)
    steps = X.shape[1] if X.ndim >= 2 else 1
    truncate = tbptt if tbptt is not None and tbptt < steps else None
    gradients = SequenceGradients(truncate, carries, stateful, clip, many)
    return SequencePlan(SequenceLoss(loss_fn) if many else loss_fn, gradients, truncate,
                        chunked=truncate is not None and many)


def _check_carries_state(model: Any) -> None:
    if not (hasattr(model, "forward_with_state") or getattr(model, "recurrent", False)):
        raise TypeError(
            f"fit: tbptt and stateful training carry the hidden state between calls, so the model must offer "
            f"forward_with_state(x, state) -> (output, state) (deltaprop.nn.RecurrentNet does, and so do "
            f"nn.RNN/LSTM/GRU themselves); {type(model).__name__} does not"
        )


# --------------------------------------------------------------------------- the gradients function


def _with_state(model: Any, x: Tensor, state: Any) -> tuple[Tensor, Any]:
    if hasattr(model, "forward_with_state"):
        return model.forward_with_state(x, state)
    return model(x, state)  # nn.RNN / LSTM / GRU: (output, h_n) or (output, (h_n, c_n))


def _detach(state: Any) -> Any:
    if state is None:
        return None
    if isinstance(state, Tensor):
        return state.detach()
    return type(state)(_detach(s) for s in state)


def _batch_of(state: Any) -> int | None:
    if state is None:
        return None
    first = state if isinstance(state, Tensor) else next(iter(state))
    while not isinstance(first, Tensor):
        first = next(iter(first))
    return first.shape[-2] if first.ndim >= 2 else 1


class SequenceGradients:
    """The ``gradients`` part of the step protocol for sequences: (truncated) BPTT, state, clipping."""

    def __init__(self, truncate: int | None, carries: bool, stateful: bool, clip: float | None,
                 many_to_many: bool) -> None:
        self.truncate, self.carries, self.stateful = truncate, carries, stateful
        self.clip, self.many_to_many = clip, many_to_many
        self.state: Any = None
        self.new_sequence = True  # set by the batch source when a new batch of sequences begins

    def __call__(self, model: Any, loss_fn: Any, x: Tensor, y: Tensor) -> tuple[float, Any]:
        if not self.carries:
            value, output = backprop(model, loss_fn, x, y)
        else:
            if self.new_sequence and not self.stateful:
                self.state = None
            self.new_sequence = False
            if self.state is not None and _batch_of(self.state) != x.shape[0]:
                self.state = None  # a smaller last batch: its rows continue no earlier rows
            if self.truncate is not None and not self.many_to_many:
                x = self._advance(model, x, self.truncate)
            output, state = _with_state(model, x, self.state)
            loss = loss_fn(output, y)
            value = loss.array.item()
            if value - value == 0:
                loss.backward()
            self.state = _detach(state)  # the values flow on into the next chunk; the gradients stop here
        if self.clip is not None and value - value == 0:
            clip_grad_norm_(model.parameters(), self.clip)
        return value, output

    def _advance(self, model: Any, x: Tensor, truncate: int) -> Tensor:
        """Many-to-one truncation: run all but the last k steps without a graph; return the last k."""
        T = x.shape[1]
        if truncate < T:
            with no_grad():
                _, self.state = _with_state(model, x[:, : T - truncate], self.state)
            x = x[:, T - truncate :]
        return x


# --------------------------------------------------------------------------- batch sources


class _Resetting:
    """A batch source that tells the gradients function where each new batch of sequences begins."""

    def __init__(self, inner: Any, gradients: SequenceGradients) -> None:
        self.inner, self.gradients, self.n = inner, gradients, inner.n

    def __len__(self) -> int:
        return len(self.inner)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor, float]]:
        for item in self.inner:
            self.gradients.new_sequence = True
            yield item


class ChunkedBatches(_Resetting):
    """Each batch of many-to-many sequences as consecutive chunks of ``k`` steps, one update per chunk.

    A chunk's ``size`` is its share of the batch's steps, so the epoch's mean
    loss still weighs every step once.
    """

    def __init__(self, inner: Any, k: int, gradients: SequenceGradients) -> None:
        super().__init__(inner, gradients)
        self.k = int(k)
        steps = inner.X.shape[1] if hasattr(inner, "X") else k
        self.per_batch = math.ceil(steps / self.k)

    def __len__(self) -> int:
        return len(self.inner) * self.per_batch

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor, float]]:
        for xb, yb, size in self.inner:
            self.gradients.new_sequence = True
            T = xb.shape[1]
            for start in range(0, T, self.k):
                stop = min(start + self.k, T)
                yield (Tensor._wrap(xb.array[:, start:stop]), Tensor._wrap(yb.array[:, start:stop]),
                       size * (stop - start) / T)


def stateful_order(n_windows: int, batch_size: int) -> np.ndarray:
    """Row order for stateful training on consecutive windows 0, 1, 2, ... of one long stream.

    The stream is cut into ``batch_size`` parallel streams; batch k then holds
    window k of each stream, so row b of every batch continues row b of the
    previous one. Windows that do not fill a last full batch are dropped.
    """
    per_stream = n_windows // batch_size
    if per_stream < 1:
        raise ValueError(f"stateful_order: {n_windows} windows cannot fill one batch of {batch_size}")
    streams = np.arange(per_stream * batch_size).reshape(batch_size, per_stream)
    return streams.T.reshape(-1)
