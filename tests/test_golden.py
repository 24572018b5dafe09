"""A redesign changes no result: every shipped design gives the recorded figures.

``tests/golden/results.json`` was written by ``tools/record_golden.py`` before the fabric
redesign: per design, the total and per-layer cycles, each block's action counts, energies,
area and leakage, and per image the prediction, the float reference's prediction, the latency
and the per-layer SC-vs-float error (the small designs in both engines).  Integers must match
exactly; energies and errors to a relative 1e-12 (summation order only).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import record_golden  # noqa: E402

RECORD = json.loads(record_golden.RECORD.read_text())


@pytest.mark.parametrize("case", record_golden.cases(), ids=lambda c: f"{Path(c[0]).stem}@{c[1]}")
def test_shipped_design_gives_the_recorded_results(case):
    rel, mode, images = case
    want = RECORD[record_golden.key(rel, mode)]
    got = record_golden.run_case(rel, mode, images)
    diffs = record_golden.compare(want, got)
    assert not diffs, "\n".join(diffs[:20])


def test_the_comparison_catches_a_changed_cycle_count():
    want = RECORD[record_golden.key(*record_golden.cases()[0][:2])]
    changed = json.loads(json.dumps(want))
    changed["layers"][0]["end"] += 1
    changed["blocks"][next(iter(changed["blocks"]))]["energy_pj"]["leak"] *= 1 + 1e-9
    diffs = record_golden.compare(want, changed)
    assert len(diffs) == 2
    assert any(d.endswith("recorded 0, now 1") or ".end:" in d for d in diffs)
    assert any(".leak:" in d for d in diffs)


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("ARCHSIM_DATA"),
                    reason="needs the full MNIST (ARCHSIM_DATA)")
def test_quickstart_design_on_the_full_mnist_test_set():
    """The 10,000-image run of the quickstart design: 9914 correct, 163,965,378 cycles (the
    figures of every session since the model was trained)."""
    from archsim.config import load_config
    from archsim.run import RunOptions, run_config

    cfg = load_config(ROOT / "arch_configs/dwcnn/lenet5_dwm_sn128_fc-shared_pc_sc.yaml")
    res, _ = run_config(cfg, RunOptions(images=10000, start=0, jobs=2,
                                        data_dir=os.environ["ARCHSIM_DATA"]))
    assert sum(bool(r.correct) for r in res.accuracy) == 9914
    assert res.cycles == 163_965_378
