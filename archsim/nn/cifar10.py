"""CIFAR-10: the official "python version" archive turned into two plain ``.npz`` files.

The archive ``cifar-10-python.tar.gz`` (A. Krizhevsky, 2009) holds ``cifar-10-batches-py/``
with ``data_batch_1`` .. ``data_batch_5`` (the 50,000 training images) and ``test_batch``
(10,000 test images), each a pickled dict: ``data`` a uint8 array ``(N, 3072)`` (1024 red,
then 1024 green, then 1024 blue values per image, rows top to bottom) and ``labels`` a list of
N class indices 0..9 (:data:`CLASSES`).

Pickles can run code, so they are read only here, only from the archive whose SHA-256 was
just checked against the official one, member by member from the tar (nothing is extracted,
so no member path is ever written), with an unpickler that resolves no global except the
ones NumPy needs to rebuild an array (and ``_codecs.encode``, str to bytes); everything read
is then checked (dtype, shape, label range).  :func:`convert_archive` writes ``train.npz``
and ``test.npz`` (``images`` uint8 ``(N, 3, 32, 32)``, ``labels`` uint8 ``(N,)``,
``metadata``) atomically beside the archive; the run-time loader :func:`load_cifar10` reads
only those, with ``allow_pickle=False``.
"""

from __future__ import annotations

import io
import json
import pickle
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from archsim.nn.errors import DatasetError

__all__ = ["CLASSES", "IMAGE_SHAPE", "convert_archive", "load_cifar10", "read_batch"]

IMAGE_SHAPE = (3, 32, 32)
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
           "truck")
_FOLDER = "cifar-10-batches-py"
SPLIT_MEMBERS = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)),
                 "test": ("test_batch",)}
#: a batch of 10,000 images is 30.7 MB pickled; anything far larger is not a CIFAR batch
_MAX_MEMBER_BYTES = 64 << 20
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),  # how protocol-2 pickles written by Python 3 spell bytes
}


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Resolves only the globals that rebuild a NumPy array; any other is an error."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a CIFAR batch")


def read_batch(blob: bytes, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(N, 3, 32, 32)`` uint8 and labels ``(N,)`` uint8 of one pickled batch."""
    try:
        d = _ArrayOnlyUnpickler(io.BytesIO(blob), encoding="bytes").load()
    except Exception as e:  # noqa: BLE001 - any malformed pickle is a bad archive
        raise DatasetError(f"{where}: not a CIFAR-10 batch ({type(e).__name__}: {e})") from None
    if not isinstance(d, dict):
        raise DatasetError(f"{where}: not a CIFAR-10 batch (a {type(d).__name__}, not a dict)")
    data = d.get(b"data", d.get("data"))
    labels = d.get(b"labels", d.get("labels"))
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 \
            or data.shape[1] != 3072:
        raise DatasetError(f"{where}: 'data' is not a uint8 array (N, 3072)")
    lab = np.asarray(labels)
    if lab.shape != (len(data),) or lab.dtype.kind not in "iu" or (
            lab.size and (lab.min() < 0 or lab.max() >= len(CLASSES))):
        raise DatasetError(f"{where}: 'labels' are not {len(data)} class indices 0..9")
    return data.reshape(len(data), *IMAGE_SHAPE).copy(), lab.astype(np.uint8)


def _members(archive: Path) -> dict[str, bytes]:
    want = {f"{_FOLDER}/{m}" for ms in SPLIT_MEMBERS.values() for m in ms}
    got: dict[str, bytes] = {}
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for info in tar:
                if info.name not in want:
                    continue
                if not info.isfile() or info.size > _MAX_MEMBER_BYTES:
                    raise DatasetError(f"{archive}: member {info.name} is not a batch file")
                f = tar.extractfile(info)
                assert f is not None
                got[info.name] = f.read()
    except (tarfile.TarError, OSError, EOFError) as e:
        raise DatasetError(f"{archive}: not a readable tar.gz ({e})") from None
    missing = sorted(want - set(got))
    if missing:
        raise DatasetError(f"{archive}: missing {', '.join(missing)} (not the CIFAR-10 "
                           "python-version archive)")
    return got


def convert_archive(archive: Path, folder: Path,
                    say: Callable[[str], None] | None = None) -> list[Path]:
    """Write ``folder/train.npz`` and ``folder/test.npz`` from the (verified) archive."""
    from archsim.nn.fetch import sha256_file
    from archsim.outputs.atomic import atomic_open

    digest = sha256_file(archive)
    members = _members(archive)
    paths = []
    for split, names in SPLIT_MEMBERS.items():
        parts = [read_batch(members[f"{_FOLDER}/{m}"], f"{archive}:{m}") for m in names]
        images = np.concatenate([p[0] for p in parts])
        labels = np.concatenate([p[1] for p in parts])
        meta = {"source": archive.name, "archive_sha256": digest, "split": split,
                "members": list(names), "images": len(images)}
        path = folder / f"{split}.npz"
        with atomic_open(path, "wb") as f:
            np.savez_compressed(f, images=images, labels=labels, metadata=json.dumps(meta))
        if say is not None:
            say(f"{path}: {len(images)} {split} images")
        paths.append(path)
    return paths


def load_cifar10(folder: Path, split: str = "test") -> tuple[np.ndarray, np.ndarray, str]:
    """Images ``(N, 3, 32, 32)`` uint8, labels ``(N,)`` uint8 and a source description read
    from ``folder/<split>.npz`` (written by ``archsim data fetch cifar10``)."""
    if split not in SPLIT_MEMBERS:
        raise ValueError(f"split(={split!r}) must be one of {tuple(SPLIT_MEMBERS)}")
    path = folder / f"{split}.npz"
    if not path.is_file():
        raise DatasetError(f"{path}: not found; fetch the data set with `archsim data fetch "
                           f"cifar10 --dir {folder.parent}`")
    try:
        with np.load(path, allow_pickle=False) as z:
            images, labels = z["images"], z["labels"]
    except (OSError, ValueError, KeyError, EOFError) as e:
        raise DatasetError(f"{path}: not a readable CIFAR-10 .npz ({e}); fetch it again with "
                           f"`archsim data fetch cifar10 --dir {folder.parent}`") from None
    if images.dtype != np.uint8 or images.shape[1:] != IMAGE_SHAPE \
            or labels.shape != (len(images),) or labels.dtype != np.uint8:
        raise DatasetError(f"{path}: expected images uint8 (N, 3, 32, 32) and N uint8 labels")
    if labels.size and int(labels.max()) >= len(CLASSES):
        raise DatasetError(f"{path}: label {int(labels.max())} out of range 0-9")
    return images, labels, f"{path} (cifar10 {split})"
