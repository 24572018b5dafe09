"""A run folder says the same thing in every file, and is never left half-written.

Built from a small synthetic run (three layers, DWM weight memory, SNG/RNG/XNOR/APC,
pooling/Btanh, a MUX-shared FC layer), so every number can be checked against the ledger.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest
import yaml

from archsim.engine import (
    Action,
    Block,
    ImageRecord,
    LayerTiming,
    Ledger,
    ProbeTrace,
    RunResult,
    Span,
)
from archsim.outputs import (
    INCOMPLETE,
    console_summary_of_folder,
    is_complete_run_folder,
    write_run_folder,
)
from archsim.outputs import vcd as vcd_out
from archsim.outputs.atomic import atomic_open, write_json, write_text
from archsim.outputs.console import summary_text
from archsim.outputs.timeline import disjoint_spans

CLOCK_MHZ = 200.0  # 5 ns per cycle


def synthetic_result(
    design: str = "dwcnn-dwm", energy_scale: float = 1.0, labels: bool = True
) -> RunResult:
    """Two images through conv1 -> pool1 -> fc1, with spans, probes and accuracy records."""
    led = Ledger()

    def block(name, layer, kind, n, energies, area, leak):
        acts = {a: Action(a, e * energy_scale) for a, e in energies.items()}
        return led.add_block(Block(name, layer, kind, n, acts, area, leak))

    mem = block(
        "weight_mem", "conv1", "memory", 25, {"read": 0.5, "shift": 0.6, "write": 2.0}, 0.5, 1e-5
    )
    ports = block("ports", "conv1", "ports", 25, {"read": 0.1}, 2.0, 1e-4)
    sng = block("sng", "conv1", "sng", 25, {"generate": 0.05}, 10.0, 2e-4)
    rng = block("rng", "conv1", "rng", 1, {"step": 0.2}, 40.0, 1e-3)
    xnor = block("xnor", "conv1", "xnor", 25, {"multiply": 0.001}, 1.0, 1e-5)
    apc = block("apc", "conv1", "apc", 6, {"count": 0.3}, 60.0, 5e-4)
    pool = block("pool", "pool1", "pool", 6, {"compare": 0.02}, 20.0, 1e-4)
    btanh = block("btanh", "pool1", "btanh", 6, {"update": 0.01}, 15.0, 1e-4)
    mux = block("mux", "fc1", "mux", 1, {"select": 0.05}, 30.0, 2e-4)
    reg = block("register", "fc1", "register", 10, {"write": 0.02, "read": 0.01}, 5.0, 1e-4)
    acc = block("acc", "fc1", "accumulator", 10, {"count": 0.01}, 8.0, 1e-4)
    led.record(mem, "write", 500, cycle=0)  # weights loaded once, not tied to an image
    led.record(reg, "write", 10, cycle=0)
    for img, off in ((0, 0), (1, 100)):
        led.record(mem, "read", 640, 50 + off, img)
        led.record(mem, "shift", 300, 50 + off, img)
        led.record(mem, "read", 60, 55 + off, img)  # second chunk of the same action
        led.record(ports, "read", 640, 50 + off, img)
        led.record(sng, "generate", 1600, 50 + off, img)
        led.record(rng, "step", 64, 50 + off, img)
        led.record(xnor, "multiply", 1600, 50 + off, img)
        led.record(apc, "count", 384, 60 + off, img)
        led.record(pool, "compare", 96, 70 + off, img)
        led.record(btanh, "update", 96, 70 + off, img)
        led.record(mux, "select", 250, 95 + off, img)
        led.record(reg, "read", 250, 95 + off, img)
        led.record(acc, "count", 2500, 99 + off, img)
    layers = [
        LayerTiming("conv1", 0, 160, 120, 12),
        LayerTiming("pool1", 20, 175, 100, 0, 5),
        LayerTiming("fc1", 90, 200, 100, 3, 7),
    ]
    spans = [
        Span("conv1", "weight_mem", 0, 50, 0),
        Span("conv1", "weight_mem", 40, 60, 0),  # same image, overlaps: merged -> [0, 60)
        Span("conv1", "weight_mem", 55, 110, 1),  # next image, overlaps: clipped -> [60, 110)
        Span("conv1", "weight_mem", 70, 80, 1),  # wholly inside: merged
        Span("conv1", "apc", 10, 60, 0, "mac"),
        Span("conv1", "apc", 110, 160, 1, "mac"),
        Span("pool1", "pool", 20, 75, 0),
        Span("pool1", "pool", 120, 175, 1),
        Span("fc1", "mux", 90, 100, 0),
        Span("fc1", "mux", 100, 200, 1),  # back to back, not overlapping
    ]
    records = [
        ImageRecord(
            0, 7 if labels else None, 7, {"conv1": 0.05, "pool1": 0.04, "fc1": 0.1}, 7, 100
        ),
        ImageRecord(
            1, 2 if labels else None, 3, {"conv1": 0.07, "pool1": 0.06, "fc1": 0.2}, 2, 100
        ),
    ]
    count = ProbeTrace("conv1.apc.count", 5)
    for c, v in ((0, 0), (3, 4), (7, 9), (12, 25), (60, 31), (100, 0), (130, 17)):
        count.change(c, v)
    offset = ProbeTrace("conv1.weight_mem.offset", 4)  # signed: nanowire shifted both ways
    for c, v in ((0, 0), (5, -3), (30, 5), (150, -8)):
        offset.change(c, v)
    out_bit = ProbeTrace("fc1.out_bit", 1)
    for c, v in ((0, 0), (99, 1), (100, 0), (199, 1)):
        out_bit.change(c, v)
    return RunResult(
        design=design,
        seed=7,
        mode="fast",
        clock_mhz=CLOCK_MHZ,
        images=2,
        cycles=200,
        ledger=led,
        layers=layers,
        spans=spans,
        accuracy=records,
        probes=[count, offset, out_bit],
        simpy_events=42,
        config_resolved={
            "design": design,
            "clock": {"mhz": CLOCK_MHZ},
            "layers": ["conv1", "pool1", "fc1"],
            "max_shift": float("inf"),
        },
        metadata={"wall_s": 0.5},
    )


@pytest.fixture
def result() -> RunResult:
    return synthetic_result()


@pytest.fixture
def folder(tmp_path: Path, result: RunResult) -> Path:
    out = tmp_path / "run"
    write_run_folder(result, out, config_name="dwcnn-dwm")
    return out


def _summary(folder: Path) -> dict:
    return json.loads((folder / "summary.json").read_text())


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if ".tmp-" in p.name]


# ------------------------------------------------------------------ the folder
def test_run_folder_holds_every_output_and_no_marker(tmp_path, result):
    out = tmp_path / "a" / "b"
    paths = write_run_folder(result, out, config_name="dwcnn-dwm")
    names = {p.name for p in paths}
    expected = {
        "config.resolved.yaml", "summary.json", "stats.txt", "layers.csv", "blocks.csv",
        "action_counts.yaml", "ERT.yaml", "ART.yaml", "energy_estimation.yaml",
        "events.parquet", "accuracy.csv", "image_timing.csv", "waves.vcd", "waves.gtkw",
        "timeline.json",
    }  # fmt: skip
    assert names == expected
    assert all((out / n).stat().st_size > 0 for n in expected)
    assert not (out / INCOMPLETE).exists()
    assert is_complete_run_folder(out)
    assert _no_temp_files(out)
    assert sorted(_summary(out)["files"]) == sorted(expected)


def test_events_option_is_checked(tmp_path, result):
    with pytest.raises(ValueError, match="events"):
        write_run_folder(result, tmp_path / "r", events="per-cycle", config_name="x")


# ------------------------------------------------------------------ summary
def test_summary_energy_is_the_ledgers(folder, result):
    s = _summary(folder)
    for key in ("seed", "images", "mode", "cycles", "simpy_events"):
        assert s[key] == getattr(result, key)
    assert s["config"] == "dwcnn-dwm"
    assert s["latency_ns"] == pytest.approx(200 * 5.0)
    assert s["energy_pj"] == pytest.approx(result.energy_pj())
    dynamic = sum(sum(v.values()) for v in result.ledger.dynamic_energy_pj().values())
    assert s["dynamic_energy_pj"] == pytest.approx(dynamic)
    assert s["dynamic_energy_pj"] + s["leakage_energy_pj"] == pytest.approx(s["energy_pj"])
    assert s["energy_per_image_pj"] == pytest.approx(result.energy_pj() / 2)
    assert s["power_mw"] == pytest.approx(result.power_mw())
    assert s["area_um2"] == pytest.approx(result.area_um2())
    assert s["accuracy"] == pytest.approx(0.5)
    assert s["accuracy_detail"]["float_accuracy"] == pytest.approx(1.0)
    layer_energy = result.layer_energy_pj()
    assert [lay["name"] for lay in s["layers"]] == ["conv1", "pool1", "fc1"]
    for lay in s["layers"]:
        assert lay["energy_pj"] == pytest.approx(layer_energy[lay["name"]])
        assert lay["area_um2"] == pytest.approx(result.layer_area_um2()[lay["name"]])
        assert lay["actions"] == result.layer_actions()[lay["name"]]
    conv1 = s["layers"][0]
    assert (conv1["cycles"], conv1["start_cycle"], conv1["end_cycle"], conv1["stall_cycles"]) == (
        160, 0, 160, 12,
    )  # fmt: skip
    assert conv1["actions"]["weight_mem.read"] == 1400
    assert {b["name"] for b in s["blocks"]} == set(result.ledger.blocks)


def test_accuracy_is_null_without_labels(tmp_path):
    out = tmp_path / "r"
    write_run_folder(synthetic_result(labels=False), out, config_name="x")
    assert _summary(out)["accuracy"] is None
    assert "Accuracy: n/a" in (out / "stats.txt").read_text()
    rows = _csv(out / "accuracy.csv")
    assert [r["label"] for r in rows] == ["", ""] and [r["correct"] for r in rows] == ["", ""]


def test_stats_txt_and_console_summary(folder):
    text = (folder / "stats.txt").read_text()
    for line in ("Cycles: 200", "Energy: ", "Area: ", "Power: ", "Accuracy: 50.00% (1/2)"):
        assert line in text
    for layer in ("conv1", "pool1", "fc1"):
        assert layer in text
    screen = console_summary_of_folder(folder)
    assert summary_text(synthetic_result(), folder) == screen
    assert "dwcnn-dwm" in summary_text(synthetic_result(), folder.parent / "elsewhere")
    assert str(folder) in screen
    assert "energy/image" in screen and "accuracy" in screen
    assert len(screen.splitlines()) <= 20


def test_resolved_config_round_trips(folder, result):
    doc = yaml.safe_load((folder / "config.resolved.yaml").read_text())
    assert doc == result.config_resolved
    assert list(doc) == list(result.config_resolved)  # keys in the loader's order


# ------------------------------------------------------------------ CSV reports
def test_layers_and_blocks_csv_agree_with_summary(folder, result):
    s = _summary(folder)
    layers = _csv(folder / "layers.csv")
    assert [r["layer"] for r in layers] == [lay["name"] for lay in s["layers"]]
    for row, lay in zip(layers, s["layers"], strict=True):
        assert int(row["cycles"]) == lay["cycles"]
        assert int(row["stall_cycles"]) == lay["stall_cycles"]
        assert float(row["energy_pj"]) == pytest.approx(lay["energy_pj"])
        assert float(row["area_um2"]) == pytest.approx(lay["area_um2"])
    blocks = _csv(folder / "blocks.csv")
    assert len(blocks) == len(result.ledger.blocks)
    counts = result.ledger.action_counts()
    for row in blocks:
        name = f"{row['layer']}.{row['block']}"
        blk = result.ledger.blocks[name]
        assert row["kind"] == blk.kind and int(row["instances"]) == blk.instances
        for action, n in counts[name].items():
            assert int(row[f"count_{action}"]) == n
        dyn = sum(float(row[f"energy_{a}_pj"]) for a in blk.actions)
        assert dyn == pytest.approx(float(row["dynamic_energy_pj"]))
        assert float(row["leakage_mw"]) == pytest.approx(blk.total_leakage_mw)
        assert float(row["area_um2"]) == pytest.approx(blk.total_area_um2)
    assert sum(float(r["energy_pj"]) for r in blocks) == pytest.approx(s["energy_pj"])
    # an action a block does not have is an empty cell, not a zero
    mux = next(r for r in blocks if r["block"] == "mux")
    assert mux["count_shift"] == ""


def test_accuracy_csv(folder):
    rows = _csv(folder / "accuracy.csv")
    assert list(rows[0]) == [
        "index", "label", "prediction", "correct", "float_prediction", "latency_cycles",
        "start_cycle", "end_cycle", "err_conv1", "err_pool1", "err_fc1",
    ]  # fmt: skip
    assert [r["correct"] for r in rows] == ["1", "0"]
    assert float(rows[1]["err_fc1"]) == pytest.approx(0.2)


# ------------------------------------------------------------------ event log
def _check_events(rows: dict[str, list], result: RunResult, summary: dict) -> None:
    totals: dict[tuple[str, str, str], int] = {}
    for layer, block, action, n in zip(
        rows["layer"], rows["block"], rows["action"], rows["count"], strict=True
    ):
        key = (str(layer), str(block), str(action))
        totals[key] = totals.get(key, 0) + int(n)
    for name, acts in result.ledger.action_counts().items():
        blk = result.ledger.blocks[name]
        for action, n in acts.items():
            assert totals.get((blk.layer, blk.name, action), 0) == n
    assert sum(float(e) for e in rows["energy_pj"]) == pytest.approx(summary["dynamic_energy_pj"])


@pytest.mark.parametrize("events", ["aggregated", "per-action"])
def test_parquet_events_agree_with_summary(tmp_path, result, events):
    pq = pytest.importorskip("pyarrow.parquet")
    out = tmp_path / "r"
    write_run_folder(result, out, events=events, config_name="x")
    table = pq.read_table(out / "events.parquet")
    assert table.column_names == [
        "cycle", "image", "layer", "block", "action", "count", "energy_pj",
    ]  # fmt: skip
    rows = table.to_pydict()
    _check_events(rows, result, _summary(out))
    if events == "per-action":
        assert table.num_rows == len(result.ledger)
    else:  # one row per (image, block, action): the two reads of an image become one
        reads = [
            (c, i, n)
            for c, i, b, a, n in zip(
                rows["cycle"],
                rows["image"],
                rows["block"],
                rows["action"],
                rows["count"],
                strict=True,
            )
            if b == "weight_mem" and a == "read"
        ]
        assert sorted(reads) == [(55, 0, 700), (155, 1, 700)]
        assert rows["cycle"] == sorted(rows["cycle"])


def test_csv_events_without_pyarrow(tmp_path, result, monkeypatch):
    out = tmp_path / "r"
    write_run_folder(result, out, config_name="x")  # a parquet from an earlier run
    assert (out / "events.parquet").exists()
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow -> ImportError
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    write_run_folder(result, out, config_name="x")
    assert not (out / "events.parquet").exists()  # the stale one is gone
    rows = _csv(out / "events.csv")
    cols = {k: [r[k] for r in rows] for k in rows[0]}
    assert list(cols) == ["cycle", "image", "layer", "block", "action", "count", "energy_pj"]
    _check_events(cols, result, _summary(out))


# ------------------------------------------------------------------ Accelergy files
def test_action_counts_times_ert_is_the_energy_estimate(folder):
    s = _summary(folder)
    counts = yaml.safe_load((folder / "action_counts.yaml").read_text())["action_counts"]
    ert = yaml.safe_load((folder / "ERT.yaml").read_text())["ERT"]
    est = yaml.safe_load((folder / "energy_estimation.yaml").read_text())["energy_estimation"]
    art = yaml.safe_load((folder / "ART.yaml").read_text())["ART"]
    assert counts["version"] == 0.4 and str(ert["version"]) == "0.4"
    table = {(t["name"], a["name"]): a["energy"] for t in ert["tables"] for a in t["actions"]}
    estimate = {c["name"]: c["energy"] for c in est["components"]}
    total = 0.0
    for comp in counts["local"]:
        e = sum(ac["counts"] * table[(comp["name"], ac["name"])] for ac in comp["action_counts"])
        assert e == pytest.approx(estimate[comp["name"]], rel=1e-12)
        total += e
        assert "leak" in {ac["name"] for ac in comp["action_counts"]}
    assert est["Total"] == pytest.approx(total, rel=1e-12)
    assert est["Total"] == pytest.approx(s["energy_pj"], rel=1e-12)
    by_block = {b["name"]: b for b in s["blocks"]}
    for name, e in estimate.items():
        assert e == pytest.approx(by_block[name]["energy_pj"])
    assert sum(t["area"] for t in art["tables"]) == pytest.approx(s["area_um2"])
    # leak: one count per cycle, all instances' leakage power over one cycle
    mem_leak = table[("conv1.weight_mem", "leak")]
    assert mem_leak == pytest.approx(25 * 1e-5 * 5.0)  # mW x ns = pJ


# ------------------------------------------------------------------ timeline
def test_disjoint_spans_merge_and_clip():
    spans = [
        Span("l", "b", 0, 50, 0),
        Span("l", "b", 40, 60, 0),
        Span("l", "b", 55, 110, 1),
        Span("l", "b", 70, 80, 1),
        Span("l", "b", 200, 200, 2),  # empty: dropped
    ]
    (track,) = disjoint_spans(spans).values()
    assert [(s.start_cycle, s.end_cycle, s.image) for s in track] == [(0, 60, 0), (60, 110, 1)]
    assert track[0].merged_spans == 2 and track[1].clipped_cycles == 5


def test_timeline_json_is_a_valid_trace_without_overlaps(folder, result):
    doc = json.loads((folder / "timeline.json").read_text())
    assert doc["displayTimeUnit"] == "ns"
    events = doc["traceEvents"]
    meta = [e for e in events if e["ph"] == "M"]
    spans = [e for e in events if e["ph"] == "X"]
    procs = {e["pid"]: e["args"]["name"] for e in meta if e["name"] == "process_name"}
    threads = {(e["pid"], e["tid"]): e["args"]["name"] for e in meta if e["name"] == "thread_name"}
    assert set(procs.values()) == {"conv1", "pool1", "fc1"}
    us_per_cycle = result.cycle_ns / 1e3
    tracks: dict[tuple[int, int], list[dict]] = {}
    for e in spans:
        assert (e["pid"], e["tid"]) in threads  # every track is named
        assert e["pid"] in procs
        a = e["args"]
        assert {"cycles", "image"} <= set(a)
        assert e["ts"] == pytest.approx(a["start_cycle"] * us_per_cycle)
        assert e["dur"] == pytest.approx(a["cycles"] * us_per_cycle)
        tracks.setdefault((e["pid"], e["tid"]), []).append(e)
    for track in tracks.values():
        track.sort(key=lambda e: e["args"]["start_cycle"])
        for prev, nxt in zip(track, track[1:], strict=False):
            assert prev["args"]["end_cycle"] <= nxt["args"]["start_cycle"]
            assert prev["ts"] + prev["dur"] <= nxt["ts"] + 1e-9
    mem = [e for e in spans if threads[(e["pid"], e["tid"])] == "weight_mem"]
    assert [(e["args"]["start_cycle"], e["args"]["end_cycle"]) for e in mem] == [(0, 60), (60, 110)]
    layer_tracks = [e for e in spans if e["tid"] == 0]
    assert len(layer_tracks) == 3


# ------------------------------------------------------------------ waveforms
def _read_vcd(path: Path):
    from vcd.reader import TokenKind, tokenize

    scopes: list[str] = []
    ids: dict[str, str] = {}
    widths: dict[str, int] = {}
    changes: dict[str, list[tuple[int, int | str]]] = {}
    timescale = None
    t = 0
    with open(path, "rb") as f:
        for tok in tokenize(f):
            if tok.kind is TokenKind.TIMESCALE:
                timescale = (int(tok.timescale.magnitude), tok.timescale.unit.value)
            elif tok.kind is TokenKind.SCOPE:
                scopes.append(tok.scope.ident)
            elif tok.kind is TokenKind.UPSCOPE:
                scopes.pop()
            elif tok.kind is TokenKind.VAR:
                name = ".".join([*scopes, tok.var.reference])
                ids[name] = tok.var.id_code
                widths[tok.var.id_code] = tok.var.size
            elif tok.kind is TokenKind.CHANGE_TIME:
                t = tok.time_change
            elif tok.kind is TokenKind.CHANGE_SCALAR:
                v = tok.scalar_change.value  # "0", "1", "x" or "z"
                changes.setdefault(tok.scalar_change.id_code, []).append(
                    (t, int(v) if v in "01" else v)
                )
            elif tok.kind is TokenKind.CHANGE_VECTOR:
                changes.setdefault(tok.vector_change.id_code, []).append(
                    (t, tok.vector_change.value)
                )
    return timescale, ids, widths, changes


def _value_at(changes: list[tuple[int, int | str]], cycle: int):
    last = None
    for t, v in changes:
        if t > cycle:
            break
        last = v
    return last


def _probe_value_at(probe: ProbeTrace, cycle: int) -> int | None:
    last = None
    for c, v in zip(probe.cycles, probe.values, strict=True):
        if c > cycle:
            break
        last = v
    return last


def test_vcd_parses_and_probe_values_match(folder, result):
    timescale, ids, widths, changes = _read_vcd(folder / "waves.vcd")
    assert timescale == (5, "ns")  # one clock period at 200 MHz
    count = next(p for p in result.probes if p.name == "conv1.apc.count")
    ident = ids["top.conv1.apc.count"]
    assert widths[ident] == 5
    for cycle in (0, 2, 3, 6, 7, 11, 12, 59, 60, 99, 100, 129, 130, 199):
        assert _value_at(changes[ident], cycle) == _probe_value_at(count, cycle), cycle
    offset = next(p for p in result.probes if p.name == "conv1.weight_mem.offset")
    ident = ids["top.conv1.weight_mem.offset"]
    for cycle in (0, 5, 29, 30, 150, 199):
        raw = _value_at(changes[ident], cycle)
        signed = raw - 16 if raw >= 8 else raw  # two's complement, 4 bits
        assert signed == _probe_value_at(offset, cycle)
    bit = ids["top.fc1.out_bit"]
    assert [_value_at(changes[bit], c) for c in (98, 99, 100, 199)] == [0, 1, 0, 1]
    # a busy wire per timeline track, high while the block is busy
    busy = changes[ids["top.conv1.weight_mem.busy"]]
    assert [_value_at(busy, c) for c in (0, 59, 60, 109, 110)] == [1, 1, 1, 1, 0]
    gtkw = (folder / "waves.gtkw").read_text()
    assert '[dumpfile] "waves.vcd"' in gtkw
    for name in ids:
        width = widths[ids[name]]
        assert (name if width == 1 else f"{name}[{width - 1}:0]") in gtkw


@pytest.mark.parametrize(
    ("mhz", "expected"),
    [(200, (5, "ns")), (1000, (1, "ns")), (250, (4, "ns")), (100, (10, "ns")), (1, (1, "us")),
     (300, (3333, "ps")), (2000, (500, "ps"))],
)  # fmt: skip
def test_vcd_timescale_is_one_clock_period(mhz, expected):
    assert vcd_out.vcd_timescale(mhz) == expected


def test_probe_that_does_not_fit_its_width_is_rejected(tmp_path, result):
    result.probes[0].change(150, 32)  # 5-bit counter
    with pytest.raises(ValueError, match="conv1.apc.count"):
        write_run_folder(result, tmp_path / "r", config_name="x")


# ------------------------------------------------------------------ interruption
def test_writer_failing_midway_leaves_no_folder_and_no_temporary(tmp_path, result, monkeypatch):
    class Boom(RuntimeError):
        pass

    class FailingWriter(vcd_out.VCDWriter):
        calls = 0

        def change(self, var, timestamp, value):
            FailingWriter.calls += 1
            if FailingWriter.calls > 5:
                self.flush()  # some of the file really is on disk under the temporary name
                raise Boom("disk full")
            super().change(var, timestamp, value)

    monkeypatch.setattr(vcd_out, "VCDWriter", FailingWriter)
    out = tmp_path / "r"
    with pytest.raises(Boom):
        write_run_folder(result, out, config_name="x")
    # the run was written into a temporary sibling, removed on the failure: nothing is left
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_failed_rerun_leaves_a_previously_complete_folder_complete(folder, result,
                                                                   monkeypatch):
    from archsim.outputs import run_folder

    def boom(*args, **kwargs):
        raise OSError("no space left on device")

    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    monkeypatch.setattr(run_folder, "write_accelergy", boom)
    with pytest.raises(OSError):
        write_run_folder(result, folder, config_name="dwcnn-dwm")
    assert not (folder / INCOMPLETE).exists()
    assert is_complete_run_folder(folder)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert sorted(p.name for p in folder.parent.iterdir()) == [folder.name]
    monkeypatch.undo()
    write_run_folder(result, folder, config_name="dwcnn-dwm")
    assert not (folder / INCOMPLETE).exists()


def test_partial_result_keeps_the_marker(tmp_path, result):
    result.complete = False
    out = tmp_path / "r"
    paths = write_run_folder(result, out, config_name="x")
    assert (out / INCOMPLETE) in paths
    assert "did not complete" in (out / INCOMPLETE).read_text()
    assert _summary(out)["complete"] is False


def test_atomic_write_keeps_the_old_file_when_interrupted(tmp_path):
    path = tmp_path / "stats.txt"
    write_text(path, "old\n")
    with pytest.raises(KeyboardInterrupt), atomic_open(path, "w") as f:
        f.write("half of the new")
        raise KeyboardInterrupt
    assert path.read_text() == "old\n"
    assert _no_temp_files(tmp_path)
    write_json(path, {"x": float("nan")})  # JSON has no NaN: written as null
    assert json.loads(path.read_text()) == {"x": None}


def test_run_without_probes_spans_or_images(tmp_path):
    led = Ledger()
    b = led.add_block(Block("x", "fc", "xnor", 4, {"multiply": Action("multiply", 1.0)}, 1.0, 0.0))
    led.record(b, "multiply", 10, cycle=3)
    r = RunResult(
        design="tiny",
        seed=0,
        mode="per-cycle",
        clock_mhz=100.0,
        images=0,
        cycles=4,
        ledger=led,
        layers=[LayerTiming("fc", 0, 4, 4, 0)],
    )
    out = tmp_path / "r"
    names = {p.name for p in write_run_folder(r, out, config_name="tiny")}
    assert "waves.vcd" not in names and not (out / "waves.vcd").exists()
    assert _csv(out / "accuracy.csv") == []
    s = _summary(out)
    assert s["accuracy"] is None and s["energy_pj"] == pytest.approx(10.0)
    assert json.loads((out / "timeline.json").read_text())["traceEvents"]
