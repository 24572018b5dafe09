"""``archsim plot``: figures of one run folder, or a comparison of several.

Plots read only the files of run folders (``summary.json``, ``layers.csv``,
``blocks.csv``, ``accuracy.csv``), never the model, so any finished run can be re-plotted.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from archsim.plots.accuracy import layer_errors, plot_layer_error, plot_running_accuracy
from archsim.plots.breakdown import plot_activity, plot_area_breakdown, plot_energy_breakdown
from archsim.plots.compare import plot_comparison
from archsim.plots.rundata import NotARunFolder, RunData, load_run
from archsim.plots.style import FORMATS
from archsim.plots.timing import plot_layer_timeline

__all__ = ["default_comparison_dir", "plot_main", "plot_run"]


def plot_run(run: RunData, out_dir: Path, fmt: str = "png") -> list[Path]:
    """Write the figures of one run into ``out_dir`` (created); return their paths."""
    if fmt not in FORMATS:
        raise ValueError(f"fmt(={fmt!r}) must be one of {FORMATS}")
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [
        plot_energy_breakdown(run, out_dir / f"energy_breakdown.{fmt}", fmt),
        plot_activity(run, out_dir / f"activity.{fmt}", fmt),
        plot_area_breakdown(run, out_dir / f"area_breakdown.{fmt}", fmt),
        plot_layer_timeline(run, out_dir / f"timeline.{fmt}", fmt),
    ]
    if run.has_labels:
        paths.append(plot_running_accuracy(run, out_dir / f"accuracy.{fmt}", fmt))
    if layer_errors(run):
        paths.append(plot_layer_error(run, out_dir / f"layer_error.{fmt}", fmt))
    return paths


def default_comparison_dir(run_dirs: list[Path]) -> Path:
    """``<common parent of the runs>/comparison``."""
    parent = Path(os.path.commonpath([str(p.resolve().parent) for p in run_dirs]))
    return parent / "comparison"


def _unique_labels(runs: list[RunData]) -> None:
    seen: dict[str, int] = {}
    for r in runs:
        seen[r.label] = seen.get(r.label, 0) + 1
    for r in runs:
        if seen[r.label] > 1:
            r.label = f"{r.label} ({r.path.name})"


def plot_main(
    run_dirs: list[str], fmt: str = "png", *, out_dir: str | None = None, quiet: bool = False
) -> int:
    """Plot each run folder into ``<run>/plots/``; with several, also compare them.

    Comparison figures go to ``out_dir`` (default: ``comparison/`` next to the runs).
    Returns 0, or 2 (after printing why to stderr) if a folder is not a finished run
    folder or ``fmt`` is unknown; nothing is drawn in that case.
    """
    if fmt not in FORMATS:
        print(
            f"archsim plot: unknown format {fmt!r}; use one of {', '.join(FORMATS)}",
            file=sys.stderr,
        )
        return 2
    if not run_dirs:
        print("archsim plot: no run folder given", file=sys.stderr)
        return 2
    paths = list(dict.fromkeys(Path(d) for d in run_dirs))
    try:
        runs = [load_run(p) for p in paths]
    except NotARunFolder as e:
        print(f"archsim plot: {e}", file=sys.stderr)
        return 2
    written: list[Path] = []
    for run in runs:
        written += plot_run(run, run.path / "plots", fmt)
    if len(runs) > 1:
        _unique_labels(runs)
        target = Path(out_dir) if out_dir else default_comparison_dir(paths)
        written += plot_comparison(runs, target, fmt)
    if not quiet:
        for w in written:
            print(w)
    return 0
