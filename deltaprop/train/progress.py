"""The progress bar of `fit`: tqdm when installed, else one line rewritten with '\\r'.

One bar covers the whole run (every optimizer step of every epoch), so a
5000-epoch full-batch run and a 3-epoch mini-batch run both show a single
line with the epoch, the latest loss and metrics, the rate and the ETA.
"""

from __future__ import annotations

import importlib
import sys
import time
from typing import Any, TextIO


def wants_progress(progress: bool | str, stream: TextIO | None = None) -> bool:
    """progress=True/False decide; 'auto' shows the bar only when output is a terminal."""
    if progress == "auto":
        stream = stream or sys.stdout
        isatty = getattr(stream, "isatty", None)
        return bool(isatty and isatty())
    if not isinstance(progress, bool):
        raise ValueError(f"fit: progress must be True, False or 'auto', got {progress!r}")
    return progress


def _tqdm_class() -> Any:
    try:  # optional dependency, imported only when a bar is shown
        return importlib.import_module("tqdm").tqdm
    except ImportError:
        return None


def format_logs(logs: dict[str, float]) -> str:
    return " ".join(f"{name} {value:.4g}" for name, value in logs.items())


def _clock(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60:02d}:{rest % 60:02d}"


class PlainBar:
    """A dependency-free bar: 'epoch 3/10 [#####.....] 45% loss 0.12 | 830 it/s ETA 00:04'."""

    def __init__(self, total: int, epochs: int, stream: TextIO | None = None, interval: float = 0.1) -> None:
        self.total = max(int(total), 1)
        self.epochs = epochs
        self.stream = stream or sys.stdout
        self.interval = interval
        self.count = 0
        self.epoch = 0
        self.logs: dict[str, float] = {}
        self.start = time.perf_counter()
        self._last_draw = 0.0
        self._width = 0

    def update(self, steps: int = 1) -> None:
        self.count += steps
        now = time.perf_counter()
        if now - self._last_draw >= self.interval:
            self._draw(now)

    def set_epoch(self, epoch: int, logs: dict[str, float]) -> None:
        self.epoch, self.logs = epoch, dict(logs)
        self._draw(time.perf_counter())

    def line(self, now: float) -> str:
        elapsed = max(now - self.start, 1e-9)
        rate = self.count / elapsed
        remaining = (self.total - self.count) / rate if rate > 0 else 0.0
        done = min(self.count / self.total, 1.0)
        filled = int(done * 20)
        text = f"epoch {self.epoch}/{self.epochs} [{'#' * filled}{'.' * (20 - filled)}] {done:4.0%}"
        if self.logs:
            text += " " + format_logs(self.logs)
        return text + f" | {rate:.4g} it/s ETA {_clock(remaining)}"

    def _draw(self, now: float) -> None:
        self._last_draw = now
        text = self.line(now)
        padding = " " * max(self._width - len(text), 0)
        self._width = len(text)
        self.stream.write("\r" + text + padding)
        self.stream.flush()

    def close(self) -> None:
        self._draw(time.perf_counter())
        self.stream.write("\n")
        self.stream.flush()


class TqdmBar:
    """The same interface over tqdm."""

    def __init__(self, tqdm: Any, total: int, epochs: int, stream: TextIO | None = None) -> None:
        self.epochs = epochs
        self.bar = tqdm(total=total, unit="it", file=stream, dynamic_ncols=True, leave=True)
        self.update = self.bar.update  # no extra Python frame per batch

    def set_epoch(self, epoch: int, logs: dict[str, float]) -> None:
        self.bar.set_description(f"epoch {epoch}/{self.epochs}", refresh=False)
        self.bar.set_postfix_str(format_logs(logs), refresh=False)

    def close(self) -> None:
        self.bar.close()


def make_bar(
    progress: bool | str, total: int, epochs: int, stream: TextIO | None = None, use_tqdm: bool = True
) -> PlainBar | TqdmBar | None:
    """The bar fit should draw, or None when progress is off."""
    if not wants_progress(progress, stream):
        return None
    tqdm = _tqdm_class() if use_tqdm else None
    if tqdm is not None:
        return TqdmBar(tqdm, total, epochs, stream)
    return PlainBar(total, epochs, stream)
