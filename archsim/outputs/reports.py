"""Per-layer and per-block CSV reports (``layers.csv``, ``blocks.csv``).

Like SCALE-Sim's ``COMPUTE_REPORT.csv``: one row per layer with its cycles, stalls, energy
and area; and one row per hardware block with every action count and its energy, so a
spreadsheet can redo the energy sum.  Blocks declare different actions, so ``blocks.csv``
has a ``count_<action>`` and an ``energy_<action>_pj`` column for every action name of the
run, empty where a block has no such action.  Both tables come from the summary dictionary
(:func:`archsim.outputs.summary.build_summary`), so they agree with ``summary.json``.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

from archsim.outputs.atomic import atomic_open

__all__ = ["BLOCKS_CSV", "LAYERS_CSV", "LAYER_COLUMNS", "block_rows", "layer_rows",
           "write_reports"]

LAYERS_CSV = "layers.csv"
BLOCKS_CSV = "blocks.csv"

LAYER_COLUMNS = (
    "layer",
    "start_cycle",
    "end_cycle",
    "cycles",
    "busy_cycles",
    "stall_cycles",
    "starve_cycles",
    "input_wait_cycles",
    "backpressure_cycles",
    "depth_cycles",
    "lead_cycles",
    "span_cycles",
    "dynamic_energy_pj",
    "leakage_energy_pj",
    "energy_pj",
    "energy_per_image_pj",
    "area_um2",
    "leakage_mw",
    "blocks",
)


def _cell(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)  # round-trips exactly
    return v


def _write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    with atomic_open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows([[_cell(v) for v in row] for row in rows])
    return path


def layer_rows(summary: dict[str, Any]) -> list[list[Any]]:
    """The rows of ``layers.csv`` (columns :data:`LAYER_COLUMNS`) as Python values; ``None``
    where a layer has no timing. ``RunResult.to_frame("layers")`` is these rows."""
    per_image = max(summary["images"], 1)
    return [
        [
            lay["name"],
            lay["start_cycle"],
            lay["end_cycle"],
            lay["cycles"],
            lay["busy_cycles"],
            lay["stall_cycles"],
            lay["starve_cycles"],
            lay.get("input_wait_cycles"),
            lay.get("backpressure_cycles"),
            lay.get("depth_cycles"),
            lay.get("lead_cycles"),
            lay.get("span_cycles"),
            lay["dynamic_energy_pj"],
            lay["leakage_energy_pj"],
            lay["energy_pj"],
            lay["energy_pj"] / per_image,
            lay["area_um2"],
            lay["leakage_mw"],
            " ".join(lay["blocks"]),
        ]
        for lay in summary["layers"]
    ]


def write_layers_csv(summary: dict[str, Any], path: Path) -> Path:
    return _write_csv(path, list(LAYER_COLUMNS), layer_rows(summary))


def block_rows(summary: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """The header and rows of ``blocks.csv`` as Python values (``None`` where a block has no
    such action). ``RunResult.to_frame("blocks")`` is these rows."""
    actions: list[str] = []
    for b in summary["blocks"]:
        actions.extend(a for a in b["actions"] if a not in actions)
    header = [
        "layer",
        "block",
        "kind",
        "role",
        "instances",
        *(f"count_{a}" for a in actions),
        *(f"energy_{a}_pj" for a in actions),
        "dynamic_energy_pj",
        "leakage_energy_pj",
        "energy_pj",
        "area_per_instance_um2",
        "area_um2",
        "leakage_mw",
    ]
    rows = [
        [
            b["layer"],
            b["block"],
            b["kind"],
            b.get("role", ""),
            b["instances"],
            *(b["actions"].get(a) for a in actions),
            *(b["action_energy_pj"].get(a) for a in actions),
            b["dynamic_energy_pj"],
            b["leakage_energy_pj"],
            b["energy_pj"],
            b["area_per_instance_um2"],
            b["area_um2"],
            b["leakage_mw"],
        ]
        for b in summary["blocks"]
    ]
    return header, rows


def write_blocks_csv(summary: dict[str, Any], path: Path) -> Path:
    header, rows = block_rows(summary)
    return _write_csv(path, header, rows)


def write_reports(summary: dict[str, Any], out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write ``layers.csv`` and ``blocks.csv`` into ``out_dir``."""
    out = Path(out_dir)
    return [
        write_layers_csv(summary, out / LAYERS_CSV),
        write_blocks_csv(summary, out / BLOCKS_CSV),
    ]
