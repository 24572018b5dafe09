"""Waveforms for GTKWave: ``waves.vcd`` (pyvcd) and a ``waves.gtkw`` save file.

One VCD time unit is one clock cycle: the ``$timescale`` is the clock period expressed in
the largest VCD unit (s, ms, us, ns, ps, fs) that holds it as a whole number, e.g. ``5 ns``
at 200 MHz and ``3333 ps`` at 300 MHz (rounded to within 0.1 %; the exact clock is in the
``$comment``).  IEEE 1800 allows only 1, 10 and 100 as magnitudes, GTKWave reads others.

Signals:

- every :class:`~archsim.engine.results.ProbeTrace`, under ``top`` and the scopes of its
  dotted name (``fc1.apc.count`` -> scope ``top.fc1.apc``, variable ``count``); 1-bit probes
  are ``wire``, wider ones ``reg`` vectors; negative values are two's complement;
- one 1-bit ``busy`` wire per (layer, block) timeline track (``top.<layer>.<block>.busy``),
  high while the block is busy, from the same disjoint spans as ``timeline.json``; left out
  where a probe already has that name.

The ``.gtkw`` file names the VCD (relative path) and lists every signal, grouped by layer,
so ``gtkwave waves.gtkw`` opens a ready view.  Without probes or spans no file is written.
"""

from __future__ import annotations

import heapq
import io
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from vcd import VCDWriter
from vcd.gtkw import GTKWFlag, GTKWSave

from archsim import __version__
from archsim.engine.results import ProbeTrace, RunResult
from archsim.outputs.atomic import atomic_open, write_text
from archsim.outputs.timeline import disjoint_spans

__all__ = ["GTKW_FILE", "ROOT_SCOPE", "VCD_FILE", "vcd_timescale", "wave_signals", "write_waves"]

VCD_FILE = "waves.vcd"
GTKW_FILE = "waves.gtkw"
ROOT_SCOPE = "top"

_UNITS = (("s", 1e9), ("ms", 1e6), ("us", 1e3), ("ns", 1.0), ("ps", 1e-3), ("fs", 1e-6))


def vcd_timescale(clock_mhz: float, *, rel_tol: float = 1e-3) -> tuple[int, str]:
    """``(magnitude, unit)`` of one clock period, e.g. ``(5, "ns")`` for 200 MHz."""
    if not clock_mhz > 0:
        raise ValueError(f"clock_mhz(={clock_mhz}) must be > 0")
    period_ns = 1e3 / clock_mhz
    for unit, ns in _UNITS:
        m = period_ns / ns
        if m >= 1 and abs(round(m) - m) <= rel_tol * m:
            return int(round(m)), unit
    return max(1, int(round(period_ns / 1e-6))), "fs"


_IDENT = re.compile(r"[^A-Za-z0-9_$]")


def _ident(part: str) -> str:
    s = _IDENT.sub("_", part)
    return s if s else "_"


@dataclass
class WaveSignal:
    """One VCD variable and its value changes, cycle by cycle."""

    path: tuple[str, ...]  # scope parts under ROOT_SCOPE, then the variable name
    width: int
    cycles: list[int]
    values: list[int]
    init: int | None = None

    @property
    def name(self) -> str:
        return ".".join(self.path)

    @property
    def signed(self) -> bool:
        return any(v < 0 for v in self.values)


def _probe_signal(p: ProbeTrace) -> WaveSignal:
    if p.width < 1:
        raise ValueError(f"probe {p.name!r}: width(={p.width}) must be >= 1")
    if len(p.cycles) != len(p.values):
        raise ValueError(f"probe {p.name!r}: {len(p.cycles)} cycles but {len(p.values)} values")
    lo, hi = -(1 << (p.width - 1)), (1 << p.width) - 1
    for c0, c1 in zip(p.cycles[:-1], p.cycles[1:], strict=True):
        if c1 < c0:
            raise ValueError(f"probe {p.name!r}: cycles go backwards ({c0} then {c1})")
    for v in p.values:
        if not lo <= v <= hi:
            raise ValueError(f"probe {p.name!r}: value {v} does not fit in {p.width} bits")
    path = tuple(_ident(x) for x in p.name.split("."))
    return WaveSignal(path, p.width, list(p.cycles), list(p.values))


def wave_signals(result: RunResult, *, busy: bool = True) -> list[WaveSignal]:
    """The signals ``waves.vcd`` holds: probes, then busy wires of timeline tracks."""
    signals = [_probe_signal(p) for p in result.probes]
    seen: set[tuple[str, ...]] = set()
    for s in signals:
        if s.path in seen:
            raise ValueError(f"two probes are named {s.name!r}")
        seen.add(s.path)
    if busy:
        for (layer, block), spans in disjoint_spans(result.spans).items():
            path = (_ident(layer), _ident(block), "busy")
            if path in seen or not spans:
                continue
            seen.add(path)
            edges: dict[int, int] = {}
            for sp in spans:  # disjoint and sorted; back-to-back spans stay high
                edges.setdefault(sp.start_cycle, 1)
                edges[sp.end_cycle] = 0
                if edges.get(sp.start_cycle) == 0:
                    del edges[sp.start_cycle]
            cycles = sorted(edges)
            signals.append(WaveSignal(path, 1, cycles, [edges[c] for c in cycles], init=0))
    return signals


def _changes(signals: list[WaveSignal]) -> Iterator[tuple[int, int, int, int]]:
    """All value changes in time order: (cycle, signal index, order in signal, value)."""

    def one(i: int, s: WaveSignal) -> Iterator[tuple[int, int, int, int]]:
        for k, (c, v) in enumerate(zip(s.cycles, s.values, strict=True)):
            yield c, i, k, v

    return heapq.merge(*(one(i, s) for i, s in enumerate(signals)))


def _gtkw_name(s: WaveSignal) -> str:
    name = ".".join((ROOT_SCOPE, *s.path))
    return name if s.width == 1 else f"{name}[{s.width - 1}:0]"


def write_waves(
    result: RunResult, out_dir: str | os.PathLike[str], *, busy: bool = True
) -> list[Path]:
    """Write ``waves.vcd`` and ``waves.gtkw``; remove stale ones when there is nothing to show."""
    out = Path(out_dir)
    vcd_path, gtkw_path = out / VCD_FILE, out / GTKW_FILE
    signals = wave_signals(result, busy=busy)
    if not signals:
        vcd_path.unlink(missing_ok=True)
        gtkw_path.unlink(missing_ok=True)
        return []
    magnitude, unit = vcd_timescale(result.clock_mhz)
    end_cycle = max([result.cycles, *(s.cycles[-1] for s in signals if s.cycles)])
    comment = (
        f"design {result.design}, clock {result.clock_mhz:g} MHz "
        f"({result.cycle_ns:g} ns); one time unit = one clock cycle"
    )
    with atomic_open(vcd_path, "w") as f:
        writer = VCDWriter(
            f,
            timescale=(magnitude, unit),
            date=None,
            comment=comment,
            version=f"archsim {__version__}",
        )
        variables = []
        for s in signals:
            scope = ".".join((ROOT_SCOPE, *s.path[:-1]))
            if s.width == 1:
                var = writer.register_var(scope, s.path[-1], "wire", size=1, init=s.init)
            else:
                var = writer.register_var(scope, s.path[-1], "reg", size=s.width, init=s.init)
            variables.append(var)
        for cycle, i, _, value in _changes(signals):
            writer.change(variables[i], cycle, value)
        writer.close(end_cycle)

    buf = io.StringIO()
    gtkw = GTKWSave(buf)
    gtkw.comment(f"archsim waves of {result.design}; open with: gtkwave {GTKW_FILE}")
    gtkw.dumpfile(VCD_FILE, abspath=False)
    groups: dict[str, list[WaveSignal]] = {}
    for s in signals:
        groups.setdefault(s.path[0] if len(s.path) > 1 else ROOT_SCOPE, []).append(s)
    for group, members in groups.items():
        with gtkw.group(group):
            for s in members:
                flags = GTKWFlag.signed if s.signed else GTKWFlag.none
                gtkw.trace(_gtkw_name(s), datafmt="dec" if s.width > 1 else "hex", extraflags=flags)
    return [vcd_path, write_text(gtkw_path, buf.getvalue())]
