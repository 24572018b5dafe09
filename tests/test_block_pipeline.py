"""Hardware blocks as components: each layer's memory and datapath blocks are SimPy processes
in the per-cycle engine, and both engines report every block's busy spans.

"A stream bit passes the XNOR array, the counter's pipeline registers, the pooling unit and
the Btanh counter, each its own process, and leaves the layer depth_cycles after it was
consumed" -- the per-cycle engine computes the output times from the block latencies alone,
and they equal the fast engine's ``consume + depth``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from archsim.config import load_config
from archsim.engine.fabric import Stage
from archsim.fabrics.sc_stream.layer import sc_stages
from archsim.run import RunOptions, prepare_run, run_config

ROOT = Path(__file__).resolve().parents[1]
SMALL = sorted((ROOT / "arch_configs" / "dwcnn").glob("small_*.yaml"))


@pytest.mark.parametrize("path", SMALL, ids=lambda p: p.stem)
def test_both_engines_report_the_same_busy_spans_for_every_block(path):
    cfg = load_config(path)
    fast, _ = run_config(cfg, RunOptions(mode="fast"))
    slow, _ = run_config(cfg, RunOptions(mode="per-cycle"))
    key = lambda s: (s.layer, s.block, s.image, s.start_cycle, s.end_cycle, s.label)  # noqa: E731
    assert sorted(fast.spans, key=key) == sorted(slow.spans, key=key)
    net = prepare_run(cfg).net
    for lay in net.layers:
        blocks = {s.block for s in fast.spans if s.layer == lay.name}
        want = {lay.memory_block, *(st.block for st in lay.stages())}
        assert want <= blocks
        assert all(b in lay.blocks for b in want)  # each a component with costs


def test_the_stage_latencies_add_up_to_the_layer_depth():
    for path in SMALL:
        for lay in prepare_run(load_config(path)).net.layers:
            assert sum(st.latency_cycles for st in lay.stages()) == lay.depth_cycles
    cfg = load_config(SMALL[0], ["layers[0].pipeline_depth=1"])
    first = prepare_run(cfg).net.layers[0]
    assert sum(st.latency_cycles for st in sc_stages(first.spec)) == 1


def test_a_pipeline_whose_latencies_do_not_add_up_is_refused():
    cfg = load_config(SMALL[0])
    p = prepare_run(cfg)
    lay = p.net.layers[0]
    lay._stages = [*lay.stages(), Stage("btanh", 1)]  # one register too many
    with pytest.raises(ValueError, match="do not add up"):
        run_config(cfg, RunOptions(mode="per-cycle"), prepared=p)


@pytest.mark.parametrize("depth", [1, 2, 7])
def test_a_configured_pipeline_depth_gives_the_same_cycles_in_both_engines(depth):
    cfg = load_config(SMALL[-1], [f"layers[0].pipeline_depth={depth}"])
    fast, _ = run_config(cfg, RunOptions(mode="fast"))
    slow, _ = run_config(cfg, RunOptions(mode="per-cycle"))
    assert fast.cycles == slow.cycles
    assert [r.latency_cycles for r in fast.accuracy] == [r.latency_cycles for r in slow.accuracy]
