"""The simulated SC LeNet-5 classifies the shipped MNIST subset far above chance."""

from __future__ import annotations

from pathlib import Path

import pytest

from archsim.config import load_config
from archsim.run import RunOptions, run_config

ROOT = Path(__file__).resolve().parents[1] / "arch_configs" / "dwcnn"


@pytest.mark.parametrize("name,floor,float_floor", [
    ("lenet5_dwm_sn128_fc-shared", 0.8, 0.0),  # APC design, APC-trained model
    ("lenet5_dwm_sn128_fc-shared_pc", 0.9, 0.9),  # exact PC, exact-sum model
])
def test_sc_lenet5_on_the_embedded_subset_is_far_above_chance(name, floor, float_floor,
                                                               monkeypatch):
    monkeypatch.delenv("ARCHSIM_DATA", raising=False)  # the subset shipped in the package
    cfg = load_config(ROOT / f"{name}.yaml")
    res, _ = run_config(cfg, RunOptions(images=20, start=100, jobs=2))
    acc = res.accuracy_fraction()
    assert acc is not None and acc >= floor, f"{name}: {acc}"  # chance is 0.1
    # the float reference sums exactly: it matches the exact-sum model, not the APC-trained one
    float_acc = sum(r.float_prediction == r.label for r in res.accuracy) / len(res.accuracy)
    assert float_acc >= float_floor
