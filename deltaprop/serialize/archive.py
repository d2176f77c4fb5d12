"""Reading a deltaprop file that may be damaged or hostile, without trusting a byte before it is checked.

The order of the checks is the design:

1. The path must be a regular file (checked on the open descriptor, opened
   non-blocking, so a FIFO or a device is refused instead of hanging).
2. The zip's central directory is read (it is smaller than the file), and
   the uncompressed sizes it declares must add up to at most ``limit`` bytes,
   by default ``BUDGET_FACTOR`` times the file's real size plus
   ``BUDGET_SLACK``: ``np.savez`` stores arrays uncompressed, so a real
   deltaprop file's arrays are about as big as the file, while a zip bomb's
   are thousands of times bigger.
3. The JSON document is read with its size bounded and its nesting depth
   counted (`json_depth`) before ``json.loads`` recurses into it.
4. An array is only read when the document refers to it. Its ``.npy`` header
   is read first, on its own (a few hundred bytes): the dtype must be real
   floating, integer or bool, and the entry's size in the zip must be exactly
   header plus ``shape x itemsize``, so what is later allocated is what the
   file really holds. The data is then read in bounded chunks into an array
   of that size, and the zip's CRC is checked at the end.

Every failure is a `ModelFileError` naming the file; `reading` turns the
errors of the zip, zlib and JSON layers into one.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import math
import os
import stat
import struct
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from deltaprop.errors import ModelFileError
from deltaprop.serialize.values import ARRAY_KINDS

META_KEY = "__deltaprop__.json"
BUDGET_FACTOR = 4  # bytes a file may make `load` allocate, per byte of the file ...
BUDGET_SLACK = 8 * 2**20  # ... plus this (non-persistent buffers, small files)
MAX_JSON_BYTES = 64 * 2**20
MAX_JSON_DEPTH = 100
MAX_NPY_HEADER = 10_000  # NumPy's own bound for a safe header
_CHUNK = 2**20


def default_limit(file_size: int) -> int:
    return BUDGET_FACTOR * file_size + BUDGET_SLACK


@dataclass(frozen=True)
class Entry:
    """One array of the zip as its header declares it (checked against the zip's own size)."""

    key: str
    shape: tuple[int, ...]
    dtype: np.dtype
    fortran_order: bool
    data_offset: int
    info: zipfile.ZipInfo

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize


class Archive:
    """An open deltaprop file; see the module docstring for what is checked, and when."""

    def __init__(self, path: str | os.PathLike, operation: str, max_bytes: int | None = None) -> None:
        self.path, self.operation = os.fspath(path), operation
        self._file, size = _open_regular_file(self.path, operation)
        self._entries: dict[str, Entry] = {}
        try:
            self.limit = default_limit(size) if max_bytes is None else int(max_bytes)
            self._check_magic()
            self._zip = zipfile.ZipFile(self._file)
            self._members = self._directory()
        except BaseException:
            self._file.close()
            raise

    def close(self) -> None:
        with contextlib.suppress(AttributeError):
            self._zip.close()
        self._file.close()

    def error(self, problem: str) -> ModelFileError:
        return ModelFileError(f"{self.operation}: '{self.path}' {problem}", path=self.path)

    # ------------------------------------------------------------------ what the file is
    def _check_magic(self) -> None:
        magic = self._file.read(8)
        self._file.seek(0)
        if magic.startswith(b"\x93NUMPY"):
            if _read_npy_header(self._file, self.error)[1].hasobject:
                raise self.error(
                    "is a single .npy array of pickled Python objects; refusing it: deltaprop files never "
                    "hold pickled data, and unpickling could run code"
                )
            raise self.error("is a single .npy array, not a deltaprop .npz file")
        if magic[:1] == b"\x80":
            raise self.error(
                "is a Python pickle; refusing it: unpickling could run code, and deltaprop files never "
                "hold pickled data"
            )
        if not magic.startswith(b"PK\x03\x04"):
            raise self.error(
                "is not a deltaprop file (expected the .npz archive deltaprop.save writes; it starts "
                f"with {magic[:6]!r})"
            )

    def _directory(self) -> dict[str, zipfile.ZipInfo]:
        infos = self._zip.infolist()
        members = {info.filename: info for info in infos}
        if len(members) != len(infos):
            raise self.error("is a zip that names an entry twice, which deltaprop.save never writes")
        declared = sum(info.file_size for info in infos)
        if declared > self.limit:
            raise self.error(
                f"declares {declared:,} bytes of uncompressed data in a {self._size():,}-byte file (the "
                f"limit is {self.limit:,}); deltaprop stores arrays uncompressed, so this is not a "
                "deltaprop file or it was crafted as a zip bomb. If you trust it, pass a larger max_bytes"
            )
        if META_KEY + ".npy" not in members:
            raise self.error(
                f"is an .npz without the '{META_KEY}' entry, so not a deltaprop file; read plain arrays "
                "with numpy.load(path, allow_pickle=False)"
            )
        return members

    def _size(self) -> int:
        return os.fstat(self._file.fileno()).st_size

    # ------------------------------------------------------------------ the JSON document
    def document(self) -> dict[str, Any]:
        entry = self.entry(META_KEY)
        if entry.dtype != np.uint8 or len(entry.shape) != 1:
            raise self.error(f"has a '{META_KEY}' entry of dtype {entry.dtype}, shape {entry.shape}")
        if entry.nbytes > MAX_JSON_BYTES:
            raise self.error(f"has a {entry.nbytes:,}-byte JSON document (at most {MAX_JSON_BYTES:,})")
        raw = self.read(META_KEY).tobytes()
        depth = json_depth(raw)
        if depth > MAX_JSON_DEPTH:
            raise self.error(f"has a JSON document nested {depth} deep (at most {MAX_JSON_DEPTH})")
        try:
            document = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise self.error(f"has a damaged JSON document ({exc})") from None
        if not isinstance(document, dict) or document.get("format") != "deltaprop":
            raise self.error("does not hold a deltaprop document")
        return document

    # ------------------------------------------------------------------ arrays
    def entry(self, key: str) -> Entry:
        """The checked header of the array ``key`` (nothing of its data is read)."""
        if key in self._entries:
            return self._entries[key]
        info = self._members.get(f"{key}.npy")
        if info is None:
            raise self.error(f"refers to an array '{key}' that the file does not contain")
        with self._zip.open(info) as member:
            offset, dtype, shape, fortran = _read_npy_header(member, self.error)
        if dtype.hasobject:
            raise self.error(
                f"is refused: entry '{key}' holds pickled Python objects; deltaprop files never do, and "
                "unpickling could run code"
            )
        if dtype.kind not in ARRAY_KINDS or dtype.fields is not None or dtype.subdtype is not None:
            raise self.error(
                f"has an array '{key}' of dtype {dtype}; deltaprop files hold real floating, integer and "
                "bool arrays only"
            )
        if any(n < 0 for n in shape):
            raise self.error(f"has an array '{key}' of negative shape {shape}")
        entry = Entry(key, shape, dtype, fortran, offset, info)
        if offset + entry.nbytes != info.file_size:
            raise self.error(
                f"has an array '{key}' whose header declares shape {shape} of {dtype} ({entry.nbytes:,} "
                f"bytes) but whose zip entry holds {info.file_size - offset:,} bytes: truncated or crafted"
            )
        self._entries[key] = entry
        return entry

    def read(self, key: str, out: np.ndarray | None = None) -> np.ndarray:
        """The array ``key``, read in bounded chunks into exactly the memory its checked header declares.

        With ``out`` (a C-contiguous array of the entry's exact shape and
        dtype, see `fits`) the data goes straight into it, with no copy.
        """
        entry = self.entry(key)
        if out is not None and not self.fits(key, out):
            raise ValueError(f"read: '{key}' does not fit the array given")
        array = out if out is not None else np.empty(
            entry.shape[::-1] if entry.fortran_order else entry.shape, dtype=entry.dtype)
        target = array.reshape(-1).view(np.uint8).data
        with self._zip.open(entry.info) as member:
            member.read(entry.data_offset)
            filled = 0
            while filled < entry.nbytes:
                chunk = member.read(min(_CHUNK, entry.nbytes - filled))
                if not chunk:
                    raise self.error(f"has an array '{key}' that ends early: the file is truncated")
                target[filled:filled + len(chunk)] = chunk
                filled += len(chunk)
            if member.read(1):  # also makes zipfile check the CRC
                raise self.error(f"has an array '{key}' with more bytes than its header declares")
        return array.T if entry.fortran_order else array

    def fits(self, key: str, array: Any) -> bool:
        """Whether the entry ``key`` can be read straight into ``array`` (`read` with ``out``)."""
        entry = self.entry(key)
        return (
            isinstance(array, np.ndarray) and array.flags.c_contiguous and array.flags.writeable
            and array.dtype == entry.dtype and array.shape == entry.shape and not entry.fortran_order
        )


def _open_regular_file(path: str, operation: str) -> tuple[io.BufferedReader, int]:
    """Open ``path`` for reading, refusing anything but a regular file before a read could block."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        descriptor = os.open(path, flags)
    except FileNotFoundError:
        raise FileNotFoundError(errno.ENOENT, f"{operation}: no such file", path) from None
    except (IsADirectoryError, PermissionError):
        if os.path.isdir(path):
            raise ModelFileError(f"{operation}: '{path}' is a directory, not a file", path=path) from None
        raise
    try:
        status = os.fstat(descriptor)
    except BaseException:
        os.close(descriptor)
        raise
    if not stat.S_ISREG(status.st_mode):
        os.close(descriptor)
        raise ModelFileError(
            f"{operation}: '{path}' is {_kind_of(status.st_mode)}, not a regular file; {operation} reads "
            "the files deltaprop.save writes",
            path=path,
        )
    return os.fdopen(descriptor, "rb"), status.st_size


def _kind_of(mode: int) -> str:
    kinds = [(stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
             (stat.S_ISSOCK, "a socket")]
    return next((name for test, name in kinds if test(mode)), "not a regular file")


def _read_npy_header(stream: Any, fail: Callable[[str], ModelFileError]) -> tuple[int, np.dtype, tuple, bool]:
    """(data offset, dtype, shape, fortran order) of the .npy at the stream's start; reads only the header."""
    prefix = stream.read(8)
    if len(prefix) < 8 or prefix[:6] != b"\x93NUMPY":
        raise fail("holds an entry that is not a .npy array")
    version = (prefix[6], prefix[7])
    length_format = {(1, 0): "<H", (2, 0): "<I"}.get(version)
    if length_format is None:
        raise fail(
            f"holds a .npy entry of format version {version}, which deltaprop never writes (version 3 "
            "exists only for structured dtypes)"
        )
    length_bytes = stream.read(struct.calcsize(length_format))
    if len(length_bytes) != struct.calcsize(length_format):
        raise fail("holds a truncated .npy header")
    (length,) = struct.unpack(length_format, length_bytes)
    if length > MAX_NPY_HEADER:
        raise fail(f"holds a .npy header of {length:,} bytes (at most {MAX_NPY_HEADER:,})")
    header = stream.read(length)
    if len(header) != length:
        raise fail("holds a truncated .npy header")
    reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    try:
        shape, fortran, dtype = reader(io.BytesIO(length_bytes + header), max_header_size=MAX_NPY_HEADER)
    except Exception as exc:  # NumPy's parser fails in many ways (ValueError, SyntaxError, TokenError, ...)
        raise fail(f"holds a damaged .npy header ({type(exc).__name__}: {exc})") from None
    return 8 + len(length_bytes) + length, dtype, tuple(shape), bool(fortran)


# --------------------------------------------------------------------------- JSON depth

_BRACKETS = np.zeros(256, dtype=np.int8)
_BRACKETS[[ord("["), ord("{")]] = 1
_BRACKETS[[ord("]"), ord("}")]] = -1
_BRACKETS[ord('"')] = 2


def json_depth(raw: bytes) -> int:
    """How deep the JSON text ``raw`` nests, counted in C-speed passes without parsing it.

    Escaped backslashes and quotes are removed first (left to right, as a
    JSON reader pairs them), so the quotes left delimit the strings, and
    brackets between an odd and an even quote are text, not structure. On
    malformed text the count can be off, but only past the point where
    ``json.loads`` stops with an error anyway.
    """
    cleaned = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    kinds = _BRACKETS[np.frombuffer(cleaned, dtype=np.uint8)]
    marks = kinds[np.flatnonzero(kinds)]
    quotes = marks == 2
    outside = (np.cumsum(quotes, dtype=np.int32) & 1) == 0
    steps = np.where(quotes | ~outside, 0, marks).astype(np.int32)
    return int(np.cumsum(steps).max(initial=0))


# --------------------------------------------------------------------------- one error type

@contextlib.contextmanager
def reading(path: str | os.PathLike, operation: str, max_bytes: int | None) -> Iterator[Archive]:
    """An open `Archive`; whatever breaks while reading it becomes a `ModelFileError` naming the file.

    Errors of the machine rather than the file (out of memory, a missing or
    unreadable file, I/O errors) pass through unchanged.
    """
    archive = None
    try:
        archive = Archive(path, operation, max_bytes)
        yield archive
    except (ModelFileError, MemoryError):
        raise
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, None):
            raise
        raise _damaged(path, operation, exc) from exc
    except Exception as exc:  # zipfile, zlib, json, struct and decoding errors: the file's fault
        raise _damaged(path, operation, exc) from exc
    finally:
        if archive is not None:
            archive.close()


def _damaged(path: str | os.PathLike, operation: str, exc: BaseException) -> ModelFileError:
    return ModelFileError(
        f"{operation}: '{os.fspath(path)}' is damaged or not a deltaprop file ({type(exc).__name__}: {exc})",
        path=os.fspath(path),
    )
