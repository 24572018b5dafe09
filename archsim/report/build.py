"""``archsim report DIR``: the ``report.html`` of a run, sweep or reproduction folder.

One self-contained page (figures inlined, no external file): the summary, the tables with
named columns and thousands separators, the figures (drawn first when the folder has none),
the trends checked (a reproduction) and the configuration.  Built from the folder's files
only, as the plots are, so any finished folder gets one and every fabric the same page.

* run folder (``summary.json``): headline metrics (docs/metrics.md), the per-layer timing and
  energy, the blocks, the figures of ``archsim plot``, ``config.resolved.yaml``;
* sweep folder (``results.csv``): one row per point (its axes and headline metrics), the sweep
  figures, ``sweep.yaml``;
* reproduction folder (``tables/``): every table with the paper's value, ours and the ratio
  ours / paper, a caveat beside any table made with a technology fitted to that same table
  (``tables/<name>.json``), the figures, the trends checked and the fit.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path
from typing import Any

from archsim.outputs import summary as _units
from archsim.outputs.atomic import write_text
from archsim.report.page import Page

__all__ = ["REPORT_HTML", "folder_kind", "report_main", "write_report"]

REPORT_HTML = "report.html"


_SYMBOLS = (("um^2", "µm²"), ("mm^2", "mm²"), ("uJ", "µJ"), ("us", "µs"), ("uW", "µW"))


def _pretty(text: str) -> str:
    """SI symbols as typeset (µ, ²) and thousands separators in a formatted quantity."""
    number, _, unit = text.partition(" ")
    try:
        value = float(number)
    except ValueError:
        return text
    if abs(value) >= 1e4 and value == int(value):
        number = f"{int(value):,}"
    for a, b in _SYMBOLS:
        unit = unit.replace(a, b) if unit == a else unit
    return f"{number} {unit}".strip()


def format_energy(pj: float) -> str:
    return _pretty(_units.format_energy(pj))


def format_area(um2: float) -> str:
    return _pretty(_units.format_area(um2))


def format_power(mw: float) -> str:
    return _pretty(_units.format_power(mw))


def format_time(ns: float) -> str:
    return _pretty(_units.format_time(ns))


def _csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


def folder_kind(folder: Path) -> str | None:
    """``run``, ``sweep``, ``reproduction`` or None."""
    if (folder / "summary.json").is_file():
        return "run"
    if (folder / "results.csv").is_file():
        return "sweep"
    if (folder / "tables").is_dir() and (folder / "trends.csv").is_file():
        return "reproduction"
    return None


def _figures(page: Page, folder: Path, captions: dict[str, str] | None = None) -> None:
    pngs = sorted(folder.glob("*.png"))
    if not pngs:
        page.paragraph("No figures in this folder.")
    for png in pngs:
        page.figure(png, (captions or {}).get(png.stem, png.stem.replace("_", " ")))


# ------------------------------------------------------------------------------- run
def _opt(s: dict[str, Any], key: str, fn: Any, scale: float = 1.0) -> str:
    v = s.get(key)
    return "–" if v is None else fn(v * scale)


def _run_summary_rows(s: dict[str, Any]) -> list[list[Any]]:
    ns = s["cycle_ns"]
    acc = s.get("accuracy")
    det = s.get("accuracy_detail") or {}
    ci = ""
    if s.get("accuracy_ci95_low") is not None:
        ci = (f" (95% Wilson interval {100 * s['accuracy_ci95_low']:.2f}–"
              f"{100 * s['accuracy_ci95_high']:.2f} %)")
    rows: list[list[Any]] = [
        ["design", s.get("design"), "the design's name"],
        ["images", s["images"], f"seed {s['seed']}, {s['mode']} mode"],
        ["clock", f"{s['clock_mhz']:g} MHz", f"{format_time(ns)} per cycle"],
        ["run cycles", s["cycles"], "first weight load to the last image's last output bit"],
        ["per-image latency (mean)", _opt(s, "image_latency_mean_cycles", format_time, ns),
         "first input bit to last output bit of an image"],
        ["per-image latency (min / max)",
         f"{_opt(s, 'image_latency_min_cycles', format_time, ns)} / "
         f"{_opt(s, 'image_latency_max_cycles', format_time, ns)}", ""],
        ["throughput interval", _opt(s, "throughput_interval_cycles", format_time, ns),
         "mean time between finished images"],
        ["throughput", "–" if s.get("throughput_images_per_s") is None
         else f"{s['throughput_images_per_s']:,.0f} images/s", "at the clock"],
        ["bottleneck layer", s.get("bottleneck_layer") or "–",
         "the layer with the most busy + memory-stall cycles"],
        ["energy per image", format_energy(s["energy_per_image_pj"]),
         f"total {format_energy(s['energy_pj'])}, leakage "
         f"{format_energy(s['leakage_energy_pj'])}"],
        ["average power", format_power(s["power_mw"]), "energy / run time"],
        ["area", format_area(s["area_um2"]), ""],
        ["accuracy", "–" if acc is None else f"{100 * acc:.2f} %",
         f"{det.get('correct', '?')}/{det.get('images_labelled', '?')} correct{ci}"
         if acc is not None else "no labels"],
    ]
    return rows


def _run_page(folder: Path) -> Page:
    s = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    page = Page(f"{s.get('design') or s.get('config')}: archsim run report")
    page.paragraph(f"Run folder {folder.name}, archsim {s.get('archsim_version', '?')}. "
                   "Metrics are defined in the project's docs/metrics.md.")
    page.heading("Summary")
    page.table(["metric", "value", "meaning"], _run_summary_rows(s))
    page.heading("Layers")
    per_image = max(int(s["images"]), 1)
    page.table(
        ["layer", "span (cycles)", "busy", "memory stall", "input wait", "backpressure",
         "energy per image", "area"],
        [[lay["name"], lay.get("span_cycles"), lay.get("busy_cycles"), lay.get("stall_cycles"),
          lay.get("input_wait_cycles"), lay.get("backpressure_cycles"),
          format_energy(lay["energy_pj"] / per_image), format_area(lay["area_um2"])]
         for lay in s["layers"]])
    page.heading("Blocks")
    page.table(["layer", "block", "kind", "role", "instances", "energy per image", "area",
                "description"],
               [[b["layer"], b["block"], b["kind"], b.get("role", ""), b["instances"],
                 format_energy(b["energy_pj"] / per_image), format_area(b["area_um2"]),
                 b.get("description", "")] for b in s["blocks"]])
    page.heading("Figures")
    plots = folder / "plots"
    if not list(plots.glob("*.png")):
        from archsim.plots.main import plot_run
        from archsim.plots.rundata import load_run

        plot_run(load_run(folder), plots, "png")
    _figures(page, plots)
    page.heading("Configuration")
    cfg = folder / "config.resolved.yaml"
    if cfg.is_file():
        page.pre(cfg.read_text(encoding="utf-8"), "config.resolved.yaml (re-runnable)")
    return page


# ----------------------------------------------------------------------------- sweep
_SWEEP_METRICS = (
    ("energy_per_image_pj", "energy per image", format_energy),
    ("image_latency_mean_ns", "per-image latency (mean)", format_time),
    ("throughput_images_per_s", "throughput (images/s)", None),
    ("power_mw", "average power", format_power),
    ("area_um2", "area", format_area),
    ("accuracy", "accuracy (%)", None),
    ("bottleneck_layer", "bottleneck layer", None),
)


def _sweep_page(folder: Path) -> Page:
    import yaml

    header, rows = _csv(folder / "results.csv")
    meta = folder / "sweep.yaml"
    spec = (yaml.safe_load(meta.read_text(encoding="utf-8")) or {}) if meta.is_file() else {}
    axes = [a for a in (spec.get("axes") or {}) if a in header]
    page = Page(f"{spec.get('name') or folder.name}: archsim sweep report")
    ok = sum(r.get("status") == "ok" for r in rows)
    page.paragraph(f"{len(rows)} point(s), {ok} finished; base design "
                   f"{Path(str(spec.get('base', '?'))).stem}, mode {spec.get('mode', '?')}.")
    page.heading("Points")
    metrics = [(k, name, fn) for k, name, fn in _SWEEP_METRICS if k in header]
    table = []
    for i, r in enumerate(rows):
        cells: list[Any] = [f"P{i}", r.get("status")] + [r.get(a) for a in axes]
        for k, _, fn in metrics:
            v = r.get(k)
            if v in (None, ""):
                cells.append(None)
            elif fn is not None:
                cells.append(fn(float(v)))
            elif k == "accuracy":
                lo, hi = r.get("accuracy_ci95_low"), r.get("accuracy_ci95_high")
                ci = f" ({100 * float(lo):.1f}–{100 * float(hi):.1f})" if lo and hi else ""
                cells.append(f"{100 * float(v):.2f}{ci}")
            else:
                cells.append(v)
        table.append(cells)
    page.table(["point", "status", *axes, *(name for _, name, _ in metrics)], table)
    page.paragraph("Accuracy in brackets: the 95% Wilson interval.")
    page.heading("Figures")
    plots = folder / "plots"
    if not list(plots.glob("*.png")):
        from archsim.sweep.plots import plot_sweep

        plot_sweep(folder, "png")
    _figures(page, plots)
    page.heading("Configuration")
    if meta.is_file():
        page.pre(meta.read_text(encoding="utf-8"), "sweep.yaml")
    return page


# ----------------------------------------------------------------------- reproduction
# a column's unit suffix -> the unit written after its name
_SUFFIX_UNITS = {"_mw": "mW", "_w": "W", "_nj": "nJ", "_pj": "pJ", "_uj": "µJ", "_um2": "µm²",
                 "_mm2": "mm²", "_ns": "ns", "_us": "µs", "_pct": "%", "_cycles": "cycles"}


def _column_name(h: str) -> str:
    """``power_mw ratio`` -> ``power ratio (ours / paper)``, ``area_um2 ours`` ->
    ``area (µm²), ours``: a table's raw column names as a reader wants them."""
    quantity, _, role = h.partition(" ")
    unit = ""
    for suffix, u in _SUFFIX_UNITS.items():
        if quantity.endswith(suffix):
            quantity, unit = quantity[: -len(suffix)], u
            break
    name = quantity.replace("_", " ")
    if role == "ratio":
        return f"{name}: ours / paper"
    if role in ("paper", "ours"):
        return f"{name} ({unit}), {role}" if unit else f"{name}, {role}"
    return f"{name} ({unit})" if unit else h.replace("_", " ")


def _reproduction_page(folder: Path) -> Page:
    heading = folder.name
    if (folder / "report.md").is_file():  # "# DW-CNN reproduced by archsim"
        first = (folder / "report.md").read_text(encoding="utf-8").splitlines()[:1]
        heading = first[0].lstrip("# ").strip() if first else heading
    page = Page(f"{heading}: report")
    page.paragraph("Every quantity: the paper's value, ours, and the ratio ours / paper "
                   "(1.00 = equal). Reproductions compare; they do not assert.")
    tables = sorted((folder / "tables").glob("*.csv"))
    for path in tables:
        header, rows = _csv(path)
        side = path.with_suffix(".json")
        meta = json.loads(side.read_text(encoding="utf-8")) if side.is_file() else {}
        page.heading(meta.get("title") or path.stem.replace("_", " "))
        if meta.get("caveat"):
            page.caveat(meta["caveat"])
        page.table([_column_name(h) for h in header], [[r.get(h) for h in header]
                                                        for r in rows])
        for note in meta.get("notes", []):
            page.paragraph(note)
    page.heading("Figures")
    _figures(page, folder / "figures")
    page.heading("Trends checked")
    if (folder / "trends.csv").is_file():
        header, rows = _csv(folder / "trends.csv")
        page.table(header, [[r.get(h) for h in header] for r in rows])
    for name, what in (("fit.md", "the technology fit (fit.md)"),):
        if (folder / name).is_file():
            page.heading("Configuration")
            page.pre((folder / name).read_text(encoding="utf-8"), what)
    return page


# ------------------------------------------------------------------------------ main
def write_report(folder: str | os.PathLike[str]) -> Path:
    """Write ``report.html`` into a run, sweep or reproduction folder; return its path."""
    p = Path(folder)
    kind = folder_kind(p)
    if kind is None:
        raise ValueError(f"{p}: not a run, sweep or reproduction folder")
    build = {"run": _run_page, "sweep": _sweep_page, "reproduction": _reproduction_page}[kind]
    return write_text(p / REPORT_HTML, build(p).html())


def report_main(dirs: list[str]) -> int:
    """``archsim report``: 0, or 2 naming a folder that is none of the three."""
    bad = [d for d in dirs if folder_kind(Path(d)) is None]
    for d in bad:
        print(f"archsim report: {d}: not a run, sweep or reproduction folder", file=sys.stderr)
    if bad:
        return 2
    for d in dirs:
        print(write_report(d))
    return 0
