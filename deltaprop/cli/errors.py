"""The CLI's one error boundary: expected failures become one line and exit code 2, bugs a traceback.

Expected failures are problems with what the user gave or with the machine:
`CLIError` (raised by the CLI itself with the option or file and the fix),
deltaprop's own errors (a NaN in training, shapes that do not fit), `OSError`
(a missing file, a full disk, no permission) and `MemoryError`. Everything
else is a bug in deltaprop: it is not disguised as a usage error, but shown
with its traceback and a request to report it.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

EXIT_OK = 0
EXIT_BUG = 1  # what Python itself returns for an uncaught exception
EXIT_USAGE = 2  # bad input of any kind, like argparse's own exit code for usage errors
EXIT_INTERRUPTED = 130


class CLIError(Exception):
    """A problem with the user's input; the message says what is wrong and how to fix it."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse, except that a usage error becomes a one-line `CLIError` instead of usage + exit."""

    def error(self, message: str):  # type: ignore[override]
        raise CLIError(f"{message} (see '{self.prog} --help')")


def run_guarded(prog: str, command: Callable[..., int], *args: Any) -> int:
    """Run a subcommand behind the boundary; returns its exit code.

    Set DELTAPROP_TRACEBACK=1 to see the traceback of an expected failure too.
    """
    try:
        # Overflow warnings would add lines before the one-line error; fit's guard reports NaN/Inf.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return command(*args)
    except BrokenPipeError:  # `deltaprop predict ... | head`: the reader left; not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        message = expected_failure(exc)
        if message is None:
            _report_bug(prog)
            return EXIT_BUG
        if os.environ.get("DELTAPROP_TRACEBACK"):
            raise
        print(f"{prog}: error: {message}", file=sys.stderr)
        return EXIT_USAGE


def expected_failure(exc: BaseException) -> str | None:
    """The one-line message for an expected failure, or None when ``exc`` is a bug."""
    from deltaprop.errors import DeltapropError, GradcheckError, GraphError

    if isinstance(exc, CLIError):
        return one_line(exc)
    if isinstance(exc, (GradcheckError, GraphError)):  # the engine contradicting itself: a bug
        return None
    if isinstance(exc, DeltapropError):
        return one_line(exc)
    if isinstance(exc, OSError):
        return os_error_message(exc)
    if isinstance(exc, MemoryError):
        return memory_error_message(exc)
    return None


def one_line(exc: BaseException) -> str:
    """The exception's message on one line (KeyError quotes its message; undo that)."""
    text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    text = " ".join(str(text).split())
    if isinstance(exc, FileNotFoundError) and exc.filename:
        text = f"no such file: {exc.filename}; check the path"
    return text or type(exc).__name__


_OS_FIXES = {
    errno.ENOSPC: "the disk is full: free some space or choose another --out",
    errno.EDQUOT: "the disk quota is used up: free some space or choose another --out",
    errno.EACCES: "choose a location you can write to, or change its permissions",
    errno.EPERM: "choose a location you can write to, or change its permissions",
    errno.EROFS: "that file system is read-only: choose another --out",
    errno.ENOENT: "check the path",
    errno.ENOTDIR: "a part of the path is a file, not a folder: check the path",
    errno.EISDIR: "that is a folder: give a file name",
}


def os_error_message(exc: OSError) -> str:
    """'cannot write X: No space left on device; the disk is full: ...' from any OSError."""
    if isinstance(exc, FileNotFoundError) and exc.filename and not exc.strerror:
        return one_line(exc)
    reason = exc.strerror or one_line(exc)
    where = f" {exc.filename}" if exc.filename else ""
    fix = _OS_FIXES.get(exc.errno or -1, "check the path and try again")
    if exc.errno == errno.ENOENT and exc.filename:
        return f"no such file or folder:{where}; {fix}"
    return f"{reason}:{where}; {fix}" if where else f"{reason}; {fix}"


def memory_error_message(exc: MemoryError) -> str:
    detail = one_line(exc) if str(exc) else "the machine ran out of memory"
    return (
        f"out of memory ({detail}); use a smaller network (--hidden), a smaller --batch-size, or a "
        "first-order --optimizer such as adam"
    )


def _report_bug(prog: str) -> None:
    import traceback

    traceback.print_exc()
    print(
        f"{prog}: this is a bug in deltaprop, not a problem with your input; please report it to the "
        "deltaprop maintainers with the command line and the traceback above",
        file=sys.stderr,
    )
