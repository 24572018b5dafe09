"""Atomic file writes: a file appears under its final name whole, or not at all.

Every output of a run is first written to ``<name>.tmp-<pid>-<random>`` in the same folder,
flushed and fsync'ed, then renamed over the final name with ``os.replace`` (atomic on POSIX and
Windows when both names are on one file system).  A run that is killed half-way therefore
leaves at most a stray ``*.tmp-*`` file, never a truncated ``summary.json`` that looks
complete.  Writers that hand a path or a file object to a library (pyvcd, pyarrow,
matplotlib) use :func:`atomic_path` or :func:`atomic_open`.

Writes cannot be redirected: the temporary file is created with ``O_CREAT | O_EXCL |
O_NOFOLLOW`` (a name that already exists, a planted symlink included, is never opened; a fresh
random name is tried instead), and ``os.replace`` replaces a symlink at the final name rather
than writing through it.  :func:`create_exclusive` writes a file (the ``INCOMPLETE`` marker)
the same way without the rename.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import json
import math
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

__all__ = [
    "atomic_open",
    "atomic_path",
    "create_exclusive",
    "json_ready",
    "temp_name",
    "write_bytes",
    "write_json",
    "write_text",
]


#: flags of every file archsim creates: a new regular file, never through a symlink
_CREATE_FLAGS = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
                 | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))
_TRIES = 16


def temp_name(path: Path) -> Path:
    """A temporary name ``path`` may be written under before it is renamed to ``path``."""
    return path.with_name(f"{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")


def create_exclusive(path: str | os.PathLike[str], mode: int = 0o666) -> int:
    """Create ``path`` as a new file (``O_CREAT | O_EXCL | O_NOFOLLOW``) and return its
    descriptor; ``FileExistsError`` if anything, a symlink included, has that name."""
    return os.open(path, _CREATE_FLAGS, mode)


def _new_temp(final: Path) -> tuple[Path, int]:
    for _ in range(_TRIES):
        tmp = temp_name(final)
        try:
            return tmp, create_exclusive(tmp)
        except FileExistsError:
            continue
    raise FileExistsError(f"{final}: no free temporary name after {_TRIES} tries")


def _fsync_dir(folder: Path) -> None:
    # Makes the rename itself durable; not possible (or needed) on every platform.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success fsync it and rename it to ``path``.

    For libraries that want a file name (``pyarrow.parquet.write_table``).  If the body
    raises, the temporary file is removed and ``path`` is left as it was.
    """
    final = Path(path)
    tmp, fd = _new_temp(final)  # created here, so the library opens our own regular file
    os.close(fd)
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"writer produced no file at {tmp}")
        _fsync_file(tmp)
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(final.parent)


@contextlib.contextmanager
def atomic_open(
    path: str | os.PathLike[str], mode: str = "w", *, newline: str | None = None
) -> Iterator[IO[Any]]:
    """Open a temporary file next to ``path`` for writing; rename it to ``path`` on success.

    ``mode`` is ``"w"`` (text, UTF-8) or ``"wb"``.  For streaming writers (``csv.writer``,
    pyvcd's ``VCDWriter``, ``json.dump``).
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode(={mode!r}) must be 'w' or 'wb'")
    final = Path(path)
    tmp, fd = _new_temp(final)
    try:
        if mode == "w":
            f: IO[Any] = open(fd, "w", encoding="utf-8", newline=newline)
        else:
            f = open(fd, "wb")
        with f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(final.parent)


def write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; return the final path."""
    with atomic_open(path, "wb") as f:
        f.write(data)
    return Path(path)


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8, ``\\n`` line ends) to ``path`` atomically; return the final path."""
    with atomic_open(path, "w", newline="\n") as f:
        f.write(text)
    return Path(path)


def json_ready(obj: Any, *, finite_only: bool = True) -> Any:
    """A copy of ``obj`` made of plain dicts, lists, strings, numbers, booleans and None.

    NumPy scalars and arrays become Python numbers and lists, tuples and sets lists, paths
    strings, dataclasses and pydantic models dicts, enums their value, anything else its
    ``str``.  With ``finite_only`` (for JSON, which has no NaN) NaN and infinite floats
    become ``None``; YAML keeps them (``.nan``, ``.inf``).
    """
    if obj is None or isinstance(obj, bool):
        return obj
    if isinstance(obj, enum.Enum):
        return json_ready(obj.value, finite_only=finite_only)
    if isinstance(obj, str):
        return str(obj)
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return float(obj) if (math.isfinite(obj) or not finite_only) else None
    if isinstance(obj, dict):
        return {str(k): json_ready(v, finite_only=finite_only) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_ready(v, finite_only=finite_only) for v in obj]
    if isinstance(obj, (set, frozenset)):
        return [json_ready(v, finite_only=finite_only) for v in sorted(obj, key=repr)]
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return json_ready(dataclasses.asdict(obj), finite_only=finite_only)
    model_dump = getattr(obj, "model_dump", None)  # pydantic models
    if callable(model_dump):
        return json_ready(model_dump(), finite_only=finite_only)
    tolist = getattr(obj, "tolist", None)  # NumPy scalars and arrays
    if callable(tolist):
        return json_ready(tolist(), finite_only=finite_only)
    return str(obj)


def write_json(path: str | os.PathLike[str], obj: Any, *, indent: int | None = 2) -> Path:
    """Write ``obj`` as JSON (see :func:`json_ready`) to ``path`` atomically."""
    text = json.dumps(json_ready(obj), indent=indent, allow_nan=False, ensure_ascii=False)
    return write_text(path, text + "\n")
