"""The ``train --out`` folder, written as a unit.

A run writes model.npz, model.json, history.json, summary.json and plot.png
into a fresh hidden folder beside ``--out`` (``.NAME.tmp-PID-XXXX``) and, once
all of them are complete, renames that folder to ``--out``, moving the
previous run's folder aside first and deleting it after. So at every moment
``--out`` holds one whole run or, for the instant between two renames, nothing;
never a mix of two runs, and never a half-written file: not after a crash, a
full disk, or several runs writing to the same ``--out`` at once (the last to
finish wins).

Because the folder is replaced whole, ``--out`` must be new, empty, or a
folder a previous run wrote: one holding other files is refused before
training, so no user file is ever moved or deleted.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import stat
from pathlib import Path

from deltaprop.cli.errors import CLIError

RUN_FILES = ("model.npz", "model.json", "history.json", "summary.json", "plot.png")
_ATTEMPTS = 50  # renames tried when other runs keep replacing the same --out


class RunFolder:
    """A staging folder for one run's files, published into ``out`` by `publish` (or discarded).

    Creating it checks ``out`` and makes the staging folder, so a destination
    that cannot be written is reported before any training. Use it as a
    context manager: leaving the block by an exception discards the staging folder.
    """

    def __init__(self, out: str | os.PathLike) -> None:
        self.out = _checked_destination(Path(out))
        parent = self.out.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
            _remove_stale_siblings(self.out)
            self.kept = False
            self.path = _fresh_folder(parent, f".{self.out.name}.tmp-{os.getpid()}-")
        except OSError as exc:
            raise CLIError(
                f"cannot write the run into --out {self.out}: {exc.strerror or exc}; "
                "choose a folder you can write to"
            ) from None

    def __enter__(self) -> RunFolder:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is not None and not self.kept:
            _discard(self.path)

    def publish(self) -> None:
        """Rename the finished staging folder to ``out``, retiring whatever run is there now."""
        retired = []
        for attempt in range(_ATTEMPTS):
            try:
                os.rename(self.path, self.out)
                break
            except OSError as exc:
                if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.EACCES, errno.EPERM):
                    raise
                try:
                    is_folder = stat.S_ISDIR(os.stat(self.out).st_mode)  # one look: others move it
                except FileNotFoundError:
                    continue
                if not is_folder:
                    raise
            _refuse_foreign_files(self.out, when="appeared in it during training")
            old = self.out.with_name(f".{self.out.name}.old-{os.getpid()}-{secrets.token_hex(4)}-{attempt}")
            with contextlib.suppress(FileNotFoundError):  # another run moved it first: try again
                os.rename(self.out, old)
                retired.append(old)
        else:
            self.kept = True
            raise CLIError(f"could not move the finished run into --out {self.out}: other runs kept "
                           f"replacing it; it is kept in {self.path}")
        for old in retired:
            _discard(old)


def write_text_file(path: str | os.PathLike, write) -> None:
    """Call ``write(file)`` for a text file at ``path``, atomically when ``path`` is (or will be) a file.

    The text goes to a temporary file beside ``path``, renamed over it when
    complete, so a full disk leaves the previous file whole. A device or pipe
    (/dev/stdout, a FIFO) is written directly: renaming over it would replace it.
    An OSError names ``path`` even when the OS did not.
    """
    target = Path(path)
    try:
        if target.exists() and not target.is_file():
            with open(target, "w", newline="") as handle:
                write(handle)
            return
        temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
        try:
            with open(temporary, "w", newline="") as handle:
                write(handle)
            os.replace(temporary, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
    except OSError as exc:
        if exc.filename is None or str(exc.filename).endswith(".tmp"):
            raise OSError(exc.errno, exc.strerror or str(exc), str(target)) from None
        raise


def _fresh_folder(parent: Path, prefix: str) -> Path:
    """A new folder with a random name, made with the user's umask (mkdtemp's would be private, 0o700)."""
    while True:
        path = parent / f"{prefix}{secrets.token_hex(4)}"
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path


def _checked_destination(out: Path) -> Path:
    out = Path(os.path.abspath(out))
    if out.is_symlink():
        out = out.resolve()
    if out.exists() and not out.is_dir():
        raise CLIError(f"--out {out} is a file, not a folder; give a folder name for the run "
                       "(e.g. --out run1)")
    cwd = Path.cwd().resolve()
    if out.exists() and (cwd == out.resolve() or out.resolve() in cwd.parents):
        raise CLIError(f"--out {out} is the current folder or holds it; a run replaces its --out folder "
                       "whole, so give a subfolder (e.g. --out deltaprop-run)")
    if out.is_dir():
        _refuse_foreign_files(out, when="are in it")
        if not os.access(out, os.W_OK | os.X_OK):
            raise CLIError(f"cannot replace --out {out}: no permission to write it; choose another folder")
    return out


def _refuse_foreign_files(folder: Path, when: str) -> None:
    try:
        foreign = sorted(name for name in os.listdir(folder) if name not in RUN_FILES)
    except FileNotFoundError:
        return
    if foreign:
        shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
        raise CLIError(
            f"--out {folder} holds files that 'deltaprop train' did not write ({shown}), which {when}; "
            "a run replaces its --out folder whole, so give a new or empty folder (e.g. --out "
            f"{folder / 'run'})"
        )


def _discard(folder: Path) -> None:
    """Delete a run folder: only the files a run writes, then the folder if that emptied it."""
    for name in RUN_FILES:
        with contextlib.suppress(FileNotFoundError):
            (folder / name).unlink()
    for leftover in folder.glob(".*.tmp"):  # a save interrupted inside the staging folder
        with contextlib.suppress(OSError):
            leftover.unlink()
    with contextlib.suppress(OSError):
        folder.rmdir()


def _remove_stale_siblings(out: Path) -> None:
    """Staging and retired folders left by runs that were killed (their process is gone)."""
    pattern = re.compile(rf"^\.{re.escape(out.name)}\.(tmp|old)-(\d+)-")
    with contextlib.suppress(OSError):
        for entry in out.parent.iterdir():
            match = pattern.match(entry.name)
            if match and entry.is_dir() and not _alive(int(match.group(2))):
                _discard(entry)


def _alive(pid: int) -> bool:
    if os.name != "posix":
        return True  # no cheap check: leave the folder alone
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return pid != 0
