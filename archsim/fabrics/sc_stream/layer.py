"""One SC stream layer behind the fabric interface: its weight store, weight streams and
blocks, the schedule of an image, the packed datapath and its per-cycle reference.

An SC layer waits for its input token by token: step s consumes stream bit ``s mod L`` of
every input stream (pass q of a P-pass MUX-shared FC re-reads the buffered input), and the
last pass's L steps emit the output streams' bits.  The weight memory sets the interval of
each step (DWM shifts that do not fit in a cycle stall the layer).  Fault models of this
fabric (DWM misalignment, MRAM read errors, inter-layer stream flips) are attached to the
weight memory and the output wires here: they change the bits and add fault events to the
action counts; the engines never see them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from archsim.blocks.misalignment import FaultDraw
from archsim.blocks.specs import LayerSpec
from archsim.blocks.streams import LayerWeights
from archsim.blocks.weight_store import WeightStore
from archsim.engine.fabric import (
    Actions,
    LayerModel,
    LayerOutput,
    PerCycleModel,
    Probe,
    Schedule,
    Stage,
)
from archsim.fabrics.sc_stream.datapath import compute_layer
from archsim.fabrics.sc_stream.faults import FaultModel
from archsim.fabrics.sc_stream.hardware import LayerHardware
from archsim.fabrics.sc_stream.percycle import PerCycleLayer
from archsim.fabrics.sc_stream.probes import ScProbe, sample
from archsim.sc import kernels as K


def decode_layer(layer: LayerSpec, streams: np.ndarray | None, counts_sum: np.ndarray | None,
                 L: int) -> np.ndarray:
    """Bipolar value of a layer's output (last layer: the decoded inner-product sums)."""
    if layer.activation == "none":
        assert counts_sum is not None
        scale = layer.mux_phases if layer.shared_fc else 1
        S = layer.steps(L)
        return scale * (2.0 * counts_sum - layer.counter_inputs * S) / S
    assert streams is not None
    return K.decode_bipolar(streams, L)


def sc_stages(lay: LayerSpec) -> list[Stage]:
    """The blocks a stream bit passes through: (the shared FC's MUX,) the XNOR array, the
    counter's adder tree with its pipeline registers, (the segment max pooling,) and the Btanh
    counter or the output accumulator.  The counter tree has ceil(log2 n) register stages;
    pooling and Btanh register their output.  A configured ``pipeline_depth`` replaces the
    tree's registers (and, if it is smaller than the pooling and Btanh registers, theirs)."""
    pool = 1 if lay.pooled else 0
    act = 1 if lay.activation == "btanh" else 0
    tree = lay.depth_cycles - pool - act
    if tree < 0:  # a pipeline_depth below the pooling + Btanh registers
        pool, act, tree = min(pool, lay.depth_cycles), 0, 0
        act = min(1 if lay.activation == "btanh" else 0, lay.depth_cycles - pool)
    out = [Stage("mux", 0)] if lay.shared_fc else []
    out += [Stage("xnor", 0), Stage(lay.counter, tree)]
    if lay.pooled:
        out.append(Stage("pool", pool))
    out.append(Stage("btanh" if lay.activation == "btanh" else "acc", act))
    return out


@dataclass
class ElaboratedLayer(LayerModel):
    """An SC layer on its hardware (weight store, weight streams, blocks)."""

    spec: LayerSpec
    store: WeightStore
    weights: LayerWeights
    hw: LayerHardware
    r: int
    pool_first: int
    L: int = 0  # input stream length
    seed: int = 1  # run seed (stream-flip masks)
    faults: FaultDraw | None = None  # the misalignment fault table of an image, when on
    fault_models: list[FaultModel] = field(default_factory=list)  # active on this layer

    def __post_init__(self) -> None:
        self.name = self.spec.name
        self.blocks = self.hw.blocks
        self.depth_cycles = self.spec.depth_cycles
        self.memory_block = "weight_mem"
        self._timing: tuple[np.ndarray, Schedule] | None = None
        self._stages = sc_stages(self.spec)

    def stages(self) -> list[Stage]:
        return self._stages

    # ----------------------------------------------------------------- power-up
    def load_actions(self) -> Actions:
        return self.hw.load_actions(self.weights.load_read_errors)

    def load_cycles(self) -> int:
        steps = self.store.load_steps()
        return int(self.store.interval_of(steps).sum()) if len(steps) else 0

    # ----------------------------------------------------------------- timing
    def schedule(self) -> Schedule:
        """The store hands out one shift-step array per head state (``image_steps`` caches
        them), so the schedule derived from it is cached by that array's identity."""
        steps = self.store.image_steps()
        if self._timing is None or self._timing[0] is not steps:
            interval = self.store.interval_of(steps)
            sched = Schedule(interval=interval, cum_interval=np.cumsum(interval),
                             stall_cycles=int((interval - 1).sum()),
                             emit_from=len(interval) - self.L, passes=self.spec.passes,
                             detail=(steps, int(steps.sum())))
            self._timing = (steps, sched)
        return self._timing[1]

    # ----------------------------------------------------------------- bits
    def compute(self, data: Any, image: int, detail: bool = False) -> LayerOutput:
        lay, L = self.spec, self.L
        out = compute_layer(lay, data, self.weights, L, self.pool_first, keep_counts=detail,
                            image=image)
        events: Actions = {}
        for fault in self.fault_models:
            applied = fault.corrupt_output(self, out, image)
            events.setdefault(fault.block, {})[fault.action] = fault.image_events(self, image,
                                                                                  applied)
        last = lay.activation == "none"
        return LayerOutput(
            data=out.counts_sum if last else out.streams,
            value=decode_layer(lay, out.streams, out.counts_sum, L),
            scores=out.counts_sum if last else None,
            events=events, trace_bits=out.streams, detail=out if detail else None)

    def image_actions(self, sched: Schedule, out: LayerOutput) -> Actions:
        acts = self.hw.image_actions(sched.steps, sched.detail[1])
        for block, counts in out.events.items():
            acts.setdefault(block, {}).update(counts)
        return acts

    def percycle(self) -> PerCycleModel:
        return ScPerCycle(self)

    # ----------------------------------------------------------------- probes
    def probe_width(self, probe: Probe) -> int:
        assert isinstance(probe, ScProbe)
        return probe.width(self.spec, self.r, max(1, self.store.period))

    def sample_probe(self, probe: Probe, out: LayerOutput, sched: Schedule,
                     consume: np.ndarray | None,
                     produce: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        assert isinstance(probe, ScProbe)
        assert consume is not None  # the fast engine forms every step's cycle when probing
        o = out.detail
        select = getattr(self.weights, "select", None)
        return sample(probe, self.spec, self.r, o.counts, o.pool_select, select,
                      self.store.address, sched.detail[0], consume, produce, self.L)


class ScPerCycle(PerCycleModel):
    """The per-cycle reference of an SC layer: the weight store steps its heads one access
    per step, the datapath (``PerCycleLayer``) one stream bit per step."""

    def __init__(self, el: ElaboratedLayer) -> None:
        self.el = el
        self.pcl = PerCycleLayer(el.spec, el.weights, el.L, el.pool_first)
        self.steps = el.spec.steps(el.L)
        self.emit_from = self.steps - el.L
        self.fault_state: list[Any] = []  # per active fault model, this image's masks
        self.image = 0
        self.watched: dict[str, list[int]] = {}  # probed signal -> its value at every step
        self._probes: list[ScProbe] = []
        # the work of each stage of sc_stages(): the MUX selects the inputs, the XNOR array
        # multiplies, the counter counts, pooling forwards, the last stage activates
        work: dict[str, Any] = {"mux": self._mux, "xnor": self._products,
                                el.spec.counter: self._count, "pool": self._pool,
                                "btanh": self._activate, "acc": self._activate}
        self._work = [work[st.block] for st in el.stages()]

    def reset(self, image: int) -> None:
        self.image = image
        self.pcl.reset(image)
        self.fault_state = [f.percycle(self.el, image) for f in self.el.fault_models]

    def access(self, s: int) -> tuple[int, Actions]:
        el = self.el
        steps = el.store.step_access(s)
        interval = int(el.store.interval_of(np.array([steps]), s)[0])
        acts = el.hw.cycle_actions(steps, s)
        if self._probes:  # the weight memory's signals of this access
            address = el.store.address
            self._record("weights.address", lambda i: int(address[s]) if len(address) else 0)
            self._record("weights.shift", lambda i: int(steps))
        for fault, state in zip(el.fault_models, self.fault_state, strict=True):
            n = fault.step_events(el, state, s, s >= self.emit_from)
            if n:
                acts.setdefault(fault.block, {})[fault.action] = n
        return interval, acts

    def stage(self, i: int, s: int, data: Any) -> Any:
        return self._work[i](s, data)

    # ------------------------------------------------------------ probed signals
    def watch(self, probes: Sequence[Probe]) -> None:
        self._probes = [p for p in probes if isinstance(p, ScProbe)]
        self.watched = {p.signal: [] for p in self._probes}

    def _record(self, signal: str, value: Callable[[int], int]) -> None:
        for p in self._probes:
            if p.signal == signal:
                self.watched.setdefault(f"{signal}[{p.index}]", []).append(value(p.index))

    def probe_samples(self, probe: Probe, consume: np.ndarray,
                      produce: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The fast engine's timing of each signal: what a block computes when it takes a step
        at its consume cycle, what the Btanh outputs at the produce cycle of the last L."""
        assert isinstance(probe, ScProbe)
        values = np.array(self.watched.get(f"{probe.signal}[{probe.index}]", []), np.int64)
        if probe.signal in ("btanh.state", "btanh.out"):
            return produce, values[len(values) - self.el.L:]
        return consume, values

    def _mux(self, s: int, token: np.ndarray) -> Any:
        if self._probes:
            self._record("mux.select", lambda i: int(self.el.weights.select[s]))
        return self.pcl.mux(s, token)

    def _products(self, s: int, token: np.ndarray) -> np.ndarray:
        return self.pcl.products(s, token)

    def _count(self, s: int, prod: np.ndarray) -> np.ndarray:
        v = self.pcl.count(prod)
        if self._probes:  # the counter's output (conv: pre-pool index f*Ho*Wo + y*Wo + x)
            self._record("apc.count", lambda i: int(v.ravel()[i]))
        return v

    def _pool(self, s: int, v: np.ndarray) -> np.ndarray:
        if self._probes:  # the candidate the pooling unit forwards during this step
            self._record("pool.select", lambda i: int(self.pcl.sel[i]))
        return self.pcl.pool(s, v)

    def _activate(self, s: int, v: np.ndarray) -> np.ndarray | None:
        bits = self.pcl.activate(v)
        if self._probes:
            state, r = self.pcl.state, self.pcl.r
            self._record("btanh.state", lambda i: int(state[i]))
            self._record("btanh.out", lambda i: int(2 * state[i] >= r))
        if s < self.emit_from:
            return None
        for fault, state in zip(self.el.fault_models, self.fault_state, strict=True):
            bits = fault.corrupt_token(state, bits, s % self.el.L)  # the output wires
        return bits

    def finish(self, tokens: list[np.ndarray]) -> LayerOutput:
        lay, L = self.el.spec, self.el.L
        bits = np.stack(tokens, axis=1)  # (units, L)
        if lay.activation == "none":
            acc = self.pcl.acc.copy()
            return LayerOutput(value=decode_layer(lay, None, acc, L), scores=acc,
                               trace_bits=np.zeros((lay.out_count, (L + 63) // 64), np.uint64))
        packed = K.pack_bits(bits)
        value = K.decode_bipolar(packed, L)
        if lay.kind == "conv":
            packed = packed.reshape(lay.filters, lay.out_h, lay.out_w, -1)
        return LayerOutput(value=value, trace_bits=packed)
