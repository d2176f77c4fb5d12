"""The IDX file format, in which MNIST and Fashion-MNIST are distributed.

An IDX file is a 4-byte magic number, then one big-endian uint32 per
dimension, then the values in C order, big-endian::

    0x00 0x00 <type code> <number of dimensions>   e.g. 00 00 08 03 = uint8, 3-D
    <dim 0> <dim 1> ...                            uint32 each
    <data>

Files are often gzipped (``.gz``); the reader recognises gzip by its own magic
bytes, not by the file name.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

# IDX type code -> NumPy dtype (big-endian, as stored in the file).
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dt.newbyteorder("=").str if dt.itemsize > 1 else dt.str: code for code, dt in IDX_DTYPES.items()}
_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path) -> bytes:
    with open(path, "rb") as fh:
        raw = fh.read()
    if raw[:2] == _GZIP_MAGIC:
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise ValueError(f"read_idx: {path} looks gzipped but could not be decompressed: {exc}") from exc
    return raw


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (gzipped or not) into a native-endian NumPy array.

    Raises ValueError naming the file when the magic number, dimensions or
    length do not match the format, so a wrong or truncated download is
    reported instead of producing garbage.
    """
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(
            f"read_idx: {path} is not an IDX file: the first bytes are {raw[:4].hex(' ') or '(empty)'}, "
            "expected 00 00 <type> <ndim> (is it an HTML error page or a different format?)"
        )
    code, ndim = raw[2], raw[3]
    if code not in IDX_DTYPES:
        valid = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise ValueError(f"read_idx: {path} has unknown IDX type code 0x{code:02X}; valid codes are {valid}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"read_idx: {path} is truncated: its header promises {ndim} dimensions")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise ValueError(
            f"read_idx: {path} holds {len(raw) - header} data bytes but its header {shape} of "
            f"{dtype.name} needs {expected}; the file is truncated or corrupt"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def write_idx(path: str | os.PathLike, array: np.ndarray, compress: bool | None = None) -> Path:
    """Write ``array`` as an IDX file; gzip it when ``compress`` (default: path ends in .gz).

    Used by the tests to build small IDX files, and by anyone exporting data
    to tools that read MNIST's format.
    """
    path = Path(path)
    arr = np.asarray(array)
    key = arr.dtype.newbyteorder("=").str if arr.dtype.itemsize > 1 else arr.dtype.str
    if key not in _CODES:
        names = ", ".join(dt.name for dt in IDX_DTYPES.values())
        raise ValueError(f"write_idx: dtype {arr.dtype} cannot be stored in IDX; use one of {names}")
    if arr.ndim > 255:
        raise ValueError(f"write_idx: IDX stores at most 255 dimensions, got {arr.ndim}")
    code = _CODES[key]
    payload = (
        bytes([0, 0, code, arr.ndim])
        + np.asarray(arr.shape, dtype=">u4").tobytes()
        + np.ascontiguousarray(arr, dtype=IDX_DTYPES[code]).tobytes()
    )
    if compress is None:
        compress = path.suffix == ".gz"
    with open(path, "wb") as fh:
        fh.write(gzip.compress(payload, compresslevel=6) if compress else payload)
    return path
