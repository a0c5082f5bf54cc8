"""Read and write IDX files (the MNIST format), plain or gzip-compressed, with checks.

Layout: 2 zero bytes, a type code (0x08 = uint8), the number of dimensions, then each
dimension as a big-endian uint32, then the data.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from rnnlab.errors import DataError

_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09}


GZIP_MAGIC = b"\x1f\x8b"


def read_bytes(path: Path) -> bytes:
    """The file's content, decompressed when it is gzip: named .gz, or gzip inside whatever
    its name (`curl -o train-images-idx3-ubyte URL.gz`), as the download's checksum accepts
    it. An IDX file starts with two zero bytes, so the two never mix up."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror}") from None
    # a .gz name whose content starts as IDX does (a file gunzipped but not renamed) is
    # read as it is; anything else under a .gz name goes to gzip, which says what is wrong
    if raw[:2] != GZIP_MAGIC and (path.suffix != ".gz" or raw[:2] == b"\x00\x00"):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(
            f"{path} is truncated or not a valid gzip file ({exc}); delete it and "
            "download it again (--download)"
        ) from None


def parse_idx(data: bytes, origin: str = "IDX data") -> np.ndarray:
    """Decode IDX bytes into an array, checking the magic number and the size."""
    if len(data) < 4:  # an empty file, or one cut short in its first bytes
        raise DataError(
            f"{origin} is empty or truncated ({len(data)} bytes); delete it and download it "
            "again (--download)"
        )
    if data[0] != 0 or data[1] != 0 or data[2] not in _DTYPES:
        raise DataError(f"{origin} is not an IDX file (wrong magic number); is it the right file?")
    ndim = data[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise DataError(
            f"{origin} has a truncated IDX header; delete it and download it again (--download)"
        )
    dims = struct.unpack(f">{ndim}I", data[4:header])
    dtype = np.dtype(_DTYPES[data[2]])
    # math.prod on Python ints: numpy's int64 product wraps around (65536**4 is 0 there),
    # which would let a crafted header pass the size check
    expected = header + math.prod(dims) * dtype.itemsize
    if len(data) != expected:
        raise DataError(
            f"{origin} is truncated or corrupt: {len(data)} bytes where its header "
            f"{tuple(dims)} needs {expected}; delete it and download it again (--download)"
        )
    # A copy: frombuffer over bytes is read-only, and torch wants writable memory.
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(dims).copy()


def read_idx(path: str | Path) -> np.ndarray:
    path = Path(path)
    return parse_idx(read_bytes(path), str(path))


def encode_idx(array: np.ndarray) -> bytes:
    array = np.ascontiguousarray(array)
    if array.dtype not in _CODES:
        raise ValueError(f"IDX writing supports uint8 and int8, not {array.dtype}")
    head = bytes([0, 0, _CODES[array.dtype], array.ndim]) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    return head + array.tobytes()


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Write an IDX file; gzip-compressed when the name ends in .gz (used by tests)."""
    path = Path(path)
    data = encode_idx(array)
    path.write_bytes(gzip.compress(data, mtime=0) if path.suffix == ".gz" else data)
