"""``archsim validate`` runs every check ``archsim run`` does, and a rejected run writes nothing.

Each file under ``tests/broken_runtime/`` passes the schema but fails a check that used to
fire only once the run had started (DWM track limits, the fault models a layer kind supports,
model shapes, the data set's shape and size, probe names).  Each must be rejected by
``validate`` (exit 2, naming the file, the key path and the value) and by ``run`` before its
output folder is created.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from archsim.config import load_config
from archsim.config.validate_cli import validate_main

BROKEN = Path(__file__).resolve().parent / "broken_runtime"

# file -> fragments the error must contain (key path, value)
TABLE: dict[str, tuple[str, ...]] = {
    "dwm_track_limit.yaml": ("layers[0].weights.length", "16384"),
    "misalignment_on_shared_fc.yaml": ("memories.dwm0.misalignment.probability", "'fc1'"),
    "output_flip_on_last_layer.yaml": ("layers[1].output_flip", "0.1"),
    "read_error_on_shared_fc.yaml": ("memories.mram0.read_error", "'fc1'"),
    "model_shape_mismatch.yaml": ("layers[0]", "conv1_w of shape (20, 1, 5, 5)"),
    "unknown_builtin_model.yaml": ("model.weights", "builtin:no_such_model"),
    "dataset_shape_mismatch.yaml": ("dataset.name", "'mnist'"),
    "probe_without_signal.yaml": ("probes[0]", "conv1.mux.select"),
    "probe_index_out_of_range.yaml": ("probes[0]", "fc1.apc.count[99]"),
    "images_past_shipped_subset.yaml": ("mnist-test-500.npz", "[100, 600)"),
}


def test_every_file_is_in_the_table():
    assert sorted(p.name for p in BROKEN.glob("*.yaml")) == sorted(TABLE)


@pytest.mark.parametrize("name", sorted(TABLE))
def test_the_schema_alone_accepts_it(name):
    load_config(BROKEN / name)  # the problem is one only a run's preparation finds


@pytest.mark.parametrize("name", sorted(TABLE))
def test_validate_rejects_it_naming_key_and_value(name, capsys, monkeypatch):
    monkeypatch.delenv("ARCHSIM_DATA", raising=False)
    assert validate_main(str(BROKEN / name)) == 2
    out, err = capsys.readouterr()
    assert out == ""
    for fragment in TABLE[name]:
        assert fragment in err, err
    if "npz" not in TABLE[name][0]:  # data-set files are named by their own path
        assert name in err


@pytest.mark.parametrize("name", ["dwm_track_limit.yaml", "model_shape_mismatch.yaml",
                                  "probe_without_signal.yaml", "dataset_shape_mismatch.yaml"])
def test_a_rejected_run_creates_no_folder(name, tmp_path):
    out = tmp_path / "run"
    env = {k: v for k, v in __import__("os").environ.items() if k != "ARCHSIM_DATA"}
    proc = subprocess.run([sys.executable, "-m", "archsim", "run", str(BROKEN / name),
                           "--out", str(out), "--jobs", "1", "--quiet"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert TABLE[name][0] in proc.stderr
    assert not out.exists()
