"""Image-parallel workers do not change any result: bits, cycles, energies, traces."""

from __future__ import annotations

from pathlib import Path

import pytest

from archsim.config import load_config
from archsim.run import RunOptions, run_config

ROOT = Path(__file__).resolve().parents[1]


def _records(res):
    return [(r.index, r.label, r.prediction, r.float_prediction, r.latency_cycles,
             tuple(sorted(r.layer_error.items()))) for r in res.accuracy]


@pytest.mark.parametrize("name,images", [("small_conv_fc-shared", 9),
                                         ("lenet5_dwm_sn128_fc-unshared", 6)])
def test_one_and_two_workers_give_identical_runs(name, images):
    cfg = load_config(ROOT / "arch_configs" / "dwcnn" / f"{name}.yaml")
    one, _ = run_config(cfg, RunOptions(images=images, jobs=1))
    two, _ = run_config(cfg, RunOptions(images=images, jobs=2))
    assert two.metadata["jobs"] == 2 and one.metadata["jobs"] == 1
    assert _records(one) == _records(two)
    assert one.cycles == two.cycles
    assert one.ledger.action_counts() == two.ledger.action_counts()
    assert one.energy_pj() == two.energy_pj()
    assert [(x.name, x.start_cycle, x.end_cycle) for x in one.layers] == [
        (x.name, x.start_cycle, x.end_cycle) for x in two.layers]


@pytest.mark.slow
def test_200_images_one_and_two_workers_identical_traces():
    """Issue 4's determinism check on the DW-CNN design (MUX-shared FC, 1024-bit inputs): the
    per-image traces of 200 images do not depend on the worker count."""
    cfg = load_config(ROOT / "arch_configs" / "dwcnn" / "lenet5_dwm_sn128_fc-shared.yaml")
    one, _ = run_config(cfg, RunOptions(images=200, jobs=1))
    two, _ = run_config(cfg, RunOptions(images=200, jobs=2))
    assert len(one.accuracy) == 200
    assert _records(one) == _records(two)
    assert one.cycles == two.cycles
    assert one.ledger.action_counts() == two.ledger.action_counts()
    assert one.energy_pj() == two.energy_pj()
