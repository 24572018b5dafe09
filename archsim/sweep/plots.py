"""Figures of a sweep folder (``archsim plot SWEEP_DIR``), drawn from ``results.csv``.

* ``metric_vs_<axis>``: energy per image, per-image latency, power, area and accuracy (with
  its 95 % Wilson interval) against each axis, one line per combination of the other axes (a
  ``zip`` sweep, whose axes move together, gets one figure against its first axis with one
  line); every quantity in the SI prefix that suits its values (uJ, mW, mm^2);
* ``pareto_energy_accuracy``: energy per image against accuracy (front: least energy for
  the accuracy), skipped when no point has an accuracy (random images);
* ``pareto_area_power``: area against power (front: least of both).

Every point is labelled ``P<n>`` (its row in ``results.csv``; ``points.txt`` lists them), the
labels moved apart where they would overlap; titles name the sweep (its ``name``) and the
base design; the figures are written into ``<sweep>/plots/`` atomically.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Any

import yaml

from archsim.plots.style import (
    FORMATS,
    PALETTE,
    area_unit,
    energy_unit,
    new_figure,
    power_unit,
    save_figure,
    time_unit,
)

__all__ = ["is_sweep_folder", "pareto_front", "plot_sweep", "plot_sweep_main"]

# (column, axis label without unit, unit chooser or None for a fixed scale, fixed unit)
METRICS = (
    ("energy_per_image_pj", "energy per image", energy_unit, ""),
    ("image_latency_mean_ns", "latency per image (mean)", time_unit, ""),
    ("latency_per_image_ns", "run time per image", time_unit, ""),
    ("power_mw", "average power", power_unit, ""),
    ("area_um2", "area", area_unit, ""),
    ("accuracy", "accuracy", None, "%"),
)


def _scale(rows: list[dict[str, Any]], key: str) -> tuple[float, str]:
    """Divisor and unit of a metric column over the sweep's rows."""
    for k, _, unit_of, fixed in METRICS:
        if k == key:
            if unit_of is None:
                return 0.01, fixed  # a fraction drawn in %
            return unit_of([_num(r.get(key)) for r in rows])
    return 1.0, ""


def _label(key: str, unit: str) -> str:
    name = next((lbl for k, lbl, _, _ in METRICS if k == key), key)
    return f"{name} ({unit})" if unit else name


def _sweep_name(folder: Path) -> str:
    """The sweep's name and its base design (from sweep.yaml), else the folder's name."""
    meta = folder / "sweep.yaml"
    spec = yaml.safe_load(meta.read_text(encoding="utf-8")) if meta.is_file() else None
    spec = spec or {}
    name = str(spec.get("name") or folder.name)
    base = spec.get("base")
    return f"{name} (base {Path(str(base)).stem})" if base else name


def is_sweep_folder(path: str | Path) -> bool:
    return (Path(path) / "results.csv").is_file()


def _num(text: str | None) -> float | None:
    if text in (None, ""):
        return None
    try:
        return float(text)
    except ValueError:
        return None


def _axes(folder: Path, header: list[str]) -> tuple[list[str], str]:
    """The sweep's axes (columns of results.csv) and its mode (``product`` or ``zip``)."""
    meta = folder / "sweep.yaml"
    if meta.is_file():
        spec = yaml.safe_load(meta.read_text(encoding="utf-8")) or {}
        axes = spec.get("axes") or {}
        return [a for a in axes if a in header], str(spec.get("mode") or "product")
    return (header[2:header.index("seed")] if "seed" in header else []), "product"


def pareto_front(points: list[tuple[float, float]], maximize_y: bool = False) -> list[int]:
    """Indices of the non-dominated points (minimise x; minimise or maximise y), by x."""
    sign = -1.0 if maximize_y else 1.0
    order = sorted(range(len(points)), key=lambda i: (points[i][0], sign * points[i][1]))
    front: list[int] = []
    best = float("inf")
    for i in order:
        y = sign * points[i][1]
        if y < best:
            front.append(i)
            best = y
    return front


def _short(value: str, width: int = 14) -> str:
    if value.startswith("{") and "kind:" in value:
        value = value.split("kind:", 1)[1].split(",")[0].strip(" }")
    return value if len(value) <= width else value[: width - 1] + "…"


def _scatter(rows: list[dict[str, Any]], xk: str, yk: str,
             maximize_y: bool, title: str, path: Path, fmt: str) -> Path | None:
    raw = [(r, _num(r.get(xk)), _num(r.get(yk))) for r in rows]
    if not any(x is not None and y is not None for _, x, y in raw):
        return None
    (xs, xu), (ys, yu) = _scale(rows, xk), _scale(rows, yk)
    pts = [(r, x / xs, y / ys) for r, x, y in raw if x is not None and y is not None]
    fig = new_figure(8.0, 5.5)
    ax = fig.subplots()
    xy = [(x, y) for _, x, y in pts]
    ax.scatter([p[0] for p in xy], [p[1] for p in xy], color="0.55", zorder=2, label="points")
    if yk == "accuracy":
        _wilson_bars(ax, [r for r, _, _ in pts], [p[0] for p in xy], "0.55")
    front = pareto_front(xy, maximize_y=maximize_y)
    ax.plot([xy[i][0] for i in front], [xy[i][1] for i in front], "o-", color=PALETTE[5],
            zorder=3, label="Pareto front")
    for r, x, y in pts:
        ax.annotate(r["_label"], (x, y), textcoords="offset points", xytext=(4, 4),
                    fontsize="x-small")
    ax.set_xlabel(_label(xk, xu))
    ax.set_ylabel(_label(yk, yu))
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    return save_figure(fig, path, fmt)


def _wilson_bars(ax: Any, rows: list[dict[str, Any]], xs: list[float], colour: Any) -> None:
    """95 % Wilson intervals of the rows' accuracies (in %), where results.csv has them."""
    for r, x in zip(rows, xs, strict=True):
        acc, lo, hi = (_num(r.get(k)) for k in ("accuracy", "accuracy_ci95_low",
                                                 "accuracy_ci95_high"))
        if acc is None or lo is None or hi is None:
            continue
        ax.errorbar(x, 100 * acc, yerr=[[100 * (acc - lo)], [100 * (hi - acc)]], fmt="none",
                    ecolor=colour, capsize=3, linewidth=0.8, alpha=0.8)


def plot_sweep(folder: str | Path, fmt: str = "png") -> list[Path]:
    """Draw the figures of one sweep folder into ``<folder>/plots``; return the files."""
    folder = Path(folder)
    with open(folder / "results.csv", encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        header = list(reader.fieldnames or [])
        all_rows = list(reader)
    for i, r in enumerate(all_rows):
        r["_label"] = f"P{i}"
    rows = [r for r in all_rows if r.get("status") == "ok"]
    axes, mode = _axes(folder, header)
    out = folder / "plots"
    written: list[Path] = []
    # a legend of point labels, as text next to the figures
    legend = ["point  key               " + "  ".join(axes)]
    legend += [f"{r['_label']:<6} {r['key']:<17} " + "  ".join(_short(r.get(a, ""), 30)
                                                                for a in axes)
               for r in all_rows]
    out.mkdir(parents=True, exist_ok=True)
    from archsim.outputs.atomic import write_text

    written.append(write_text(out / "points.txt", "\n".join(legend) + "\n"))
    metrics = [k for k, *_ in METRICS if any(_num(r.get(k)) is not None for r in rows)]
    if "image_latency_mean_ns" in metrics:  # the real latency; run time / images is the old
        metrics.remove("latency_per_image_ns")
    name = _sweep_name(folder)
    # a zip sweep's axes move together: one figure against the first, the others named
    plotted = axes[:1] if mode == "zip" else axes
    for axis in plotted:
        if not metrics:
            break
        values = list(dict.fromkeys(r[axis] for r in rows))
        numeric = all(_num(v) is not None for v in values)
        if numeric:
            values.sort(key=lambda v: _num(v) or 0.0)
        xpos = {v: (_num(v) if numeric else float(i)) for i, v in enumerate(values)}
        others = [a for a in axes if a != axis] if mode != "zip" else []
        groups: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            label = ", ".join(f"{a}={_short(r[a])}" for a in others) or axis
            groups.setdefault(label, []).append(r)
        title = f"{name}: metrics against {axis}"
        if mode == "zip" and len(axes) > 1:
            title += f" (zip: {', '.join(axes[1:])} move with it)"
        fig = new_figure(4.0 * len(metrics), 4.2)
        subplots = fig.subplots(1, len(metrics), squeeze=False)[0]
        for ax, key in zip(subplots, metrics, strict=True):
            scale, unit = _scale(rows, key)
            for gi, (glabel, grows) in enumerate(groups.items()):
                with_v = sorted((r for r in grows if _num(r.get(key)) is not None),
                                key=lambda r: xpos[r[axis]] or 0.0)
                pts = [(xpos[r[axis]] or 0.0, (_num(r.get(key)) or 0.0) / scale, r["_label"])
                       for r in with_v]
                if not pts:
                    continue
                colour = PALETTE[gi % len(PALETTE)]
                ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", color=colour,
                        label=glabel)
                if key == "accuracy":
                    _wilson_bars(ax, with_v, [p[0] for p in pts], colour)
                for x, y, point in pts:
                    ax.annotate(point, (x, y), textcoords="offset points", xytext=(3, 3),
                                fontsize="xx-small")
            ax.set_xlabel(axis)
            ax.set_ylabel(_label(key, unit))
            if not numeric:
                ax.set_xticks([xpos[v] for v in values], [_short(v) for v in values])
            ax.grid(True, alpha=0.3)
        if len(groups) > 1:
            fig.legend(*subplots[0].get_legend_handles_labels(), loc="outside lower center",
                       ncols=min(len(groups), 4), fontsize="small")
        fig.suptitle(title)
        written.append(save_figure(fig, out / f"metric_vs_{axis}.{fmt}", fmt))
    p = _scatter(rows, "energy_per_image_pj", "accuracy", True,
                 f"{name}: energy per image vs accuracy",
                 out / f"pareto_energy_accuracy.{fmt}", fmt)
    if p is not None:
        written.append(p)
    p = _scatter(rows, "area_um2", "power_mw", False,
                 f"{name}: area vs power", out / f"pareto_area_power.{fmt}", fmt)
    if p is not None:
        written.append(p)
    return written


def plot_sweep_main(dirs: list[str], fmt: str = "png") -> int:
    """``archsim plot`` on sweep folders (run folders among them go to the run plotter)."""
    if fmt not in FORMATS:
        print(f"archsim plot: unknown format {fmt!r}; use one of {', '.join(FORMATS)}",
              file=sys.stderr)
        return 2
    sweeps = [d for d in dirs if is_sweep_folder(d)]
    runs = [d for d in dirs if not is_sweep_folder(d)]
    rc = 0
    if runs:
        from archsim.plots import plot_main

        rc = plot_main(runs, fmt)
    for d in sweeps:
        files = plot_sweep(d, fmt)
        print(f"{d}: {len(files)} file(s) in {Path(d) / 'plots'}")
    return rc
