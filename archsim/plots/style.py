"""Shared plotting helpers: figure creation, unit scaling, colours, atomic saving.

Figures are built with :class:`matplotlib.figure.Figure` directly (never ``pyplot``), so no
GUI backend or global state is touched and plotting works headless and in threads; the
Agg renderer writes PNG, the SVG/PDF renderers the vector formats.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import matplotlib
from matplotlib.figure import Figure

from archsim.outputs.atomic import write_bytes

__all__ = [
    "FORMATS",
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


def color_map(names: Sequence[str], palette: str = "tab20") -> dict[str, Any]:
    """A stable colour per name (in the given order)."""
    cmap = matplotlib.colormaps[palette]
    n = getattr(cmap, "N", 20)
    return {name: cmap(i % n) for i, name in enumerate(names)}


def new_figure(width: float = 9.0, height: float = 5.0) -> Figure:
    return Figure(figsize=(width, height), layout="constrained", dpi=100)


_METADATA = {"svg": {"Date": None}, "pdf": {"CreationDate": None}, "png": {}}


def save_figure(fig: Figure, path: Path, fmt: str) -> Path:
    """Render ``fig`` as ``fmt`` and write it to ``path`` atomically."""
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=150, metadata=_METADATA.get(fmt, {}))
    return write_bytes(path, buf.getvalue())
