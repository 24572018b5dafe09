"""DWM misalignment faults (NetDrift model): over/under-shifts that persist as track offsets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from archsim.blocks.misalignment import draw_faults
from archsim.config import load_config
from archsim.config.errors import ConfigError
from archsim.run import RunOptions, run_config

ROOT = Path(__file__).resolve().parents[1]
SMALL = ROOT / "arch_configs" / "dwcnn" / "small_conv_fc.yaml"
UNSHARED = ["layers.fc1.mux_groups=null"]


def test_fault_count_follows_the_per_step_probability():
    steps = np.ones(1000, dtype=np.int64)
    t = draw_faults(steps, tracks=2000, p=0.01, seed=3, layer="l", image=0)
    total = t.per_step.sum()
    expected = 2000 * 1000 * 0.01
    assert abs(total - expected) < 5 * np.sqrt(expected)
    # offsets are a +-1 random walk at the fault accesses, persisting afterwards
    steps_taken = np.abs(np.diff(t.offsets, axis=1, prepend=0))
    assert steps_taken.sum() <= total and np.all(np.abs(t.offsets[:, -1]) <= total)
    assert draw_faults(steps, 2000, 0.0, 3, "l", 0).per_step.sum() == 0


def test_faults_are_deterministic_per_image_and_differ_between_images():
    steps = np.ones(200, dtype=np.int64)
    a = draw_faults(steps, 50, 0.05, 1, "fc1", 7)
    b = draw_faults(steps, 50, 0.05, 1, "fc1", 7)
    c = draw_faults(steps, 50, 0.05, 1, "fc1", 8)
    assert np.array_equal(a.offsets, b.offsets) and np.array_equal(a.tracks, b.tracks)
    assert not (np.array_equal(a.tracks, c.tracks) and np.array_equal(a.offsets, c.offsets))


@pytest.mark.parametrize("p,edge", [(0.01, "saturate"), (0.05, "random")])
def test_fast_mode_equals_per_cycle_mode_with_misalignment(p, edge):
    from test_cycle_accuracy import _assert_same, _both

    cfg = load_config(SMALL, [*UNSHARED, f"memories.dwm0.misalignment.probability={p}",
                              f"memories.dwm0.misalignment.edge={edge}"])
    fast, tf, slow, ts = _both(cfg)
    _assert_same(fast, tf, slow, ts)
    assert fast.ledger.count("fc1.weight_mem", "misalign") > 0


def test_misaligned_tracks_change_the_bits_and_zero_probability_changes_nothing():
    base = load_config(SMALL, UNSHARED)
    r0, t0 = run_config(base, RunOptions(keep_trace=True))
    rz, tz = run_config(load_config(SMALL, [*UNSHARED, "memories.dwm0.misalignment.probability=0"]),
                        RunOptions(keep_trace=True))
    assert all(np.array_equal(a, b) for a, b in zip(t0.counts_sum, tz.counts_sum, strict=True))
    rf, tf = run_config(load_config(SMALL, [*UNSHARED,
                                            "memories.dwm0.misalignment.probability=0.05"]),
                        RunOptions(keep_trace=True))
    assert not all(np.array_equal(a, b) for a, b in zip(t0.counts_sum, tf.counts_sum, strict=True))
    assert rf.cycles == r0.cycles  # a misaligned read costs no extra time in this model


def test_misalignment_on_a_shared_fc_is_rejected_naming_the_key():
    with pytest.raises(ConfigError) as e:
        run_config(load_config(SMALL, ["memories.dwm0.misalignment.probability=0.01"]))
    assert "memories.dwm0.misalignment.probability" in str(e.value)


def test_misalignment_on_an_unshared_conv_is_rejected_naming_the_key():
    # a conv layer's input height and width once shadowed its weights here (AttributeError)
    over = [*UNSHARED, "layers.conv1.sharing=none", "memories.dwm0.misalignment.probability=0.01"]
    with pytest.raises(ConfigError) as e:
        run_config(load_config(SMALL, over))
    assert "memories.dwm0.misalignment.probability" in str(e.value)
    assert "'conv1'" in str(e.value)
