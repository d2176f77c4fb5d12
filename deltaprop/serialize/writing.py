"""Atomic writes, and the clean-up of temporary files that killed writers left behind.

A file is written to a temporary file in the target's folder, flushed to
disk, and renamed over the target (``os.replace``), so a crash or a full
disk mid-write leaves the previous file intact. A writer killed before the
rename leaves its temporary file behind; the next successful save to the
same target removes it.

Which temporary files are stale: the name records who wrote it,
``.<target>.<host>-<pid>.<random>.tmp``. After a successful save, a
temporary file of the same target is removed when it comes from this host
and its process no longer runs (or is a zombie), or from this process but is
not one it is writing now. Temporary files of live processes (a concurrent
writer) and of other hosts (a shared folder) are left alone. A reused pid
keeps a stale file until that process ends too: the rule errs on the side
of keeping. On Windows, where asking whether a pid runs is not safe with
``os.kill``, only this process's own leftovers are removed.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import tempfile
import threading
from collections.abc import Mapping

import numpy as np

from deltaprop.serialize.archive import META_KEY

_LIVE: set[str] = set()  # temporary files this process is writing now
_LIVE_LOCK = threading.Lock()


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", socket.gethostname())[:40] or "host"


def atomic_write_npz(path: str | os.PathLike, arrays: Mapping[str, np.ndarray], meta: dict) -> None:
    """Write ``arrays`` and the JSON ``meta`` to ``path`` as an .npz, atomically; then tidy up."""
    target = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(target))
    entries = dict(arrays)
    entries[META_KEY] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    prefix = f".{os.path.basename(target)}.{_host()}-{os.getpid()}."
    fd, temporary = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=directory)
    with _LIVE_LOCK:
        _LIVE.add(temporary)
    try:
        with os.fdopen(fd, "wb") as handle:
            # values.encode refused object arrays, so nothing here can be pickled
            np.savez(handle, allow_pickle=False, **entries)
            handle.flush()
            os.fsync(handle.fileno())
        mode = os.stat(target).st_mode & 0o777 if os.path.exists(target) else 0o644
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    finally:
        with _LIVE_LOCK:
            _LIVE.discard(temporary)
    _fsync_directory(directory)
    remove_stale_temporaries(target)


def _fsync_directory(directory: str) -> None:
    """Make the rename itself durable (POSIX); where a folder cannot be synced, the rename still holds."""
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def remove_stale_temporaries(path: str | os.PathLike) -> list[str]:
    """Remove the temporary files of ``path`` left by writers that died; returns the removed paths."""
    target = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(target))
    pattern = re.compile(
        rf"\.{re.escape(os.path.basename(target))}\.([A-Za-z0-9_]+)-(\d+)\.[A-Za-z0-9_]+\.tmp"
    )
    removed: list[str] = []
    try:
        names = os.listdir(directory)
    except OSError:
        return removed
    for name in names:
        match = pattern.fullmatch(name)
        if match is None or match.group(1) != _host():
            continue
        candidate = os.path.join(directory, name)
        if _is_stale(int(match.group(2)), candidate):
            with contextlib.suppress(FileNotFoundError, PermissionError):
                os.unlink(candidate)
                removed.append(candidate)
    return removed


def _is_stale(pid: int, candidate: str) -> bool:
    if pid == os.getpid():
        with _LIVE_LOCK:
            return candidate not in _LIVE
    if os.name != "posix":
        return False
    return not _process_runs(pid)


def _process_runs(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it runs, as another user; anything else: assume it runs
        return True
    try:  # a killed child that was not yet reaped still answers kill(pid, 0)
        with open(f"/proc/{pid}/stat", "rb") as status:
            return status.read().rsplit(b")", 1)[-1].split()[:1] != [b"Z"]
    except OSError:
        return True
