"""When each layer was busy: a Gantt chart of the layers over the run's cycles.

Drawn from ``layers.csv`` (first input bit to last output bit of each layer); stall and
starve cycles are annotated, and a second axis gives simulated time.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.patches import Patch

from archsim.plots.rundata import RunData
from archsim.plots.style import color_map, new_figure, save_figure, time_unit

__all__ = ["plot_layer_timeline"]


def plot_layer_timeline(run: RunData, path: Path, fmt: str) -> Path:
    rows = [
        r for r in run.layers if r.get("start_cycle") is not None and r.get("end_cycle") is not None
    ]
    fig = new_figure(10, max(2.8, 1.4 + 0.45 * len(rows)))
    ax = fig.subplots()
    cycle_ns = float(run.summary.get("cycle_ns") or 1.0)
    total = int(run.summary.get("cycles") or 0)
    if rows:
        colors = color_map([str(r["layer"]) for r in rows], "tab10")
        for i, r in enumerate(rows):
            start, end = int(r["start_cycle"]), int(r["end_cycle"])
            ax.barh(
                i,
                end - start,
                left=start,
                color=colors[str(r["layer"])],
                height=0.6,
                edgecolor="black",
                linewidth=0.5,
            )
            notes = [f"{end - start} cycles"]
            if r.get("stall_cycles"):
                notes.append(f"stall {r['stall_cycles']}")
            if r.get("starve_cycles"):
                notes.append(f"starve {r['starve_cycles']}")
            ax.annotate(
                ", ".join(notes),
                (end, i),
                va="center",
                fontsize=8,
                xytext=(3, 0),
                textcoords="offset points",
            )
        ax.set_yticks(range(len(rows)), [str(r["layer"]) for r in rows])
        ax.invert_yaxis()
        right = max([total, *(int(r["end_cycle"]) for r in rows)])
        ax.set_xlim(0, right * 1.3 if right else 1)
        if total:
            ax.axvline(
                total,
                color="black",
                linestyle="--",
                linewidth=1,
                label=f"end of run ({total} cycles)",
            )
        handles, _ = ax.get_legend_handles_labels()
        busy = Patch(
            facecolor="lightgrey",
            edgecolor="black",
            label="layer busy: first input bit to last output bit",
        )
        fig.legend(handles=[busy, *handles], loc="outside lower center", ncols=2, fontsize=8)
        scale, unit = time_unit([right * cycle_ns])
        sec = ax.secondary_xaxis(
            "top",
            functions=(lambda c: c * cycle_ns / scale, lambda t: t * scale / cycle_ns),
        )
        sec.set_xlabel(f"simulated time ({unit})")
    else:
        ax.text(
            0.5,
            0.5,
            "no layer timing in this run",
            ha="center",
            va="center",
            transform=ax.transAxes,
            color="grey",
        )
    ax.set_xlabel(f"cycle (1 cycle = {cycle_ns:g} ns)")
    ax.set_ylabel("layer")
    ax.set_title(f"{run.label}: layer timeline ({run.summary.get('images')} image(s))")
    ax.grid(axis="x", alpha=0.3)
    return save_figure(fig, path, fmt)
