"""Result objects of one simulation run.

These are plain objects: the writers in ``archsim.outputs`` turn them into files, the
plots in ``archsim.plots`` into figures.  Nothing here knows a file format.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from archsim.engine.ledger import Ledger

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class LayerTiming:
    """When a layer was busy: first input bit consumed to last output bit produced.

    The layer's span runs from the cycle its memory starts delivering its first step
    (``start_cycle - lead_cycles``; ``start_cycle`` is that step's consume) to its last step
    consumed: ``cycles - depth_cycles + lead_cycles`` (the pipeline then drains for
    ``depth_cycles``), and every cycle of it is one of: ``busy_cycles`` (a step consumed),
    ``stall_cycles`` (the weight memory still delivering: intervals > 1),
    ``backpressure_cycles`` (the next layer's one-image buffer still full) or
    ``input_wait_cycles`` (the input token not yet produced).
    ``starve_cycles`` is the old name of the last two together (span - busy - stall).
    """

    name: str
    start_cycle: int
    end_cycle: int
    busy_cycles: int  # cycles in which the layer consumed a bit
    stall_cycles: int  # cycles lost waiting for weight memory (intervals > 1)
    starve_cycles: int = 0  # input wait + backpressure (span - busy - stall)
    backpressure_cycles: int = 0  # waiting for the next layer to release its input buffer
    input_wait_cycles: int = 0  # waiting for the previous layer's (or the input's) token
    depth_cycles: int = 0  # pipeline depth: last step consumed to last token produced
    lead_cycles: int = 0  # the first step's memory stall, before start_cycle

    @property
    def cycles(self) -> int:
        return self.end_cycle - self.start_cycle

    @property
    def span_cycles(self) -> int:
        """First step's memory access to last step consumed, inclusive: busy + stall +
        backpressure + input wait."""
        return self.cycles - self.depth_cycles + self.lead_cycles


@dataclass(frozen=True)
class Span:
    """A busy interval of one block (a track in a timeline: layer = process, block = thread)."""

    layer: str
    block: str
    start_cycle: int
    end_cycle: int
    image: int
    label: str = ""


@dataclass
class ImageRecord:
    """Accuracy trace of one image."""

    index: int
    label: int | None
    prediction: int
    layer_error: dict[str, float] = field(default_factory=dict)  # mean |SC - float| per layer
    float_prediction: int | None = None
    latency_cycles: int = 0  # first input bit consumed to last output bit produced, inclusive
    start_cycle: int = 0  # the first layer consumed the image's first input bit
    end_cycle: int = 0  # the last layer produced the image's last output bit

    @property
    def correct(self) -> bool | None:
        return None if self.label is None else self.label == self.prediction


@dataclass
class ProbeTrace:
    """A waveform: value changes of one probed signal, cycle by cycle."""

    name: str  # hierarchical, e.g. "fc1.mux.select"
    width: int  # bits
    cycles: list[int] = field(default_factory=list)
    values: list[int] = field(default_factory=list)

    def change(self, cycle: int, value: int) -> None:
        if self.values and self.values[-1] == value:
            return
        self.cycles.append(int(cycle))
        self.values.append(int(value))


@dataclass
class RunResult:
    """Everything one run produced."""

    design: str
    seed: int
    mode: str
    clock_mhz: float
    images: int
    cycles: int
    ledger: Ledger
    layers: list[LayerTiming]
    spans: list[Span] = field(default_factory=list)
    accuracy: list[ImageRecord] = field(default_factory=list)
    probes: list[ProbeTrace] = field(default_factory=list)
    simpy_events: int = 0
    config_resolved: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    complete: bool = True
    # host wall-clock seconds of the run's phases ("elaboration", "simulation"): how long the
    # simulator took, not a property of the design, so kept out of the reproducible outputs
    host_wall_s: dict[str, float] = field(default_factory=dict)

    # ------------------------------------------------------------ derived metrics
    @property
    def cycle_ns(self) -> float:
        return 1e3 / self.clock_mhz

    @property
    def latency_ns(self) -> float:
        return self.cycles * self.cycle_ns

    def block_energy_pj(self) -> dict[str, dict[str, float]]:
        """``{block: {action: pJ, ..., "leak": pJ}}`` over the whole run."""
        dyn = self.ledger.dynamic_energy_pj()
        leak = self.ledger.leakage_energy_pj(self.latency_ns)
        return {name: {**acts, "leak": leak[name]} for name, acts in dyn.items()}

    def energy_pj(self) -> float:
        return sum(sum(v.values()) for v in self.block_energy_pj().values())

    def layer_energy_pj(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for name, parts in self.block_energy_pj().items():
            layer = self.ledger.blocks[name].layer
            out[layer] = out.get(layer, 0.0) + sum(parts.values())
        return out

    def area_um2(self) -> float:
        return sum(b.total_area_um2 for b in self.ledger.blocks.values())

    def layer_area_um2(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for b in self.ledger.blocks.values():
            out[b.layer] = out.get(b.layer, 0.0) + b.total_area_um2
        return out

    def power_mw(self) -> float:
        """Average power: energy / time (pJ / ns = mW)."""
        t = self.latency_ns
        return self.energy_pj() / t if t > 0 else 0.0

    def layer_actions(self) -> dict[str, dict[str, int]]:
        """``{layer: {"block.action": count}}``."""
        out: dict[str, dict[str, int]] = {}
        for name, counts in self.ledger.action_counts().items():
            blk = self.ledger.blocks[name]
            d = out.setdefault(blk.layer, {})
            for a, n in counts.items():
                d[f"{blk.name}.{a}"] = n
        return out

    def accuracy_fraction(self) -> float | None:
        labelled = [r for r in self.accuracy if r.label is not None]
        if not labelled:
            return None
        return sum(bool(r.correct) for r in labelled) / len(labelled)

    # ------------------------------------------------------------ tables
    def to_frame(self, table: str = "layers", *, events: str = "aggregated") -> pd.DataFrame:
        """One table of the run as a pandas DataFrame, the rows of the run folder's file:
        ``"layers"`` (layers.csv), ``"blocks"`` (blocks.csv), ``"events"`` (events.parquet,
        ``events="aggregated"`` or ``"per-action"``), ``"accuracy"`` (accuracy.csv). Built
        by :mod:`archsim.outputs.frames`."""
        from archsim.outputs.frames import run_frame

        return run_frame(self, table, events=events)

    def to_pandas(self, table: str = "layers", *, events: str = "aggregated") -> pd.DataFrame:
        """Same as :meth:`to_frame`."""
        return self.to_frame(table, events=events)
