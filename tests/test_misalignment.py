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
    from engines_agree import assert_engines_agree as _assert_same
    from engines_agree import run_both as _both

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


# --------------------------------------------------------------------------------------------
# the vectorised fault draws and misreads reproduce the per-track loop bit for bit
# --------------------------------------------------------------------------------------------

RECORDED = ROOT / "tests" / "golden" / "misalignment_small.json"


def _loop_faults(steps, tracks, p, seed, layer, image):
    """The per-track loop draw_faults was before it was vectorised (the reference)."""
    from archsim.seeds import derive_seed

    S, total = len(steps), int(steps.sum())
    rng = np.random.default_rng(derive_seed(seed, "misalign", layer, image))
    n = rng.binomial(total, p, size=tracks)
    hit = np.flatnonzero(n)
    cum = np.cumsum(steps)
    offsets = np.zeros((len(hit), S), dtype=np.int64)
    per_step = np.zeros(S, dtype=np.int64)
    for row, tr in enumerate(hit.tolist()):
        k = rng.integers(0, total, size=n[tr])
        s = np.searchsorted(cum, k, side="right")
        direction = rng.choice(np.array([-1, 1]), size=n[tr])
        np.add.at(offsets[row], s, direction)
        np.add.at(per_step, s, 1)
    return hit, np.cumsum(offsets, axis=1), per_step


@pytest.mark.parametrize("trial", range(40))
def test_vectorised_fault_tables_equal_the_per_track_loop(trial):
    rng = np.random.default_rng(trial)
    S = int(rng.integers(1, 300))
    steps = rng.integers(0, 5, S)
    p = float(rng.choice([1e-4, 1e-3, 0.01, 0.1, 0.5]))
    if trial % 4 == 0:  # large step totals: Lemire rejections, or the loop fallback
        steps = steps * int(rng.integers(1, 30_000_000))
        p = 1e-7
    tracks = int(rng.integers(1, 400))
    if steps.sum() == 0:
        steps[0] = 1
    hit, offsets, per_step = _loop_faults(steps, tracks, p, trial, "l", trial % 7)
    t = draw_faults(steps, tracks, p, trial, "l", trial % 7)
    assert np.array_equal(hit, t.tracks)
    assert np.array_equal(offsets, t.offsets)
    assert np.array_equal(per_step, t.per_step)
    if len(t.tracks) > 3:  # any block of rows equals the same rows of the whole
        assert np.array_equal(t.offset_rows(1, 3), offsets[1:3])


@pytest.mark.parametrize("total", [3, 1000, 300_000_000, 1_500_000_000, 2**31 + 1, 2**32 - 1])
def test_bulk_draws_replay_numpy_bounded_integers(total):
    """Lemire rejections happen with probability ((2^32 - total) mod total) / 2^32: about 2 %
    for 3e8, 43 % for 1.5e9 (the bulk replay gives up and the loop runs)."""
    from archsim.blocks.misalignment import _draws_by_loop, _draws_in_bulk

    counts = np.array([3, 1, 7, 2, 40, 1, 5], dtype=np.int64)
    for seed in range(5):
        ref = _draws_by_loop(np.random.default_rng(seed), counts, total)
        got = _draws_in_bulk(np.random.default_rng(seed), counts, total)
        if got is None:
            assert total - 1 >= 0xFFFFFFFF or total < 2 or total == 1_500_000_000 or \
                total == 2**31 + 1
            continue
        assert np.array_equal(ref[0], got[0]) and np.array_equal(ref[1], got[1])


def test_runs_with_misalignment_reproduce_the_recorded_fingerprints():
    """Bits of every layer, per-cycle counts, predictions, cycles and every action count of
    runs recorded with the per-track loop (fast and per-cycle engines, both edges)."""
    import json
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from misalignment_identity import _run, _tables

    recorded = json.loads(RECORDED.read_text(encoding="utf-8"))
    assert _tables() == recorded["tables"]
    for run in recorded["runs"][::3] + recorded["runs"][-1:]:
        _, fields, _ = _run(run["case"])
        assert fields == run["fields"], run["case"]
