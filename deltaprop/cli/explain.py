"""``deltaprop explain``: the front door to `deltaprop.inspect.explain`, behind the CLI's error boundary.

The walk-through itself lives in `deltaprop.inspect.explain` and gets its
arguments untouched. This module checks their numbers first (a NaN or Inf
learning rate, input, weight, bias or target would only surface later, as a
gradient check failing on NaN) and turns its parser's usage message into one
line like every other subcommand's.
"""

from __future__ import annotations

import contextlib
import io
import math
import sys

from deltaprop.cli.errors import CLIError

# options whose values are numbers, or comma-separated numbers
_NUMERIC = ("--bias", "--lr", "--inputs", "--weights", "--target")


def run(argv: list[str]) -> int:
    from deltaprop.inspect.explain import main

    for option, value in _numeric_values(argv):
        for part in value.split(","):
            try:
                number = float(part)
            except ValueError:
                continue  # not a number at all: explain names the option itself
            if not math.isfinite(number):
                raise CLIError(f"{option} {value} is not a finite number; give ordinary numbers, "
                               f"e.g. {option} 0.5")
    errors = io.StringIO()
    try:
        with contextlib.redirect_stderr(errors):
            return main(argv)
    except SystemExit as exc:
        if exc.code == 2:  # argparse's usage error: keep only its last line, the error itself
            lines = errors.getvalue().strip().splitlines()
            raise CLIError(f"{(lines or ['bad arguments'])[-1].split('error: ', 1)[-1]} "
                           "(see 'deltaprop explain --help')") from None
        raise
    finally:
        message = errors.getvalue()
        if message and not message.lstrip().startswith("usage:"):
            sys.stderr.write(message)


def _numeric_values(argv: list[str]):
    """(option, value) for each numeric option in argv, written '--lr 0.5' or '--lr=0.5'."""
    for i, token in enumerate(argv):
        name, equals, value = token.partition("=")
        if name in _NUMERIC:
            if equals:
                yield name, value
            elif i + 1 < len(argv):
                yield name, argv[i + 1]
