"""Every shipped figure, inspected axis by axis as it is saved.

No axis uses offset or scientific notation (the values are scaled to an SI prefix chosen per
axis, and the unit is in the label), no two point labels overlap, categorical energy names
say what the block is (an exact counter is not an APC), and ``--style paper`` gives vector
files at a two-column text width with 8 pt text.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from matplotlib.figure import Figure
from matplotlib.text import Annotation
from matplotlib.ticker import ScalarFormatter

from archsim.cli import main
from archsim.plots.style import PlainFormatter, _all_axes, _overlaps

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "arch_configs" / "dwcnn" / "lenet5_dwm_sn128_fc-shared_pc_sc.yaml"
SMALL = ROOT / "arch_configs" / "dwcnn" / "small_conv_fc-shared.yaml"
UNIT = re.compile(r"\((?:[^()]*\b)?(?:fJ|pJ|nJ|µJ|mJ|J|ns|µs|ms|s|nW|µW|mW|W|µm²|mm²|%)\b")
QUANTITY = re.compile(r"\b(energy|area|power|latency|time)\b")


class _Inspector:
    """Wraps Figure.savefig: checks each figure as archsim saves it."""

    def __init__(self) -> None:
        self.figures: list[str] = []
        self.problems: list[str] = []

    def check(self, fig: Figure) -> None:
        fig.draw_without_rendering()
        renderer = fig.canvas.get_renderer()
        title = fig.get_suptitle() or next((a.get_title() for a in fig.axes if a.get_title()),
                                           "?")
        self.figures.append(title)
        for ax in _all_axes(fig):
            for name, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
                fmt = axis.get_major_formatter()
                if isinstance(fmt, ScalarFormatter):
                    if not isinstance(fmt, PlainFormatter) and axis.get_scale() == "linear":
                        self.problems.append(f"{title}: {name} axis formatter {fmt!r}")
                    if fmt.get_offset():
                        self.problems.append(f"{title}: {name} axis offset {fmt.get_offset()}")
                for tick in axis.get_ticklabels():
                    text = tick.get_text()
                    if re.search(r"\de[+-]?\d|×10|\\times", text):
                        self.problems.append(f"{title}: {name} tick label {text!r}")
                label = axis.get_label_text()
                if QUANTITY.search(label) and "share" not in label and not UNIT.search(label):
                    self.problems.append(f"{title}: {name} label without a unit: {label!r}")
            boxes = [a.get_window_extent(renderer) for a in ax.texts
                     if isinstance(a, Annotation) and a.anncoords == "offset points"
                     and a.get_text()]
            for i, a in enumerate(boxes):
                for b in boxes[i + 1:]:
                    if _overlaps(a, b):
                        self.problems.append(f"{title}: overlapping point labels")


@pytest.fixture
def inspector(monkeypatch):
    ins = _Inspector()
    original = Figure.savefig

    def savefig(self, *args, **kwargs):
        ins.check(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", savefig)
    return ins


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory):
    out = tmp_path_factory.mktemp("axes") / "quickstart"
    assert main(["run", str(QUICKSTART), "--out", str(out), "--quiet", "--images", "6",
                 "--jobs", "1"]) == 0
    return out


def test_every_run_figure_has_plain_si_axes(quickstart, inspector, tmp_path):
    other = tmp_path / "small"
    assert main(["run", str(SMALL), "--out", str(other), "--quiet", "--images", "2"]) == 0
    assert main(["plot", str(quickstart), str(other)]) == 0  # both runs and their comparison
    assert len(inspector.figures) >= 6 + 4 + 4, inspector.figures
    assert not inspector.problems, "\n".join(inspector.problems)
    for name in ("energy_breakdown", "area_breakdown", "timeline", "accuracy", "activity"):
        assert (quickstart / "plots" / f"{name}.png").is_file()
    assert all("quickstart" not in t for t in inspector.figures)  # the design, not a folder


def test_every_sweep_figure_has_plain_si_axes_and_labels_apart(inspector, tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text(f"name: axes_test\nbase: {SMALL}\nimages: 1\naxes:\n"
                 "  layers.fc1.weights.length: [16, 32, 48]\n  stream.length: [64, 128]\n",
                 encoding="utf-8")
    out = tmp_path / "sweep"
    assert main(["sweep", str(f), "--out", str(out), "--jobs", "1", "--quiet"]) == 0
    inspector.figures.clear()
    assert main(["plot", str(out)]) == 0
    assert len(inspector.figures) >= 3
    assert not inspector.problems, "\n".join(inspector.problems)
    assert all(t.startswith("axes_test") for t in inspector.figures)


def test_exact_counters_are_not_called_apc(quickstart):
    from archsim.plots.breakdown import energy_by_category
    from archsim.plots.rundata import load_run

    cats = {c for d in energy_by_category(load_run(quickstart)).values() for c in d}
    assert "exact counter" in cats and "APC" not in cats  # the quickstart design has PCs
    apc_run = load_run(quickstart)
    for b in apc_run.blocks:
        if b["kind"] == "counter":
            b["kind"] = "apc"
    cats = {c for d in energy_by_category(apc_run).values() for c in d}
    assert "APC" in cats and "exact counter" not in cats


def test_paper_style_is_vector_at_two_column_width(quickstart):
    assert main(["plot", str(quickstart), "--style", "paper"]) == 0
    pdf = quickstart / "plots" / "energy_breakdown.pdf"
    assert pdf.read_bytes().startswith(b"%PDF")
    from archsim.plots.style import new_figure, use_style

    with use_style("paper") as style:
        fig = new_figure(12, 5)
        assert fig.get_size_inches()[0] == pytest.approx(7.16)
        assert style["rc"]["font.size"] == 8
        ax = fig.subplots()
        assert ax.title.get_fontsize() == 8
