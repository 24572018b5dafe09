"""The Python API (``archsim.load/run/sweep/reproduce``), used as a notebook would use it.

The first test imports nothing but ``archsim`` and pandas: a design run, its layers as a
DataFrame, a 4-point sweep as a DataFrame. The others hold the frames equal to the run
folder's files (one code path for both) and the CLI to the API.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest

import archsim

SMALL = "builtin:dwcnn/small_conv_fc.yaml"


def test_notebook_style_public_api_only(tmp_path: Path) -> None:
    seen: list[int] = []
    design = archsim.load(SMALL, ["stream.length=64"])
    result = archsim.run(design, images=3, progress=lambda rec: seen.append(rec.index))
    assert seen == [0, 1, 2]
    layers = result.to_frame("layers")
    assert isinstance(layers, pd.DataFrame)
    timed = layers.dropna(subset=["cycles"])  # the input layer (SNGs) owns blocks, no timing
    assert list(timed["layer"]) == [t.name for t in result.layers] == ["conv1", "fc1"]
    assert (timed["cycles"] > 0).all()
    assert layers["energy_pj"].sum() == pytest.approx(result.energy_pj())

    sweep_file = tmp_path / "four.yaml"
    sweep_file.write_text(
        f"base: {SMALL}\nimages: 2\naxes:\n  stream.length: [32, 64]\n"
        "  layers.fc1.weights.length: [16, 32]\n", encoding="utf-8")
    statuses: list[str] = []
    report = archsim.sweep(sweep_file, tmp_path / "sw",
                           progress=lambda st: statuses.append(st["status"]))
    table = report.to_frame()
    assert len(table) == 4 and statuses == ["ok"] * 4
    assert sorted(zip(table["stream.length"], table["layers.fc1.weights.length"],
                      strict=True)) == [(32, 16), (32, 32), (64, 16), (64, 32)]
    assert (table["status"] == "ok").all() and table["cycles"].gt(0).all()
    # longer input streams take longer, at either fc1 weight length
    by = table.set_index(["layers.fc1.weights.length", "stream.length"])["cycles"]
    assert by[(16, 64)] > by[(16, 32)] and by[(32, 64)] > by[(32, 32)]
    # a second call finds every point finished and reuses it
    again = archsim.sweep(sweep_file, tmp_path / "sw").to_frame()
    assert again["cached"].all()
    assert list(again["cycles"]) == list(table["cycles"])


def test_frames_equal_the_run_folder_files(tmp_path: Path) -> None:
    result = archsim.run(SMALL, images=2, out=tmp_path / "run")
    for table, name in (("layers", "layers.csv"), ("blocks", "blocks.csv"),
                        ("accuracy", "accuracy.csv")):
        frame = result.to_frame(table)
        with open(tmp_path / "run" / name, encoding="utf-8", newline="") as f:
            rows = list(csv.reader(f))
        assert list(frame.columns) == rows[0], table
        assert len(frame) == len(rows) - 1, table
        for got, want in zip(frame.itertuples(index=False), rows[1:], strict=True):
            for v, w in zip(got, want, strict=True):
                if w == "":
                    assert pd.isna(v)
                elif isinstance(v, float):
                    assert v == float(w)
                elif isinstance(v, bool):
                    assert int(v) == int(w)
                else:
                    assert str(v) == w
    events = result.to_frame("events")
    parquet = pd.read_parquet(tmp_path / "run" / "events.parquet")
    assert list(events.columns) == list(parquet.columns)
    assert events["count"].sum() == parquet["count"].sum()
    assert events["energy_pj"].sum() == pytest.approx(parquet["energy_pj"].sum())
    with pytest.raises(ValueError, match="table"):
        result.to_frame("nope")


def test_load_overrides_and_errors(tmp_path: Path) -> None:
    d = archsim.load(SMALL, seed=7)
    assert d.config.seed == 7 and d.name == "small_conv_fc"
    d2 = d.with_overrides("stream.length=32")
    assert d2.config.stream.length == 32 and d.config.stream.length != 32
    assert d2.overrides[-1] == "stream.length=32"
    from archsim.config.errors import ConfigError

    with pytest.raises(ConfigError, match="stream.length"):
        archsim.load(SMALL, ["stream.length=-3"])
    # two designs at once share nothing (no global state)
    a = archsim.run(d2, images=1)
    b = archsim.run(d, images=1)
    assert a.cycles < b.cycles
    assert archsim.run(d2, images=1).cycles == a.cycles


def test_load_workload_by_builtin_name(tmp_path: Path, monkeypatch) -> None:
    """``workload=`` takes a shipped workload by ``builtin:`` name or ``arch_configs/`` path
    from any working directory (a notebook's), and a missing one is a ConfigError."""
    from archsim.config.errors import ConfigError

    monkeypatch.chdir(tmp_path)
    name = "workloads/pim_admm/pimc_cnn_admm_c4.yaml"
    for ref in (f"builtin:{name}", f"arch_configs/{name}"):
        d = archsim.load("builtin:pim/pimc_sot.yaml", workload=ref)
        assert Path(d.resolved()["workload"]).name == "pimc_cnn_admm_c4.yaml"
        assert d.resolved()["dataset"]["name"] == "fashion-mnist"  # the workload's data set
    with pytest.raises(ConfigError, match="no_such"):
        archsim.load("builtin:pim/pimc_sot.yaml", workload="builtin:workloads/no_such.yaml")


def test_cli_run_is_the_api_run(tmp_path: Path) -> None:
    from archsim.cli import main

    assert main(["run", SMALL, "--images", "2", "--out", str(tmp_path / "cli"), "--quiet",
                 "--jobs", "1"]) == 0
    api = archsim.run(SMALL, images=2, out=tmp_path / "api")
    for name in ("layers.csv", "blocks.csv", "accuracy.csv"):
        assert (tmp_path / "cli" / name).read_bytes() == (tmp_path / "api" / name).read_bytes()
    assert api.cycles > 0


def test_sweep_and_reproduce_are_callable_packages() -> None:
    import archsim.sweep.plots as sweep_plots  # the package still imports as a package
    from archsim.sweep.runner import run_sweep

    assert callable(archsim.sweep) and callable(archsim.reproduce)
    assert sweep_plots.__name__ == "archsim.sweep.plots" and callable(run_sweep)
    with pytest.raises(ValueError, match="paper"):
        archsim.reproduce("nope")


def test_reproduce_runs_every_registered_paper_through_its_command(tmp_path) -> None:
    # a paper other than DW-CNN: its `archsim reproduce` command, results.json returned
    rep = archsim.reproduce("scbnn", tmp_path / "scbnn", images=4, hw_images=2, jobs=1)
    assert rep.results["paper"] and rep.results["images"] == 4
    assert rep.results["hw_images"] == 2
    assert (tmp_path / "scbnn" / "report.md") in rep.written
    assert rep.wall_s > 0
    with pytest.raises(KeyError, match="no table"):
        rep.to_frame("nope")
    with pytest.raises(ValueError, match="images"):
        archsim.reproduce("scbnn", tmp_path / "x", images=0)
