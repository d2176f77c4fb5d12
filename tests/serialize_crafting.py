"""Hand-made deltaprop files for the hostile-file tests: any zip, any .npy header, any JSON."""

from __future__ import annotations

import io
import json
import struct
import zipfile
import zlib

import numpy as np

META = "__deltaprop__.json.npy"


def npy(array) -> bytes:
    """The .npy bytes NumPy writes for ``array``."""
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.asarray(array), allow_pickle=False)
    return buffer.getvalue()


def npy_with_header(header: str, data: bytes = b"", version: tuple[int, int] = (1, 0),
                    declared_length: int | None = None) -> bytes:
    """A .npy whose header text (and, optionally, declared header length) is whatever the test says."""
    raw = header.encode("latin1")
    length = len(raw) if declared_length is None else declared_length
    size = struct.pack("<H" if version == (1, 0) else "<I", length)
    return b"\x93NUMPY" + bytes(version) + size + raw + data


def json_member(document) -> bytes:
    text = document if isinstance(document, bytes) else json.dumps(document).encode()
    return npy(np.frombuffer(text, dtype=np.uint8))


def zip_bytes(members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def deltaprop_file(document, arrays: dict[str, bytes] | None = None) -> bytes:
    """A zip with the JSON document and the given .npy members (keys without '.npy')."""
    members = {f"{key}.npy": data for key, data in (arrays or {}).items()}
    members[META] = json_member(document)
    return zip_bytes(members)


def model_document(architecture, state=None, version: int = 2) -> dict:
    return {"format": "deltaprop", "version": version, "kind": "module", "architecture": architecture,
            "state": state or {}}


def layer(kind: str, **config) -> dict:
    return {"type": kind, "config": config}


def linear_file(in_features: int, out_features: int, with_arrays: bool = False) -> bytes:
    """A model file declaring one Linear; its arrays are present only if asked (then of the right shape)."""
    architecture = layer("Linear", in_features=in_features, out_features=out_features)
    state = {"weight": {"$type": "array", "key": "state/weight"},
             "bias": {"$type": "array", "key": "state/bias"}}
    arrays = {}
    if with_arrays:
        arrays = {"state/weight": npy(np.zeros((out_features, in_features), np.float32)),
                  "state/bias": npy(np.zeros(out_features, np.float32))}
    return deltaprop_file(model_document(architecture, state), arrays)


def many_layers_file(count: int, size: int) -> bytes:
    """A model file declaring ``count`` Linear(size, size) layers and holding none of their weights."""
    layers = [{"$type": "module", **layer("Linear", in_features=size, out_features=size)}
              for _ in range(count)]
    return deltaprop_file(model_document(layer("Sequential", layers=layers)))


def deflated_zeros(megabytes: int, prefix: bytes = b"") -> bytes:
    """A raw deflate stream of ``prefix`` and ``megabytes`` MiB of zeros, built in milliseconds.

    After a full flush the compressor starts afresh, so the bytes for one MiB
    of zeros can be repeated: about 1 KB of stream per MiB of output.
    """
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = compressor.compress(prefix) + compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(bytes(2**20)) + compressor.flush(zlib.Z_FULL_FLUSH)
    assert compressor.compress(bytes(2**20)) + compressor.flush(zlib.Z_FULL_FLUSH) == block
    return head + block * megabytes + compressor.flush()


def raw_zip(members: list[tuple[str, bytes, int, int, int]]) -> bytes:
    """A zip written byte by byte: (name, stored bytes, method, crc, declared uncompressed size) each.

    zipfile cannot write a member whose stream and declared size disagree, or
    one it would take minutes to compress; a hostile file does both.
    """
    body, directory = b"", b""
    for name, data, method, crc, size in members:
        encoded = name.encode()
        fields = struct.pack("<HHHHHIII", 20, 0, method, 0, 0x21, crc, len(data), size)
        directory += struct.pack("<IH", 0x02014B50, 20) + fields + struct.pack(
            "<HHHHHII", len(encoded), 0, 0, 0, 0, 0, len(body)) + encoded
        body += struct.pack("<I", 0x04034B50) + fields + struct.pack("<HH", len(encoded), 0) + encoded + data
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(directory), len(body), 0)
    return body + directory + end


def _crc_with_zeros(prefix: bytes, megabytes: int) -> int:
    crc, chunk = zlib.crc32(prefix), bytes(2**20)
    for _ in range(megabytes):
        crc = zlib.crc32(chunk, crc)
    return crc


def bomb_file(lie_about_size: bool = False) -> bytes:
    """A small tree file plus a ~1 MB deflated .npy member holding a GiB of zeros.

    Honest: the member's header and the zip both declare the GiB, and no entry
    refers to it (an eager reader would still inflate all of it). Lying: both
    declare 3968 bytes and the tree refers to the member, so a reader must
    not trust the stream to stop where the directory says.
    """
    length = 3968 if lie_about_size else 2**30
    header = npy_with_header(f"{{'descr': '|u1', 'fortran_order': False, 'shape': ({length},), }}".ljust(117)
                             + "\n")
    stream = deflated_zeros(1024, prefix=header)
    tree = {"a": {"$type": "array", "key": "bomb"}} if lie_about_size else {"a": 1}
    document = json_member({"format": "deltaprop", "version": 1, "kind": "tree", "tree": tree})
    crc = zlib.crc32(bytes(length), zlib.crc32(header)) if lie_about_size else _crc_with_zeros(header, 1024)
    return raw_zip([
        (META, document, zipfile.ZIP_STORED, zlib.crc32(document), len(document)),
        ("bomb.npy", stream, zipfile.ZIP_DEFLATED, crc, len(header) + length),
    ])
