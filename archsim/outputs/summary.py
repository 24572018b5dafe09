"""The run summary: ``summary.json`` (everything, machine-readable) and ``stats.txt``.

``stats.txt`` imitates the end of Timeloop's ``timeloop-model.stats.txt``: a short table per
layer, then ``Cycles:``, ``Energy:``, ``Area:``, ``Power:`` lines a reader finds at a glance.
Both are built from one dictionary (:func:`build_summary`), so the JSON, the text table, the
CSV reports and the console summary cannot disagree.

Energy is the ledger's: dynamic energy (action counts x energy per action) plus leakage
(leakage power x instances x the run's latency), exactly as ``RunResult`` computes it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from archsim import __version__
from archsim.engine.results import RunResult
from archsim.outputs.atomic import write_json, write_text
from archsim.outputs.metrics import timing_metrics

__all__ = [
    "SUMMARY_JSON",
    "STATS_TXT",
    "block_table",
    "build_summary",
    "format_area",
    "format_energy",
    "format_power",
    "format_time",
    "layer_names",
    "layer_table",
    "render_stats",
    "write_summary",
]

SUMMARY_JSON = "summary.json"
STATS_TXT = "stats.txt"


# ----------------------------------------------------------------- unit formatting
def _scaled(value: float, ladder: tuple[tuple[float, str], ...], digits: int = 4) -> str:
    """``value`` in the largest unit of ``ladder`` (factor, name) that keeps it >= 1."""
    for factor, unit in ladder:
        if abs(value) >= factor:
            return f"{value / factor:.{digits}g} {unit}"
    factor, unit = ladder[-1]
    return f"{value / factor:.{digits}g} {unit}"


def format_energy(pj: float) -> str:
    """``1234.5`` -> ``'1.234 nJ'`` (input in pJ)."""
    return _scaled(pj, ((1e9, "mJ"), (1e6, "uJ"), (1e3, "nJ"), (1.0, "pJ"), (1e-3, "fJ")))


def format_power(mw: float) -> str:
    """Input in mW."""
    return _scaled(mw, ((1e3, "W"), (1.0, "mW"), (1e-3, "uW"), (1e-6, "nW")))


def format_time(ns: float) -> str:
    """Input in ns."""
    return _scaled(ns, ((1e9, "s"), (1e6, "ms"), (1e3, "us"), (1.0, "ns"), (1e-3, "ps")))


def format_area(um2: float) -> str:
    """Input in um^2; mm^2 from 0.1 mm^2 up."""
    if abs(um2) >= 1e5:
        return f"{um2 / 1e6:.4g} mm^2"
    if abs(um2) >= 1e3:
        return f"{um2:.0f} um^2"
    return f"{um2:.4g} um^2"


# ------------------------------------------------------------------------ tables
def layer_names(result: RunResult) -> list[str]:
    """Layers in execution order: those with timing first, then any that only own blocks."""
    names = [t.name for t in result.layers]
    seen = set(names)
    for blk in result.ledger.blocks.values():
        if blk.layer not in seen:
            seen.add(blk.layer)
            names.append(blk.layer)
    return names


def block_table(result: RunResult) -> list[dict[str, Any]]:
    """One dictionary per block (ledger order) with counts, energies, area and leakage."""
    counts = result.ledger.action_counts()
    energy = result.block_energy_pj()
    rows: list[dict[str, Any]] = []
    for name, blk in result.ledger.blocks.items():
        parts = energy[name]
        dynamic = sum(v for a, v in parts.items() if a != "leak")
        rows.append(
            {
                "name": name,
                "layer": blk.layer,
                "block": blk.name,
                "kind": blk.kind,
                "role": blk.role,
                "instances": blk.instances,
                "area_per_instance_um2": blk.area_um2,
                "area_um2": blk.total_area_um2,
                "leakage_per_instance_mw": blk.leakage_mw,
                "leakage_mw": blk.total_leakage_mw,
                "actions": dict(counts[name]),
                "energy_per_action_pj": {a: act.energy_pj for a, act in blk.actions.items()},
                "latency_per_action_cycles": {
                    a: act.latency_cycles for a, act in blk.actions.items()
                },
                "action_energy_pj": {a: v for a, v in parts.items() if a != "leak"},
                "dynamic_energy_pj": dynamic,
                "leakage_energy_pj": parts["leak"],
                "energy_pj": dynamic + parts["leak"],
                "description": blk.description,
            }
        )
    return rows


def layer_table(result: RunResult, blocks: list[dict[str, Any]] | None = None) -> list[dict]:
    """One dictionary per layer: timing (``None`` when the layer has none), energy, area."""
    blocks = block_table(result) if blocks is None else blocks
    timing = {t.name: t for t in result.layers}
    actions = result.layer_actions()
    rows: list[dict[str, Any]] = []
    for name in layer_names(result):
        mine = [b for b in blocks if b["layer"] == name]
        t = timing.get(name)
        rows.append(
            {
                "name": name,
                "cycles": t.cycles if t else None,
                "start_cycle": t.start_cycle if t else None,
                "end_cycle": t.end_cycle if t else None,
                "busy_cycles": t.busy_cycles if t else None,
                "stall_cycles": t.stall_cycles if t else None,
                "starve_cycles": t.starve_cycles if t else None,
                "input_wait_cycles": t.input_wait_cycles if t else None,
                "backpressure_cycles": t.backpressure_cycles if t else None,
                "depth_cycles": t.depth_cycles if t else None,
                "lead_cycles": t.lead_cycles if t else None,
                "span_cycles": t.span_cycles if t else None,
                "energy_pj": sum(b["energy_pj"] for b in mine),
                "dynamic_energy_pj": sum(b["dynamic_energy_pj"] for b in mine),
                "leakage_energy_pj": sum(b["leakage_energy_pj"] for b in mine),
                "area_um2": sum(b["area_um2"] for b in mine),
                "leakage_mw": sum(b["leakage_mw"] for b in mine),
                "blocks": [b["block"] for b in mine],
                "actions": actions.get(name, {}),
            }
        )
    return rows


def _accuracy_detail(result: RunResult) -> dict[str, Any]:
    recs = result.accuracy
    labelled = [r for r in recs if r.label is not None]
    with_float = [r for r in recs if r.float_prediction is not None]
    float_labelled = [r for r in labelled if r.float_prediction is not None]
    return {
        "images_recorded": len(recs),
        "images_labelled": len(labelled),
        "correct": sum(1 for r in labelled if r.correct),
        "float_accuracy": (
            sum(1 for r in float_labelled if r.float_prediction == r.label) / len(float_labelled)
            if float_labelled
            else None
        ),
        "sc_float_agreement": (
            sum(1 for r in with_float if r.float_prediction == r.prediction) / len(with_float)
            if with_float
            else None
        ),
    }


def build_summary(
    result: RunResult, *, config_name: str, files: list[str] | None = None
) -> dict[str, Any]:
    """The content of ``summary.json``."""
    blocks = block_table(result)
    layers = layer_table(result, blocks)
    energy = sum(b["energy_pj"] for b in blocks)
    dynamic = sum(b["dynamic_energy_pj"] for b in blocks)
    leakage = sum(b["leakage_energy_pj"] for b in blocks)
    per_image = max(result.images, 1)
    out: dict[str, Any] = {
        "config": config_name,
        "design": result.design,
        "seed": result.seed,
        "images": result.images,
        "mode": result.mode,
        "complete": result.complete,
        "clock_mhz": result.clock_mhz,
        "cycle_ns": result.cycle_ns,
        "cycles": result.cycles,
        "cycles_per_image": result.cycles / per_image,
        "latency_ns": result.latency_ns,
        "latency_per_image_ns": result.latency_ns / per_image,
        "energy_pj": energy,
        "dynamic_energy_pj": dynamic,
        "leakage_energy_pj": leakage,
        "energy_per_image_pj": energy / per_image,
        "power_mw": result.power_mw(),
        "area_um2": result.area_um2(),
        "leakage_mw": sum(b["leakage_mw"] for b in blocks),
        "accuracy": result.accuracy_fraction(),
        **timing_metrics(result),
        "accuracy_detail": _accuracy_detail(result),
        "simpy_events": result.simpy_events,
        "layers": layers,
        "blocks": blocks,
        "metadata": dict(result.metadata),
        "archsim_version": __version__,
    }
    if files is not None:
        out["files"] = list(files)
    return out


# ------------------------------------------------------------------------ stats.txt
def _fmt_int(v: int | None) -> str:
    return "-" if v is None else f"{v:d}"


def render_stats(summary: dict[str, Any]) -> str:
    """The Timeloop-style ``stats.txt`` text of a summary dictionary."""
    s = summary
    lines = [
        "archsim run statistics",
        "======================",
        f"Config: {s['config']}    Design: {s['design']}    Mode: {s['mode']}    Seed: {s['seed']}",
        f"Images: {s['images']}    Clock: {s['clock_mhz']:g} MHz "
        f"({format_time(s['cycle_ns'])} per cycle)",
    ]
    if not s.get("complete", True):
        lines.append("WARNING: the simulation did not complete; numbers cover a partial run.")
    lines += ["", "Per-layer", "---------"]
    header = ("Layer", "Cycles", "Start", "End", "Busy", "Stall", "InputWait", "Backpressure",
              "Energy", "Energy/image", "Area")
    table = [header]
    per_image = max(s["images"], 1)
    table.extend(
        (
            lay["name"],
            _fmt_int(lay["cycles"]),
            _fmt_int(lay["start_cycle"]),
            _fmt_int(lay["end_cycle"]),
            _fmt_int(lay["busy_cycles"]),
            _fmt_int(lay["stall_cycles"]),
            _fmt_int(lay.get("input_wait_cycles")),
            _fmt_int(lay.get("backpressure_cycles")),
            format_energy(lay["energy_pj"]),
            format_energy(lay["energy_pj"] / per_image),
            format_area(lay["area_um2"]),
        )
        for lay in s["layers"]
    )
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        cells = [row[0].ljust(widths[0])]
        cells += [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
        lines.append("  ".join(cells).rstrip())
    det = s.get("accuracy_detail") or {}
    if s["accuracy"] is None:
        acc = "n/a (no labels)"
    else:
        n_ok, n_all = det.get("correct", "?"), det.get("images_labelled", "?")
        acc = f"{100 * s['accuracy']:.2f}% ({n_ok}/{n_all})"
        if s.get("accuracy_ci95_low") is not None:
            acc += (f", 95% Wilson interval {100 * s['accuracy_ci95_low']:.2f}-"
                    f"{100 * s['accuracy_ci95_high']:.2f}%")
    lines += ["", "Busy = cycles a step was consumed; Stall = waiting for the weight memory; "
              "InputWait = waiting", "for the previous layer's output; Backpressure = waiting "
              "for the next layer's buffer", "(docs/metrics.md)."]
    lines += [
        "",
        "Summary Stats",
        "-------------",
        f"Cycles: {s['cycles']}",
        f"Cycles/image: {s['cycles_per_image']:.6g}",
        f"Latency: {format_time(s['latency_ns'])}    (the whole run)",
        *_timing_lines(s),
        f"Energy: {format_energy(s['energy_pj'])}  "
        f"(dynamic {format_energy(s['dynamic_energy_pj'])}, "
        f"leakage {format_energy(s['leakage_energy_pj'])})",
        f"Energy/image: {format_energy(s['energy_per_image_pj'])}",
        f"Area: {format_area(s['area_um2'])}",
        f"Power: {format_power(s['power_mw'])}",
        f"Accuracy: {acc}",
        f"SimPy events: {s['simpy_events']}",
    ]
    return "\n".join(lines) + "\n"


def _timing_lines(s: dict[str, Any]) -> list[str]:
    """Per-image latency, throughput and the bottleneck layer (absent in old summaries)."""
    out: list[str] = []
    ns = s["cycle_ns"]
    if s.get("image_latency_mean_cycles") is not None:
        lo, mean, hi = (s[f"image_latency_{k}_cycles"] for k in ("min", "mean", "max"))
        out.append(f"Image latency: mean {mean:,.1f} cycles ({format_time(mean * ns)}), "
                   f"min {lo:,}, max {hi:,}    (first input bit to last output bit)")
    if s.get("throughput_interval_cycles") is not None:
        iv = s["throughput_interval_cycles"]
        out.append(f"Throughput interval: {iv:,.1f} cycles ({format_time(iv * ns)}) between "
                   f"finished images; fill {s['fill_cycles']:,.1f} cycles")
        if s.get("throughput_images_per_s") is not None:
            out.append(f"Throughput: {s['throughput_images_per_s']:,.1f} images/s")
    if s.get("bottleneck_layer") is not None:
        frac = s.get("bottleneck_busy_fraction")
        share = f" (busy + stall {100 * frac:.1f}% of its span)" if frac is not None else ""
        out.append(f"Bottleneck: {s['bottleneck_layer']}{share}")
    return out


def write_summary(summary: dict[str, Any], out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write ``summary.json`` and ``stats.txt`` into ``out_dir``."""
    out = Path(out_dir)
    return [
        write_text(out / STATS_TXT, render_stats(summary)),
        write_json(out / SUMMARY_JSON, summary),
    ]
