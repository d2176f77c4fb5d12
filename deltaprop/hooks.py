"""`RemovableHandle`: what every ``register_*_hook`` returns, so a hook can be taken off again.

Hooks are kept in plain dicts keyed by a counter, in registration order (a
dict keeps insertion order), so several tools can watch the same module or
tensor at once and each removes only its own hook. The handle is also a
context manager: ``with model.register_forward_hook(f): ...`` removes ``f``
on leaving the block, even after an error.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

_next_id = itertools.count()


class RemovableHandle:
    """Removes one hook from the table(s) it was added to (PyTorch's ``RemovableHandle``)."""

    __slots__ = ("id", "_tables", "_on_remove")

    def __init__(self, *tables: dict[int, Any], on_remove: Callable[[], None] | None = None) -> None:
        self.id = next(_next_id)
        self._tables = tables
        self._on_remove = on_remove

    def remove(self) -> None:
        """Take the hook off (a second call does nothing)."""
        removed = False
        for table in self._tables:
            removed |= table.pop(self.id, None) is not None
        if removed and self._on_remove is not None:
            self._on_remove()

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.remove()


def add_hook(table: dict[int, Any], hook: Any, prepend: bool, on_remove: Callable[[], None] | None = None,
             also: tuple[dict[int, Any], ...] = ()) -> RemovableHandle:
    """Put ``hook`` into ``table`` (first if ``prepend``) and return its handle.

    ``also`` are side tables keyed by the same id (e.g. which hooks take
    keyword arguments), cleared together with the hook.
    """
    if not callable(hook):
        raise TypeError(f"a hook must be callable, got {type(hook).__name__}")
    handle = RemovableHandle(table, *also, on_remove=on_remove)
    if prepend:
        rest = dict(table)
        table.clear()
        table[handle.id] = hook
        table.update(rest)
    else:
        table[handle.id] = hook
    return handle
