"""Tests of the architecture description: units, YAML loading, includes, overrides, validation
errors with key paths, technology sources, the resolved round trip and ``archsim validate``."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from archsim.config import ConfigError, load_config, load_raw
from archsim.config.errors import MISSING, format_key_path, parse_key_path
from archsim.config.validate_cli import validate_main
from archsim.units import UnitError, format_quantity, parse_quantity

ROOT = Path(__file__).resolve().parents[1]
BROKEN = ROOT / "tests" / "broken_configs"
TECH = ROOT / "arch_configs" / "tech" / "generic45.yaml"
EXAMPLE = ROOT / "arch_configs" / "dwcnn" / "small_conv_fc.yaml"


# ------------------------------------------------------------------------------------------
# units
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "dimension", "value"),
    [
        ("200 MHz", "frequency", 200.0),
        ("1.5GHz", "frequency", 1500.0),
        ("100 kHz", "frequency", 0.1),
        ("2.14 ns", "time", 2.14),
        ("1 us", "time", 1000.0),
        ("500 ps", "time", 0.5),
        ("0.609 pJ", "energy", 0.609),
        ("1 nJ", "energy", 1000.0),
        ("2.5 fJ", "energy", 0.0025),
        ("138 nW", "power", 0.000138),
        ("30 uW", "power", 0.03),
        ("30 µW", "power", 0.03),
        ("30 μW", "power", 0.03),
        ("1 W", "power", 1000.0),
        ("0.3 um^2", "area", 0.3),
        ("0.3 um2", "area", 0.3),
        ("0.3 µm^2", "area", 0.3),
        ("1 mm^2", "area", 1e6),
        ("1 mm2", "area", 1e6),
        ("5e-3 ns", "time", 0.005),
        ("-2 ns", "time", -2.0),
    ],
)
def test_parse_quantity_gives_internal_units(text: str, dimension: str, value: float) -> None:
    assert parse_quantity(text, dimension) == pytest.approx(value, rel=1e-15)
    assert parse_quantity(text) == pytest.approx(value, rel=1e-15)


def test_decimal_scaling_is_exact() -> None:
    assert parse_quantity("138 nW", "power") == 0.000138
    assert parse_quantity("2.5 fJ", "energy") == 0.0025


@pytest.mark.parametrize(
    ("text", "dimension", "fragment"),
    [
        (200, "frequency", "unit is required"),
        ("200", "frequency", "unit is required"),
        ("5 ns", "frequency", "'ns' is a unit of time"),
        ("3 furlongs", "time", "'furlongs' is not a known unit"),
        ("fast", "time", "a time with a unit"),
        (None, "energy", "an energy with a unit"),
        (True, "energy", "an energy with a unit"),
    ],
)
def test_parse_quantity_errors_are_clear(text: object, dimension: str, fragment: str) -> None:
    with pytest.raises(UnitError) as info:
        parse_quantity(text, dimension)
    assert fragment in str(info.value)
    assert repr(text) in str(info.value)


@pytest.mark.parametrize(
    ("value", "dimension", "text"),
    [(200.0, "frequency", "200 MHz"), (2.14192, "time", "2.14192 ns"),
     (0.000138, "power", "0.000138 mW"), (0.01215, "area", "0.01215 um^2")],
)
def test_format_quantity_round_trips(value: float, dimension: str, text: str) -> None:
    assert format_quantity(value, dimension) == text
    assert parse_quantity(format_quantity(value, dimension), dimension) == value


# ------------------------------------------------------------------------------------------
# error type and key paths
# ------------------------------------------------------------------------------------------

def test_config_error_message_format() -> None:
    err = ConfigError("a.yaml", "layers[2].weights.memory", "dwm9", "a declared memory")
    assert str(err) == "a.yaml: layers[2].weights.memory: got 'dwm9'; expected a declared memory"
    assert "got nothing" in str(ConfigError("a.yaml", "clock", MISSING, "a frequency"))


def test_config_error_cuts_a_huge_value_but_keeps_file_and_expectation() -> None:
    # a YAML alias bomb expands to a value whose repr is tens of kilobytes; the message must
    # stay one short line that still names the file, the key and what was expected
    huge = [[["x"] * 9] * 9] * 9
    msg = str(ConfigError("s.yaml", "base", huge, "Field required"))
    assert msg.startswith("s.yaml: base: got [[['x'")
    assert msg.endswith("; expected Field required")
    assert " ... " in msg and len(msg) < 260


def test_key_paths_round_trip() -> None:
    loc = ("layers", 2, "weights", "memory")
    assert format_key_path(loc) == "layers[2].weights.memory"
    assert parse_key_path("layers[2].weights.memory") == loc
    assert parse_key_path("layers.fc1.weights.length") == ("layers", "fc1", "weights", "length")


# ------------------------------------------------------------------------------------------
# broken configs: each names its file and the key path
# ------------------------------------------------------------------------------------------

# file -> (key path substring or message fragment, file the message must name if not itself)
BROKEN_TABLE: dict[str, tuple[str, str | None]] = {
    "missing_clock.yaml": ("clock: got nothing", None),
    "unknown_key_typo.yaml": ("layers[0].fitlers", None),
    "wrong_unit_clock.yaml": ("clock: got '5 ns'", None),
    "negative_latency.yaml": ("memories.dwm0.shift_latency", None),
    "unknown_memory_kind.yaml": ("memories.dwm0.kind", None),
    "bad_include_path.yaml": ("include: got '../../arch_configs/tech/generic99.yaml'", None),
    "not_yaml.yaml": ("valid YAML", None),
    "empty.yaml": ("non-empty YAML mapping", None),
    "not_a_mapping.yaml": ("a YAML mapping", None),
    "wrong_type_filters.yaml": ("layers[0].filters", None),
    "stream_length_out_of_range.yaml": ("stream.length", None),
    "weight_length_out_of_range.yaml": ("layers[1].weights.length", None),
    "undefined_memory.yaml": ("layers[1].weights.memory", None),
    "shape_mismatch.yaml": ("layers[1].inputs", None),
    "pool_not_divisor.yaml": ("layers[0].pool", None),
    "dwm_ports_not_divisor.yaml": ("memories.dwm0.ports", None),
    "duplicate_layer_name.yaml": ("layers[1].name", None),
    "binary_without_bits.yaml": ("layers[1].weights.bits", None),
    "stochastic_without_length.yaml": ("layers[0].weights.length", None),
    "activation_none_hidden.yaml": ("layers[0].activation", None),
    "missing_unit.yaml": ("technology.dwm.shift_latency", None),
    "include_cycle.yaml": ("include: got '../include_cycle.yaml'", "parts/cycle_part.yaml"),
    "tech_missing_source.yaml": ("technology.sram.read_latency",
                                 "parts/tech_missing_source.yaml"),
    # designs that name a workload file and give only each layer's hardware
    "workload_unknown_layer.yaml": ("layers[1].name: got 'conv3'", None),
    "workload_shape_in_mapping.yaml": ("layers[0].filters: got 32", None),
    "workload_layer_without_hardware.yaml": ("an entry for layer 'fc2'", None),
    "workload_btanh_gain_in_mapping.yaml": ("layers[0].btanh.s: got 2.0", None),
    "workload_op_the_fabric_cannot_run.yaml": ("ops[1]: got 'relu1'", "parts/relu_workload.yaml"),
    "workload_missing_file.yaml": ("workload: got '../../arch_configs/workloads/no_such", None),
    "workload_mapping_bad_value.yaml": ("layers[0].weights.length: got 4", None),
}


def test_every_broken_config_is_in_the_table() -> None:
    assert sorted(p.name for p in BROKEN.glob("*.yaml")) == sorted(BROKEN_TABLE)
    assert len(BROKEN_TABLE) >= 12


@pytest.mark.parametrize(("name", "expect"), sorted(BROKEN_TABLE.items()))
def test_broken_config_raises_config_error_naming_file_and_key(
    name: str, expect: tuple[str, str | None]
) -> None:
    fragment, named = expect
    with pytest.raises(ConfigError) as info:
        load_config(BROKEN / name)
    message = str(info.value)
    assert (named or name) in message
    assert fragment in message
    assert "got " in message and "; expected " in message
    assert "\n" not in message


@pytest.mark.parametrize("name", sorted(BROKEN_TABLE))
def test_validate_main_exits_2_with_message_on_stderr(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert validate_main(str(BROKEN / name)) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert BROKEN_TABLE[name][0] in err


def test_validate_main_accepts_the_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert validate_main(str(EXAMPLE)) == 0
    out, _ = capsys.readouterr()
    assert out.strip() == f"OK: {EXAMPLE} (sc_stream, 2 layers)"


def test_validate_main_applies_overrides(capsys: pytest.CaptureFixture[str]) -> None:
    assert validate_main(str(EXAMPLE), ["stream.length=4"]) == 2
    assert "stream.length" in capsys.readouterr().err


_HAS_CLI = importlib.util.find_spec("archsim.cli") is not None


@pytest.mark.skipif(not _HAS_CLI, reason="archsim.cli does not exist yet")
@pytest.mark.parametrize("name", ["shape_mismatch.yaml", "unknown_key_typo.yaml"])
def test_archsim_validate_command(name: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "archsim", "validate", str(BROKEN / name)],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )
    assert proc.returncode == 2
    assert BROKEN_TABLE[name][0] in proc.stderr
    ok = subprocess.run(
        [sys.executable, "-m", "archsim", "validate", str(EXAMPLE)],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert "OK:" in ok.stdout


# ------------------------------------------------------------------------------------------
# the example design and the access API
# ------------------------------------------------------------------------------------------

def test_example_design_validates_with_expected_values() -> None:
    cfg = load_config(EXAMPLE)
    assert cfg.source_file == EXAMPLE
    assert cfg.name == "small_conv_fc"
    assert cfg.clock == 200.0
    assert cfg.clock_period == 5.0
    assert cfg.stream.length == 64
    assert cfg.stream.rng.width == 6  # ceil(log2 64)
    assert cfg.dataset.name == "random"
    conv, fc = cfg.layers
    assert (conv.conv_size, conv.out_size, conv.output_count, conv.fan_in) == (6, 3, 18, 9)
    assert conv.sharing == "filter" and conv.counter == "apc" and conv.pool_segment == 8
    assert fc.inputs == 18 and fc.mux_groups == 3 and fc.activation == "none"
    assert cfg.layer("fc1") is fc
    dwm = cfg.memories["dwm0"]
    assert (dwm.kind, dwm.domains, dwm.ports, dwm.rw_ports) == ("dwm", 64, 1, [0])
    assert cfg.layer_memory("conv1") is dwm
    tech = cfg.memory_tech("dwm0")
    assert tech.shift_latency.value == 2.14192
    assert tech.read_energy_per_bit.value == 2.5
    assert tech.shift_energy_per_track_step.value == 0.609
    assert tech.cell_area.value == pytest.approx(0.01215)
    assert "RM.config" in tech.shift_latency.source
    assert cfg.memory_tech("sram0").leakage_per_bit.value == pytest.approx(6.9e-6)
    assert cfg.technology.logic.xnor.energy.value == pytest.approx(0.0025)


def test_every_technology_number_has_a_source() -> None:
    cfg = load_config(EXAMPLE)
    tech = cfg.technology
    sections = [tech.sram, tech.dwm, tech.stt_mram]
    sections += [getattr(tech.logic, unit) for unit in type(tech.logic).model_fields]
    for section in sections:
        for key, tv in section.as_dict().items():
            assert tv.source.strip(), key
            assert tv.value >= 0, key


# ------------------------------------------------------------------------------------------
# includes
# ------------------------------------------------------------------------------------------

def _design(**extra: object) -> dict:
    base = {
        "clock": "200 MHz",
        "stream": {"length": 64},
        "memories": {"dwm0": {"kind": "dwm"}},
        "layers": [
            {"name": "fc1", "kind": "fc", "inputs": 16, "outputs": 4,
             "weights": {"memory": "dwm0", "length": 16}, "activation": "none"},
        ],
    }
    base.update(extra)
    return base


def _write(path: Path, data: object) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def test_include_merges_mappings_and_replaces_lists(tmp_path: Path) -> None:
    _write(tmp_path / "base.yaml", {
        "include": str(TECH),
        "stream": {"length": 128, "comparator": "ge"},
        "probes": ["a", "b"],
        "memories": {"dwm0": {"kind": "dwm", "domains": 32}},
        "layers": [{"name": "x"}],
    })
    top = _write(tmp_path / "top.yaml", _design(
        include="base.yaml",
        stream={"length": 256},
        probes=["c"],
        memories={"dwm0": {"ports": 2}},
    ))
    cfg = load_config(top)
    assert cfg.stream.length == 256          # including file wins
    assert cfg.stream.comparator == "ge"     # mappings merge recursively
    assert cfg.probes == ["c"]               # lists replace
    assert cfg.memories["dwm0"].domains == 32
    assert cfg.memories["dwm0"].ports == 2
    assert [layer.name for layer in cfg.layers] == ["fc1"]
    assert cfg.name == "top"                 # default: file stem


def test_includes_apply_in_order_and_recursively(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    _write(tmp_path / "sub" / "a.yaml", {"include": str(TECH), "seed": 5, "description": "a"})
    _write(tmp_path / "sub" / "b.yaml", {"include": "a.yaml", "seed": 6})
    _write(tmp_path / "c.yaml", {"seed": 7, "description": "c"})
    top = _write(tmp_path / "top.yaml", _design(include=["sub/b.yaml", "c.yaml"]))
    cfg = load_config(top)
    assert cfg.seed == 7 and cfg.description == "c"
    raw, _ = load_raw(top)
    assert "include" not in raw


def test_self_include_is_a_cycle(tmp_path: Path) -> None:
    top = _write(tmp_path / "top.yaml", _design(include="top.yaml"))
    with pytest.raises(ConfigError, match="cycle"):
        load_config(top)


def test_error_in_included_file_names_that_file(tmp_path: Path) -> None:
    _write(tmp_path / "part.yaml", {"include": str(TECH), "stream": {"length": 3}})
    top = _write(tmp_path / "top.yaml", _design(include="part.yaml", stream=None))
    del_stream = yaml.safe_load(top.read_text())
    del del_stream["stream"]
    _write(top, del_stream)
    with pytest.raises(ConfigError) as info:
        load_config(top)
    assert info.value.file.endswith("part.yaml")
    assert info.value.key_path == "stream.length"


def test_duplicate_yaml_key_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text("clock: 200 MHz\nclock: 100 MHz\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="repeated at line 2"):
        load_config(path)


# ------------------------------------------------------------------------------------------
# technology sources and overrides in files
# ------------------------------------------------------------------------------------------

def test_design_file_may_override_tech_with_a_bare_quantity(tmp_path: Path) -> None:
    top = _write(tmp_path / "top.yaml", _design(
        include=str(TECH),
        technology={"dwm": {"shift_latency": "3 ns"}},
        memories={"dwm0": {"kind": "dwm", "read_latency": "2 ns"}},
    ))
    cfg = load_config(top)
    assert cfg.technology.dwm.shift_latency.value == 3.0
    assert cfg.technology.dwm.shift_latency.source == f"override in {_shown(top)}"
    tech = cfg.memory_tech("dwm0")
    assert tech.read_latency.value == 2.0
    assert tech.read_latency.source.startswith("override in ")
    assert tech.shift_latency.value == 3.0           # from technology
    assert cfg.technology.dwm.read_latency.value == 1.61338  # memory override is local


def _shown(path: Path) -> str:
    import os

    rel = os.path.relpath(path)
    return rel if not rel.startswith("..") else str(path)


def test_tech_number_defined_without_source_is_an_error(tmp_path: Path) -> None:
    tech = yaml.safe_load(TECH.read_text(encoding="utf-8"))
    tech["technology"]["dwm"]["port_area"] = {"value": "0.3 um^2"}  # no source
    _write(tmp_path / "tech.yaml", tech)
    top = _write(tmp_path / "top.yaml", _design(include="tech.yaml"))
    with pytest.raises(ConfigError) as info:
        load_config(top)
    assert info.value.file.endswith("tech.yaml")
    assert info.value.key_path == "technology.dwm.port_area"
    assert "source" in info.value.expected


def test_override_fragment_after_tech_file_may_be_bare(tmp_path: Path) -> None:
    _write(tmp_path / "fast_shift.yaml", {"technology": {"dwm": {"shift_latency": "1 ns"}}})
    top = _write(tmp_path / "top.yaml", _design(include=[str(TECH), "fast_shift.yaml"]))
    cfg = load_config(top)
    assert cfg.technology.dwm.shift_latency.value == 1.0
    assert cfg.technology.dwm.shift_latency.source.endswith("fast_shift.yaml")


def test_memory_kind_needs_its_technology_section(tmp_path: Path) -> None:
    tech = yaml.safe_load(TECH.read_text(encoding="utf-8"))
    del tech["technology"]["dwm"]
    _write(tmp_path / "tech.yaml", tech)
    top = _write(tmp_path / "top.yaml", _design(include="tech.yaml"))
    with pytest.raises(ConfigError, match=r"technology\.dwm"):
        load_config(top)


# ------------------------------------------------------------------------------------------
# command-line style overrides
# ------------------------------------------------------------------------------------------

def test_overrides_by_index_and_by_name() -> None:
    cfg = load_config(EXAMPLE, ["stream.length=256", "layers[0].weights.length=32",
                                "layers.fc1.weights.length=64", "memories.dwm0.domains=128"])
    assert cfg.stream.length == 256
    assert cfg.stream.rng.width == 8
    assert cfg.layers[0].weights.length == 32
    assert cfg.layer("fc1").weights.length == 64
    assert cfg.memories["dwm0"].domains == 128
    assert load_config(EXAMPLE, ["layers.1.weights.length=48"]).layers[1].weights.length == 48


def test_override_values_are_yaml() -> None:
    cfg = load_config(EXAMPLE, ["clock=400 MHz", "memories.dwm0.ports=2",
                                "memories.dwm0.rw_ports=all", "layers.fc1.mux_groups=null"])
    assert cfg.clock == 400.0
    assert cfg.memories["dwm0"].rw_ports == [0, 1]
    assert cfg.layer("fc1").mux_groups is None


def test_override_of_tech_value_records_its_source() -> None:
    cfg = load_config(EXAMPLE, ["technology.dwm.shift_latency=1 ns",
                                "memories.dwm0.read_latency=0.5 ns"])
    assert cfg.technology.dwm.shift_latency.value == 1.0
    assert "override" in cfg.technology.dwm.shift_latency.source
    assert cfg.memory_tech("dwm0").read_latency.value == 0.5


@pytest.mark.parametrize(
    ("override", "key_path"),
    [
        ("layers.fc9.weights.length=64", "layers.fc9"),
        ("layers[7].weights.length=64", "layers[7]"),
        ("stream.lenght=64", "stream.lenght"),
        ("strem.length=64", "strem"),
        ("layers.fc1.weights.lenght=64", "layers[1].weights.lenght"),
        ("clock.unit=MHz", "clock"),
        ("stream.length", ""),
    ],
)
def test_bad_override_path_is_a_config_error(override: str, key_path: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(EXAMPLE, [override])
    assert info.value.key_path == key_path
    assert override in str(info.value)


# ------------------------------------------------------------------------------------------
# resolved dict round trip
# ------------------------------------------------------------------------------------------

def test_resolved_dict_round_trip(tmp_path: Path) -> None:
    cfg = load_config(EXAMPLE, ["memories.dwm0.shift_latency=3 ns"])
    resolved = cfg.resolved_dict()
    assert resolved["clock"] == "200 MHz"
    assert "include" not in resolved
    assert resolved["technology"]["dwm"]["shift_latency"]["value"] == "2.14192 ns"
    assert resolved["memories"]["dwm0"]["shift_latency"]["value"] == "3 ns"
    assert resolved["stream"]["rng"]["width"] == 6
    path = _write(tmp_path / "resolved.yaml", resolved)
    again = load_config(path)
    assert again == cfg
    assert again.resolved_dict() == resolved
    assert again.memory_tech("dwm0").shift_latency == cfg.memory_tech("dwm0").shift_latency
