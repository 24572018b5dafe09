"""The fast engine held to the per-cycle engine: the one check every fabric's tests use.

:func:`assert_engines_agree` compares two runs of the same design, one per engine, on
everything a cycle-accurate claim covers: total cycles; per layer the start, end, busy, stall,
back-pressure, input-wait and starve cycles (and that the split adds up to the span); every
ledger action count and the total energy; every layer's output bits and produce cycles and the
last layer's counts; per image the prediction, latency and start and end cycles.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from archsim.run import RunOptions, run_config


def run_both(cfg: Any) -> tuple[Any, Any, Any, Any]:
    """(fast result, fast trace, per-cycle result, per-cycle trace) of one design."""
    fast, tf = run_config(cfg, RunOptions(mode="fast", keep_trace=True))
    slow, ts = run_config(cfg, RunOptions(mode="per-cycle", keep_trace=True))
    assert tf is not None and ts is not None
    return fast, tf, slow, ts


def assert_engines_agree(fast: Any, tf: Any, slow: Any, ts: Any) -> None:
    """Fail unless the two runs agree on everything listed in the module docstring."""
    assert fast.cycles == slow.cycles
    for a, b in zip(fast.layers, slow.layers, strict=True):
        assert (a.name, a.start_cycle, a.end_cycle, a.busy_cycles, a.stall_cycles) == (
            b.name, b.start_cycle, b.end_cycle, b.busy_cycles, b.stall_cycles)
        assert (a.backpressure_cycles, a.input_wait_cycles, a.starve_cycles) == (
            b.backpressure_cycles, b.input_wait_cycles, b.starve_cycles), a.name
        for t in (a, b):
            assert (t.busy_cycles + t.stall_cycles + t.backpressure_cycles
                    + t.input_wait_cycles) == t.span_cycles, t
    assert fast.ledger.action_counts() == slow.ledger.action_counts()
    assert fast.energy_pj() == pytest.approx(slow.energy_pj(), rel=1e-12)
    assert tf.layer_bits.keys() == ts.layer_bits.keys()
    for name in tf.layer_bits:
        for x, y in zip(tf.layer_bits[name], ts.layer_bits[name], strict=True):
            assert np.array_equal(x, y), f"output bits of {name} differ"
        for x, y in zip(tf.produce[name], ts.produce[name], strict=True):
            assert np.array_equal(x, y), f"produce cycles of {name} differ"
    for x, y in zip(tf.counts_sum, ts.counts_sum, strict=True):
        assert np.array_equal(x, y)
    assert [r.prediction for r in fast.accuracy] == [r.prediction for r in slow.accuracy]
    assert [r.latency_cycles for r in fast.accuracy] == [r.latency_cycles for r in slow.accuracy]
    assert [(r.start_cycle, r.end_cycle) for r in fast.accuracy] == [
        (r.start_cycle, r.end_cycle) for r in slow.accuracy]
