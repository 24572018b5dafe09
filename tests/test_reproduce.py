"""`archsim reproduce dwcnn`: paper-vs-ours tables, trend checks, the Table II fit, the CLI.

Fast tests build the tables and trends from synthetic run summaries (the same dictionaries a
run folder's summary.json holds); the slow test runs the command end to end on a reduced set.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from archsim.cli import main
from archsim.reproduce import collect, paper
from archsim.reproduce.calibrate import fit_table2
from archsim.reproduce.metrics import layer_cost, weight_storage_cost
from archsim.reproduce.studies import (
    CALIBRATED,
    GENERIC,
    OUTPUTS,
    STUDIES,
    Point,
    configs_dir,
    technology_overrides,
)
from archsim.reproduce.tables import Table, ratio
from archsim.reproduce.trends import check_trends


def _summary(blocks: list[dict], layers: list[dict] | None = None, *, images: int = 2,
             cycles: int = 2048, accuracy: float | None = 0.99, area: float = 1e6,
             power: float = 100.0) -> dict:
    return {"design": "synthetic", "config": "lenet5_dwm_x", "images": images,
            "cycles": cycles, "cycle_ns": 5.0, "blocks": blocks, "layers": layers or [],
            "accuracy": accuracy, "area_um2": area, "power_mw": power}


def _block(layer: str, block: str, area: float, energy: float, actions: dict | None = None,
           instances: int = 1, leak_pj: float = 0.0) -> dict:
    return {"layer": layer, "block": block, "area_um2": area, "energy_pj": energy + leak_pj,
            "dynamic_energy_pj": energy, "leakage_energy_pj": leak_pj,
            "instances": instances, "actions": actions or {},
            "action_energy_pj": {k: energy / max(1, len(actions or {1: 0}))
                                 for k in (actions or {})}}


# ---------------------------------------------------------------------------------------------
# tables
# ---------------------------------------------------------------------------------------------


def test_every_cell_has_paper_ours_and_ratio_equal_to_ours_over_paper(tmp_path: Path) -> None:
    t = Table("T", ["design"], ["area_mm2", "power_w"])
    t.add(["a"], {"area_mm2": (2.0, 3.0), "power_w": (0.5, 0.25)})
    t.add(["b"], {"area_mm2": (4.0, 1.0), "power_w": (1.0, 8.0)})
    files = t.write(tmp_path, "t")
    assert [f.name for f in files] == ["t.csv", "t.md", "t.json"]  # json: what report.html
    # prints beside the table (title, caveat, notes)
    rows = list(csv.DictReader(open(tmp_path / "t.csv", encoding="utf-8")))
    assert list(rows[0]) == ["design", "area_mm2 paper", "area_mm2 ours", "area_mm2 ratio",
                             "power_w paper", "power_w ours", "power_w ratio"]
    for r in rows:
        for q in ("area_mm2", "power_w"):
            assert float(r[f"{q} ratio"]) == pytest.approx(
                float(r[f"{q} ours"]) / float(r[f"{q} paper"]))
    md = (tmp_path / "t.md").read_text(encoding="utf-8")
    assert "| a | 2 | 3 | 1.50 | 0.5 | 0.25 | 0.50 |" in md


def test_ratio_is_missing_without_a_paper_value_or_a_result() -> None:
    assert ratio(None, 2.0) is None and ratio(1.0, None) is None and ratio(1.0, 0.0) is None
    assert ratio(3.0, 2.0) == 1.5


def test_paper_tables_are_complete() -> None:
    assert len(paper.TABLE1_AREA_MM2) == len(paper.TABLE1_POWER_W) == 4
    for d in (paper.TABLE2_POWER_MW, paper.TABLE2_ENERGY_NJ, paper.TABLE2_AREA_UM2):
        assert set(d) == {(n, s) for n in paper.TABLE2_LENGTHS for s in ("shared", "unshared")}
    # the headline claims follow from Table II (area: 1 - 18410/38860 = 52.6 %)
    assert 100 * (1 - 18410 / 38860) == pytest.approx(paper.CLAIM_AREA_SAVING_PCT, abs=0.05)
    assert 428.97 / 24.67 == pytest.approx(paper.CLAIM_POWER_RATIO, rel=0.01)


# ---------------------------------------------------------------------------------------------
# metrics
# ---------------------------------------------------------------------------------------------


def test_weight_storage_counts_memory_ports_and_conversion_but_not_compute() -> None:
    s = _summary([
        _block("conv1", "weight_mem", 10.0, 1000.0), _block("conv1", "ports", 2.0, 0.0),
        _block("fc1", "weight_reg", 5.0, 500.0), _block("fc1", "weight_sng", 3.0, 300.0),
        _block("fc1", "weight_rng", 1.0, 100.0), _block("fc1", "xnor", 99.0, 9999.0),
        _block("fc1", "apc", 99.0, 9999.0)])
    c = weight_storage_cost(s)
    assert c.area_um2 == 21.0
    assert c.power_mw == pytest.approx(1900.0 / (2048 * 5.0))  # pJ / ns = mW


def test_layer_power_is_layer_energy_over_its_busy_time() -> None:
    s = _summary([], [{"name": "fc2", "busy_cycles": 2048, "energy_pj": 4.0e6,
                       "area_um2": 123.0}])
    c = layer_cost(s, "fc2")
    assert c.time_per_image_us == pytest.approx(5.12)
    assert c.energy_per_image_nj == pytest.approx(2000.0)
    assert c.power_mw == pytest.approx(4.0e6 / (2048 * 5.0))
    with pytest.raises(ValueError, match="no layer 'fc9'"):
        layer_cost(s, "fc9")


# ---------------------------------------------------------------------------------------------
# tables and trends from (synthetic) results
# ---------------------------------------------------------------------------------------------


def _storage_point(study: str, tech: str, axes: dict, area: float, power_mw: float,
                   net_area: float, net_power: float) -> Point:
    s = _summary([_block("fc1", "weight_mem", area, power_mw * 2048 * 5.0)],
                 area=net_area, power=net_power)
    return Point(study, tech, axes, Path("."), s)


def _lengths(n: int) -> dict:
    return {f"layers.{la}.weights.length": n for la in ("conv1", "conv2", "fc1", "fc2")}


def _table1_results(tech: str, dwm_sn_power_mw: float) -> dict:
    res: dict = {}
    res[("table1_binary", tech)] = [
        _storage_point("table1_binary", tech, {"memories.weights": {"kind": "dwm"}},
                       5.9e6, 760.0, 20e6, 5000.0),
        _storage_point("table1_binary", tech, {"memories.weights": {"kind": "sram"}},
                       6.1e6, 1060.0, 20.5e6, 5100.0)]
    for mem, area, power in (("dwm", 0.15e6, dwm_sn_power_mw), ("sram", 3.64e6, 7040.0)):
        res[(f"fig11_{mem}_stochastic", tech)] = [
            _storage_point(f"fig11_{mem}_stochastic", tech, _lengths(n),
                           area * n / 128, power * (1 if mem == "dwm" else n / 128),
                           (10e6 if mem == "dwm" else 15e6)
                           + (0 if mem == "dwm" else area * n / 128),
                           (3000.0 if mem == "dwm" else 3000 + power * n / 128))
            for n in (32, 128, 1024)]
    return res


def test_table1_rows_come_from_the_binary_and_128_bit_points() -> None:
    res = _table1_results(GENERIC, 460.0)
    t = collect.table1(res, GENERIC)
    recs = t.records()
    assert len(recs) == 4 and all(v is not None for rec in recs for v in rec)
    dwm_sn = next(r for r in recs if r[0] == "128-bit stochastic" and r[1] == "DWM")
    assert dwm_sn[3] == pytest.approx(0.15) and dwm_sn[4] == pytest.approx(1.0)
    assert dwm_sn[6] == pytest.approx(0.46) and dwm_sn[7] == pytest.approx(1.0)


def test_table1_trends_are_computed_from_the_points() -> None:
    good = {t.claim: t.holds for t in check_trends(_table1_results(GENERIC, 460.0), (GENERIC,))}
    assert good["128-bit stochastic DWM uses the least power"]
    assert good["128-bit stochastic DWM is the smallest weight storage"]
    # the same table with a power-hungry DWM stream read: the power trend must fail
    bad = {t.claim: t.holds for t in check_trends(_table1_results(GENERIC, 90000.0), (GENERIC,))}
    assert not bad["128-bit stochastic DWM uses the least power"]
    assert bad["128-bit stochastic DWM is the smallest weight storage"]


def _fc2_summary(length: int, shared: bool, *, e_input_pj: float, leak_nw: float) -> dict:
    """A synthetic Table II point: the fc2 blocks with generic45-like costs."""
    images = 2
    steps = (16 * 1024 if shared else 1024) * images
    active = 250 if shared else 5010
    bits = (5010 * max(length, 128)) if not shared else 5250 * length
    cycles = steps + 20
    run_ns = cycles * 5.0
    blocks = [
        {"layer": "fc2", "block": "weight_mem", "instances": bits, "area_um2": bits * 0.01215,
         "actions": {"read": active * steps, "write": 0, "shift": active * steps},
         "action_energy_pj": {"read": 0.0, "write": 0.0, "shift": 0.0},
         "dynamic_energy_pj": 0.0, "leakage_energy_pj": 0.0, "energy_pj": 0.0},
        {"layer": "fc2", "block": "ports", "instances": bits // 128, "area_um2": bits / 128 * 0.359,
         "actions": {}, "action_energy_pj": {}, "dynamic_energy_pj": 0.0,
         "leakage_energy_pj": 0.0, "energy_pj": 0.0},
        {"layer": "fc2", "block": "xnor", "instances": active, "area_um2": active * 1.995,
         "actions": {"multiply": active * steps}, "action_energy_pj": {},
         "dynamic_energy_pj": active * steps * 0.0025, "leakage_energy_pj": 0.0,
         "energy_pj": active * steps * 0.0025},
        {"layer": "fc2", "block": "apc", "instances": 10, "area_um2": active * 3.35,
         "actions": {"count": 10 * steps}, "action_energy_pj": {},
         "dynamic_energy_pj": active * steps * 0.0042, "leakage_energy_pj": 0.0,
         "energy_pj": active * steps * 0.0042},
    ]
    layer = {"name": "fc2", "busy_cycles": steps, "energy_pj": 0.0, "area_um2": 0.0}
    s = _summary(blocks, [layer], images=images, cycles=cycles)
    # the "paper" this point stands for: e_input per active input, leak per stored bit
    s["_truth_power_mw"] = (active * steps * e_input_pj + bits * leak_nw * 1e-6 * run_ns) / (
        steps * 5.0)
    return s


def test_the_table2_fit_recovers_known_technology_numbers(monkeypatch) -> None:
    """Paper values generated from a known per-input energy and per-bit power are fitted back."""
    e_input, leak = 0.43, 9.0  # pJ per active input per cycle, nW per stored bit
    pts = {(n, st): _fc2_summary(n, st == "shared", e_input_pj=e_input, leak_nw=leak)
           for n in paper.TABLE2_LENGTHS for st in ("shared", "unshared")}
    monkeypatch.setattr(paper, "TABLE2_POWER_MW",
                        {k: v["_truth_power_mw"] for k, v in pts.items()})
    fit = fit_table2(pts)
    assert fit.dwm_leakage_nw_per_bit == pytest.approx(leak, rel=0.02)
    # read (MTJ sensing, fixed) + scaled XNOR/APC = the per-input energy
    assert 0.0484 + fit.logic_energy_scale * (0.0025 + 0.0042) == pytest.approx(e_input, rel=0.02)
    assert fit.power_rms_pct < 1.0


# ---------------------------------------------------------------------------------------------
# configuration files
# ---------------------------------------------------------------------------------------------


def test_every_study_sweep_file_loads_and_outputs_name_only_known_studies() -> None:
    from archsim.sweep.spec import load_sweep

    names = {s.name for s in STUDIES}
    assert {s for studies in OUTPUTS.values() for s in studies} == names
    for s in STUDIES:
        sweep = load_sweep(configs_dir() / "reproduce" / f"{s.name}.yaml")
        assert sweep.combos, s.name


@pytest.mark.parametrize("study, model, shared", [
    ("table3_fc2_length", "builtin:lenet5_mnist_apc", False),
    ("table3_fc2_length_shared", "builtin:lenet5_mnist_apc_hw", True),
    *[(f"fig8_{c}", "builtin:lenet5_mnist_apc", False) for c in ("conv1", "conv2", "fc1", "fc2",
                                                                 "all")],
])
def test_accuracy_studies_run_apc_designs_with_the_model_trained_for_them(
        study: str, model: str, shared: bool) -> None:
    """APC counters everywhere (as in the paper); the MUX-shared FC design runs the model
    fine-tuned for it with the hardware in the loop (lenet5_mnist_apc_hw), the unshared ones
    lenet5_mnist_apc."""
    import yaml

    from archsim.config import load_config

    sweep_file = configs_dir() / "reproduce" / f"{study}.yaml"
    base = yaml.safe_load(sweep_file.read_text(encoding="utf-8"))["base"]
    cfg = load_config(sweep_file.parent / base)
    assert cfg.model.weights == model
    assert {layer.counter for layer in cfg.layers} == {"apc"}
    assert all(bool(layer.mux_groups) == shared for layer in cfg.layers if layer.kind == "fc")


def test_study_models_reads_the_model_from_the_run_summaries() -> None:
    pts = [Point("table3_fc2_length_shared", GENERIC, {}, Path("."),
                 {"metadata": {"model": {"weights": "builtin:lenet5_mnist_apc_sc"}}})]
    res = {("table3_fc2_length_shared", GENERIC): pts}
    assert collect.study_models(res, "table3_fc2_length_shared") == "lenet5_mnist_apc_sc"
    assert collect.study_models(res, "table3_fc2_length") == "?"


def test_calibrated_technology_applies_as_sourced_overrides(tmp_path: Path) -> None:
    from archsim.config import load_config

    tech = configs_dir() / "tech" / "dwcnn_calibrated.yaml"
    ov = technology_overrides(tech)
    cfg = load_config(configs_dir() / "dwcnn" / "lenet5_dwm_sn128_fc-unshared.yaml", ov)
    lk = cfg.technology.dwm.leakage_per_bit
    assert lk.value == pytest.approx(7.49e-6)  # mW
    assert "fitted to DW-CNN Table II" in lk.source
    assert "not fitted" in cfg.technology.dwm.read_energy_per_bit.source
    # untouched numbers keep their generic45 sources
    assert "CACTI" in cfg.technology.sram.read_energy_per_bit.source
    # and it works as an include on top of a design that includes generic45
    design = tmp_path / "design.yaml"
    design.write_text("include: [{}, {}]\n".format(
        configs_dir() / "dwcnn" / "lenet5_dwm_sn128_fc-unshared.yaml", tech), encoding="utf-8")
    inc = load_config(design)
    assert inc.technology.dwm.cell_area.value == pytest.approx(0.003265)
    assert "CACTI" in inc.technology.sram.read_energy_per_bit.source


# ---------------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("argv, message", [
    # numbers are checked by the command line before reproduce runs (archsim.cli_numbers)
    (["--images", "0"], "argument --images: 0 is out of range"),
    (["--hw-images", "0"], "argument --hw-images: 0 is out of range"),
    (["--only", "table9"], "--only 'table9'"),
    (["--tech", "/nonexistent.yaml"], "calibrated technology file not found"),
    (["--data-dir", "/nonexistent-archsim-data"], "nonexistent-archsim-data"),
    (["--set", "layers.fc9.weights.length=3"], "fc9"),
])
def test_bad_input_is_a_clear_error_and_exit_2(tmp_path: Path, capsys, argv, message) -> None:
    try:
        rc = main(["reproduce", "dwcnn", "--out", str(tmp_path / "o"), "--only", "table3",
                   "--images", "1", *argv])
    except SystemExit as e:  # argparse's error exit
        rc = e.code
    assert rc == 2
    assert message in capsys.readouterr().err


@pytest.mark.slow
def test_cli_reduced_run_writes_tables_and_figures(tmp_path: Path) -> None:
    """Every output on a reduced set (128-bit input streams, 2 images): CSV+MD+PNG+SVG."""
    out = tmp_path / "repro"
    rc = main(["reproduce", "dwcnn", "--images", "2", "--hw-images", "1", "--jobs", "1",
               "--out", str(out), "--set", "stream.length=128", "--quiet"])
    assert rc == 0
    for stem in ("table1", "table1_calibrated", "table2", "table2_calibrated", "table3",
                 "claims", "claims_calibrated"):
        for ext in ("csv", "md"):
            assert (out / "tables" / f"{stem}.{ext}").stat().st_size > 0
        rows = list(csv.DictReader(open(out / "tables" / f"{stem}.csv", encoding="utf-8")))
        assert rows
        for r in rows:
            for col, v in r.items():
                if col.endswith(" ratio"):
                    q = col[: -len(" ratio")]
                    assert v != "", (stem, col)
                    assert float(v) == pytest.approx(float(r[f"{q} ours"]) / float(r[f"{q} paper"]),
                                                     rel=1e-4)
    for stem in ("fig11", "fig11_calibrated", "fig8", "table2", "table3"):
        for ext in ("png", "svg"):
            assert (out / "figures" / f"{stem}.{ext}").stat().st_size > 1000
    trends = list(csv.DictReader(open(out / "trends.csv", encoding="utf-8")))
    assert {t["where"] for t in trends} >= {"Table I", "Table II", "Table III", "Fig. 8",
                                            "Fig. 11"}
    assert {t["technology"] for t in trends} >= {GENERIC, CALIBRATED}
    # every point is an ordinary sweep run folder
    from archsim.sweep.spec import load_sweep

    summaries = list((out / "runs").glob("*/points/*/summary.json"))
    expected = sum(len(load_sweep(configs_dir() / "reproduce" / f"{s.name}.yaml").combos)
                   * len(s.techs) for s in STUDIES)
    assert len(summaries) == expected
    assert all(json.loads(f.read_text(encoding="utf-8"))["complete"] for f in summaries)
    # a re-run reuses every finished point
    rc = main(["reproduce", "dwcnn", "--images", "2", "--hw-images", "1", "--jobs", "1",
               "--out", str(out), "--set", "stream.length=128", "--quiet", "--only", "table3"])
    assert rc == 0


def test_nnls_finds_the_constrained_minimum() -> None:
    """The built-in NNLS (no SciPy): an unconstrained solution with a negative entry is pinned
    at 0 and the rest refitted."""
    from archsim.reproduce.calibrate import nnls

    a = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    x, r = nnls(a, np.array([1.0, -1.0, 0.5]))
    # x2 = 0 at the bound; x1 minimises (x1-1)^2 + (x1-0.5)^2 -> 0.75
    np.testing.assert_allclose(x, [0.75, 0.0])
    assert r == pytest.approx(np.sqrt(0.25**2 + 1.0 + 0.25**2))
    x, _ = nnls(a, np.array([1.0, 2.0, 3.0]))  # interior: the plain least-squares answer
    np.testing.assert_allclose(x, [1.0, 2.0], atol=1e-12)
