"""The sweep folder: one sweep at a time, and each point's state read from its folder.

``<out>/.archsim-sweep.lock`` is held with an exclusive ``flock`` for as long as a sweep writes
into ``<out>``: a second sweep into the same folder is refused (:class:`SweepLocked`, naming
the process that holds it) instead of racing the first one for the same point folders and
``results.csv``.  The kernel releases the lock when the holder exits, however it exits
(SIGKILL included), so a lock is never stale.

:func:`point_state` is the truth the results table is built from: a point is ``ok`` when its
folder is a complete run folder, ``failed`` when it holds ``error.txt``, ``incomplete`` when
it holds a partial result (an ``INCOMPLETE`` marker) or a run into it is under way or was cut
short (its temporary folder is there: the sweep removes those of the points it stopped before
it writes the table, so they read ``not run``), else ``not run``.
Ctrl-C, a killed worker or a killed sweep therefore never leave a table that disagrees with
the folders.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from archsim.outputs.run_folder import INCOMPLETE, TEMP_INFIX, is_complete_run_folder

__all__ = ["ERROR_TXT", "LOCK_NAME", "SweepLocked", "point_state", "remove_stale_temporaries",
           "sweep_lock", "write_error"]

LOCK_NAME = ".archsim-sweep.lock"
ERROR_TXT = "error.txt"


class SweepLocked(Exception):
    """Another process is running a sweep into the same folder."""


@contextlib.contextmanager
def sweep_lock(out: Path) -> Iterator[None]:
    """Hold the lock of the sweep folder ``out`` (created) for the duration of the block."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / LOCK_NAME
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as e:
        raise SweepLocked(f"{path}: cannot open the sweep lock ({e.strerror})") from None
    try:
        try:
            import fcntl
        except ImportError:  # not POSIX: an exclusive marker file instead
            fcntl = None  # type: ignore[assignment]
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
                raise SweepLocked(f"{out}: another sweep (pid {holder}) is writing into this "
                                  "folder; wait for it to finish or choose another --out") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


def point_state(folder: Path) -> str:
    """``ok``, ``failed``, ``incomplete`` or ``not run`` (module docstring)."""
    if is_complete_run_folder(folder):
        return "ok"
    if (folder / ERROR_TXT).is_file():
        return "failed"
    if (folder / INCOMPLETE).exists() or _temporaries(folder):
        return "incomplete"
    return "not run"


def _temporaries(folder: Path) -> list[Path]:
    prefix = f".{folder.name}{TEMP_INFIX}"
    try:
        return [p for p in folder.parent.iterdir() if p.name.startswith(prefix)]
    except OSError:
        return []


def remove_stale_temporaries(points: Path) -> int:
    """Remove the temporary run folders a killed sweep left in ``points`` (call it holding
    the lock: then no process is writing them); returns how many."""
    n = 0
    if not points.is_dir():
        return 0
    for p in points.iterdir():
        if p.name.startswith(".") and TEMP_INFIX in p.name and not p.is_symlink() and p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
            n += 1
    return n


def write_error(folder: Path, text: str) -> None:
    """``error.txt`` of a failed point (never raises: a full disk loses only this file)."""
    from archsim.outputs.atomic import write_text

    with contextlib.suppress(OSError):
        folder.mkdir(parents=True, exist_ok=True)
        write_text(folder / ERROR_TXT, text)

