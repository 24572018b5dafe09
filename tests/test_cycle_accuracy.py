"""Cycle accuracy: the fast engine agrees exactly with the per-cycle reference engine.

Same total and per-layer cycle counts, same cycle at which every output bit is produced,
same action counts, same output bits and predictions -- on the shipped small configs and on
randomly generated small configs.  That agreement is archsim's definition of cycle-accurate.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from engines_agree import assert_engines_agree, run_both

from archsim.config import load_config
from archsim.sc import kernels

ROOT = Path(__file__).resolve().parents[1]
SMALL = sorted((ROOT / "arch_configs" / "dwcnn").glob("small_*.yaml"))
TECH = (ROOT / "arch_configs" / "tech" / "generic45.yaml").as_posix()


@pytest.mark.parametrize("path", SMALL, ids=lambda p: p.stem)
def test_fast_mode_equals_per_cycle_mode_on_shipped_small_configs(path):
    assert SMALL, "no small configs shipped"
    assert_engines_agree(*run_both(load_config(path)))


def _random_config(i: int, tmp_path: Path) -> Path:
    """A random small design: G, lengths, ports, shift latencies, sharing, formats, counters."""
    rng = np.random.default_rng(1000 + i)
    L = int(rng.choice([32, 48, 64, 80]))
    in_size = int(rng.choice([6, 8]))
    k = 3
    conv = (in_size - k + 1)
    pool = 2 if conv % 2 == 0 else 1
    filters = int(rng.integers(1, 4))
    out = filters * (conv // pool) ** 2
    fc_out = int(rng.integers(2, 6))
    shift_ns = float(rng.choice([1.0, 2.14192, 5.5, 9.0]))
    ports = int(rng.choice([1, 2, 4]))
    domains = int(rng.choice([32, 64]))
    mems = {
        "dwm0": {"kind": "dwm", "domains": domains, "ports": ports,
                 "port_select": str(rng.choice(["static", "nearest"])),
                 "shift_latency": f"{shift_ns} ns",
                 "shift_overlaps_read": bool(rng.integers(0, 2)),
                 "reread": str(rng.choice(["rewind", "pingpong"])),
                 "preshift": bool(rng.integers(0, 2))},
        "sram0": {"kind": "sram"},
    }

    def weights():
        mem = str(rng.choice(["dwm0", "dwm0", "sram0"]))
        if rng.random() < 0.3:
            return {"memory": mem, "format": "binary", "bits": int(rng.integers(3, 8))}
        return {"memory": mem, "format": "stochastic", "length": int(rng.choice([8, 12, 16, 24]))}

    g = int(rng.choice([2, 3, 5])) if rng.random() < 0.6 else None
    layers = [
        {"name": "conv1", "kind": "conv", "in_channels": 1, "in_size": in_size,
         "filters": filters, "kernel": k, "pool": pool,
         "sharing": str(rng.choice(["filter", "none"])), "pool_segment": int(rng.choice([4, 8])),
         "counter": str(rng.choice(["apc", "pc"])), "weights": weights()},
        {"name": "fc1", "kind": "fc", "inputs": out, "outputs": fc_out,
         "counter": str(rng.choice(["apc", "pc"])), "weights": weights(),
         **({"mux_groups": g, "mux_passes": int(rng.choice([1, 1, 2, 3]))} if g else {})},
        {"name": "fc2", "kind": "fc", "inputs": fc_out, "outputs": 3, "activation": "none",
         "counter": "apc", "weights": weights()},
    ]
    clock = f"{int(rng.choice([100, 200, 400]))} MHz"
    doc = {"name": f"random{i}", "include": TECH, "clock": clock,
           "seed": i, "dataset": {"name": "random", "images": 2}, "model": {"weights": "random"},
           "stream": {"length": L, "rng": {"kind": str(rng.choice(["lfsr", "sobol"]))}},
           "memories": mems, "layers": layers}
    p = tmp_path / f"random{i}.yaml"
    p.write_text(yaml.safe_dump(doc, sort_keys=False))
    return p


@pytest.mark.parametrize("i", range(24))
def test_fast_mode_equals_per_cycle_mode_on_random_small_configs(i, tmp_path):
    assert_engines_agree(*run_both(load_config(_random_config(i, tmp_path))))


def test_a_deliberately_broken_fast_engine_is_caught(tmp_path, monkeypatch):
    """The comparison can fail: off-by-one in the fast recurrence must be detected."""
    import archsim.blocks.weight_store as ws

    cfg = load_config(SMALL[0])
    orig = ws.WeightStore.interval_of

    def skewed(self, steps, t0=0):
        out = orig(self, steps, t0)
        if len(out) > 1:  # only the fast engine asks for whole images at once
            out = out.copy()
            out[-1] += 1
        return out

    monkeypatch.setattr(ws.WeightStore, "interval_of", skewed)
    with pytest.raises(AssertionError):
        assert_engines_agree(*run_both(cfg))


@pytest.mark.parametrize("reread,weight_length,counter", [
    ("pingpong", 32, "apc"),   # 32-bit streams read forwards, backwards, ...: period 1 word
    ("pingpong", 64, "pc"),    # period 2 words
    ("rewind", 128, "apc"),    # period 2 words, 64 = 2 x 32 pairs
])
def test_unshared_fc_with_periodic_weight_streams(tmp_path, monkeypatch, reread, weight_length,
                                                   counter):
    """Unshared FC layers whose re-read order repeats in whole words read only the first words
    of each weight stream (``LayerWeights.periodic``, ``xnor_counts(x_period=)``): same bits,
    cycles and energy as the per-cycle engine, which reads every bit from the stored streams."""
    w = {"memory": "dwm0", "format": "stochastic", "length": weight_length}
    doc = {"name": "periodic", "include": TECH, "clock": "200 MHz", "seed": 3,
           "dataset": {"name": "random", "images": 2}, "model": {"weights": "random"},
           "stream": {"length": 256},
           "memories": {"dwm0": {"kind": "dwm", "domains": 128, "ports": 1, "reread": reread}},
           "layers": [
               {"name": "conv1", "kind": "conv", "in_channels": 1, "in_size": 6, "filters": 2,
                "kernel": 3, "pool": 2, "pool_segment": 16, "counter": counter, "weights": w},
               {"name": "fc1", "kind": "fc", "inputs": 8, "outputs": 5, "counter": counter,
                "weights": w},
               {"name": "fc2", "kind": "fc", "inputs": 5, "outputs": 3, "activation": "none",
                "counter": counter, "weights": w}]}
    path = tmp_path / "periodic.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    periods = []
    real = kernels.xnor_counts

    def spy(x, w, length, approx, x_period=None):
        periods.append(x_period)
        return real(x, w, length, approx, x_period)

    monkeypatch.setattr(kernels, "xnor_counts", spy)
    assert_engines_agree(*run_both(load_config(path)))
    want = {"pingpong": 2 * weight_length // 64, "rewind": weight_length // 64}[reread]
    assert want in periods, f"the periodic path was not taken: {periods}"
