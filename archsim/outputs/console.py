"""The end-of-run summary printed on the terminal: one screen, the numbers people quote.

Built from the same summary dictionary as ``summary.json`` and ``stats.txt``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from archsim.engine.results import RunResult
from archsim.outputs.summary import (
    SUMMARY_JSON,
    build_summary,
    format_area,
    format_energy,
    format_power,
    format_time,
)

__all__ = ["console_summary", "console_summary_of_folder", "summary_text"]


def console_summary(summary: dict[str, Any], out_dir: str | os.PathLike[str]) -> str:
    """A short multi-line text (no trailing newline) describing a finished run."""
    s = summary
    det = s.get("accuracy_detail") or {}
    if s["accuracy"] is None:
        acc = "n/a (no labels)"
    else:
        acc = (
            f"{100 * s['accuracy']:.2f}% "
            f"({det.get('correct', '?')}/{det.get('images_labelled', '?')} images)"
        )
    if det.get("float_accuracy") is not None:
        acc += f"; float reference {100 * det['float_accuracy']:.2f}%"
    per_image = max(s["images"], 1)
    lines = [
        f"archsim: {s['config']} ({s['design']}, {s['mode']} mode, seed {s['seed']}, "
        f"{s['images']} image(s))",
        f"  folder        {os.fspath(out_dir)}",
        f"  cycles        {s['cycles']} ({s['cycles'] / per_image:.6g} per image) "
        f"at {s['clock_mhz']:g} MHz",
        f"  run time      {format_time(s['latency_ns'])} "
        f"({format_time(s['latency_per_image_ns'])} per image, fill included)",
        *_timing(s),
        f"  energy/image  {format_energy(s['energy_per_image_pj'])} "
        f"(total {format_energy(s['energy_pj'])}, "
        f"leakage {format_energy(s['leakage_energy_pj'])})",
        f"  power         {format_power(s['power_mw'])}",
        f"  area          {format_area(s['area_um2'])}",
        f"  accuracy      {acc}",
    ]
    if not s.get("complete", True):
        lines.append("  WARNING: the simulation did not complete; the folder is marked INCOMPLETE")
    return "\n".join(lines)


def _timing(s: dict[str, Any]) -> list[str]:
    out = []
    if s.get("image_latency_mean_ns") is not None:
        out.append(f"  image latency {format_time(s['image_latency_mean_ns'])} mean "
                   f"(min {format_time(s['image_latency_min_ns'])}, "
                   f"max {format_time(s['image_latency_max_ns'])})")
    if s.get("throughput_images_per_s") is not None:
        out.append(f"  throughput    {s['throughput_images_per_s']:,.0f} images/s "
                   f"(one every {format_time(s['throughput_interval_ns'])}); "
                   f"bottleneck {s.get('bottleneck_layer')}")
    return out


def console_summary_of_folder(out_dir: str | os.PathLike[str]) -> str:
    """:func:`console_summary` of the ``summary.json`` in a run folder."""
    path = Path(out_dir) / SUMMARY_JSON
    with open(path, encoding="utf-8") as f:
        return console_summary(json.load(f), out_dir)


def summary_text(result: RunResult, out_dir: str | os.PathLike[str]) -> str:
    """The console summary of a run just written to ``out_dir``.

    Read back from the folder's ``summary.json`` so the screen shows exactly what the files
    say; built from ``result`` (named after its design) if the folder has no summary.
    """
    try:
        return console_summary_of_folder(out_dir)
    except (OSError, ValueError):
        return console_summary(build_summary(result, config_name=result.design), out_dir)
