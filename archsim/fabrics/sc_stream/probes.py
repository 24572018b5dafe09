"""Waveform probes: named hardware signals sampled cycle by cycle for the VCD.

A probe names a signal of one layer, with a unit index where the layer has many units:

| probe | signal |
|---|---|
| ``<layer>.apc.count[i]`` | count of inner-product counter i (conv: pre-pool f*Ho*Wo + y*Wo + x) |
| ``<layer>.pool.select[i]`` | input forwarded by pooling unit i (0..3) |
| ``<layer>.btanh.state[i]`` | state of Btanh counter i |
| ``<layer>.btanh.out[i]`` | output bit of Btanh i |
| ``<layer>.mux.select`` | MUX select m of a shared FC (the same for every neuron) |
| ``<layer>.weights.address`` | logical domain of the weight nanowire read this cycle |
| ``<layer>.weights.shift`` | one-domain shift steps of this cycle's weight access |

Each value is placed at the cycle the layer consumed the stream bit (for the count, select
and weight signals) or produced it (Btanh state and output).  Probes sample the first
``probe_images`` images.  Names are checked before anything runs.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from archsim.blocks.specs import LayerSpec
from archsim.engine.fabric import Probe, ProbeError
from archsim.fabrics.sc_stream.datapath import btanh_states, pool_windows

_PATTERN = re.compile(r"^(?P<layer>[^.\[\]]+)\.(?P<sig>apc\.count|pool\.select|btanh\.state|"
                      r"btanh\.out|mux\.select|weights\.address|weights\.shift)"
                      r"(\[(?P<idx>\d+)\])?$")
INDEXED = {"apc.count", "pool.select", "btanh.state", "btanh.out"}


@dataclass(frozen=True)
class ScProbe(Probe):
    """A signal of one SC layer (``signal`` with unit ``index``)."""

    name: str
    layer: str
    signal: str
    index: int

    def width(self, lay: LayerSpec, r: int, period: int) -> int:
        if self.signal == "apc.count":
            return max(1, math.ceil(math.log2(lay.counter_inputs + 1)))
        if self.signal == "pool.select":
            return max(1, math.ceil(math.log2(lay.pool * lay.pool)))
        if self.signal == "btanh.state":
            return max(1, math.ceil(math.log2(r)))
        if self.signal == "btanh.out":
            return 1
        if self.signal == "mux.select":
            return max(1, math.ceil(math.log2(max(2, lay.mux_phases))))
        if self.signal == "weights.address":
            return max(1, math.ceil(math.log2(max(2, period))))
        return 16


def parse_probes(names: list[str], layers: list[LayerSpec]) -> list[ScProbe]:
    """Check probe names against the network; raise ProbeError naming the first bad one."""
    by_name = {lay.name: lay for lay in layers}
    out = []
    for i, name in enumerate(names):
        m = _PATTERN.match(name)
        if not m:
            raise ProbeError(i, name, "'<layer>.<signal>[i]' with "
                             "signal apc.count, pool.select, btanh.state, btanh.out, "
                             "mux.select, weights.address or weights.shift")
        layer, sig, idx = m["layer"], m["sig"], m["idx"]
        lay = by_name.get(layer)
        if lay is None:
            raise ProbeError(i, name, f"a layer among {list(by_name)}")
        if sig in INDEXED and idx is None:
            raise ProbeError(i, name, f"a unit index, e.g. {name}[0]")
        index = int(idx or 0)
        limit = {"apc.count": lay.neurons, "pool.select": lay.out_count if lay.pooled else 0,
                 "btanh.state": lay.out_count if lay.activation == "btanh" else 0,
                 "btanh.out": lay.out_count if lay.activation == "btanh" else 0}.get(sig, 1)
        if sig == "mux.select" and not lay.shared_fc:
            limit = 0
        if index >= limit:
            what = f"an index below {limit}" if limit else f"a layer that has {sig}"
            raise ProbeError(i, name, f"{what}")
        out.append(ScProbe(name, layer, sig, index))
    return out


def _btanh_trace(values: np.ndarray, n: int, r: int, s0: int) -> np.ndarray:
    state = np.empty(len(values), dtype=np.int64)
    s = s0
    for t, v in enumerate(values.tolist()):
        s = min(max(s + 2 * v - n, 0), r - 1)
        state[t] = s
    return state


def sample(probe: ScProbe, lay: LayerSpec, r: int, counts: np.ndarray | None,
           pool_select: np.ndarray | None, select_seq: np.ndarray | None, address: np.ndarray,
           steps: np.ndarray,
           consume: np.ndarray, produce: np.ndarray, L: int) -> tuple[np.ndarray, np.ndarray]:
    """(cycles, values) of one probe for one image of one layer."""
    sig = probe.signal
    S = len(consume)
    if sig == "weights.address":
        return consume, address[:S] if len(address) else np.zeros(S, np.int64)
    if sig == "weights.shift":
        return consume, steps[:S]
    if sig == "mux.select":
        assert select_seq is not None  # parse_probes: shared FC layers only
        return consume, select_seq[:S]
    assert counts is not None
    if sig == "apc.count":
        return consume, counts.reshape(-1, counts.shape[-1])[probe.index]
    if lay.pooled:
        assert pool_select is not None
        win = pool_windows(counts, lay.pool, lay.pool_step)[:, probe.index]  # (pool^2, L)
        per_bit = np.repeat(pool_select[probe.index].astype(np.int64), lay.pool_segment)[:L]
        if sig == "pool.select":
            return consume, per_bit
        fwd = win[per_bit, np.arange(L)]
    else:
        fwd = counts.reshape(-1, counts.shape[-1])[probe.index]
    _, s0 = btanh_states(lay)
    state = _btanh_trace(fwd.astype(np.int64), lay.btanh_n, r, s0)
    state = state[len(state) - L:]
    if sig == "btanh.state":
        return produce, state
    return produce, (2 * state >= r).astype(np.int64)
