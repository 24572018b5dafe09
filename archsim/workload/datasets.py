"""The images of a workload: the registered data sets, seeded random images, custom sources.

:func:`load_images` returns an :class:`ImageSet` (uint8 images ``(N, C, H, W)``, labels, class
names, a one-line source) for the workload's ``dataset`` section:

* ``mnist``, ``fashion-mnist``: :func:`archsim.nn.datasets.load_dataset` (a data directory or
  the embedded 500-image test subsets), as ``(N, 1, 28, 28)``;
* ``cifar10``: the same from a data directory filled by ``archsim data fetch cifar10``
  (:mod:`archsim.nn.cifar10`), as ``(N, 3, 32, 32)``;
* ``random``: image i is ``default_rng(derive_seed(seed, "image", i)).integers(0, 256,
  (C, H, W), uint8)``, as ``archsim.run`` draws them; no labels;
* ``custom`` with a **folder**: one subfolder per class (label = the index of its name in
  sorted order), holding ``.png`` / ``.pgm`` / ``.ppm`` / ``.pnm`` files (8-bit: grey is 1
  channel, RGB 3, RGBA 4), read in sorted order with Pillow (a dependency of matplotlib);
  a folder with no subfolders holds unlabelled images; hidden files are skipped, any other
  file is an error;
* ``custom`` with an **.npz**: ``images`` uint8 ``(N, C, H, W)`` or ``(N, H, W)`` (one
  channel), optional ``labels`` (integers >= 0, ``(N,)``), optional ``classes`` (strings),
  optional ``metadata`` (JSON string); nothing else.

Images of any size and channel count are accepted, but they must have the workload's
``input.shape``: a mismatch is a :class:`~archsim.config.errors.ConfigError` at
``dataset.path`` naming the image (or array) and both shapes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from archsim.config.errors import ConfigError
from archsim.config.loader import display_path as _display
from archsim.seeds import derive_seed
from archsim.workload.npz import read_npz
from archsim.workload.workload import Workload

__all__ = ["IMAGE_SUFFIXES", "ImageSet", "load_images", "read_image_file", "read_image_folder",
           "read_image_npz", "random_images"]

#: File name endings read from an image folder.
IMAGE_SUFFIXES = (".png", ".pgm", ".ppm", ".pnm")
_RANDOM_DEFAULT = 10
#: Fashion-MNIST's class names (label order of the official release).
_FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                    "Sneaker", "Bag", "Ankle boot")


@dataclass(frozen=True)
class ImageSet:
    """Images ``(N, C, H, W)`` uint8 (read-only), their ``labels`` (int64 ``(N,)``, or None),
    the ``classes`` names (label i is ``classes[i]``; empty when unknown), the data-set
    index of the first image (``start``) and a one-line ``source``."""

    images: np.ndarray
    labels: np.ndarray | None
    classes: tuple[str, ...]
    source: str
    start: int = 0

    def __len__(self) -> int:
        return len(self.images)


class _Where:
    """Names the workload's dataset.path and input.shape in errors."""

    def __init__(self, workload: Workload | None = None, *, file: str = "",
                 shape: tuple[int, ...] = (), shape_file: str = "") -> None:
        if workload is not None:
            file = workload.origin("dataset", "path")
            shape = workload.input.shape
            shape_file = workload.origin("input", "shape")
        self.file, self.shape, self.shape_file = file, tuple(shape), shape_file

    def error(self, value: object, expected: str) -> ConfigError:
        return ConfigError(self.file, "dataset.path", value, expected)

    def check_shape(self, what: str, shape: tuple[int, ...]) -> None:
        if tuple(shape) != self.shape:
            raise self.error(f"{what} of shape {tuple(shape)}",
                             f"images of shape (C, H, W) = {self.shape}, the input.shape of "
                             f"{self.shape_file}")


def _slice(n: int, start: int, count: int | None, what: str, where: _Where) -> slice:
    stop = n if count is None else start + count
    if start < 0 or (count is not None and count < 0) or stop > n or start > n:
        raise where.error(f"{what}: images [{start}, {stop})",
                          f"a range inside the {n} images the source holds")
    return slice(start, stop)


# --------------------------------------------------------------------------------------------
# folders of image files
# --------------------------------------------------------------------------------------------


#: Largest image file decoded (4096 x 4096 pixels; MNIST images are 28 x 28).
MAX_IMAGE_PIXELS = 4096 * 4096


def read_image_file(path: Path) -> np.ndarray:
    """One 8-bit image as uint8 ``(C, H, W)``; ``ValueError`` for what is not an 8-bit
    grey, grey+alpha, RGB or RGBA image."""
    from PIL import Image, UnidentifiedImageError  # Pillow: a dependency of matplotlib

    if not path.is_file():
        raise ValueError("a regular image file")
    try:
        with Image.open(path) as opened:
            width, height = opened.size  # from the header, before any pixel is decoded
            if width * height > MAX_IMAGE_PIXELS:
                raise ValueError(f"an image of at most {MAX_IMAGE_PIXELS} pixels "
                                 f"({width} x {height} is a decompression bomb or not a "
                                 "network input)")
            opened.load()
            im: Image.Image = opened
            if im.mode == "1":
                im = im.convert("L")
            elif im.mode == "P":
                im = im.convert("RGBA" if "transparency" in im.info else "RGB")
            if im.mode not in ("L", "LA", "RGB", "RGBA"):
                raise ValueError(f"an 8-bit grey or colour image (mode {im.mode!r} is not)")
            a = np.asarray(im, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise ValueError(f"a readable image ({type(exc).__name__})") from None
    return a[None] if a.ndim == 2 else np.ascontiguousarray(a.transpose(2, 0, 1))


def _image_files(folder: Path, where: _Where) -> list[Path]:
    out = []
    for p in sorted(folder.iterdir()):
        if p.name.startswith("."):
            continue
        if p.is_dir():
            raise where.error(_display(p), f"image files only inside the class folder "
                              f"{_display(folder)} (no nested folders)")
        if p.suffix.lower() not in IMAGE_SUFFIXES:
            raise where.error(_display(p), f"an image file ({', '.join(IMAGE_SUFFIXES)})")
        out.append(p)
    return out


def read_image_folder(folder: Path, workload: Workload | _Where, start: int = 0,
                      count: int | None = None) -> ImageSet:
    """The images of ``folder`` (module docstring), images ``[start, start+count)`` of the
    sorted list."""
    where = workload if isinstance(workload, _Where) else _Where(workload)
    subdirs = [p for p in sorted(folder.iterdir()) if p.is_dir() and not p.name.startswith(".")]
    files: list[tuple[Path, int]] = []
    if subdirs:
        loose = [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")]
        if loose:
            raise where.error(_display(sorted(loose)[0]),
                              "class subfolders only in a folder that has class subfolders")
        for label, sub in enumerate(subdirs):
            files.extend((p, label) for p in _image_files(sub, where))
        classes = tuple(p.name for p in subdirs)
    else:
        files = [(p, -1) for p in _image_files(folder, where)]
        classes = ()
    if not files:
        raise where.error(_display(folder), f"a folder holding image files "
                          f"({', '.join(IMAGE_SUFFIXES)})")
    chosen = files[_slice(len(files), start, count, _display(folder), where)]
    images = np.empty((len(chosen), *where.shape), dtype=np.uint8)
    for i, (p, _) in enumerate(chosen):
        try:
            a = read_image_file(p)
        except ValueError as exc:
            raise where.error(_display(p), str(exc)) from None
        where.check_shape(_display(p), a.shape)
        images[i] = a
    labels = np.array([lab for _, lab in chosen], dtype=np.int64) if classes else None
    images.setflags(write=False)
    return ImageSet(images, labels, classes,
                    f"image folder {_display(folder)} ({len(files)} images, "
                    f"{len(classes)} classes), images [{start}, {start + len(chosen)})", start)


# --------------------------------------------------------------------------------------------
# .npz image sets
# --------------------------------------------------------------------------------------------


def read_image_npz(path: Path, workload: Workload | _Where, start: int = 0,
                   count: int | None = None) -> ImageSet:
    """The images of an .npz (module docstring), images ``[start, start+count)``."""
    where = workload if isinstance(workload, _Where) else _Where(workload)
    label = _display(path)
    if not path.is_file():
        raise where.error(label, "a readable .npz file")
    arrays = read_npz(path, label, where.file, "dataset.path")
    extra = sorted(set(arrays) - {"images", "labels", "classes", "metadata"})
    if extra:
        raise ConfigError(label, extra[0], "an unknown array",
                          "only images, labels, classes and metadata in an image .npz")
    if "images" not in arrays:
        raise ConfigError(label, "images", "nothing (the key is missing)",
                          "an array images (N, C, H, W) or (N, H, W) uint8")
    images = arrays["images"]
    if images.dtype != np.uint8:
        raise ConfigError(label, "images", f"dtype {images.dtype}", "uint8 pixels (0..255)")
    if images.ndim == 3:
        images = images[:, None]
    if images.ndim != 4:
        raise ConfigError(label, "images", f"shape {images.shape}",
                          "(N, C, H, W) or (N, H, W)")
    where.check_shape(f"{label}: images", images.shape[1:])
    n = len(images)
    labels = arrays.get("labels")
    if labels is not None:
        if labels.dtype.kind not in "iu" or labels.shape != (n,) or (labels < 0).any():
            raise ConfigError(label, "labels", f"dtype {labels.dtype}, shape {labels.shape}",
                              f"integer labels >= 0 of shape ({n},)")
        labels = labels.astype(np.int64)
    classes: tuple[str, ...] = ()
    if "classes" in arrays:
        c = arrays["classes"]
        if c.dtype.kind != "U" or c.ndim != 1:
            raise ConfigError(label, "classes", f"dtype {c.dtype}, shape {c.shape}",
                              "a 1-D array of class names (strings)")
        classes = tuple(str(x) for x in c)
        if labels is not None and n and labels.max() >= len(classes):
            raise ConfigError(label, "labels", int(labels.max()),
                              f"labels below the {len(classes)} class names")
    sl = _slice(n, start, count, label, where)
    out = np.ascontiguousarray(images[sl])
    out.setflags(write=False)
    return ImageSet(out, labels[sl].copy() if labels is not None else None, classes,
                    f"{label} ({n} images), images [{start}, {start + len(out)})", start)


# --------------------------------------------------------------------------------------------
# the entry point
# --------------------------------------------------------------------------------------------


def random_images(shape: tuple[int, ...], seed: int, start: int, count: int) -> np.ndarray:
    """Images ``start .. start+count-1`` of the seeded random data set, ``(count, *shape)``."""
    out = np.empty((count, *shape), dtype=np.uint8)
    for k, i in enumerate(range(start, start + count)):
        rng = np.random.default_rng(derive_seed(seed, "image", i))
        out[k] = rng.integers(0, 256, size=shape, dtype=np.uint8)
    return out


def load_custom_images(path: str | os.PathLike[str], shape: tuple[int, ...], start: int = 0,
                       count: int | None = None, file: str = "<config>") -> ImageSet:
    """A custom data set (a folder of images in class subfolders, or an image .npz) for a
    network whose input is ``shape``; errors name ``file``'s ``dataset.path``."""
    where = _Where(file=file, shape=shape, shape_file=file)
    p = Path(path)
    if p.is_dir():
        return read_image_folder(p, where, start, count)
    return read_image_npz(p, where, start, count)


def load_images(workload: Workload, start: int | None = None, count: int | None = None,
                data_dir: str | os.PathLike[str] | None = None) -> ImageSet:
    """The images of the workload's data set, ``[start, start+count)`` (defaults:
    ``dataset.start`` and ``dataset.images``; all images of a finite source, 10 random
    images). ``data_dir`` is passed to :func:`archsim.nn.datasets.load_dataset`."""
    ds = workload.dataset
    start = ds.start if start is None else start
    count = ds.images if count is None else count
    if start < 0 or (count is not None and count < 0):
        raise ValueError(f"start(={start}) and count(={count}) must be >= 0")
    if ds.name == "random":
        n = _RANDOM_DEFAULT if count is None else count
        images = random_images(workload.input.shape, ds.seed, start, n)
        images.setflags(write=False)
        return ImageSet(images, None, (), f"random images (seed {ds.seed}), images "
                        f"[{start}, {start + n})", start)
    if ds.name == "custom":
        assert ds.path is not None
        if ds.path.is_dir():
            return read_image_folder(ds.path, workload, start, count)
        return read_image_npz(ds.path, workload, start, count)
    from archsim.nn.datasets import load_dataset

    images, labels, source = load_dataset(ds.name, split=ds.split, data_dir=data_dir,
                                          start=start, count=count)
    images = np.ascontiguousarray(images.reshape(len(images), *workload.input.shape))
    images.setflags(write=False)
    classes: tuple[str, ...]
    if ds.name == "cifar10":
        from archsim.nn.cifar10 import CLASSES as classes
    else:
        classes = _FASHION_CLASSES if ds.name == "fashion-mnist" else tuple(map(str, range(10)))
    return ImageSet(images, labels.astype(np.int64), classes, source, start)
