"""The errors deltaprop raises, each one naming where it happened and what to do."""

from __future__ import annotations


class DeltapropError(Exception):
    """Base class of deltaprop's own errors."""


class ShapeError(DeltapropError, ValueError):
    """Operands whose shapes cannot go together (the message names op and shapes)."""


class GraphError(DeltapropError, RuntimeError):
    """Misuse of the autodiff graph: backward twice, non-scalar without grad, ..."""


class NonFiniteError(DeltapropError, FloatingPointError):
    """A NaN or Inf appeared in a loss, activation or gradient.

    ``where`` names the first module or op where it appeared; ``epoch`` and
    ``batch`` are filled in by the training loop.
    """

    def __init__(
        self,
        message: str,
        *,
        where: str | None = None,
        epoch: int | None = None,
        batch: int | None = None,
    ) -> None:
        super().__init__(message)
        self.where = where
        self.epoch = epoch
        self.batch = batch


class GradcheckError(DeltapropError, AssertionError):
    """Backprop and finite differences disagree (the message names input and element)."""


def optional_import(module: str, extra: str, purpose: str):
    """Import an optional dependency, or say exactly which extra installs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"{purpose} needs the optional package '{module.split('.')[0]}': "
            f"pip install 'deltaprop[{extra}]'"
        ) from exc


class ModelFileError(DeltapropError, ValueError):
    """A file `deltaprop.load` will not trust: not a deltaprop file, damaged, or crafted to harm.

    One type for every such file, however it is broken (a truncated zip, a
    flipped bit, JSON nested a million deep, a layer declaring more weights
    than the file holds), so callers catch one thing. The message names the
    file and the problem; ``path`` holds the file's path.
    """

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path
