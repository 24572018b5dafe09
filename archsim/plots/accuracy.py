"""Accuracy of the SC datapath: running accuracy over the images, SC-vs-float error.

Drawn from ``accuracy.csv``.  The running accuracy shows whether enough images were
simulated for the number to settle; the per-layer error shows where the stochastic
datapath departs from the float reference.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.ticker import MaxNLocator

from archsim.outputs.metrics import wilson_interval
from archsim.plots.rundata import RunData
from archsim.plots.style import PALETTE, new_figure, save_figure

__all__ = ["layer_errors", "plot_layer_error", "plot_running_accuracy"]


def plot_running_accuracy(run: RunData, path: Path, fmt: str) -> Path:
    """Accuracy over the first n images, with its 95 % Wilson interval, for the SC datapath
    and (if run) the float model."""
    rows = [r for r in run.accuracy if r.get("label") is not None]
    fig = new_figure(9, 4.5)
    ax = fig.subplots()
    n = np.arange(1, len(rows) + 1)
    hits = np.cumsum([r["label"] == r["prediction"] for r in rows])
    sc = hits / n
    band = [wilson_interval(int(k), int(m)) for k, m in zip(hits, n, strict=True)]
    lo = np.array([b[0] for b in band if b is not None])
    hi = np.array([b[1] for b in band if b is not None])
    ax.fill_between(n, 100 * lo, 100 * hi, color=PALETTE[0], alpha=0.18, linewidth=0,
                    label=f"95% Wilson interval (final {100 * lo[-1]:.1f}-{100 * hi[-1]:.1f}%)")
    ax.plot(
        n,
        100 * sc,
        label=f"SC datapath (final {100 * sc[-1]:.2f}%, {int(hits[-1])}/{len(rows)})",
        color=PALETTE[0],
        marker="o" if len(rows) <= 30 else None,
        markersize=3,
    )
    fl = [r for r in rows if r.get("float_prediction") is not None]
    if len(fl) == len(rows):
        fa = np.cumsum([r["label"] == r["float_prediction"] for r in rows]) / n
        ax.plot(
            n,
            100 * fa,
            label=f"float reference (final {100 * fa[-1]:.2f}%)",
            color=PALETTE[1],
            linestyle="--",
        )
    ax.set_ylim(0, 105)
    ax.set_xlim(0.5, max(len(rows), 1) + 0.5)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("images simulated")
    ax.set_ylabel("running accuracy (%)")
    ax.set_title(f"{run.label}: running accuracy over {len(rows)} labelled image(s)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    return save_figure(fig, path, fmt)


def layer_errors(run: RunData) -> dict[str, list[float]]:
    """``{layer: [mean |SC - float| of each image]}`` from the ``err_<layer>`` columns."""
    if not run.accuracy:
        return {}
    cols = [k for k in run.accuracy[0] if k.startswith("err_")]
    out: dict[str, list[float]] = {}
    for c in cols:
        vals = [float(r[c]) for r in run.accuracy if r.get(c) is not None]
        if vals:
            out[c[len("err_") :]] = vals
    return out


def plot_layer_error(run: RunData, path: Path, fmt: str) -> Path:
    """Mean over images of each layer's mean |SC - float| output error, with the spread."""
    errs = layer_errors(run)
    fig = new_figure(9, 4.5)
    ax = fig.subplots()
    layers = list(errs)
    means = [float(np.mean(errs[k])) for k in layers]
    stds = [float(np.std(errs[k])) for k in layers]
    x = np.arange(len(layers))
    ax.bar(
        x,
        means,
        yerr=stds,
        capsize=4,
        color=PALETTE[3],
        alpha=0.85,
        label="mean over images (error bar: ±1 std. dev.)",
    )
    for i, m in enumerate(means):
        ax.annotate(
            f"{m:.3g}",
            (i + 0.42, m),
            ha="right",
            va="bottom",
            fontsize="small",
            xytext=(0, 2),
            textcoords="offset points",
        )
    ax.set_xticks(x, layers)
    ax.set_xlabel("layer")
    ax.set_ylabel("mean |SC − float| per output (dimensionless)")
    n = max((len(v) for v in errs.values()), default=0)
    ax.set_title(f"{run.label}: SC vs. float error per layer ({n} image(s))")
    ax.legend(loc="upper left")
    ax.grid(axis="y", alpha=0.3)
    return save_figure(fig, path, fmt)
