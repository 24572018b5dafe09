"""``archsim reproduce imce`` runs and writes every number beside the paper's, with the ratio."""

from __future__ import annotations

import json

from archsim.cli import main
from archsim.reproduce.imce import PAPER


def test_reproduce_imce_one_width(tmp_path):
    out = tmp_path / "imce"
    assert main(["reproduce", "imce", "--only", "w1a4", "--hw-images", "1", "--out", str(out),
                 "--quiet"]) == 0
    report = (out / "report.md").read_text()
    assert "785.25" in report and "~3" in report and "~4" in report
    point = json.loads((out / "points" / "w1a4.json").read_text())
    assert point["energy_uj_per_image"] > 0 and point["rram_energy_uj_per_image"] > 0
    ratio = point["energy_uj_per_image"] / PAPER["energy_uj_per_image"]
    assert f"{ratio:.2f}" in report
    comps = point["energy_by_component_uj"]
    assert sum(comps.values()) == __import__("pytest").approx(point["energy_uj_per_image"])
    for part in ("dual-row AND sensing (cells)", "activation bit-plane writes", "bit-counting",
                 "shift-add", "digital unit"):
        assert comps[part] > 0
    for name in ("comparison", "widths", "components", "layers", "rram_components"):
        assert (out / "tables" / f"{name}.csv").is_file()


def test_reproduce_imce_rejects_a_bad_width(tmp_path, capsys):
    assert main(["reproduce", "imce", "--only", "wxa4", "--out", str(tmp_path)]) == 2
