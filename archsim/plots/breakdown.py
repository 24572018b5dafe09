"""Where the energy, the activity and the area go, layer by layer.

Energy is grouped the way the SC-accelerator papers break it down (DW-CNN's Fig. 8:
memory read, shift, write, SNG, ...): every (block kind, action) pair of ``blocks.csv`` is
mapped to one category by :func:`energy_category`, and leakage is its own category.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from archsim.outputs.summary import format_area
from archsim.plots.rundata import RunData
from archsim.plots.style import area_unit, color_map, energy_unit, new_figure, save_figure

__all__ = [
    "AREA_KINDS",
    "ENERGY_CATEGORIES",
    "area_by_kind",
    "energy_by_category",
    "energy_category",
    "plot_activity",
    "plot_area_breakdown",
    "plot_energy_breakdown",
]

ENERGY_CATEGORIES = (
    "memory read",
    "shift",
    "write",
    "SNG",
    "RNG",
    "XNOR",
    "APC",
    "exact counter",
    "pooling",
    "Btanh",
    "MUX",
    "register",
    "accumulator",
    "other",
    "leakage",
)

_KIND_CATEGORY = {
    "sng": "SNG",
    "rng": "RNG",
    "xnor": "XNOR",
    "apc": "APC",
    "counter": "exact counter",
    "pool": "pooling",
    "btanh": "Btanh",
    "mux": "MUX",
    "register": "register",
    "accumulator": "accumulator",  # output counters of the last layer
}

AREA_KINDS = (
    "memory",
    "ports",
    "sng",
    "rng",
    "xnor",
    "apc",
    "counter",
    "pool",
    "btanh",
    "mux",
    "register",
    "accumulator",
)

CATEGORY_COLORS = color_map(ENERGY_CATEGORIES)
KIND_COLORS = color_map(AREA_KINDS)


def energy_category(kind: str, action: str) -> str:
    """The breakdown category of energy spent by ``action`` of a block of ``kind``.

    Memory cells and their access ports split by what they do (a DWM ``shift`` is not a
    read); every other kind is its own category (a kind a fabric registered, e.g. ``mac``,
    under its own name); ``leak`` is always leakage.
    """
    if action == "leak":
        return "leakage"
    if kind in ("memory", "ports"):
        if "shift" in action:
            return "shift"
        if "write" in action:
            return "write"
        return "memory read"
    return _KIND_CATEGORY.get(kind, kind)


def category_order(parts: dict[str, dict[str, float]]) -> tuple[list[str], dict[str, Any]]:
    """The categories to draw and their colours: the known ones in their order, then any other
    (a registered component kind) before leakage."""
    seen = {c for d in parts.values() for c in d}
    extra = sorted(seen - set(ENERGY_CATEGORIES))
    order = [c for c in ENERGY_CATEGORIES if c != "leakage"] + extra + ["leakage"]
    colors = dict(CATEGORY_COLORS)
    taken = set(colors.values())
    spare = [c for c in color_map([f"_{i}" for i in range(40)]).values() if c not in taken]
    colors.update({c: spare[i % len(spare)] if spare else "#777777"
                   for i, c in enumerate(extra)})
    return order, colors


def layer_order(run: RunData) -> list[str]:
    names = [str(r["layer"]) for r in run.layers]
    names += [str(b["layer"]) for b in run.blocks if str(b["layer"]) not in names]
    return list(dict.fromkeys(names))


def energy_by_category(run: RunData) -> dict[str, dict[str, float]]:
    """``{layer: {category: pJ over the whole run}}`` from ``blocks.csv``."""
    out: dict[str, dict[str, float]] = {name: {} for name in layer_order(run)}
    actions = run.block_actions()
    for b in run.blocks:
        d = out.setdefault(str(b["layer"]), {})
        for a in actions:
            e = b.get(f"energy_{a}_pj")
            if e:
                cat = energy_category(str(b["kind"]), a)
                d[cat] = d.get(cat, 0.0) + float(e)
        leak = b.get("leakage_energy_pj") or 0.0
        if leak:
            d["leakage"] = d.get("leakage", 0.0) + float(leak)
    return out


def area_by_kind(run: RunData) -> dict[str, dict[str, float]]:
    """``{layer: {block kind: um^2}}`` from ``blocks.csv``."""
    out: dict[str, dict[str, float]] = {name: {} for name in layer_order(run)}
    for b in run.blocks:
        d = out.setdefault(str(b["layer"]), {})
        kind = str(b["kind"])
        d[kind] = d.get(kind, 0.0) + float(b.get("area_um2") or 0.0)
    return out


def stacked_bars(
    ax: Any,
    labels: list[str],
    parts: dict[str, dict[str, float]],
    order,
    colors,
    scale: float = 1.0,
    horizontal: bool = False,
) -> list[str]:
    """Stacked bars of ``parts[label][category]``; return the categories drawn."""
    x = np.arange(len(labels))
    bottom = np.zeros(len(labels))
    drawn = []
    for cat in order:
        vals = np.array([parts[lab].get(cat, 0.0) for lab in labels]) / scale
        if not np.any(vals):
            continue
        if horizontal:
            ax.barh(
                x,
                vals,
                left=bottom,
                color=colors.get(cat),
                label=cat,
                edgecolor="white",
                linewidth=0.5,
            )
        else:
            ax.bar(
                x,
                vals,
                bottom=bottom,
                color=colors.get(cat),
                label=cat,
                edgecolor="white",
                linewidth=0.5,
            )
        bottom += vals
        drawn.append(cat)
    if horizontal:
        ax.set_yticks(x, labels)
    else:
        ax.set_xticks(
            x,
            labels,
            rotation=30 if len(labels) > 6 else 0,
            ha="right" if len(labels) > 6 else "center",
        )
    return drawn


def _no_data(ax: Any, what: str) -> None:
    ax.text(
        0.5,
        0.5,
        f"no {what} in this run",
        ha="center",
        va="center",
        transform=ax.transAxes,
        color="grey",
    )


def plot_energy_breakdown(run: RunData, path: Path, fmt: str) -> Path:
    """Per-layer energy per image, stacked by category; beside it each layer's shares (%)."""
    parts = energy_by_category(run)
    layers = list(parts)
    per_image = {lay: {c: v / run.images for c, v in d.items()} for lay, d in parts.items()}
    totals = [sum(d.values()) for d in per_image.values()]
    scale, unit = energy_unit(totals)
    fig = new_figure(12, 5)
    ax_abs, ax_pct = fig.subplots(1, 2)
    if layers and any(totals):
        order, colors = category_order(per_image)
        stacked_bars(ax_abs, layers, per_image, order, colors, scale)
        ax_abs.set_ylim(0, max(totals) / scale * 1.12)  # room for the totals above the bars
        for i, t in enumerate(totals):
            ax_abs.annotate(
                f"{t / scale:.3g}",
                (i, t / scale),
                ha="center",
                va="bottom",
                fontsize="small",
                xytext=(0, 2),
                textcoords="offset points",
            )
        shares = {
            lay: {c: 100 * v / t for c, v in d.items()} if t else {}
            for (lay, d), t in zip(per_image.items(), totals, strict=True)
        }
        stacked_bars(ax_pct, layers, shares, order, colors)
        ax_pct.set_ylim(0, 100)
        fig.legend(
            *ax_abs.get_legend_handles_labels(),
            loc="outside right center",
            title="energy category",
            fontsize="small",
        )
    else:
        _no_data(ax_abs, "energy")
        _no_data(ax_pct, "energy")
    ax_abs.set_title("Energy per image by layer")
    ax_abs.set_xlabel("layer")
    ax_abs.set_ylabel(f"energy per image ({unit})")
    ax_pct.set_title("Share of each layer's energy")
    ax_pct.set_xlabel("layer")
    ax_pct.set_ylabel("share of layer energy (%)")
    fig.suptitle(
        f"{run.label}: energy breakdown ({run.summary.get('images')} image(s), "
        f"{run.summary.get('mode')} mode)"
    )
    return save_figure(fig, path, fmt)


def _count(n: float) -> str:
    """``32_800_000_000`` -> ``'32.8 G'``: a count with a decimal prefix, never e-notation."""
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M")):
        if n >= 10 * factor:
            return f"{n / factor:.3g} {prefix}"
    return f"{n:,.0f}"


def plot_activity(run: RunData, path: Path, fmt: str) -> Path:
    """Every block's action counts over the run (horizontal bars, log scale), by layer."""
    actions = run.block_actions()
    layers = layer_order(run)
    colors = color_map(layers)
    bars: list[tuple[str, str, float]] = []  # (label, layer, count)
    for lay in layers:
        for b in run.blocks:
            if str(b["layer"]) != lay:
                continue
            for a in actions:
                n = b.get(f"count_{a}")
                if n:
                    bars.append((f"{lay}.{b['block']}.{a}", lay, float(n)))
    fig = new_figure(10, max(3.0, 0.9 + 0.28 * len(bars)))
    ax = fig.subplots()
    if bars:
        y = np.arange(len(bars))
        seen: set[str] = set()
        for i, (_, lay, n) in enumerate(bars):
            ax.barh(i, n, color=colors[lay], label=None if lay in seen else lay)
            seen.add(lay)
            ax.annotate(
                _count(n),
                (n, i),
                va="center",
                fontsize="x-small",
                xytext=(2, 0),
                textcoords="offset points",
            )
        ax.set_yticks(y, [b[0] for b in bars], fontsize="small")
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.set_xlim(right=max(b[2] for b in bars) * 8)
        ax.legend(title="layer", loc="lower right", fontsize="small")
    else:
        _no_data(ax, "actions")
    ax.set_xlabel("action count over the run (log scale; M = 10⁶, G = 10⁹)")
    ax.set_ylabel("layer.block.action")
    ax.set_title(f"{run.label}: hardware activity ({run.summary.get('images')} image(s))")
    ax.grid(axis="x", which="major", alpha=0.3)
    return save_figure(fig, path, fmt)


def plot_area_breakdown(run: RunData, path: Path, fmt: str) -> Path:
    """Area per layer stacked by block kind, and the whole design's area by kind."""
    parts = area_by_kind(run)
    layers = list(parts)
    totals = [sum(d.values()) for d in parts.values()]
    scale, unit = area_unit(totals)
    fig = new_figure(12, 5)
    ax_layer, ax_kind = fig.subplots(1, 2, width_ratios=(3, 2))
    kinds = list(AREA_KINDS) + sorted({k for d in parts.values() for k in d} - set(AREA_KINDS))
    colors = {**KIND_COLORS, **color_map([k for k in kinds if k not in KIND_COLORS])}
    if layers and any(totals):
        stacked_bars(ax_layer, layers, parts, kinds, colors, scale)
        by_kind = {k: sum(d.get(k, 0.0) for d in parts.values()) for k in kinds}
        by_kind = {k: v for k, v in by_kind.items() if v > 0}
        total = sum(by_kind.values())
        ks = list(by_kind)
        k_scale, k_unit = area_unit(by_kind.values())
        ax_kind.barh(
            np.arange(len(ks)), [by_kind[k] / k_scale for k in ks], color=[colors[k] for k in ks]
        )
        for i, k in enumerate(ks):
            ax_kind.annotate(
                f"{100 * by_kind[k] / total:.1f}%",
                (by_kind[k] / k_scale, i),
                va="center",
                fontsize="small",
                xytext=(2, 0),
                textcoords="offset points",
            )
        ax_kind.set_yticks(np.arange(len(ks)), ks)
        ax_kind.invert_yaxis()
        ax_kind.set_xlim(right=max(by_kind.values()) / k_scale * 1.25)
        ax_kind.set_xlabel(f"area ({k_unit})")
        fig.legend(
            *ax_layer.get_legend_handles_labels(),
            loc="outside right center",
            title="block kind",
            fontsize="small",
        )
    else:
        _no_data(ax_layer, "area")
        _no_data(ax_kind, "area")
        ax_kind.set_xlabel("area (µm²)")
    ax_layer.set_title("Area by layer")
    ax_layer.set_xlabel("layer")
    ax_layer.set_ylabel(f"area ({unit})")
    ax_kind.set_title("Area by block kind (whole design)")
    ax_kind.set_ylabel("block kind")
    total_area = format_area(float(run.summary.get("area_um2") or 0.0))
    fig.suptitle(f"{run.label}: area breakdown (total {total_area.replace('um^2', 'µm²')})"
                 .replace("mm^2", "mm²"))
    return save_figure(fig, path, fmt)
