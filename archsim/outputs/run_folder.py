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
``INCOMPLETE`` marker makes the folder as a whole safe: if a writer raises or the process
is killed, the marker stays and readers (``archsim plot``) refuse the folder.  It also
stays, with the reason, when the result itself is partial (``RunResult.complete`` false).
"""

from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path

from archsim.engine.results import RunResult
from archsim.outputs.accelergy import write_accelergy
from archsim.outputs.accuracy_csv import write_accuracy_csv
from archsim.outputs.atomic import write_text
from archsim.outputs.events import GRANULARITIES, write_events
from archsim.outputs.image_timing import write_image_timing
from archsim.outputs.reports import write_reports
from archsim.outputs.resolved import write_resolved_config
from archsim.outputs.summary import STATS_TXT, SUMMARY_JSON, build_summary, write_summary
from archsim.outputs.timeline import write_timeline
from archsim.outputs.vcd import write_waves

__all__ = ["INCOMPLETE", "is_complete_run_folder", "write_run_folder"]

INCOMPLETE = "INCOMPLETE"


def is_complete_run_folder(path: str | os.PathLike[str]) -> bool:
    """True for a folder with a ``summary.json`` and no ``INCOMPLETE`` marker."""
    p = Path(path)
    return p.is_dir() and (p / SUMMARY_JSON).is_file() and not (p / INCOMPLETE).exists()


def write_run_folder(
    result: RunResult,
    out_dir: str | os.PathLike[str],
    *,
    events: str = "aggregated",
    config_name: str,
) -> list[Path]:
    """Write every output of ``result`` into ``out_dir`` (created); return the paths written.

    ``events`` is ``"aggregated"`` (one event row per image, block and action) or
    ``"per-action"`` (every ledger row).  The returned list includes ``INCOMPLETE`` only
    when the marker stays (a partial result).
    """
    if events not in GRANULARITIES:
        raise ValueError(f"events(={events!r}) must be one of {GRANULARITIES}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    marker = out / INCOMPLETE
    started = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    write_text(
        marker,
        f"archsim started writing this run folder at {started} (pid {os.getpid()}).\n"
        "While this file exists the folder is incomplete: the run or its writers were\n"
        "interrupted, and the other files may be missing or left from an earlier run.\n",
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
    if result.complete:
        marker.unlink()
    else:
        write_text(
            marker,
            "The simulation did not complete: these files describe a partial run "
            f"({result.cycles} cycles, {result.images} image(s)).\n",
        )
        paths.append(marker)
    return paths
