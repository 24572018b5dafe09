"""Download of the official data set files into a data directory, verified and atomic.

``fetch_dataset(name, dest_dir)`` writes ``<dest_dir>/<name>/<file>`` for the four files in the
registry (:mod:`archsim.nn.datasets`). Each file is streamed into a temporary file in the same
folder, its size and SHA-256 are checked against the registry, and only then is it renamed into
place with ``os.replace``; a bad or interrupted download leaves no file behind. Files already
present with the right checksum are not downloaded again.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from archsim.nn.datasets import DATA_ENV_VAR, FileSpec, get_dataset, resolve_data_dir
from archsim.nn.errors import DatasetError

DEFAULT_TIMEOUT_S = 60.0
_CHUNK = 1 << 16

__all__ = ["fetch_dataset", "fetch_main", "file_is_valid", "sha256_file"]


def sha256_file(path: Path) -> str:
    """SHA-256 hex digest of the file at ``path``."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def file_is_valid(path: Path, spec: FileSpec) -> bool:
    """True if ``path`` exists with the registry's size and SHA-256."""
    return path.is_file() and path.stat().st_size == spec.size and sha256_file(path) == spec.sha256


def _download(url: str, target: Path, spec: FileSpec, timeout: float) -> None:
    """Stream ``url`` into a temp file beside ``target``, verify, then rename into place."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{spec.name}.", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        size = 0
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as resp:
                    for block in iter(lambda: resp.read(_CHUNK), b""):
                        size += len(block)
                        if size > spec.size:
                            raise DatasetError(
                                f"{target}: download from {url} is larger than the official "
                                f"{spec.size} bytes; rejected"
                            )
                        digest.update(block)
                        out.write(block)
            except (urllib.error.URLError, OSError) as exc:
                raise DatasetError(f"{target}: download from {url} failed ({exc})") from exc
            out.flush()
            os.fsync(out.fileno())
        if size != spec.size:
            raise DatasetError(
                f"{target}: download from {url} has {size} bytes, the official file has "
                f"{spec.size}; rejected (truncated or wrong file)"
            )
        if digest.hexdigest() != spec.sha256:
            raise DatasetError(
                f"{target}: download from {url} has sha256 {digest.hexdigest()}, expected "
                f"{spec.sha256}; rejected (corrupted or wrong file)"
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def fetch_dataset(
    name: str,
    dest_dir: str | os.PathLike[str],
    base_url: str | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    log=None,
) -> list[Path]:
    """Fetch the four official files of ``name`` into ``<dest_dir>/<name>/``.

    ``base_url`` replaces the registry's download location (a mirror or a local server).
    Returns the file paths. Raises :class:`DatasetError` naming the file on a failed or
    corrupted download; the files already verified stay in place.
    """
    spec = get_dataset(name)
    folder = Path(dest_dir).expanduser() / name
    folder.mkdir(parents=True, exist_ok=True)
    say = log or (lambda msg: None)
    paths = []
    for file in spec.files:
        target = folder / file.name
        if file_is_valid(target, file):
            say(f"{target}: present, sha256 ok")
        else:
            if target.exists():
                say(f"{target}: present but wrong size/sha256; downloading again")
            url = spec.url(file, base_url)
            say(f"{target}: downloading {url} ({file.size} bytes)")
            _download(url, target, file, timeout)
            say(f"{target}: sha256 ok")
        paths.append(target)
    return paths


def fetch_main(name: str, dest: str | os.PathLike[str] | None, base_url: str | None) -> int:
    """CLI entry (``archsim data fetch NAME [--dir DIR] [--base-url URL]``); returns exit code.

    ``dest`` defaults to ``$ARCHSIM_DATA``.
    """

    def say(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    root = resolve_data_dir(dest)
    if root is None:
        say(f"error: no destination: pass --dir DIR or set {DATA_ENV_VAR}")
        return 2
    try:
        fetch_dataset(name, root, base_url=base_url, log=say)
    except (DatasetError, ValueError, OSError) as exc:
        say(f"error: {exc}")
        return 1
    say(
        f"{name}: all files verified in {root / name}; use it with --data-dir {root} "
        f"or {DATA_ENV_VAR}={root}"
    )
    return 0
