"""One contiguous buffer per parameter group: an update rule runs once per group, not once per parameter.

On small networks an optimizer step is dominated by Python and NumPy call
overhead, not arithmetic: SGD with momentum costs about four NumPy calls per
parameter, so a 3-layer net pays for 24 calls to move a few thousand numbers.
`FlatGroup` lays a group's parameters end to end in one array ``flat.data``
(each Parameter's ``.data`` becomes a view into it), gives every parameter a
gradient slot in a second array (backpropagation writes ``.grad`` straight
into it, see `deltaprop.tensor.gradient_buffer`), and keeps every state array
(momentum, Adam's moments) the same way, with each parameter's state entry a
view. The update rule, written once for arrays, then runs on the three flat
arrays: four NumPy calls for the whole group. The arithmetic is elementwise
and identical, so results are bit-for-bit those of the per-parameter path.

The layout is an optimisation, never a change of meaning, so it steps aside
whenever it could be observed:

- a parameter whose array may be shared with someone else (a view, or an
  array another object still references, as ``Parameter(user_array)`` does)
  is never moved, so in-place updates stay visible to its owner, exactly as
  in PyTorch; the group then uses the per-parameter path;
- every step checks (by identity, a few nanoseconds each) that each
  parameter's ``.data`` and each state entry are still the views; after
  ``p.data = ...`` (``model.double()``, ``.to()``) or ``load_state_dict`` the
  layout is rebuilt from the current values;
- a gradient set by hand (``p.grad = g``) is copied into its slot; a
  parameter without a gradient sends the group down the per-parameter path,
  which skips it as PyTorch does.

One consequence worth knowing: after ``zero_grad()`` the next backward
writes into the same slot memory, so an old ``.grad`` array kept across
steps changes; keep a ``.copy()`` if you need it.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from deltaprop import backend
from deltaprop.tensor import Tensor


def _refcount_of_unshared_data() -> int:
    """sys.getrefcount(p.data) when only the tensor holds its array (getrefcount's argument included)."""
    tensor = Tensor._wrap(np.empty(1))
    return sys.getrefcount(tensor.array)


_ONLY_THE_PARAMETER = _refcount_of_unshared_data()


class FlatGroup:
    """A group's parameters, gradient slots and state arrays as views into flat buffers."""

    def __init__(self, params: Sequence[Tensor]) -> None:
        first = params[0].array
        xp = backend.array_module(first)
        self.params = list(params)
        self.sizes = [p.array.size for p in params]
        total = sum(self.sizes)
        flat = xp.empty(total, dtype=first.dtype)
        grads = xp.zeros(total, dtype=first.dtype)
        self.param_views, self.grad_views = [], []
        offset = 0
        for p, size in zip(params, self.sizes, strict=True):
            flat[offset : offset + size] = p.array.reshape(-1)
            view = flat[offset : offset + size].reshape(p.array.shape)
            slot = grads[offset : offset + size].reshape(p.array.shape)
            p.array = view
            p._grad_slot = slot
            self.param_views.append(view)
            self.grad_views.append(slot)
            offset += size
        #: the stand-in parameter the update rule sees: ``.data`` is the whole group
        self.param = Tensor._wrap(flat)
        self.grad = grads
        self.state: dict[str, Any] = {}
        self.state_views: dict[str, list[Any]] = {}
        self.state_sources: dict[str, Any] = {}  # the flat array each key's views were cut from
        self.state_dicts: list[Any] = [None] * len(self.params)  # the per-parameter dicts last synced

    # ------------------------------------------------------------------ building and checking
    @staticmethod
    def possible(params: Sequence[Tensor]) -> bool:
        """True when moving every parameter into one buffer cannot be observed by anyone."""
        if not params:
            return False
        dtype, kind = params[0].array.dtype, type(params[0].array)
        for p in params:
            if sys.getrefcount(p.array) > _ONLY_THE_PARAMETER:  # someone else holds this array
                return False
            array = p.array
            if type(array) is not kind or array.dtype != dtype or getattr(array, "base", None) is not None:
                return False
        return True

    def release(self) -> None:
        """Stop writing gradients into the slots (the layout is being dropped)."""
        for p, slot in zip(self.params, self.grad_views, strict=True):
            if p._grad_slot is slot:
                p._grad_slot = None

    # ------------------------------------------------------------------ one step
    READY, MOVED, SKIP, STALE = "ready", "moved", "skip", "stale"

    def check(self, all_state: dict[Any, dict[str, Any]] | None) -> str:
        """Can the flat update run now? One pass over the parameters, identity checks only.

        ``READY``: yes (gradients set by hand have been copied into their
        slots). ``MOVED``: a parameter got new ``.data``; rebuild the layout.
        ``SKIP``: a parameter has no gradient (or one of the wrong shape); use
        the per-parameter path this step. ``STALE``: the per-parameter state
        is not (or no longer) our views; call `sync_state` first.
        ``all_state`` is the optimizer's state, or None for a stateless rule.
        """
        fresh = False
        for p, view, slot, known in zip(self.params, self.param_views, self.grad_views, self.state_dicts,
                                        strict=True):
            if p.array is not view:
                return self.MOVED
            grad = p.grad_array
            if grad is not slot:
                if grad is None or grad.shape != slot.shape:
                    return self.SKIP  # the per-parameter path skips it, or raises the clear error
                slot[...] = grad  # set by hand: copied in
            if all_state is not None and (known is None or all_state.get(p) is not known):
                fresh = True
        if all_state is None:
            return self.READY
        if fresh:
            return self.STALE
        size = len(self.state)
        for known in self.state_dicts:
            if len(known) != size:
                return self.STALE
        for key, views in self.state_views.items():
            for known, view in zip(self.state_dicts, views, strict=True):
                if known.get(key) is not view:
                    return self.STALE
        return self.READY

    def sync_state(self, states: list[dict[str, Any]]) -> bool:
        """Rebuild the flat state from the per-parameter ``states``; False if they cannot be merged."""
        return self._merge_state(states)

    def finish(self) -> None:
        """After the update: per-parameter state entries show the flat state (views, scalars)."""
        states = self.state_dicts
        for key, value in self.state.items():
            if hasattr(value, "shape"):
                if self.state_sources.get(key) is value:
                    continue  # its views were cut from this very array: nothing to do
                views = self.state_views[key] = self._views_of(value)
                self.state_sources[key] = value
                for state, view in zip(states, views, strict=True):
                    state[key] = view
            else:
                for state in states:
                    state[key] = value

    def _merge_state(self, states: list[dict[str, Any]]) -> bool:
        """Build the flat state from per-parameter arrays (first step, or after load_state_dict)."""
        keys = set(states[0])
        if any(set(state) != keys for state in states):
            return False
        merged: dict[str, Any] = {}
        for key in keys:
            values = [state[key] for state in states]
            if hasattr(values[0], "shape"):
                if any(v.shape != p.array.shape for v, p in zip(values, self.params, strict=True)):
                    return False
                merged[key] = backend.array_module(values[0]).concatenate([v.reshape(-1) for v in values])
            elif all(v == values[0] for v in values):
                merged[key] = values[0]
            else:
                return False
        self.state, self.state_views, self.state_dicts = merged, {}, list(states)
        self.state_sources = {}
        self.finish()
        return True

    def _views_of(self, flat: Any) -> list[Any]:
        views, offset = [], 0
        for p, size in zip(self.params, self.sizes, strict=True):
            views.append(flat[offset : offset + size].reshape(p.array.shape))
            offset += size
        return views
