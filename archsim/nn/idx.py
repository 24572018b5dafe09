"""Reader for the IDX files of MNIST and Fashion-MNIST (LeCun's format).

An IDX file is a big-endian header followed by a dense uint8 payload:

* magic: two zero bytes, a type byte (0x08 = unsigned byte) and the number of dimensions;
  so 0x00000803 (2051) for images ``(N, 28, 28)`` and 0x00000801 (2049) for labels ``(N,)``;
* one uint32 per dimension (the item count first);
* the payload, ``prod(dims)`` bytes in row-major order.

The files are usually gzip-compressed; the reader detects gzip by its magic bytes (1f 8b),
not by the file name. Every inconsistency raises :class:`DatasetError` naming the file.
"""

from __future__ import annotations

import gzip
import io
import math
import os
import stat
import struct
import zlib
from pathlib import Path

import numpy as np

from archsim.nn.errors import DatasetError

GZIP_MAGIC = b"\x1f\x8b"
IDX_TYPE_UBYTE = 0x08
IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801
IMAGE_ROWS = 28
IMAGE_COLS = 28
N_CLASSES = 10

__all__ = [
    "IMAGES_MAGIC",
    "LABELS_MAGIC",
    "read_idx",
    "read_idx_images",
    "read_idx_labels",
    "write_idx",
]


#: Largest IDX file read, compressed or not (the MNIST training images are 47 MB raw).
MAX_IDX_FILE_BYTES = 256 * 1024**2
#: Largest decompressed content of a gzip IDX file (a gzip bomb stops here).
MAX_IDX_BYTES = 256 * 1024**2


def _read_bytes(path: Path) -> bytes:
    """Whole decompressed content of ``path`` (gzip detected by magic bytes), at most
    :data:`MAX_IDX_BYTES`; a regular file of at most :data:`MAX_IDX_FILE_BYTES`."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found") from None
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read ({exc.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        raise DatasetError(f"{path}: not a regular file (a directory, device, FIFO or socket)")
    if st.st_size > MAX_IDX_FILE_BYTES:
        raise DatasetError(f"{path}: {st.st_size} bytes, more than the {MAX_IDX_FILE_BYTES} "
                           "an IDX file may have")
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_IDX_FILE_BYTES + 1)
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read ({exc.strerror})") from None
    if len(raw) > MAX_IDX_FILE_BYTES:
        raise DatasetError(f"{path}: more than the {MAX_IDX_FILE_BYTES} bytes an IDX file "
                           "may have")
    if raw[:2] != GZIP_MAGIC:
        return raw
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(raw)) as gz:
            data = gz.read(MAX_IDX_BYTES + 1)
    except EOFError as exc:
        raise DatasetError(f"{path}: truncated file (gzip stream ends early: {exc})") from None
    except (gzip.BadGzipFile, zlib.error, OSError) as exc:
        raise DatasetError(f"{path}: corrupted gzip data ({exc})") from None
    if len(data) > MAX_IDX_BYTES:
        raise DatasetError(f"{path}: decompresses to more than {MAX_IDX_BYTES} bytes (a gzip "
                           "bomb, or not an MNIST-sized IDX file)")
    return data


def read_idx(path: str | Path, expected_magic: int | None = None) -> np.ndarray:
    """Read an unsigned-byte IDX file (gzip or raw) into a uint8 array of the header's shape.

    ``expected_magic`` (e.g. :data:`IMAGES_MAGIC`) makes a file of another kind an error.
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise DatasetError(f"{path}: truncated file ({len(data)} bytes, no IDX header)")
    (magic,) = struct.unpack(">I", data[:4])
    zeros, dtype_code, ndim = magic >> 16, (magic >> 8) & 0xFF, magic & 0xFF
    if zeros != 0 or dtype_code != IDX_TYPE_UBYTE or ndim == 0:
        raise DatasetError(
            f"{path}: wrong magic number 0x{magic:08x} (not an unsigned-byte IDX file; "
            f"expected 0x{IMAGES_MAGIC:08x} for images or 0x{LABELS_MAGIC:08x} for labels)"
        )
    if expected_magic is not None and magic != expected_magic:
        raise DatasetError(
            f"{path}: wrong magic number 0x{magic:08x}, expected 0x{expected_magic:08x}"
        )
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise DatasetError(f"{path}: truncated file ({len(data)} bytes, header needs {header_len})")
    dims = struct.unpack(f">{ndim}I", data[4:header_len])
    # every dimension must fit the largest IDX file read, even beside a zero one (dims
    # (0, 3e9, 3e9) hold 0 bytes, but no array of that shape can be made)
    if math.prod(d for d in dims if d) > MAX_IDX_BYTES:
        raise DatasetError(
            f"{path}: bad dims {dims}: the non-zero dimensions multiply to more than "
            f"{MAX_IDX_BYTES} (expected an MNIST-sized IDX file)")
    expected = math.prod(dims)  # Python integers: a product of uint32 dims cannot overflow
    payload = len(data) - header_len
    if payload != expected:
        raise DatasetError(
            f"{path}: count mismatch: header declares dims {dims} ({expected} bytes of "
            f"payload) but the file holds {payload} bytes"
            + (" (truncated file?)" if payload < expected else "")
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header_len).reshape(dims)


def read_idx_images(path: str | Path) -> np.ndarray:
    """Read an IDX image file: uint8 array ``(N, 28, 28)``."""
    arr = read_idx(path, expected_magic=IMAGES_MAGIC)
    if arr.shape[1:] != (IMAGE_ROWS, IMAGE_COLS):
        raise DatasetError(
            f"{Path(path)}: bad dims {arr.shape[1:]} per image, expected "
            f"({IMAGE_ROWS}, {IMAGE_COLS})"
        )
    return arr


def read_idx_labels(path: str | Path) -> np.ndarray:
    """Read an IDX label file: uint8 array ``(N,)`` with values 0-9."""
    arr = read_idx(path, expected_magic=LABELS_MAGIC)
    if arr.size and int(arr.max()) >= N_CLASSES:
        raise DatasetError(f"{Path(path)}: label {int(arr.max())} out of range 0-9")
    return arr


def write_idx(path: str | Path, array: np.ndarray, compress: bool | None = None) -> Path:
    """Write a uint8 array as an IDX file (gzip if ``compress`` or the name ends in .gz).

    Used by tests and tools to make small IDX files; the official files are never rewritten.
    """
    path = Path(path)
    arr = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">I", (IDX_TYPE_UBYTE << 8) | arr.ndim)
    header += struct.pack(f">{arr.ndim}I", *arr.shape)
    blob = header + arr.tobytes()
    if compress is None:
        compress = path.suffix == ".gz"
    path.write_bytes(gzip.compress(blob, mtime=0) if compress else blob)
    return path
