"""Registry of the image data sets used as DNN workloads, and the loader that picks them.

``mnist`` and ``fashion-mnist`` are four official IDX gzip files each, ``cifar10`` the one
official archive ``cifar-10-python.tar.gz`` (:mod:`archsim.nn.cifar10` turns its batches into
``train.npz`` / ``test.npz`` when it is fetched), each file with its published size, SHA-256 and
MD5 and its public download location. MNIST-like images come from one of two places:

* a data directory -- the ``data_dir`` argument, else the ``ARCHSIM_DATA`` environment
  variable -- holding ``<data_dir>/<name>/<official file names>``, as written by
  ``archsim data fetch NAME --dir DATA_DIR``;
* otherwise the embedded subset shipped in the package, ``archsim/data/<name>-test-500.npz``:
  the first 500 test images and labels, enough for examples and tests.

CIFAR-10 has no embedded subset: it needs the data directory (without it, CIFAR-shaped
designs still run on ``dataset: {name: random}`` for energy, area and latency).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from archsim.nn.errors import DatasetError
from archsim.nn.idx import read_idx_images, read_idx_labels

DATA_ENV_VAR = "ARCHSIM_DATA"
EMBEDDED_COUNT = 500
SPLITS = ("train", "test")

__all__ = [
    "DATASETS",
    "DATA_ENV_VAR",
    "ArchiveSpec",
    "EMBEDDED_COUNT",
    "DatasetSpec",
    "FileSpec",
    "embedded_subset_path",
    "get_dataset",
    "image_shape",
    "load_dataset",
    "resolve_data_dir",
    "source_files",
]


@dataclass(frozen=True)
class FileSpec:
    """One official release file: its name and published size and checksums."""

    name: str
    size: int
    sha256: str
    md5: str


@dataclass(frozen=True)
class DatasetSpec:
    """A data set: its official files per split and where they are published."""

    name: str
    base_url: str
    train_images: FileSpec
    train_labels: FileSpec
    test_images: FileSpec
    test_labels: FileSpec
    citation: str
    shape: tuple[int, int, int] = (1, 28, 28)
    after_fetch: Callable[[Path, Callable[[str], None]], list[Path]] | None = None

    @property
    def files(self) -> tuple[FileSpec, ...]:
        """The four files, in download order."""
        return (self.train_images, self.train_labels, self.test_images, self.test_labels)

    def split_files(self, split: str) -> tuple[FileSpec, FileSpec]:
        """(images, labels) files of ``split`` ("train" or "test")."""
        if split == "train":
            return self.train_images, self.train_labels
        if split == "test":
            return self.test_images, self.test_labels
        raise ValueError(f"split(={split!r}) must be one of {SPLITS}")

    def url(self, file: FileSpec, base_url: str | None = None) -> str:
        """Download URL of ``file`` under ``base_url`` (default: the registry's)."""
        base = base_url or self.base_url
        return base.rstrip("/") + "/" + file.name


# Sizes and SHA-256 as published in tensorflow/datasets url_checksums; MD5 as published by
# torchvision (MNIST) and by zalandoresearch/fashion-mnist.
DATASETS: dict[str, DatasetSpec] = {
    "mnist": DatasetSpec(
        name="mnist",
        base_url="https://ossci-datasets.s3.amazonaws.com/mnist/",
        train_images=FileSpec(
            "train-images-idx3-ubyte.gz",
            9912422,
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        ),
        train_labels=FileSpec(
            "train-labels-idx1-ubyte.gz",
            28881,
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            "d53e105ee54ea40749a09fcbcd1e9432",
        ),
        test_images=FileSpec(
            "t10k-images-idx3-ubyte.gz",
            1648877,
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            "9fb629c4189551a2d022fa330f9573f3",
        ),
        test_labels=FileSpec(
            "t10k-labels-idx1-ubyte.gz",
            4542,
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
            "ec29112dd5afa0611ce80d1b7f02629c",
        ),
        citation="Y. LeCun, C. Cortes, C. J. C. Burges, The MNIST database of handwritten "
        "digits, http://yann.lecun.com/exdb/mnist/",
    ),
    "fashion-mnist": DatasetSpec(
        name="fashion-mnist",
        # the authors' repository holds the same four files (data/fashion/), over https
        base_url="https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/"
        "data/fashion/",
        train_images=FileSpec(
            "train-images-idx3-ubyte.gz",
            26421880,
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
            "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        ),
        train_labels=FileSpec(
            "train-labels-idx1-ubyte.gz",
            29515,
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            "25c81989df183df01b3e8a0aad5dffbe",
        ),
        test_images=FileSpec(
            "t10k-images-idx3-ubyte.gz",
            4422102,
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            "bef4ecab320f06d8554ea6380940ec79",
        ),
        test_labels=FileSpec(
            "t10k-labels-idx1-ubyte.gz",
            5148,
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
            "bb300cfdad3c16e7a12a480ee83cd310",
        ),
        citation="H. Xiao, K. Rasul, R. Vollgraf, Fashion-MNIST: a Novel Image Dataset for "
        "Benchmarking Machine Learning Algorithms, arXiv:1708.07747 (MIT License, "
        "(c) 2017 Zalando SE)",
    ),
}


def _cifar10_after_fetch(folder: Path, say: Callable[[str], None]) -> list[Path]:
    from archsim.nn.cifar10 import convert_archive

    return convert_archive(folder / CIFAR10_ARCHIVE.name, folder, say)


@dataclass(frozen=True)
class ArchiveSpec:
    """A data set published as one archive (CIFAR-10), converted after the fetch."""

    name: str
    base_url: str
    archive: FileSpec
    citation: str
    shape: tuple[int, int, int]
    after_fetch: Callable[[Path, Callable[[str], None]], list[Path]] | None = None

    @property
    def files(self) -> tuple[FileSpec, ...]:
        return (self.archive,)

    def url(self, file: FileSpec, base_url: str | None = None) -> str:
        base = base_url or self.base_url
        return base.rstrip("/") + "/" + file.name


# The official CIFAR-10 "python version" archive: size as served by the CIFAR page, SHA-256
# as published in keras (keras/datasets/cifar10.py), MD5 on the CIFAR-10 page
# (https://www.cs.toronto.edu/~kriz/cifar.html).
CIFAR10_ARCHIVE = FileSpec(
    "cifar-10-python.tar.gz",
    170498071,
    "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
    "c58f30108f718f92721af3b95e74349a",
)
DATASETS["cifar10"] = ArchiveSpec(  # type: ignore[assignment]
    name="cifar10",
    base_url="https://www.cs.toronto.edu/~kriz/",
    archive=CIFAR10_ARCHIVE,
    citation="A. Krizhevsky, Learning Multiple Layers of Features from Tiny Images, "
    "technical report, University of Toronto, 2009",
    shape=(3, 32, 32),
    after_fetch=_cifar10_after_fetch,
)


def image_shape(name: str) -> tuple[int, int, int]:
    """(C, H, W) of the images of the registered data set ``name``."""
    return get_dataset(name).shape


def get_dataset(name: str) -> DatasetSpec:
    """Registry entry of ``name``; ``ValueError`` listing the known names otherwise."""
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(f"dataset(={name!r}) must be one of {sorted(DATASETS)}") from None


def resolve_data_dir(data_dir: str | os.PathLike[str] | None) -> Path | None:
    """The data directory in force: ``data_dir`` if given, else ``$ARCHSIM_DATA``, else None."""
    if data_dir is not None and str(data_dir) != "":
        return Path(data_dir).expanduser()
    env = os.environ.get(DATA_ENV_VAR, "")
    if env:
        return Path(env).expanduser()
    return None


def embedded_subset_path(name: str) -> Path:
    """Path of the embedded subset file of ``name`` inside the installed package."""
    get_dataset(name)
    return Path(str(resources.files("archsim") / "data" / f"{name}-test-{EMBEDDED_COUNT}.npz"))


def _check_range(start: int, count: int | None, available: int, where: str) -> int:
    """Validate ``start``/``count`` against ``available`` items; returns the stop index."""
    if start < 0:
        raise ValueError(f"start(={start}) must be >= 0")
    if count is not None and count < 0:
        raise ValueError(f"count(={count}) must be >= 0")
    stop = available if count is None else start + count
    if start > available or stop > available:
        raise DatasetError(
            f"{where}: requested images [{start}, {stop}) but only {available} are available"
        )
    return stop


def _load_embedded(name: str, split: str, start: int, count: int | None):
    path = embedded_subset_path(name)
    hint = (
        f"the embedded subset holds only the first {EMBEDDED_COUNT} test images; for more, "
        f"set --data-dir or {DATA_ENV_VAR} to a folder filled by "
        f"`archsim data fetch {name} --dir DIR`"
    )
    if split != "test":
        raise DatasetError(f"{path}: no {split!r} split embedded; {hint}")
    if not path.is_file():
        raise DatasetError(f"{path}: embedded subset missing from the package; {hint}")
    with np.load(path, allow_pickle=False) as npz:
        images, labels = npz["images"], npz["labels"]
        meta = json.loads(str(npz["metadata"]))
    try:
        stop = _check_range(start, count, len(images), str(path))
    except DatasetError as exc:
        raise DatasetError(f"{exc}; {hint}") from None
    source = (
        f"embedded subset {path.name} (first {len(images)} images of {name} "
        f"{meta.get('source_images', '?')}), images [{start}, {stop})"
    )
    return images[start:stop].copy(), labels[start:stop].copy(), source


def source_files(name: str, split: str = "test",
                 data_dir: str | os.PathLike[str] | None = None) -> list[Path]:
    """The files :func:`load_dataset` reads for ``name``/``split`` (the data directory's
    images and labels files, or the embedded subset); they need not exist."""
    spec = get_dataset(name)
    root = resolve_data_dir(data_dir)
    if isinstance(spec, ArchiveSpec):
        return [] if root is None else [root / name / f"{split}.npz"]
    if root is None:
        return [embedded_subset_path(name)]
    return [root / name / f.name for f in spec.split_files(split)]


def load_dataset(
    name: str,
    split: str = "test",
    data_dir: str | os.PathLike[str] | None = None,
    start: int = 0,
    count: int | None = None,
) -> tuple[np.ndarray, np.ndarray, str]:
    """Images ``(n, 28, 28)`` uint8 (CIFAR-10: ``(n, 3, 32, 32)``), labels ``(n,)`` uint8 and
    a one-line source description.

    Reads ``<data_dir>/<name>/`` when a data directory is given or set in ``ARCHSIM_DATA``;
    otherwise the embedded 500-image test subset. ``start``/``count`` select a slice.
    """
    spec = get_dataset(name)
    if isinstance(spec, ArchiveSpec):
        from archsim.nn.cifar10 import load_cifar10

        root = resolve_data_dir(data_dir)
        if root is None:
            raise DatasetError(
                f"{name}: no data directory (and no embedded subset of {name}); fetch the "
                f"data set with `archsim data fetch {name} --dir DIR` and pass --data-dir DIR "
                f"or set {DATA_ENV_VAR}"
            )
        images, labels, source = load_cifar10(root / name, split)
        stop = _check_range(start, count, len(images), source)
        return (images[start:stop].copy(), labels[start:stop].copy(),
                f"{source}, images [{start}, {stop})")
    images_file, labels_file = spec.split_files(split)
    root = resolve_data_dir(data_dir)
    if root is None:
        return _load_embedded(name, split, start, count)
    folder = root / name
    missing = [
        folder / f.name for f in (images_file, labels_file) if not (folder / f.name).is_file()
    ]
    if missing:
        raise DatasetError(
            f"{', '.join(str(m) for m in missing)}: not found; fetch the files with "
            f"`archsim data fetch {name} --dir {root}` (or unset --data-dir/{DATA_ENV_VAR} to "
            f"use the embedded {EMBEDDED_COUNT}-image subset)"
        )
    images = read_idx_images(folder / images_file.name)
    labels = read_idx_labels(folder / labels_file.name)
    if len(images) != len(labels):
        raise DatasetError(
            f"{folder}: count mismatch: {len(images)} images in {images_file.name} but "
            f"{len(labels)} labels in {labels_file.name}"
        )
    stop = _check_range(start, count, len(images), str(folder / images_file.name))
    source = f"{folder / images_file.name} ({name} {split}), images [{start}, {stop})"
    return images[start:stop].copy(), labels[start:stop].copy(), source
