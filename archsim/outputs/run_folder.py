"""One folder per run, holding every output and the resolved config (the desmod workspace).

:func:`write_run_folder` writes, in this order:

=========================  ==========================================================
``INCOMPLETE``             marker, written first and removed last
``config.resolved.yaml``   the config the engine ran
``events.parquet``         the event log (``events.csv`` without pyarrow)
``accuracy.csv``           per-image prediction, label, SC-vs-float error per layer
``waves.vcd/.gtkw``        probes and block busy signals for GTKWave (if any)
``timeline.json``          per-block busy spans for Perfetto
``layers.csv``             one row per layer
``blocks.csv``             one row per block, every action count and energy
``action_counts.yaml``     Accelergy action counts (+ ``ERT.yaml``, ``ART.yaml``,
                           ``energy_estimation.yaml``)
``stats.txt``              Timeloop-style text summary
``summary.json``           everything above in one document, written last
=========================  ==========================================================

Every file is written atomically, so a file under its final name is always whole.  The
folder as a whole is too: everything is written into a fresh hidden sibling
``.<name>.tmp-<pid>-<random>`` (created with ``mkdir``, so never one that exists), and only
when the last file is in place is that folder swapped with ``<name>`` (one atomic
``renameat2(RENAME_EXCHANGE)`` on Linux, else two renames) and the old one removed.  A writer
that raises (a full disk) or a run that is interrupted therefore leaves ``<name>`` as it was:
an earlier complete run folder stays complete.  The ``INCOMPLETE`` marker is kept inside the
temporary folder while it is written (a killed run leaves a folder that readers refuse) and
stays, with the reason, when the result itself is partial (``RunResult.complete`` false).

:func:`check_output_folder` is the check made before a run starts: the output folder may be
absent, empty or an earlier archsim run folder; anything else (a file, a symlink, a folder of
other files) is refused, so ``--out .`` never replaces a folder of the user's own files.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import datetime as _dt
import os
import secrets
import shutil
import sys
from pathlib import Path

from archsim.engine.results import RunResult
from archsim.outputs.accelergy import write_accelergy
from archsim.outputs.accuracy_csv import write_accuracy_csv
from archsim.outputs.atomic import create_exclusive
from archsim.outputs.events import GRANULARITIES, write_events
from archsim.outputs.image_timing import write_image_timing
from archsim.outputs.reports import write_reports
from archsim.outputs.resolved import write_resolved_config
from archsim.outputs.summary import STATS_TXT, SUMMARY_JSON, build_summary, write_summary
from archsim.outputs.timeline import write_timeline
from archsim.outputs.vcd import write_waves

__all__ = [
    "INCOMPLETE",
    "OutputFolderError",
    "TEMP_INFIX",
    "check_output_folder",
    "is_complete_run_folder",
    "write_run_folder",
]

INCOMPLETE = "INCOMPLETE"
#: the temporary folder of ``<name>`` is ``.<name><TEMP_INFIX><pid>-<random>``
TEMP_INFIX = ".tmp-"
_OLD_INFIX = ".old-"
#: files that make a folder an archsim run folder (one of them is enough)
_RUN_FILES = (SUMMARY_JSON, INCOMPLETE, "config.resolved.yaml")
_RENAME_EXCHANGE = 2


class OutputFolderError(Exception):
    """The output folder cannot be written (it is not a run folder, or the disk refused)."""


def is_complete_run_folder(path: str | os.PathLike[str]) -> bool:
    """True for a folder with a ``summary.json`` and no ``INCOMPLETE`` marker."""
    p = Path(path)
    return p.is_dir() and (p / SUMMARY_JSON).is_file() and not (p / INCOMPLETE).exists()


def check_output_folder(path: str | os.PathLike[str]) -> None:
    """Raise :class:`OutputFolderError` unless ``path`` is absent, an empty folder or an
    archsim run folder (``summary.json``, ``INCOMPLETE`` or ``config.resolved.yaml``)."""
    p = Path(path)
    if p.is_symlink():
        raise OutputFolderError(f"{p}: is a symbolic link; archsim writes a run folder only "
                                "into a real folder (or a new name)")
    if not p.exists():
        return
    if not p.is_dir():
        raise OutputFolderError(f"{p}: exists and is not a folder; choose another --out")
    try:
        entries = [e.name for e in os.scandir(p)]
    except OSError as e:
        raise OutputFolderError(f"{p}: cannot be read ({e.strerror})") from None
    if entries and not any(name in entries for name in _RUN_FILES):
        raise OutputFolderError(f"{p}: exists and holds files that are not an archsim run "
                                "folder; it would be replaced, so choose another --out")


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap the names ``a`` and ``b`` (Linux renameat2); False if unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    rc = fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: the file system cannot
        return False
    raise OSError(err, os.strerror(err), str(b))


def _swap_into_place(tmp: Path, out: Path) -> None:
    """Make ``tmp`` the folder ``out``; the folder ``out`` was (if any) is removed."""
    if not os.path.lexists(out):
        os.rename(tmp, out)
        return
    if _exchange(tmp, out):
        shutil.rmtree(tmp, ignore_errors=True)  # now the old folder
        return
    old = out.with_name(f".{out.name}{_OLD_INFIX}{os.getpid()}-{secrets.token_hex(4)}")
    os.rename(out, old)
    try:
        os.rename(tmp, out)
    except OSError:
        os.rename(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _new_temp_folder(out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(16):
        tmp = out.with_name(f".{out.name}{TEMP_INFIX}{os.getpid()}-{secrets.token_hex(4)}")
        try:
            os.mkdir(tmp)
        except FileExistsError:
            continue
        return tmp
    raise FileExistsError(f"{out}: no free temporary folder name")


def write_run_folder(
    result: RunResult,
    out_dir: str | os.PathLike[str],
    *,
    events: str = "aggregated",
    config_name: str,
) -> list[Path]:
    """Write every output of ``result`` into ``out_dir`` (created); return the paths written.

    ``events`` is ``"aggregated"`` (one event row per image, layer, block and action) or
    ``"per-action"`` (every ledger row).  The returned list includes ``INCOMPLETE`` only
    when the marker stays (a partial result).  Everything is written into a temporary
    sibling folder that replaces ``out_dir`` at the end (module docstring); if anything
    raises, ``out_dir`` is left as it was and the temporary folder is removed.
    """
    if events not in GRANULARITIES:
        raise ValueError(f"events(={events!r}) must be one of {GRANULARITIES}")
    out = Path(out_dir)
    check_output_folder(out)
    tmp = _new_temp_folder(out)
    try:
        names = _write_into(result, tmp, events=events, config_name=config_name)
        _swap_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return [out / n for n in names]


def _write_marker(path: Path, text: str) -> None:
    fd = create_exclusive(path)
    with open(fd, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


def _write_into(result: RunResult, out: Path, *, events: str, config_name: str) -> list[str]:
    marker = out / INCOMPLETE
    started = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    _write_marker(
        marker,
        f"archsim started writing this run folder at {started} (pid {os.getpid()}).\n"
        "While this file exists the folder is incomplete: the run or its writers were\n"
        "interrupted, and the other files may be missing.\n",
    )
    paths: list[Path] = []
    paths += write_resolved_config(result.config_resolved, out)
    paths += write_events(result, out, events=events)
    paths += write_accuracy_csv(result, out)
    paths += write_image_timing(result, out)
    paths += write_waves(result, out)
    paths += write_timeline(result, out, config_name=config_name)
    summary = build_summary(result, config_name=config_name)
    summary["events_granularity"] = events
    paths += write_reports(summary, out)
    paths += write_accelergy(summary, out)
    summary["files"] = sorted([p.name for p in paths] + [STATS_TXT, SUMMARY_JSON])
    # summary.json last: with the marker gone, its presence means a finished folder.
    paths += write_summary(summary, out)
    marker.unlink()
    if not result.complete:
        _write_marker(
            marker,
            "The simulation did not complete: these files describe a partial run "
            f"({result.cycles} cycles, {result.images} image(s)).\n",
        )
        paths.append(marker)
    return [p.name for p in paths]
