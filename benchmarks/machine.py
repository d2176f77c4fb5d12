"""One line on the machine and library versions, for the top of every benchmark section."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata


def describe(peers: tuple[str, ...] = ()) -> str:
    """E.g. 'x86_64, 2 cores, Linux; Python 3.11.7; numpy 2.4.6; torch 2.13.0+cpu'."""
    parts = [f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}"]
    cpu = _cpu_model()
    if cpu:
        parts[0] += f" ({cpu})"
    parts.append(f"Python {sys.version.split()[0]}")
    for name in ("numpy", "deltaprop", *peers):
        try:
            parts.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{name} not installed")
    return "; ".join(parts)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""
