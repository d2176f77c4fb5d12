"""Batches of sequences of different lengths: `PackedSequence` and PyTorch's helpers around it.

A recurrent layer given a `PackedSequence` runs each sequence only over its
own length: at step t only the sequences still going are updated, the final
state of each is the one at its last step, and the outputs past a sequence's
end are zero. As in PyTorch, ``data`` holds the steps one after another, each
step's rows for the sequences still running, longest sequences first
(``batch_sizes[t]`` of them at step t); ``sorted_indices`` records the sort
when the batch was not given longest first (``enforce_sorted=False``).

    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    output, h_n = lstm(packed)
    padded, lengths = pad_packed_sequence(output, batch_first=True)
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from deltaprop import backend, ops
from deltaprop.errors import ShapeError
from deltaprop.ops.recurrent import pack_steps, unpack_steps
from deltaprop.tensor import Tensor, as_tensor

__all__ = ["PackedSequence", "pack_padded_sequence", "pack_sequence", "pad_packed_sequence", "pad_sequence"]


class PackedSequence(NamedTuple):
    """PyTorch's fields: data (sum of lengths, *), batch_sizes (T,), sorted_indices and unsorted_indices."""

    data: Tensor
    batch_sizes: np.ndarray
    sorted_indices: np.ndarray | None = None
    unsorted_indices: np.ndarray | None = None


def _lengths(lengths: Any, batch: int) -> np.ndarray:
    values = backend.to_numpy(lengths.array if isinstance(lengths, Tensor) else np.asarray(lengths))
    values = np.asarray(values).reshape(-1)
    if values.dtype.kind not in "iu" and not np.all(values == np.round(values)):
        raise ValueError(f"pack_padded_sequence: lengths must be whole numbers, got {values}")
    values = values.astype(np.int64)
    if values.size != batch:
        raise ShapeError(f"pack_padded_sequence: {values.size} lengths for a batch of {batch} sequences")
    if values.size and values.min() < 1:
        raise ValueError(f"pack_padded_sequence: every length must be >= 1, got {values.tolist()}")
    return values


def pack_padded_sequence(
    input: Any, lengths: Any, batch_first: bool = False, enforce_sorted: bool = True  # noqa: A002
) -> PackedSequence:
    """Pack a padded batch (T, N, *) (or (N, T, *) with ``batch_first``); sequence b has lengths[b] steps.

    ``enforce_sorted=True`` requires the lengths longest first (as PyTorch); otherwise the batch is
    sorted here and the order remembered, so outputs and final states come back in the caller's order.
    """
    x = as_tensor(input)
    if x.ndim < 2:
        raise ShapeError(f"pack_padded_sequence: input must be (T, N, *) or (N, T, *), got shape {x.shape}")
    if batch_first:
        x = ops.swapaxes(x, 0, 1)
    values = _lengths(lengths, x.shape[1])
    if values.max() > x.shape[0]:
        raise ShapeError(f"pack_padded_sequence: a length of {values.max()} exceeds the {x.shape[0]} steps "
                         f"of the input (shape {as_tensor(input).shape}, batch_first={batch_first})")
    sorted_indices = unsorted_indices = None
    if enforce_sorted:
        if np.any(np.diff(values) > 0):
            raise ValueError(
                f"pack_padded_sequence: lengths {values.tolist()} are not sorted longest first; sort the "
                "batch or pass enforce_sorted=False"
            )
    else:
        sorted_indices = np.argsort(-values, kind="stable")
        unsorted_indices = np.argsort(sorted_indices)
        values = values[sorted_indices]
        x = ops.getitem(x, (slice(None), _on(x, sorted_indices)))
    steps = int(values[0])
    batch_sizes = (values[None, :] > np.arange(steps)[:, None]).sum(axis=1).astype(np.int64)
    if steps < x.shape[0]:
        x = ops.getitem(x, slice(0, steps))
    return PackedSequence(pack_steps(x, batch_sizes), batch_sizes, sorted_indices, unsorted_indices)


def pad_packed_sequence(
    sequence: PackedSequence, batch_first: bool = False, padding_value: float = 0.0,
    total_length: int | None = None,
) -> tuple[Tensor, np.ndarray]:
    """(padded (T, N, *) or (N, T, *), lengths) from a PackedSequence, in the caller's batch order."""
    sizes = np.asarray(sequence.batch_sizes)
    padded = unpack_steps(sequence.data, sizes, padding_value)
    lengths = (sizes[None, :] > np.arange(sizes[0])[:, None]).sum(axis=1).astype(np.int64)
    if total_length is not None:
        if total_length < padded.shape[0]:
            raise ValueError(f"pad_packed_sequence: total_length {total_length} is shorter than the longest "
                             f"sequence ({padded.shape[0]} steps)")
        extra = total_length - padded.shape[0]
        if extra:
            widths = [(0, extra)] + [(0, 0)] * (padded.ndim - 1)
            padded = ops.pad(padded, widths, constant_values=padding_value)
    if sequence.unsorted_indices is not None:
        padded = ops.getitem(padded, (slice(None), _on(padded, sequence.unsorted_indices)))
        lengths = lengths[sequence.unsorted_indices]
    if batch_first:
        padded = ops.swapaxes(padded, 0, 1)
    return padded, lengths


def pad_sequence(sequences: list[Any], batch_first: bool = False, padding_value: float = 0.0) -> Tensor:
    """Stack sequences of shapes (L_b, *) into (T, N, *) (or (N, T, *)), padding with ``padding_value``."""
    tensors = [as_tensor(s) for s in sequences]
    if not tensors:
        raise ValueError("pad_sequence: got no sequences")
    longest = max(t.shape[0] for t in tensors)
    padded = [ops.pad(t, [(0, longest - t.shape[0])] + [(0, 0)] * (t.ndim - 1), constant_values=padding_value)
              for t in tensors]
    return ops.stack(padded, axis=0 if batch_first else 1)


def pack_sequence(sequences: list[Any], enforce_sorted: bool = True) -> PackedSequence:
    """Pack a list of sequences (L_b, *) directly."""
    lengths = [as_tensor(s).shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def _on(like: Tensor, host: np.ndarray) -> Any:
    return backend.to_module(host, like.xp)


# used by the recurrent layers ------------------------------------------------------------------


def packed_as_padded(packed: PackedSequence) -> Tensor:
    """The packed batch as (T, N, *) in sorted order, zero past each sequence's end."""
    if not isinstance(packed.data, Tensor):
        raise TypeError("PackedSequence.data must be a Tensor; build it with pack_padded_sequence")
    return unpack_steps(packed.data, packed.batch_sizes)


def padded_as_packed(padded: Tensor, like: PackedSequence) -> PackedSequence:
    """A (T, N, *) output in sorted order, packed like ``like``."""
    return PackedSequence(pack_steps(padded, like.batch_sizes), like.batch_sizes, like.sorted_indices,
                          like.unsorted_indices)
