"""HWComponents interoperability, both directions (Python >= 3.12 with ``archsim[hwcomponents]``).

(a) archsim's component models are an hwcomponents plug-in: ``hwc --list`` shows them and
    their estimates are archsim's technology numbers, converted to hwcomponents' SI units.
(b) a technology number may be taken from an installed hwcomponents model: the value is the
    model's estimate in archsim's units and the resolved config records it as the source.

CI runs this file in a Python 3.12 virtual environment (.ci/run); elsewhere it is skipped
when hwcomponents is not installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

if os.environ.get("ARCHSIM_REQUIRE_HWCOMPONENTS"):
    import hwcomponents as hwc
else:
    hwc = pytest.importorskip("hwcomponents")

from archsim.config import load_config
from archsim.config.errors import ConfigError

# the shipped design (CI installs archsim outside the checkout, where it is found this way)
SMALL = "builtin:dwcnn/small_conv_fc.yaml"
TECH = load_config(SMALL).technology
Q = {"tech_node": 45e-9}


def test_hwc_list_shows_archsims_components():
    hwc_bin = shutil.which("hwc") or str(Path(sys.executable).with_name("hwc"))
    out = subprocess.run([hwc_bin, "--list"], capture_output=True, text=True, timeout=600,
                         check=True).stdout
    for name in ("archsim_dwm_array", "archsim_dwm_port", "archsim_stt_mram_array",
                 "archsim_sram_array", "archsim_sc_xnor", "archsim_sc_apc",
                 "archsim_sc_parallel_counter", "archsim_sc_btanh", "archsim_sc_sng",
                 "archsim_sc_mux"):
        assert name in out, name
    assert "shift()" in out  # the DWM nanowires shift


def test_the_plugin_answers_with_archsims_numbers():
    dwm = TECH.dwm.as_floats()
    attrs = {**Q, "width": 64, "depth": 128}
    shift = hwc.get_action_cost("archsim_dwm_array", attrs, "shift", {})
    assert shift.energy == pytest.approx(dwm["shift_energy_per_track_step"] * 64 * 1e-12)
    assert shift.latency == pytest.approx(dwm["shift_latency"] * 1e-9)
    read = hwc.get_action_cost("archsim_dwm_array", attrs, "read", {})
    assert read.energy == pytest.approx(dwm["read_energy_per_bit"] * 64 * 1e-12)
    assert hwc.get_area("archsim_dwm_array", attrs) == pytest.approx(
        dwm["cell_area"] * 64 * 128 * 1e-12)
    assert hwc.get_area("archsim_dwm_port", Q) == pytest.approx(dwm["port_area"] * 1e-12)
    mram = TECH.stt_mram.as_floats()
    assert hwc.get_leak_power("archsim_stt_mram_array", {**Q, "width": 8, "depth": 4}) == (
        pytest.approx(mram["leakage_per_bit"] * 32 * 1e-3))
    apc = TECH.logic.apc_per_input.as_floats()
    assert hwc.get_action_cost("archsim_sc_apc", {**Q, "n_inputs": 25}, "count", {}).energy == (
        pytest.approx(apc["energy"] * 25 * 1e-12))
    with pytest.raises(RuntimeError):  # archsim's numbers are 45 nm ones: not scaled
        hwc.get_action_cost("archsim_sc_apc", {"tech_node": 7e-9}, "count", {})


def _design(tmp_path: Path, logic: dict) -> Path:
    path = tmp_path / "hwc_design.yaml"
    path.write_text(yaml.safe_dump({"include": SMALL, "technology": {"logic": logic}}))
    return path


REGISTER = {"component": "register", "attributes": {"tech_node": 45e-9, "width": 8},
            "action": "write", "per": 8}


def test_a_technology_number_from_an_installed_model_records_it_as_the_source(tmp_path):
    path = _design(tmp_path, {"register_bit": {
        "energy": {"hwcomponents": REGISTER},
        "area": {"hwcomponents": {**REGISTER, "action": "area"}},
        "leakage": {"value": "0 mW", "source": "test"}}})
    cfg = load_config(path)
    reg = cfg.technology.logic.register_bit
    want = hwc.get_action_cost("register", REGISTER["attributes"], "write", {}).energy
    assert reg.energy.value == pytest.approx(want * 1e12 / 8)  # J -> pJ, per bit
    assert reg.area.value == pytest.approx(hwc.get_area("register", REGISTER["attributes"])
                                           * 1e12 / 8)  # m^2 -> um^2, per bit
    from archsim.tech.hwcomponents import version

    assert reg.energy.source.startswith(f"hwcomponents {version()}: ") and version() != "?"
    assert "AladdinRegister" in reg.energy.source and "/ 8" in reg.energy.source
    # the resolved config of a run keeps value and source, and loads without hwcomponents
    from archsim.cli import main

    out = tmp_path / "run"
    assert main(["run", str(path), "--out", str(out), "--quiet", "--images", "1"]) == 0
    resolved = yaml.safe_load((out / "config.resolved.yaml").read_text())
    energy = resolved["technology"]["logic"]["register_bit"]["energy"]
    assert set(energy) == {"value", "source"} and "hwcomponents" in energy["source"]
    again = load_config(out / "config.resolved.yaml")
    assert again.technology.logic.register_bit.energy.value == pytest.approx(reg.energy.value)


def test_a_query_no_model_answers_is_a_config_error(tmp_path):
    path = _design(tmp_path, {"xnor": {"energy": {"hwcomponents": {
        "component": "no_such_component", "attributes": Q, "action": "read"}}}})
    with pytest.raises(ConfigError) as e:
        load_config(path)
    msg = str(e.value)
    assert "technology.logic.xnor.energy.hwcomponents" in msg and "hwc_design.yaml" in msg
    path = _design(tmp_path, {"xnor": {"energy": {"hwcomponents": {**REGISTER, "action":
                                                                   "area"}}}})
    with pytest.raises(ConfigError, match="gives an area"):
        load_config(path)
