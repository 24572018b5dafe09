"""What a sweep point's result depends on besides its resolved configuration.

A point folder is reused when its key matches, so the key must change whenever the result
could: the resolved configuration, the seed and the image count (:mod:`archsim.sweep.runner`)
and, from here, the **content** of the model file (its SHA-256, not its name: a retrained
model under the same path is another point), the **data source** (which files the images come
from, by content: the embedded subset, a data directory's IDX files, a custom ``.npz`` or image
folder) and the **archsim version** (a new version may model the hardware differently).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from archsim import __version__
from archsim.config.schema import DesignConfig

__all__ = ["file_digest", "inputs_fingerprint"]

_CHUNK = 1 << 20


def file_digest(path: Path, cache: dict[tuple[str, int, int], str] | None = None) -> str:
    """SHA-256 of the file's content ("missing" if it cannot be read); ``cache`` reuses the
    digest of a file whose path, size and modification time are unchanged."""
    try:
        st = path.stat()
    except OSError:
        return "missing"
    tag = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if cache is not None and tag in cache:
        return cache[tag]
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(_CHUNK), b""):
                h.update(block)
    except OSError:
        return "unreadable"
    digest = h.hexdigest()
    if cache is not None:
        cache[tag] = digest
    return digest


def _tree_digest(folder: Path, cache: dict[tuple[str, int, int], str] | None) -> str:
    h = hashlib.sha256()
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            p = Path(root) / name
            h.update(f"{p.relative_to(folder).as_posix()}\0{file_digest(p, cache)}\n".encode())
    return h.hexdigest()


def _model(cfg: DesignConfig, cache: dict[tuple[str, int, int], str] | None) -> dict[str, str]:
    weights = cfg.model.weights
    if weights == "random":
        return {"weights": "random"}
    if weights.startswith("builtin:"):
        from archsim.workload.models import builtin_model_path

        try:
            path = builtin_model_path(weights.split(":", 1)[1])
        except Exception:  # noqa: BLE001 - an unknown name fails the point's own checks
            return {"weights": weights, "sha256": "unresolved"}
    else:
        path = Path(weights)
    return {"weights": weights, "sha256": file_digest(Path(path), cache)}


def _data(cfg: DesignConfig, data_dir: str | None,
          cache: dict[tuple[str, int, int], str] | None) -> dict[str, Any]:
    ds = cfg.dataset
    if ds.name == "random":
        return {"name": "random"}
    if ds.name == "custom":
        p = Path(str(ds.path))
        digest = _tree_digest(p, cache) if p.is_dir() else file_digest(p, cache)
        return {"name": "custom", "sha256": digest}
    from archsim.nn.datasets import source_files

    try:
        files = source_files(ds.name, "test", data_dir)
    except ValueError:
        return {"name": ds.name, "files": "unresolved"}
    return {"name": ds.name, "files": {f.name: file_digest(f, cache) for f in files}}


def inputs_fingerprint(cfg: DesignConfig, data_dir: str | None,
                       cache: dict[tuple[str, int, int], str] | None = None) -> dict[str, Any]:
    """The model's content hash, the data source's content hash and the archsim version."""
    return {"archsim": __version__, "model": _model(cfg, cache),
            "data": _data(cfg, data_dir, cache)}
