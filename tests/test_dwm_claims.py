"""DW-CNN memory and sharing claims, each stated as the hardware would be described."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archsim.blocks.nanowire import NanowireHeads
from archsim.blocks.specs import LayerSpec, MemorySpec
from archsim.blocks.weight_store import WeightStore
from archsim.config import load_config
from archsim.run import RunOptions, run_config

ROOT = Path(__file__).resolve().parents[1]
SMALL = ROOT / "arch_configs" / "dwcnn" / "small_conv_fc-shared.yaml"


def _dwm(**kw) -> MemorySpec:
    base = dict(name="m", kind="dwm", read_energy_pj=2.5, write_energy_pj=3.4,
                leakage_mw_per_bit=0.0, cell_area_um2=0.01, read_latency_ns=1.6,
                write_latency_ns=4.8, shift_energy_pj=0.6, shift_latency_ns=2.14192,
                port_area_um2=0.1, domains=128, ports=1)
    base.update(kw)
    return MemorySpec(**base)


def _conv_layer(mem: MemorySpec, length: int = 16, **kw) -> LayerSpec:
    return LayerSpec(name="c", kind="conv", memory=mem, weight_format="stochastic",
                     weight_length=length, in_channels=1, in_size=6, filters=2, kernel=3,
                     pool=2, **kw)


# ----------------------------------------------------------------- reading streams
@pytest.mark.parametrize("lw,passes", [(16, 1), (16, 4), (32, 3), (128, 8)])
def test_reading_an_L_bit_stochastic_weight_costs_one_shift_per_bit_plus_rewinds(lw, passes):
    """Lazy port, rewind re-read: each pass over the L_w stored bits costs L_w - 1 shifts
    between bits, and each re-read first rewinds L_w - 1 domains (docs/dwcnn-model.md)."""
    store = WeightStore(_conv_layer(_dwm(reread="rewind"), lw), lw * passes, 5.0)
    steps = store.image_steps()
    assert steps.sum() == passes * (lw - 1) + (passes - 1) * (lw - 1)
    assert np.count_nonzero(steps == 1) == passes * (lw - 1)  # one shift per bit
    assert np.count_nonzero(steps == lw - 1) == passes - 1  # the rewinds


@pytest.mark.parametrize("lw,passes", [(16, 2), (16, 5), (128, 8)])
def test_pingpong_re_read_has_no_rewind(lw, passes):
    store = WeightStore(_conv_layer(_dwm(reread="pingpong"), lw), lw * passes, 5.0)
    steps = store.image_steps()
    assert steps.max() <= 1
    assert steps.sum() == passes * (lw - 1)


def test_stall_of_a_rewind_is_its_shift_time():
    """A rewind of L_w - 1 domains takes ceil(((L_w - 1) t_shift + t_read) / t_clk) cycles."""
    lw, cyc = 128, 5.0
    store = WeightStore(_conv_layer(_dwm(reread="rewind"), lw), 2 * lw, cyc)
    steps = store.image_steps()
    interval = store.interval_of(steps)
    assert interval[lw] == int(np.ceil(((lw - 1) * 2.14192 + 1.6) / cyc))
    assert set(interval[1:lw].tolist()) == {1}


# ----------------------------------------------------------------- port policies
@settings(max_examples=200, deadline=None)
@given(st.sampled_from([(64, 1), (64, 2), (64, 4), (32, 8), (128, 4)]),
       st.lists(st.integers(0, 10_000), min_size=1, max_size=40))
def test_nearest_port_never_shifts_farther_than_static(geom, seq):
    domains, ports = geom
    seq = [s % domains for s in seq]
    static = NanowireHeads(domains, ports, "static", "lazy")
    nearest = NanowireHeads(domains, ports, "nearest", "lazy")
    for dom in seq:
        # from the same head state, the nearest port needs no more shifts than the zone port
        nearest.set_state(static.state())
        probe = NanowireHeads(domains, ports, "nearest", "lazy")
        probe.set_state(static.state())
        assert probe.access(dom) <= static.access(dom)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([(64, 1), (64, 2), (32, 4)]),
       st.sampled_from(["static", "nearest"]),
       st.lists(st.integers(0, 10_000), min_size=1, max_size=40))
def test_eager_update_costs_twice_lazy_on_the_same_access_sequence(geom, select, seq):
    """Eager update aligns and comes back (2d); lazy pays d from the same (rest) state."""
    domains, ports = geom
    seq = [s % domains for s in seq]
    eager = NanowireHeads(domains, ports, select, "eager")
    total_eager = sum(eager.access(d) for d in seq)
    total_lazy_from_rest = 0
    for d in seq:
        lazy = NanowireHeads(domains, ports, select, "lazy")  # eager always starts at rest
        total_lazy_from_rest += lazy.access(d)
    assert total_eager == 2 * total_lazy_from_rest
    assert eager.state() == 0


def test_track_bounds_are_checked():
    h = NanowireHeads(64, 2)
    with pytest.raises(IndexError):
        h.access(64)
    with pytest.raises(IndexError):
        h.access(-1)
    with pytest.raises(ValueError):
        NanowireHeads(64, 3)


# ----------------------------------------------------------------- stalls in a run
def _run(overrides, images=2, mode="fast"):
    cfg = load_config(SMALL, overrides)
    return run_config(cfg, RunOptions(images=images, mode=mode, keep_trace=True))


def test_slow_shift_without_overlap_grows_the_layer_by_exactly_its_stall_cycles():
    # one image: conv1 is never starved (it reads the input SNGs) nor held back by the next
    # layer (the one-image buffer between layers only matters from the second image on)
    base, _ = _run(["memories.dwm0.shift_latency=2 ns"], images=1)
    slow, _ = _run(["memories.dwm0.shift_latency=7 ns"], images=1)
    b, s = base.layers[0], slow.layers[0]
    # consume span of the first layer = bits + stall cycles, in both runs
    bits = 64
    for res in (base, slow):
        span = [x for x in res.spans if x.layer == "conv1" and x.block == "datapath"]
        consumed = span[-1].end_cycle - span[0].start_cycle
        assert consumed == bits + res.layers[0].stall_cycles
    # at 5 ns per cycle, 7 ns shifts + 1.6 ns reads need 2 cycles per bit: 1 stall each
    assert s.stall_cycles > b.stall_cycles
    assert (s.end_cycle - s.start_cycle) - (b.end_cycle - b.start_cycle) == (
        s.stall_cycles - b.stall_cycles)


def test_shift_overlapping_the_read_removes_the_stall_when_the_shift_fits_a_cycle():
    no, _ = _run(["memories.dwm0.shift_latency=4 ns", "memories.dwm0.shift_overlaps_read=false"])
    yes, _ = _run(["memories.dwm0.shift_latency=4 ns", "memories.dwm0.shift_overlaps_read=true"])
    assert no.layers[0].stall_cycles > 0  # 4 + 1.6 ns > 5 ns
    assert yes.layers[0].stall_cycles < no.layers[0].stall_cycles


# ----------------------------------------------------------------- sharing
def test_sharing_conv_weights_reduces_weight_reads_by_the_feature_map_size():
    shared, _ = _run(["layers.conv1.sharing=filter"])
    unshared, _ = _run(["layers.conv1.sharing=none"])
    rs = shared.ledger.count("conv1.weight_mem", "read")
    ru = unshared.ledger.count("conv1.weight_mem", "read")
    fmap = (8 - 3 + 1) ** 2
    assert rs > 0 and ru == fmap * rs
    # and the outputs do not change (the copies hold the same streams)
    assert [r.prediction for r in shared.accuracy] == [r.prediction for r in unshared.accuracy]


def test_mux_shared_fc_uses_a_G_input_apc_and_the_documented_schedule():
    res, trace = _run([], images=2)
    cfg = load_config(SMALL)
    fc = cfg.layer("fc1")
    G = fc.mux_groups
    blk = res.ledger.blocks["fc1.apc"]
    assert blk.description.startswith(f"{G}-input APC")
    L = cfg.stream.length
    # schedule: one output bit per cycle (MUX select m = address mod M), so the layer consumes
    # L bits per image; with no stalls it is busy exactly L cycles per image
    fcl = next(x for x in res.layers if x.name == "fc1")
    assert fcl.busy_cycles == 2 * L
    assert res.ledger.count("fc1.apc", "count") == 2 * L * fc.outputs
    assert res.ledger.count("fc1.mux", "select") == 2 * L * fc.outputs * G
    # each nanowire streams one bit per cycle: G reads per neuron per cycle
    assert res.ledger.count("fc1.weight_mem", "read") == 2 * L * fc.outputs * G
    unshared, _ = _run(["layers.fc1.mux_groups=null"], images=2)
    assert unshared.ledger.blocks["fc1.apc"].description.startswith(f"{fc.inputs + 1}-input APC")
