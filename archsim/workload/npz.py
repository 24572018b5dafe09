"""Reading an ``.npz`` archive (model weights, image sets) that archsim does not trust.

Every array is checked before it is read: the archive is a regular file of at most
:data:`MAX_NPZ_BYTES`, a zip holding ``.npy`` members only; each member's header is read first
and its shape x dtype must match the member's size and stay below :data:`MAX_ARRAY_BYTES` (a
header that claims a terabyte, or a compressed member that would inflate past the limit, is
refused before anything is allocated); object arrays are never unpickled
(``allow_pickle=False``).  Problems are :class:`~archsim.config.errors.ConfigError` naming the
file and the array.
"""

from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path

import numpy as np

from archsim.config.errors import ConfigError

__all__ = ["MAX_ARRAY_BYTES", "MAX_NPZ_BYTES", "read_npz"]

#: Largest .npz file read (the shipped LeNet-5 models are 200 KB; MNIST as an .npz is 8 MB).
MAX_NPZ_BYTES = 512 * 1024**2
#: Largest array inside an .npz once decompressed.
MAX_ARRAY_BYTES = 1024**3


def _header(zf: zipfile.ZipFile, info: zipfile.ZipInfo, label: str) -> None:
    """Refuse a member whose header does not describe a plain array of its own size."""
    key = info.filename.removesuffix(".npy")
    if not info.filename.endswith(".npy"):
        raise ConfigError(label, key, "a member that is not an .npy array",
                          "an .npz written by numpy.savez (only .npy members)")
    if info.file_size > MAX_ARRAY_BYTES:
        raise ConfigError(label, key, f"an array of {info.file_size} bytes",
                          f"an array of at most {MAX_ARRAY_BYTES} bytes")
    try:
        with zf.open(info) as fh:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
            offset = fh.tell()
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, RuntimeError) as exc:
        raise ConfigError(label, key, "an unreadable array header",
                          f"an .npy array ({type(exc).__name__})") from None
    if dtype.hasobject:
        raise ConfigError(label, key, f"an array of dtype {dtype}",
                          "a numeric array (object arrays are not read: allow_pickle=False)")
    count = 1
    for n in shape:
        count *= int(n)
    nbytes = count * dtype.itemsize
    if nbytes > MAX_ARRAY_BYTES or nbytes != info.file_size - offset:
        raise ConfigError(label, key, f"a header of shape {tuple(shape)} {dtype} "
                          f"({nbytes} bytes) in a member of {info.file_size - offset} bytes",
                          f"a header matching its data, at most {MAX_ARRAY_BYTES} bytes")


def read_npz(path: Path, label: str, owner: str, key_path: str) -> dict[str, np.ndarray]:
    """Every array of the .npz ``path`` (module docstring).  A file that is not an .npz at all
    is an error of ``owner`` (the file naming it) at ``key_path``; a bad array is an error of
    ``label`` (the .npz) naming the array."""
    shown = str(path)
    try:
        st = os.stat(path)
    except OSError as exc:
        raise ConfigError(owner, key_path, shown,
                          f"an existing, readable .npz file ({exc.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(owner, key_path, shown, "an .npz that is a regular file")
    if st.st_size > MAX_NPZ_BYTES:
        raise ConfigError(owner, key_path, shown, f"an .npz of at most {MAX_NPZ_BYTES} bytes "
                          f"(this one has {st.st_size})")
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise ConfigError(owner, key_path, shown,
                          f"a readable .npz file written by numpy.savez ({exc})") from None
    with zf:
        infos = zf.infolist()
        if not infos:
            raise ConfigError(owner, key_path, shown, "an .npz holding arrays (it is empty)")
        for info in infos:
            _header(zf, info, label)
    try:
        npz = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise ConfigError(owner, key_path, shown,
                          f"a readable .npz file written by numpy.savez ({exc})") from None
    if not isinstance(npz, np.lib.npyio.NpzFile):  # pragma: no cover - a zip always is
        raise ConfigError(owner, key_path, shown, "an .npz archive")
    with npz:
        return {key: _member(npz, key, label) for key in npz.files}


def _member(npz: np.lib.npyio.NpzFile, key: str, label: str) -> np.ndarray:
    try:
        return np.asarray(npz[key])
    except ValueError:
        raise ConfigError(label, key, "an object array",
                          "a numeric array (object arrays are not read: allow_pickle=False)"
                          ) from None
    except (OSError, zipfile.BadZipFile, EOFError, RuntimeError) as exc:
        raise ConfigError(label, key, "unreadable data",
                          f"an intact array ({type(exc).__name__})") from None
