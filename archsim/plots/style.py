"""Shared plotting helpers: figure creation, unit scaling, colours, styles, atomic saving.

Figures are built with :class:`matplotlib.figure.Figure` directly (never ``pyplot``), so no
GUI backend or global state is touched and plotting works headless and in threads; the
Agg renderer writes PNG, the SVG/PDF renderers the vector formats.

Every figure goes through :func:`save_figure`, which makes the rules of a publishable figure
hold for all of them: each linear axis gets :class:`PlainFormatter` (no offset or x1e7
notation, thousands separators; the values are already scaled to an SI prefix chosen per axis
by :func:`energy_unit` and friends), and point labels placed in offset points are moved apart
until none overlaps another (:func:`declutter`).  Colours come from the Okabe-Ito palette
(Okabe and Ito, "Color Universal Design", 2008), distinguishable with every common colour-vision
deficiency, continued by Paul Tol's "muted" scheme.  ``--style paper`` (:func:`use_style`)
draws figures at the text width of a two-column paper (7.16 in) with 8 pt fonts and fonts
embedded as text in PDF/SVG.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import matplotlib
from matplotlib.figure import Figure
from matplotlib.text import Annotation
from matplotlib.ticker import ScalarFormatter

from archsim.outputs.atomic import write_bytes

__all__ = [
    "FORMATS",
    "PALETTE",
    "STYLES",
    "PlainFormatter",
    "declutter",
    "tidy_axes",
    "use_style",
    "color_map",
    "energy_unit",
    "area_unit",
    "new_figure",
    "power_unit",
    "save_figure",
    "time_unit",
]

FORMATS = ("png", "svg", "pdf")

_ENERGY = ((1e9, "mJ"), (1e6, "µJ"), (1e3, "nJ"), (1.0, "pJ"), (1e-3, "fJ"))
_TIME = ((1e9, "s"), (1e6, "ms"), (1e3, "µs"), (1.0, "ns"))
_POWER = ((1e3, "W"), (1.0, "mW"), (1e-3, "µW"), (1e-6, "nW"))
_AREA = ((1e6, "mm²"), (1.0, "µm²"))


def _unit(values: Iterable[float | None], ladder: Sequence[tuple[float, str]]) -> tuple[float, str]:
    """``(divisor, unit)``: the largest unit in which the biggest value is >= 1."""
    peak = max((abs(v) for v in values if v is not None), default=0.0)
    for factor, unit in ladder:
        if peak >= factor:
            return factor, unit
    if peak > 0:
        return ladder[-1]
    return next(((f, u) for f, u in ladder if f == 1.0), ladder[-1])  # all zero: base unit


def energy_unit(values_pj: Iterable[float | None]) -> tuple[float, str]:
    return _unit(values_pj, _ENERGY)


def time_unit(values_ns: Iterable[float | None]) -> tuple[float, str]:
    return _unit(values_ns, _TIME)


def power_unit(values_mw: Iterable[float | None]) -> tuple[float, str]:
    return _unit(values_mw, _POWER)


def area_unit(values_um2: Iterable[float | None]) -> tuple[float, str]:
    vals = list(values_um2)
    if max((abs(v) for v in vals if v is not None), default=0.0) >= 1e5:
        return 1e6, "mm²"  # from 0.1 mm² up, as stats.txt does
    return _unit(vals, _AREA)


# Okabe-Ito (black left out: it is the colour of text and reference lines), then Paul Tol's
# "muted" scheme for the 8th colour on
PALETTE = (
    "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442",
    "#332288", "#88CCEE", "#44AA99", "#117733", "#999933", "#DDCC77", "#CC6677", "#882255",
    "#AA4499", "#DDDDDD",
)


def color_map(names: Sequence[str], palette: str | None = None) -> dict[str, Any]:
    """A stable colour per name (in the given order), from :data:`PALETTE` unless a matplotlib
    colormap is named."""
    if palette is None:
        return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}
    cmap = matplotlib.colormaps[palette]
    n = getattr(cmap, "N", 20)
    return {name: cmap(i % n) for i, name in enumerate(names)}


# ------------------------------------------------------------------------- styles
STYLES: dict[str, dict[str, Any]] = {
    "default": {"width_in": None, "rc": {}, "format": "png"},
    # the text width of a two-column paper (IEEE: 7.16 in), 8 pt text, 7 pt ticks and legends
    "paper": {
        "width_in": 7.16,
        "format": "pdf",
        "rc": {
            "font.size": 8, "axes.titlesize": 8, "axes.labelsize": 8, "xtick.labelsize": 7,
            "ytick.labelsize": 7, "legend.fontsize": 7, "legend.title_fontsize": 7,
            "figure.titlesize": 9, "lines.linewidth": 1.2, "lines.markersize": 4,
            "pdf.fonttype": 42, "ps.fonttype": 42, "svg.fonttype": "none",
            "axes.linewidth": 0.6, "grid.linewidth": 0.4,
        },
    },
}
_STYLE = ["default"]


@contextlib.contextmanager
def use_style(name: str) -> Iterator[dict[str, Any]]:
    """Draw the figures made inside the block in style ``name`` (``default`` or ``paper``)."""
    if name not in STYLES:
        raise ValueError(f"style(={name!r}) must be one of {sorted(STYLES)}")
    _STYLE.append(name)
    try:
        with matplotlib.rc_context(STYLES[name]["rc"]):
            yield STYLES[name]
    finally:
        _STYLE.pop()


def new_figure(width: float = 9.0, height: float = 5.0) -> Figure:
    """A figure of ``width`` x ``height`` inches (the paper style scales it to its width)."""
    target = STYLES[_STYLE[-1]]["width_in"]
    if target is not None:
        width, height = target, max(1.8, height * target / width)
    return Figure(figsize=(width, height), layout="constrained", dpi=100)


# ------------------------------------------------------------------ axis formatting
class PlainFormatter(ScalarFormatter):
    """Tick labels without offset or scientific notation, with thousands separators."""

    def __init__(self) -> None:
        super().__init__(useOffset=False, useMathText=False)
        self.set_scientific(False)

    def __call__(self, x: float, pos: int | None = None) -> str:
        text = super().__call__(x, pos)
        plain = text.replace("\N{MINUS SIGN}", "-")
        try:
            value = float(plain)
        except ValueError:
            return text
        if abs(value) < 1e4:
            return text
        decimals = len(plain.split(".", 1)[1]) if "." in plain else 0
        return f"{value:,.{decimals}f}".replace("-", "\N{MINUS SIGN}")


def _all_axes(fig: Figure) -> list[Any]:
    out: list[Any] = []
    todo = list(fig.axes)
    while todo:
        ax = todo.pop(0)
        out.append(ax)
        todo.extend(getattr(ax, "child_axes", []))
    return out


def tidy_axes(fig: Figure) -> None:
    """:class:`PlainFormatter` on every linear axis of ``fig`` (secondary axes included)."""
    for ax in _all_axes(fig):
        for axis in (ax.xaxis, ax.yaxis):
            if axis.get_scale() == "linear" and isinstance(axis.get_major_formatter(),
                                                           ScalarFormatter):
                axis.set_major_formatter(PlainFormatter())


def _overlaps(a: Any, b: Any) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def declutter(fig: Figure, max_moves: int = 12) -> int:
    """Move point labels (annotations in offset points) until none overlaps another or a
    tick label; return how many moves it took."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    fig.draw_without_rendering()
    renderer = canvas.get_renderer()
    moves = 0
    for ax in fig.axes:
        anns = [t for t in ax.texts if isinstance(t, Annotation)
                and t.anncoords == "offset points" and t.get_visible() and t.get_text()]
        placed = [ax.xaxis.get_tightbbox(renderer), ax.yaxis.get_tightbbox(renderer)]
        placed = [b for b in placed if b is not None]
        for ann in anns:
            x0, y0 = ann.xyann
            box = ann.get_window_extent(renderer)
            step = box.height * 72 / fig.dpi + 1  # the label's height in points
            for n in range(max_moves):
                if not any(_overlaps(box, b) for b in placed):
                    break
                sign = 1 if n % 2 == 0 else -1  # up, down, further up, further down ...
                ann.xyann = (x0, y0 + sign * step * (n // 2 + 1))
                box = ann.get_window_extent(renderer)
                moves += 1
            placed.append(box)
    return moves


_METADATA = {"svg": {"Date": None}, "pdf": {"CreationDate": None}, "png": {}}


def save_figure(fig: Figure, path: Path, fmt: str) -> Path:
    """Make ``fig`` publishable (plain SI-scaled axes, labels apart), render it as ``fmt`` and
    write it to ``path`` atomically."""
    tidy_axes(fig)
    declutter(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=300 if _STYLE[-1] == "paper" else 150,
                metadata=_METADATA.get(fmt, {}))
    return write_bytes(path, buf.getvalue())
