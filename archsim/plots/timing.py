"""When each layer worked on which image, and where each layer's time went.

Left: a Gantt chart of the first images (``image_timing.csv``): one lane per layer, one bar
per image from its first to its last step, coloured by image, so the pipeline overlap and the
layer that takes longest per image are seen at once.  Right: each layer's span split into busy,
memory stall, input wait and backpressure (``layers.csv``, docs/metrics.md), the bottleneck
layer (the most busy + stall cycles) marked.  Runs written before those columns existed get
the left panel from ``layers.csv``'s first-to-last bit span only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from archsim.plots.rundata import RunData
from archsim.plots.style import PALETTE, new_figure, save_figure, time_unit

__all__ = ["GANTT_IMAGES", "plot_layer_timeline"]

GANTT_IMAGES = 6  # images drawn in the Gantt chart
PARTS = (("busy_cycles", "busy", "#0072B2"), ("stall_cycles", "memory stall", "#D55E00"),
         ("input_wait_cycles", "input wait", "#F0E442"),
         ("backpressure_cycles", "backpressure", "#999999"))


def _gantt(ax: Any, run: RunData, layers: list[str], cycle_ns: float) -> None:
    rows = [r for r in run.image_timing if int(r["image"]) < GANTT_IMAGES]
    lane = {name: i for i, name in enumerate(layers)}
    images = sorted({int(r["image"]) for r in rows})
    for r in rows:
        if str(r["layer"]) not in lane:
            continue
        k = int(r["image"])
        start, end = int(r["consume_start"]), int(r["produce_end"]) + 1
        ax.barh(lane[str(r["layer"])], end - start, left=start, height=0.6,
                color=PALETTE[k % len(PALETTE)], edgecolor="black", linewidth=0.4,
                label=f"image {k}" if r["layer"] == layers[0] else None)
    right = max(int(r["produce_end"]) + 1 for r in rows)
    ax.set_xlim(0, right * 1.02)
    scale, unit = time_unit([right * cycle_ns])
    sec = ax.secondary_xaxis("top", functions=(lambda c: c * cycle_ns / scale,
                                               lambda t: t * scale / cycle_ns))
    sec.set_xlabel(f"simulated time ({unit})")
    ax.figure.legend(*ax.get_legend_handles_labels(), loc="outside lower left",
                     ncols=min(3, len(images)), fontsize="small", title="Gantt chart")
    ax.set_title(f"first {len(images)} image(s): first step to last output token per layer")


def _spans_only(ax: Any, run: RunData, layers: list[str]) -> None:
    rows = {str(r["layer"]): r for r in run.layers if r.get("start_cycle") is not None}
    for i, name in enumerate(layers):
        r = rows[name]
        ax.barh(i, int(r["end_cycle"]) - int(r["start_cycle"]), left=int(r["start_cycle"]),
                height=0.6, color=PALETTE[0], edgecolor="black", linewidth=0.4)
    ax.set_title("each layer: first input bit to last output bit (no per-image timing)")


def plot_layer_timeline(run: RunData, path: Path, fmt: str) -> Path:
    rows = [r for r in run.layers
            if r.get("start_cycle") is not None and r.get("end_cycle") is not None]
    layers = [str(r["layer"]) for r in rows]
    cycle_ns = float(run.summary.get("cycle_ns") or 1.0)
    fig = new_figure(12, max(3.0, 1.6 + 0.5 * len(rows)))
    have_split = bool(rows) and all(r.get("span_cycles") is not None for r in rows)
    ax, ax_split = fig.subplots(1, 2, width_ratios=(3, 2), sharey=True)
    if not rows:
        for a in (ax, ax_split):
            a.text(0.5, 0.5, "no layer timing in this run", ha="center", va="center",
                   transform=a.transAxes, color="grey")
        return save_figure(fig, path, fmt)
    if run.image_timing:
        _gantt(ax, run, layers, cycle_ns)
    else:
        _spans_only(ax, run, layers)
    ax.set_yticks(range(len(layers)), layers)
    ax.invert_yaxis()
    ax.set_xlabel(f"cycle (1 cycle = {cycle_ns:g} ns)")
    ax.set_ylabel("layer")
    ax.grid(axis="x", alpha=0.3)
    neck = run.summary.get("bottleneck_layer")
    if have_split:
        left = np.zeros(len(rows))
        for key, label, colour in PARTS:
            share = np.array([100 * int(r[key] or 0) / max(int(r["span_cycles"]), 1)
                              for r in rows])
            ax_split.barh(range(len(rows)), share, left=left, height=0.6, color=colour,
                          edgecolor="black", linewidth=0.4, label=label)
            left += share
        ax_split.set_xlim(0, 100)
        ax_split.set_xlabel("share of the layer's span (%)")
        fig.legend(*ax_split.get_legend_handles_labels(), loc="outside lower right", ncols=2,
                   fontsize="small", title="share of span")
        ax_split.set_title("where each layer's cycles went")
        if neck in layers:
            i = layers.index(neck)
            ax_split.annotate("bottleneck", (100, i), xytext=(-4, 0), textcoords="offset points",
                              ha="right", va="center", color="white", fontweight="bold",
                              fontsize="small")
            ax.get_yticklabels()[i].set_fontweight("bold")
    else:
        ax_split.set_axis_off()
    title = f"{run.label}: layer timing ({run.summary.get('images')} image(s))"
    if neck:
        title += f", bottleneck {neck}"
    fig.suptitle(title)
    return save_figure(fig, path, fmt)
