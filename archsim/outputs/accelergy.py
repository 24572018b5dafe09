"""Accelergy-style energy files: action counts, the energy reference table, the estimate.

These speak Accelergy's v0.4 vocabulary so a user can cross-check archsim against their
Accelergy/Timeloop flow (see tool_conventions.md 1.2):

- ``action_counts.yaml``: ``action_counts: {version: 0.4, local: [{name, action_counts:
  [{name, counts}]}]}``, one entry per block (``<layer>.<block>``), counts summed over all
  instances of the block and all images of the run;
- ``ERT.yaml``: ``ERT: {version: '0.4', tables: [{name, actions: [{name, arguments,
  energy}]}]}``, the energy of one action in pJ;
- ``ART.yaml``: ``ART: {version: '0.4', tables: [{name, area}]}``, all instances, um^2;
- ``energy_estimation.yaml``: ``energy_estimation: {version: 0.4, components: [{name,
  energy}], Total: ...}`` in pJ.

Leakage is an action named ``leak``, as in Accelergy: its count is the run's cycle count
and its ERT energy the leakage of all instances of the block over one cycle, so that for
every component ``sum(counts x ERT energy) == energy`` (leak included) and the components
add up to ``Total``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from archsim.outputs.atomic import json_ready, write_text

__all__ = [
    "ACTION_COUNTS_YAML",
    "ART_YAML",
    "ENERGY_ESTIMATION_YAML",
    "ERT_YAML",
    "accelergy_documents",
    "write_accelergy",
]

ACTION_COUNTS_YAML = "action_counts.yaml"
ERT_YAML = "ERT.yaml"
ART_YAML = "ART.yaml"
ENERGY_ESTIMATION_YAML = "energy_estimation.yaml"


def accelergy_documents(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{file name: document}`` for the four Accelergy files of a run summary."""
    cycles = summary["cycles"]
    cycle_s = summary["cycle_ns"] * 1e-9
    local: list[dict[str, Any]] = []
    tables: list[dict[str, Any]] = []
    areas: list[dict[str, Any]] = []
    components: list[dict[str, Any]] = []
    total = 0.0
    for b in summary["blocks"]:
        counts = [{"name": a, "counts": int(n)} for a, n in b["actions"].items()]
        counts.append({"name": "leak", "counts": int(cycles)})
        local.append({"name": b["name"], "action_counts": counts})
        leak_per_cycle_pj = b["leakage_mw"] * summary["cycle_ns"]  # mW x ns = pJ
        actions = [
            {
                "name": a,
                "arguments": {
                    "global_cycle_seconds": cycle_s,
                    "action_latency_cycles": int(b["latency_per_action_cycles"][a]),
                },
                "energy": float(e),
            }
            for a, e in b["energy_per_action_pj"].items()
        ]
        actions.append(
            {
                "name": "leak",
                "arguments": {"global_cycle_seconds": cycle_s, "action_latency_cycles": 1},
                "energy": leak_per_cycle_pj,
            }
        )
        tables.append({"name": b["name"], "actions": actions})
        areas.append({"name": b["name"], "area": float(b["area_um2"])})
        # Recomputed from the two tables (not copied from the ledger) so the files are
        # consistent by construction; the ledger's total is the same sum.
        energy = sum(c["counts"] * a["energy"] for c, a in zip(counts, actions, strict=True))
        components.append({"name": b["name"], "energy": energy})
        total += energy
    return {
        ACTION_COUNTS_YAML: {"action_counts": {"version": 0.4, "local": local}},
        ERT_YAML: {"ERT": {"version": "0.4", "tables": tables}},
        ART_YAML: {"ART": {"version": "0.4", "tables": areas}},
        ENERGY_ESTIMATION_YAML: {
            "energy_estimation": {"version": 0.4, "components": components, "Total": total}
        },
    }


def write_accelergy(summary: dict[str, Any], out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write ``action_counts.yaml``, ``ERT.yaml``, ``ART.yaml``, ``energy_estimation.yaml``."""
    out = Path(out_dir)
    header = (
        f"# archsim {summary.get('archsim_version', '')}: config {summary['config']}, "
        f"{summary['images']} image(s), {summary['cycles']} cycles at "
        f"{summary['clock_mhz']:g} MHz. Energies in pJ, areas in um^2.\n"
    )
    paths = []
    for name, doc in accelergy_documents(summary).items():
        text = yaml.safe_dump(json_ready(doc), sort_keys=False, default_flow_style=False)
        paths.append(write_text(out / name, header + text))
    return paths
