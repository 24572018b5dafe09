"""A coarse timeline of busy blocks (``timeline.json``) for Perfetto or chrome://tracing.

Chrome Trace Event JSON: ``{"traceEvents": [...], "displayTimeUnit": "ns"}``.  Each layer
is a process (``pid``, named by a ``process_name`` metadata event) and each of its blocks
that has busy spans a thread (``tid``, ``thread_name``); ``tid`` 0 of every layer is the
layer itself, one span from its first input bit to its last output bit.  Busy intervals are complete
(``"ph": "X"``) events with ``ts``/``dur`` in microseconds of simulated time (cycles x
clock period) and ``args`` holding the cycle numbers and the image.

Perfetto does not support overlapping spans on one track, and the engine may report a
block busy for two images at once (pipelining) or the same interval twice.  Spans of a
track are therefore made disjoint first (:func:`disjoint_spans`): a span that overlaps the
previous one is merged into it when it belongs to the same image and label or lies wholly
inside it, and otherwise its start is clipped to the previous span's end.  What was merged
or clipped is recorded in ``args``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archsim.engine.results import RunResult, Span
from archsim.outputs.atomic import json_ready, write_text
from archsim.outputs.summary import layer_names

__all__ = ["TIMELINE_JSON", "TrackSpan", "disjoint_spans", "timeline_document", "write_timeline"]

TIMELINE_JSON = "timeline.json"


@dataclass
class TrackSpan:
    """A busy interval on one (layer, block) track after overlaps were resolved."""

    layer: str
    block: str
    start_cycle: int
    end_cycle: int
    image: int
    label: str = ""
    images: list[int] = field(default_factory=list)  # every image merged into this span
    merged_spans: int = 1  # how many input spans it stands for
    clipped_cycles: int = 0  # cycles cut from its start (overlap with the previous span)

    @property
    def cycles(self) -> int:
        return self.end_cycle - self.start_cycle


def disjoint_spans(spans: Iterable[Span]) -> dict[tuple[str, str], list[TrackSpan]]:
    """``{(layer, block): spans sorted by start, pairwise non-overlapping}``.

    Empty spans (end <= start) are dropped.  Track order follows first appearance.
    """
    tracks: dict[tuple[str, str], list[Span]] = {}
    for s in spans:
        tracks.setdefault((s.layer, s.block), []).append(s)
    out: dict[tuple[str, str], list[TrackSpan]] = {}
    for key, items in tracks.items():
        merged: list[TrackSpan] = []
        for s in sorted(items, key=lambda s: (s.start_cycle, s.end_cycle)):
            if s.end_cycle <= s.start_cycle:
                continue
            cur = merged[-1] if merged else None
            if cur is None or s.start_cycle >= cur.end_cycle:
                merged.append(
                    TrackSpan(
                        s.layer,
                        s.block,
                        s.start_cycle,
                        s.end_cycle,
                        s.image,
                        s.label,
                        images=[s.image],
                    )
                )
            elif (s.image == cur.image and s.label == cur.label) or s.end_cycle <= cur.end_cycle:
                cur.end_cycle = max(cur.end_cycle, s.end_cycle)
                cur.merged_spans += 1
                if s.image not in cur.images:
                    cur.images.append(s.image)
            else:
                merged.append(
                    TrackSpan(
                        s.layer,
                        s.block,
                        cur.end_cycle,
                        s.end_cycle,
                        s.image,
                        s.label,
                        images=[s.image],
                        clipped_cycles=cur.end_cycle - s.start_cycle,
                    )
                )
        out[key] = merged
    return out


def timeline_document(result: RunResult, *, config_name: str = "") -> dict[str, Any]:
    """The Chrome Trace Event document of a run (see module docstring)."""
    us_per_cycle = result.cycle_ns / 1e3

    def us(cycle: int) -> float:
        return round(cycle * us_per_cycle, 6)  # 1 ps resolution, no float noise

    def dur(start: int, end: int) -> float:
        return round(us(end) - us(start), 6)

    tracks = disjoint_spans(result.spans)
    layers = layer_names(result)
    layers += [lay for lay, _ in tracks if lay not in layers]
    pid = {name: i + 1 for i, name in enumerate(layers)}
    tids: dict[tuple[str, str], int] = {}
    for blk in result.ledger.blocks.values():  # ledger order first, then the rest
        if (blk.layer, blk.name) in tracks:
            tids.setdefault((blk.layer, blk.name), 0)
    for key in tracks:
        tids.setdefault(key, 0)
    per_layer_count: dict[str, int] = {}
    for key in tids:
        per_layer_count[key[0]] = per_layer_count.get(key[0], 0) + 1
        tids[key] = per_layer_count[key[0]]

    events: list[dict[str, Any]] = []
    for name in layers:
        p = pid[name]
        events.append(
            {"ph": "M", "name": "process_name", "pid": p, "tid": 0, "args": {"name": name}}
        )
        events.append(
            {"ph": "M", "name": "process_sort_index", "pid": p, "tid": 0, "args": {"sort_index": p}}
        )
        events.append(
            {
                "ph": "M",
                "name": "thread_name",
                "pid": p,
                "tid": 0,
                "args": {"name": f"{name} (layer)"},
            }
        )
        events.append(
            {"ph": "M", "name": "thread_sort_index", "pid": p, "tid": 0, "args": {"sort_index": 0}}
        )
    for (layer, block), t in tids.items():
        p = pid[layer]
        events.append(
            {"ph": "M", "name": "thread_name", "pid": p, "tid": t, "args": {"name": block}}
        )
        events.append(
            {"ph": "M", "name": "thread_sort_index", "pid": p, "tid": t, "args": {"sort_index": t}}
        )

    energy = result.layer_energy_pj()
    for lt in result.layers:
        if lt.end_cycle <= lt.start_cycle:
            continue
        events.append(
            {
                "ph": "X",
                "name": lt.name,
                "cat": "layer",
                "pid": pid[lt.name],
                "tid": 0,
                "ts": us(lt.start_cycle),
                "dur": dur(lt.start_cycle, lt.end_cycle),
                "args": {
                    "cycles": lt.cycles,
                    "image": None,
                    "images": result.images,
                    "start_cycle": lt.start_cycle,
                    "end_cycle": lt.end_cycle,
                    "busy_cycles": lt.busy_cycles,
                    "stall_cycles": lt.stall_cycles,
                    "starve_cycles": lt.starve_cycles,
                    "energy_pj": energy.get(lt.name, 0.0),
                },
            }
        )
    for key, spans in tracks.items():
        for s in spans:
            args: dict[str, Any] = {
                "cycles": s.cycles,
                "image": s.image,
                "start_cycle": s.start_cycle,
                "end_cycle": s.end_cycle,
            }
            if s.label:
                args["label"] = s.label
            if s.merged_spans > 1:
                args["merged_spans"] = s.merged_spans
                args["images"] = s.images
            if s.clipped_cycles:
                args["clipped_cycles"] = s.clipped_cycles
            events.append(
                {
                    "ph": "X",
                    "name": s.label or s.block,
                    "cat": s.layer,
                    "pid": pid[s.layer],
                    "tid": tids[key],
                    "ts": us(s.start_cycle),
                    "dur": dur(s.start_cycle, s.end_cycle),
                    "args": args,
                }
            )
    return {
        "traceEvents": events,
        "displayTimeUnit": "ns",
        "otherData": {
            "generator": "archsim",
            "config": config_name,
            "design": result.design,
            "clock_mhz": result.clock_mhz,
            "time_unit": "ts/dur in microseconds of simulated time (cycles x clock period)",
        },
    }


def write_timeline(
    result: RunResult, out_dir: str | os.PathLike[str], *, config_name: str = ""
) -> list[Path]:
    """Write ``timeline.json`` into ``out_dir``."""
    doc = json_ready(timeline_document(result, config_name=config_name))
    # One event per line: small enough to diff and grep, still plain JSON.
    events = ",\n".join(json.dumps(e, allow_nan=False) for e in doc.pop("traceEvents"))
    rest = json.dumps(doc, allow_nan=False)[1:-1]
    text = '{"traceEvents": [\n' + events + "\n],\n" + rest + "}\n"
    return [write_text(Path(out_dir) / TIMELINE_JSON, text)]
