"""Several designs side by side: the trade-off figures of a design-space comparison.

Every run folder is one design (named by its config).  Figures: headline metrics as one
bar per design (energy per image, area, power, time per image, accuracy), energy per image
by category and area by block kind stacked per design, and per-layer energy grouped by
layer with one bar per design.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.text import Annotation

from archsim.plots.breakdown import (
    AREA_KINDS,
    KIND_COLORS,
    area_by_kind,
    category_order,
    energy_by_category,
    stacked_bars,
)
from archsim.plots.rundata import RunData
from archsim.plots.style import (
    area_unit,
    color_map,
    energy_unit,
    new_figure,
    power_unit,
    save_figure,
    time_unit,
)

__all__ = ["plot_comparison"]


def _bars(
    ax: Any,
    runs: list[RunData],
    values: list[float | None],
    colors: dict[str, Any],
    ylabel: str,
    title: str,
    fmt: str = "{:.4g}",
) -> None:
    x = np.arange(len(runs))
    for i, (r, v) in enumerate(zip(runs, values, strict=True)):
        if v is None:
            ax.annotate("n/a", (i, 0), ha="center", va="bottom", fontsize="small", color="grey")
            continue
        ax.bar(i, v, color=colors[r.label], label=r.label)
        ax.annotate(
            fmt.format(v),
            (i, v),
            ha="center",
            va="bottom",
            fontsize="small",
            xytext=(0, 2),
            textcoords="offset points",
        )
    # long design names side by side would overlap: slant them
    slant = len(runs) > 3 or max((len(r.label) for r in runs), default=0) * len(runs) > 40
    ax.set_xticks(
        x,
        [r.label for r in runs],
        rotation=20 if slant else 0,
        ha="right" if slant else "center",
        rotation_mode="anchor",
        fontsize="small",
    )
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize="medium")
    ax.set_xlabel("design")
    top = max((v for v in values if v is not None), default=0.0)
    ax.set_ylim(0, top * 1.18 if top > 0 else 1)


def plot_metrics(runs: list[RunData], path: Path, fmt: str) -> Path:
    colors = color_map([r.label for r in runs])
    s = [r.summary for r in runs]
    e_scale, e_unit = energy_unit(x["energy_per_image_pj"] for x in s)
    a_scale, a_unit = area_unit(x["area_um2"] for x in s)
    p_scale, p_unit = power_unit(x["power_mw"] for x in s)
    def image_latency_ns(x: dict[str, Any]) -> float:
        # the real per-image latency where the run has it, else the old run time / images
        v = x.get("image_latency_mean_ns")
        return float(v) if v is not None else x["latency_ns"] / max(x["images"], 1)

    t_scale, t_unit = time_unit(image_latency_ns(x) for x in s)
    panels: list[tuple[list[float | None], str, str, str]] = [
        (
            [x["energy_per_image_pj"] / e_scale for x in s],
            f"energy per image ({e_unit})",
            "Energy per image",
            "{:.4g}",
        ),
        ([x["area_um2"] / a_scale for x in s], f"area ({a_unit})", "Area", "{:.4g}"),
        ([x["power_mw"] / p_scale for x in s], f"average power ({p_unit})", "Power", "{:.4g}"),
        (
            [image_latency_ns(x) / t_scale for x in s],
            f"latency per image, mean ({t_unit})",
            "Latency per image",
            "{:.4g}",
        ),
    ]
    if any(x.get("accuracy") is not None for x in s):
        panels.append(
            (
                [None if x.get("accuracy") is None else 100 * x["accuracy"] for x in s],
                "accuracy (%)",
                "Accuracy",
                "{:.1f}",
            )
        )
    ncols = 3 if len(panels) > 4 else 2
    nrows = (len(panels) + ncols - 1) // ncols
    fig = new_figure(4.2 * ncols + 1.5, 3.6 * nrows)
    axes = np.atleast_1d(fig.subplots(nrows, ncols)).ravel()
    for ax, (vals, ylabel, title, vfmt) in zip(axes, panels, strict=False):
        _bars(ax, runs, vals, colors, ylabel, title, vfmt)
        if title == "Accuracy":  # 95 % Wilson intervals where the runs have them
            for i, x in enumerate(s):
                lo, hi = x.get("accuracy_ci95_low"), x.get("accuracy_ci95_high")
                if lo is not None and hi is not None and x.get("accuracy") is not None:
                    acc = 100 * x["accuracy"]
                    ax.errorbar(i, acc, yerr=[[acc - 100 * lo], [100 * hi - acc]], fmt="none",
                                ecolor="black", capsize=4, linewidth=1)
            ax.set_ylim(0, 110)
            ax.set_ylabel("accuracy (%), 95% Wilson interval")
            for text in ax.texts:  # the values beside their error bars, not on them
                if isinstance(text, Annotation):
                    text.xyann = (4, 2)
                    text.set_horizontalalignment("left")
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center", title="design", fontsize="small")
    fig.suptitle(f"Design comparison ({len(runs)} runs)")
    return save_figure(fig, path, fmt)


def plot_energy_by_category(runs: list[RunData], path: Path, fmt: str) -> Path:
    parts: dict[str, dict[str, float]] = {}
    for r in runs:
        d: dict[str, float] = {}
        for layer_parts in energy_by_category(r).values():
            for c, v in layer_parts.items():
                d[c] = d.get(c, 0.0) + v / r.images
        parts[r.label] = d
    labels = [r.label for r in runs]
    scale, unit = energy_unit(sum(d.values()) for d in parts.values())
    fig = new_figure(max(7.0, 2 + 1.3 * len(runs)), 5)
    ax = fig.subplots()
    order, colors = category_order(parts)
    stacked_bars(ax, labels, parts, order, colors, scale)
    ax.set_xlabel("design")
    ax.set_ylabel(f"energy per image ({unit})")
    ax.set_title("Energy per image by category")
    fig.legend(
        *ax.get_legend_handles_labels(),
        loc="outside right center",
        title="energy category",
        fontsize="small",
    )
    return save_figure(fig, path, fmt)


def plot_area_by_kind(runs: list[RunData], path: Path, fmt: str) -> Path:
    parts: dict[str, dict[str, float]] = {}
    for r in runs:
        d: dict[str, float] = {}
        for layer_parts in area_by_kind(r).values():
            for k, v in layer_parts.items():
                d[k] = d.get(k, 0.0) + v
        parts[r.label] = d
    kinds = list(AREA_KINDS) + sorted({k for d in parts.values() for k in d} - set(AREA_KINDS))
    colors = {**KIND_COLORS, **color_map([k for k in kinds if k not in KIND_COLORS])}
    labels = [r.label for r in runs]
    scale, unit = area_unit(sum(d.values()) for d in parts.values())
    fig = new_figure(max(7.0, 2 + 1.3 * len(runs)), 5)
    ax = fig.subplots()
    stacked_bars(ax, labels, parts, kinds, colors, scale)
    ax.set_xlabel("design")
    ax.set_ylabel(f"area ({unit})")
    ax.set_title("Area by block kind")
    fig.legend(
        *ax.get_legend_handles_labels(), loc="outside right center", title="block kind",
        fontsize="small",
    )
    return save_figure(fig, path, fmt)


def plot_layer_energy(runs: list[RunData], path: Path, fmt: str) -> Path:
    layers: list[str] = []
    per: dict[str, dict[str, float]] = {}
    for r in runs:
        d = {}
        for row in r.layers:
            name = str(row["layer"])
            if name not in layers:
                layers.append(name)
            d[name] = float(row.get("energy_pj") or 0.0) / r.images
        per[r.label] = d
    scale, unit = energy_unit(v for d in per.values() for v in d.values())
    colors = color_map([r.label for r in runs])
    fig = new_figure(max(8.0, 2 + 0.5 * len(layers) * len(runs)), 5)
    ax = fig.subplots()
    x = np.arange(len(layers))
    width = 0.8 / max(len(runs), 1)
    for j, r in enumerate(runs):
        vals = [per[r.label].get(lay, 0.0) / scale for lay in layers]
        ax.bar(x - 0.4 + width * (j + 0.5), vals, width, color=colors[r.label], label=r.label)
    ax.set_xticks(x, layers)
    ax.set_xlabel("layer")
    positive = [v / scale for d in per.values() for v in d.values() if v > 0]
    log = bool(positive) and max(positive) / min(positive) > 100
    if log:  # conv layers dwarf pooling and FC ones; keep the small ones visible
        ax.set_yscale("log")
    ax.set_ylabel(f"energy per image ({unit}{', log scale' if log else ''})")
    ax.set_title("Energy per image by layer")
    ax.legend(title="design", fontsize="small")
    ax.grid(axis="y", alpha=0.3)
    return save_figure(fig, path, fmt)


def plot_comparison(runs: list[RunData], out_dir: Path, fmt: str) -> list[Path]:
    """Write the comparison figures of ``runs`` into ``out_dir`` (created)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    return [
        plot_metrics(runs, out_dir / f"compare_metrics.{fmt}", fmt),
        plot_energy_by_category(runs, out_dir / f"compare_energy_breakdown.{fmt}", fmt),
        plot_layer_energy(runs, out_dir / f"compare_layer_energy.{fmt}", fmt),
        plot_area_by_kind(runs, out_dir / f"compare_area_breakdown.{fmt}", fmt),
    ]
