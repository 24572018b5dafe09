"""The one-image buffer between layers: a layer emits the first bit of image k+1 only after the
next layer has consumed the last bit of image k, so a slow layer (a multi-pass MUX-shared FC)
holds the layers before it back instead of letting images pile up in front of it. (The layers
before the FC here are single-pass: their first consumed step is the emitting one.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from archsim.config import load_config
from archsim.run import RunOptions, run_config

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT / "arch_configs" / "dwcnn" / "small_conv_fc-shared.yaml"


def _consume_spans(res):
    spans = {}
    for sp in res.spans:
        if sp.block == "datapath":
            spans[(sp.layer, sp.image)] = (sp.start_cycle, sp.end_cycle - 1)
    return spans


@pytest.mark.parametrize("mode", ["fast", "per-cycle"])
def test_a_layer_waits_for_the_next_layer_to_release_the_previous_image(mode):
    cfg = load_config(SHARED, ["layers.fc1.mux_passes=4"])
    res, _ = run_config(cfg, RunOptions(images=5, mode=mode))
    names = [lay.name for lay in res.layers]
    spans = _consume_spans(res)
    held_back = 0
    for a, b in zip(names, names[1:], strict=False):
        for k in range(1, 5):
            first_a = spans[(a, k)][0]
            last_b = spans[(b, k - 1)][1]
            assert first_a > last_b, (a, b, k)
            held_back += first_a > spans[(a, k - 1)][1] + 1
    assert held_back > 0  # the 4-pass FC is the bottleneck: conv1 really waited


def test_latency_per_image_stays_bounded_behind_a_bottleneck():
    cfg = load_config(SHARED, ["layers.fc1.mux_passes=8"])
    res, _ = run_config(cfg, RunOptions(images=12))
    lat = [r.latency_cycles for r in res.accuracy]
    assert max(lat[2:]) == min(lat[2:])  # steady state: every image takes the same time
    assert max(lat) < 3 * lat[0]
