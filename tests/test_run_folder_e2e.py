"""A real run folder read back: every file agrees with summary.json and with the ledger."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from archsim.cli import main

ROOT = Path(__file__).resolve().parents[1]
SMALL = ROOT / "arch_configs" / "dwcnn" / "small_conv_fc-shared.yaml"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("e2e") / "run"
    assert main(["run", str(SMALL), "--out", str(out), "--quiet", "--images", "3", "--jobs", "1",
                 "--events", "per-action", "--probe", "fc1.mux.select"]) == 0
    return out


def test_summary_has_the_promised_fields(run_dir):
    s = json.loads((run_dir / "summary.json").read_text())
    for key in ("config", "seed", "images", "cycles", "latency_ns", "energy_pj", "power_mw",
                "area_um2", "accuracy", "layers"):
        assert key in s
    assert s["accuracy"] is None  # random images have no labels
    for layer in s["layers"]:
        for key in ("name", "cycles", "energy_pj", "area_um2", "actions"):
            assert key in layer
    assert sum(x["energy_pj"] for x in s["layers"]) == pytest.approx(s["energy_pj"], rel=1e-9)
    assert s["power_mw"] == pytest.approx(s["energy_pj"] / s["latency_ns"], rel=1e-9)
    assert not (run_dir / "INCOMPLETE").exists()


def test_event_log_and_csv_reports_agree_with_the_summary(run_dir):
    s = json.loads((run_dir / "summary.json").read_text())
    ev = pq.read_table(run_dir / "events.parquet").to_pydict()
    assert sum(ev["energy_pj"]) == pytest.approx(s["dynamic_energy_pj"], rel=1e-9)
    with open(run_dir / "layers.csv") as f:
        rows = {r["name"] if "name" in r else r["layer"]: r for r in csv.DictReader(f)}
    for layer in s["layers"]:
        assert float(rows[layer["name"]]["energy_pj"]) == pytest.approx(layer["energy_pj"],
                                                                          rel=1e-6)
    with open(run_dir / "blocks.csv") as f:
        area = sum(float(r["area_um2"]) for r in csv.DictReader(f))
    assert area == pytest.approx(s["area_um2"], rel=1e-6)


def test_accelergy_counts_times_ert_equal_the_energy_estimate(run_dir):
    counts = yaml.safe_load((run_dir / "action_counts.yaml").read_text())["action_counts"]
    ert = yaml.safe_load((run_dir / "ERT.yaml").read_text())["ERT"]["tables"]
    est = yaml.safe_load((run_dir / "energy_estimation.yaml").read_text())["energy_estimation"]
    per_action = {t["name"]: {a["name"]: a["energy"] for a in t["actions"]} for t in ert}
    comps = {c["name"]: c["energy"] for c in est["components"]}
    for comp in counts["local"]:
        e = sum(a["counts"] * per_action[comp["name"]][a["name"]] for a in comp["action_counts"])
        assert e == pytest.approx(comps[comp["name"]], rel=1e-9, abs=1e-9)
    s = json.loads((run_dir / "summary.json").read_text())
    assert sum(comps.values()) == pytest.approx(s["energy_pj"], rel=1e-9)


def test_timeline_spans_do_not_overlap_on_a_track(run_dir):
    tl = json.loads((run_dir / "timeline.json").read_text())
    spans: dict[tuple, list] = {}
    for e in tl["traceEvents"]:
        if e["ph"] == "X":
            spans.setdefault((e["pid"], e["tid"]), []).append((e["ts"], e["ts"] + e["dur"]))
    assert spans
    for track in spans.values():
        track.sort()
        for (_, end), (start, _) in zip(track, track[1:], strict=False):
            assert start >= end - 1e-9


def test_resolved_config_reruns_to_the_same_result(run_dir, tmp_path):
    again = tmp_path / "again"
    assert main(["run", str(run_dir / "config.resolved.yaml"), "--out", str(again), "--quiet",
                 "--images", "3", "--jobs", "2"]) == 0
    a = json.loads((run_dir / "summary.json").read_text())
    b = json.loads((again / "summary.json").read_text())
    assert (a["cycles"], a["energy_pj"], a["area_um2"]) == (b["cycles"], b["energy_pj"],
                                                             b["area_um2"])
