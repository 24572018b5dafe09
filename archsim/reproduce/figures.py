"""DW-CNN's figures redrawn from our runs, in the paper's form, with its values marked.

* Fig. 11: (a) area and (b) power of the whole LeNet-5 against the stored bits per weight,
  SRAM and DWM, stochastic streams (lines) and 7-bit binary words (points at 7 bits).
  The paper prints no Fig. 11 values; its stated trends are written on the figure.
* Fig. 8: error rate against weight precision, per layer and all layers; the paper's claim
  (7 bits suffice) is marked.
* Tables II and III as charts (paper's values as hollow markers beside ours).
"""

from __future__ import annotations

from pathlib import Path

from archsim.plots.style import new_figure, save_figure
from archsim.reproduce import paper
from archsim.reproduce.metrics import Cost, LayerCost

__all__ = ["fig8", "fig11", "table2_chart", "table3_chart"]

FORMATS = ("png", "svg")


def _save(fig, folder: Path, stem: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return [save_figure(fig, folder / f"{stem}.{fmt}", fmt) for fmt in FORMATS]


def _yscale(ax) -> None:
    """Log y when the curves span more than a decade, else linear (readable ticks)."""
    ys = [y for line in ax.get_lines() for y in line.get_ydata() if y > 0]
    if ys and max(ys) / min(ys) > 10:
        ax.set_yscale("log")
    else:
        ax.set_ylim(bottom=0)


_STYLE = {
    "DWM stochastic": dict(color="tab:blue", marker="o", linestyle="-"),
    "SRAM stochastic": dict(color="tab:red", marker="s", linestyle="-"),
    "DWM 7-bit binary": dict(color="tab:cyan", marker="^", linestyle="none", markersize=9),
    "SRAM 7-bit binary": dict(color="tab:orange", marker="v", linestyle="none", markersize=9),
}


def fig11(series: dict[str, list[tuple[int, Cost]]], folder: Path, stem: str,
          tech: str) -> list[Path]:
    fig = new_figure(11.0, 4.6)
    axes = fig.subplots(1, 2)
    for ax, what, unit, scale in ((axes[0], "area", "mm²", 1e-6), (axes[1], "power", "W", 1e-3)):
        for name, pts in series.items():
            if not pts:
                continue
            xs = [n for n, _ in pts]
            ys = [(c.area_um2 if what == "area" else c.power_mw) * scale for _, c in pts]
            ax.plot(xs, ys, label=name, **_STYLE.get(name, {}))
        ax.set_xscale("log", base=2)
        _yscale(ax)
        ax.set_xlabel("stored bits per weight (stream length, or binary precision)")
        ax.set_ylabel(f"{what} of the whole LeNet-5 ({unit})")
        ax.set_title(f"({'a' if what == 'area' else 'b'}) {what}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"Fig. 11 reproduced ({tech} technology, unshared FC, 200 MHz)\n"
                 "paper (prints no values): binary SRAM ≈ DWM; DWM stochastic area nearly "
                 "flat and power rising insignificantly; SRAM power rising steeply",
                 fontsize=9)
    return _save(fig, folder, stem)


_CURVE_STYLE = {"conv1": "o", "conv2": "s", "fc1": "^", "fc2": "v", "all": "D"}


def fig8(series: dict[str, list[tuple[int, float, int]]], folder: Path, stem: str
         ) -> list[Path]:
    fig = new_figure(7.5, 4.8)
    ax = fig.subplots()
    n = 0
    for curve, pts in series.items():
        if not pts:
            continue
        n = max(n, max(i for _, _, i in pts))
        label = "all layers" if curve == "all" else f"{curve} only (others 10-bit)"
        ax.plot([b for b, _, _ in pts], [e for _, e, _ in pts], marker=_CURVE_STYLE[curve],
                label=label, linewidth=2.2 if curve == "all" else 1.3)
    ax.axvline(paper.FIG8_CLAIM_BITS, color="k", linestyle=":", linewidth=1.2,
               label=f"paper: {paper.FIG8_CLAIM_BITS} bits suffice")
    ax.set_xlabel("weight precision w (bits, eq. 1 binary weights)")
    ax.set_ylabel("error rate (%)")
    ax.set_ylim(0, 100)
    ax.set_title(f"Fig. 8 reproduced: LeNet-5 SC error rate vs weight precision "
                 f"(MNIST, {n} images/point)", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, folder, stem)


def table2_chart(costs: dict[str, dict[tuple[int, str], LayerCost]], folder: Path, stem: str
                 ) -> list[Path]:
    """Power and area of the last FC layer vs stored length; ours per technology + paper."""
    fig = new_figure(11.0, 5.4)
    axes = fig.subplots(1, 2)
    lengths = list(paper.TABLE2_LENGTHS)
    styles = {"generic45": "-", "calibrated": "--"}
    for ax, what, unit in ((axes[0], "power", "mW"), (axes[1], "area", "µm²")):
        ref = paper.TABLE2_POWER_MW if what == "power" else paper.TABLE2_AREA_UM2
        for st, color in (("shared", "tab:blue"), ("unshared", "tab:red")):
            ax.plot(lengths, [ref[(n, st)] for n in lengths], marker="o", markersize=9,
                    markerfacecolor="none", linestyle="none", color=color,
                    label=f"paper, {st}")
            for tech, c in costs.items():
                xs = [n for n in lengths if (n, st) in c]
                ys = [c[(n, st)].power_mw if what == "power" else c[(n, st)].area_um2
                      for n in xs]
                ax.plot(xs, ys, marker=".", linestyle=styles.get(tech, "-."), color=color,
                        label=f"ours ({tech}), {st}")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("stored weight stream length (bits)")
        ax.set_ylabel(f"{what} of the last FC layer ({unit})")
        ax.grid(True, which="both", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=3, fontsize=8)
    fig.suptitle("Table II as a chart: last FC layer (500 -> 10) in DWM, shared (G = 25) vs "
                 "unshared", fontsize=10)
    return _save(fig, folder, stem)


def table3_chart(accs: dict[str, dict[int, tuple[float, int]]], folder: Path, stem: str
                 ) -> list[Path]:
    fig = new_figure(7.0, 4.4)
    ax = fig.subplots()
    lengths = sorted(paper.TABLE3_ACCURACY_PCT)
    ax.plot(lengths, [paper.TABLE3_ACCURACY_PCT[n] for n in lengths], marker="o",
            markersize=9, markerfacecolor="none", linestyle="--", color="k",
            label="paper (10,000 images)")
    for (name, acc), color, marker in zip(accs.items(), ("tab:blue", "tab:red"), ("s", "^"),
                                          strict=False):
        xs = sorted(acc)
        if not xs:
            continue
        n = min(acc[x][1] for x in xs)
        ys = [acc[x][0] for x in xs]
        err = [200 * ((max(y / 100 * (1 - y / 100), 1e-4)) / acc[x][1]) ** 0.5
               for x, y in zip(xs, ys, strict=True)]
        ax.errorbar(xs, ys, yerr=err, marker=marker, color=color, capsize=3,
                    label=f"ours, {name} ({n} images, ±2 s.e.)")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("weight stream length of the last FC layer (bits)")
    ax.set_ylabel("accuracy (%)")
    ax.set_title("Table III as a chart: accuracy vs last-FC weight length (1024-bit inputs)",
                 fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, folder, stem)
