"""Probes in both engines: the per-cycle engine reads each signal from the block that holds it
as the block steps (the counter's output, the pooling unit's selection, the Btanh counter's
state, the MUX select, the weight memory's address and shifts); the fast engine derives the
same signals from the packed datapath (it re-runs the Btanh counter on the counts it kept).
Both must give the same waveforms, value for value and cycle for cycle.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from archsim.config import load_config
from archsim.run import RunOptions, run_config

ROOT = Path(__file__).resolve().parents[1]
SMALL = sorted((ROOT / "arch_configs" / "dwcnn").glob("small_*.yaml"))


def _probes(cfg) -> list[str]:
    out = []
    for lay in cfg.layers:
        out += [f"{lay.name}.apc.count[1]", f"{lay.name}.weights.address",
                f"{lay.name}.weights.shift"]
        if lay.activation == "btanh":
            out += [f"{lay.name}.btanh.state[2]", f"{lay.name}.btanh.out[0]"]
        if getattr(lay, "pool", 1) > 1:
            out.append(f"{lay.name}.pool.select[1]")
        if getattr(lay, "mux_groups", None):
            out.append(f"{lay.name}.mux.select")
    return out


CASES = [(p, ()) for p in SMALL] + [
    (SMALL[1], ("layers.fc1.mux_passes=3",)),
    (SMALL[2], ("layers[0].pool_first=random", "memories.dwm0.shift_latency=7 ns")),
    # a hidden multi-pass MUX-shared FC: its Btanh runs through 2 passes, the last is emitted
    (SMALL[0], ("layers.fc1.mux_groups=4", "layers.fc1.mux_passes=2")),
]


@pytest.mark.parametrize(("path", "overrides"), CASES,
                         ids=[f"{p.stem}{'+' + ','.join(o) if o else ''}" for p, o in CASES])
def test_per_cycle_blocks_and_fast_datapath_give_the_same_waveforms(path, overrides):
    cfg = load_config(path, list(overrides))
    probes = tuple(_probes(cfg))
    fast, _ = run_config(cfg, RunOptions(mode="fast", probes=probes, probe_images=2, jobs=1))
    slow, _ = run_config(cfg, RunOptions(mode="per-cycle", probes=probes, probe_images=2))
    a = {t.name: (t.width, t.cycles, t.values) for t in fast.probes}
    b = {t.name: (t.width, t.cycles, t.values) for t in slow.probes}
    assert set(a) == set(probes) == set(b)
    for name in probes:
        assert a[name] == b[name], name
    assert any(len(v[1]) > 2 for v in a.values())  # the signals really change
