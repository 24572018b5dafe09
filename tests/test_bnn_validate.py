"""Broken BNN designs: ``archsim validate`` rejects each with exit 2 and a ConfigError naming the
file, the key path, the bad value and what was expected (tests/broken_bnn/)."""

from __future__ import annotations

from pathlib import Path

import pytest

from archsim.config.validate_cli import validate_main

BROKEN = Path(__file__).resolve().parent / "broken_bnn"

#: file -> (key path in the message, the file the message must name)
TABLE = {
    "arrays_zero.yaml": ("layers[0].arrays", "arrays_zero.yaml"),
    "ber_out_of_range.yaml": ("weight_faults.write_ber", "ber_out_of_range.yaml"),
    "columns_zero.yaml": ("array.columns", "columns_zero.yaml"),
    "combine_unknown.yaml": ("input.combine", "combine_unknown.yaml"),
    "datapath_with_stochastic.yaml": ("input.datapath", "datapath_with_stochastic.yaml"),
    "fixed_with_presentations.yaml": ("input.presentations", "fixed_with_presentations.yaml"),
    "memory_read_error.yaml": ("memories.weights.read_error", "memory_read_error.yaml"),
    "missing_tech_bnn.yaml": ("technology.bnn", "generic45.yaml"),
    "presentations_zero.yaml": ("input.presentations", "presentations_zero.yaml"),
    "read_ber_on_sram.yaml": ("weight_faults.read_ber", "read_ber_on_sram.yaml"),
    "rng_unknown.yaml": ("input.rng.kind", "rng_unknown.yaml"),
    "sense_amp_xnor_on_1t1mtj.yaml": ("array.xnor", "sense_amp_xnor_on_1t1mtj.yaml"),
    "sense_amp_xnor_on_sram.yaml": ("array.xnor", "sense_amp_xnor_on_sram.yaml"),
    "undefined_memory.yaml": ("layers[0].memory", "undefined_memory.yaml"),
    "unknown_layer.yaml": ("layers[2].name", "unknown_layer.yaml"),
    "workload_bias.yaml": ("ops[1].bias", "bias_bnn.yaml"),
    "workload_relu.yaml": ("ops[2]", "relu_bnn.yaml"),
}


def test_the_table_lists_every_broken_design():
    assert sorted(p.name for p in BROKEN.glob("*.yaml")) == sorted(TABLE)
    assert len(TABLE) >= 8


@pytest.mark.parametrize("name", sorted(TABLE))
def test_validate_rejects_with_the_key_path(name, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert validate_main(str(BROKEN / name)) == 2
    err = capsys.readouterr().err
    key, file = TABLE[name]
    assert f"{key}: got " in err and "; expected " in err, err
    assert file in err, err
    assert list(tmp_path.iterdir()) == []  # nothing written
