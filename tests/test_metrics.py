"""Metrics that mean what they say (docs/metrics.md), read back from a quickstart run folder.

Per-image latency is the mean of accuracy.csv's per-image latencies (not run time / images);
the throughput interval times the images is the run's cycles less the fill; each layer's span
is exactly busy + memory stall + backpressure + input wait; the bottleneck is named.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

from archsim.cli import main
from archsim.outputs.metrics import wilson_interval

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "arch_configs" / "dwcnn" / "lenet5_dwm_sn128_fc-shared_pc_sc.yaml"
IMAGES = 8


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("metrics") / "run"
    assert main(["run", str(QUICKSTART), "--out", str(out), "--quiet", "--images", str(IMAGES),
                 "--jobs", "1"]) == 0
    return out


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_per_image_latency_is_the_mean_of_the_images_latencies(run_dir):
    s = json.loads((run_dir / "summary.json").read_text())
    lat = [int(r["latency_cycles"]) for r in _rows(run_dir / "accuracy.csv")]
    assert len(lat) == IMAGES
    assert s["image_latency_mean_cycles"] == pytest.approx(sum(lat) / len(lat), rel=1e-12)
    assert (s["image_latency_min_cycles"], s["image_latency_max_cycles"]) == (min(lat), max(lat))
    assert s["image_latency_mean_ns"] == pytest.approx(s["image_latency_mean_cycles"] * 5.0)
    # the old key is the inverse throughput with the fill spread over the images: different
    assert s["cycles_per_image"] == s["cycles"] / IMAGES
    assert s["image_latency_mean_cycles"] > 2 * s["cycles_per_image"]
    for r in _rows(run_dir / "accuracy.csv"):  # first input bit to last output bit
        assert int(r["latency_cycles"]) == int(r["end_cycle"]) - int(r["start_cycle"]) + 1


def test_throughput_interval_times_images_is_the_run_less_the_fill(run_dir):
    s = json.loads((run_dir / "summary.json").read_text())
    ends = sorted(int(r["end_cycle"]) for r in _rows(run_dir / "accuracy.csv"))
    interval = s["throughput_interval_cycles"]
    assert interval == pytest.approx((ends[-1] - ends[0]) / (IMAGES - 1), rel=1e-12)
    # the fill: the cycles up to the first finished image less one interval
    assert s["fill_cycles"] == pytest.approx(ends[0] + 1 - interval, rel=1e-12)
    assert s["cycles"] == ends[-1] + 1  # the run ends with the last image's last bit
    assert interval * IMAGES == pytest.approx(s["cycles"] - s["fill_cycles"], rel=1e-12)
    assert s["throughput_images_per_s"] == pytest.approx(200e6 / interval, rel=1e-12)


def test_each_layers_span_is_busy_stall_backpressure_and_input_wait(run_dir):
    rows = [r for r in _rows(run_dir / "layers.csv") if r["cycles"]]
    assert len(rows) == 4
    for r in rows:
        parts = sum(int(r[k]) for k in ("busy_cycles", "stall_cycles", "backpressure_cycles",
                                        "input_wait_cycles"))
        span = int(r["span_cycles"])
        assert parts == span, r["layer"]
        assert span == int(r["cycles"]) - int(r["depth_cycles"]) + int(r["lead_cycles"])
        # the old "starve" is the two waits together
        assert int(r["starve_cycles"]) == int(r["backpressure_cycles"]) + int(
            r["input_wait_cycles"])
    by = {r["layer"]: r for r in rows}
    # conv1 reads the input SNGs: it never waits for input, only for conv2's buffer
    assert int(by["conv1"]["input_wait_cycles"]) == 0
    assert int(by["conv1"]["backpressure_cycles"]) > 0
    # the last layer has no next layer to block it
    assert int(by["fc2"]["backpressure_cycles"]) == 0


def test_the_bottleneck_is_named_in_stats_txt(run_dir):
    s = json.loads((run_dir / "summary.json").read_text())
    layers = [x for x in s["layers"] if x["cycles"] is not None]
    work = {x["name"]: x["busy_cycles"] + x["stall_cycles"] for x in layers}
    assert work[s["bottleneck_layer"]] == max(work.values())
    assert s["bottleneck_layer"] == "fc1"  # 16 passes of the MUX-shared FC1: 2,048 steps
    text = (run_dir / "stats.txt").read_text()
    assert f"Bottleneck: {s['bottleneck_layer']}" in text
    assert "Image latency: mean" in text and "Throughput interval:" in text


@pytest.mark.parametrize(("k", "n", "low", "high"), [
    # reference values: Newcombe, "Two-sided confidence intervals for the single proportion",
    # Statistics in Medicine, 1998, Table I (Wilson score method, 95 %)
    (81, 263, 0.2553, 0.3662),
    (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0, 0.1611),
    (1, 29, 0.0061, 0.1718),
])
def test_wilson_interval_matches_published_values(k, n, low, high):
    lo, hi = wilson_interval(k, n)
    assert (round(lo, 4), round(hi, 4)) == (low, high)


def test_wilson_interval_of_a_perfect_run_and_of_nothing():
    lo, hi = wilson_interval(20, 20)
    assert hi == 1.0 and lo == pytest.approx(20 / (20 + 1.959963984540054 ** 2), rel=1e-12)
    assert wilson_interval(0, 0) is None
    assert math.isclose(sum(wilson_interval(5, 10)), 1.0)  # symmetric about 1/2
