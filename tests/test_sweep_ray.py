"""The Ray backend: a sweep on a local Ray instance gives the same table as local and Dask.

``archsim sweep --backend ray`` without ``--scheduler`` starts a local Ray instance with
``--jobs`` CPUs and shuts it down after the sweep (with ``--scheduler ADDRESS`` it joins a
running cluster instead; docs/sweeps.md).  CI installs the ``[ray]`` extra and runs this file.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

from archsim.cli import main
from archsim.sweep.runner import TIMING_COLUMNS

if not os.environ.get("ARCHSIM_REQUIRE_RAY"):
    pytest.importorskip("ray")

ROOT = Path(__file__).resolve().parents[1]
SMALL = ROOT / "arch_configs" / "dwcnn" / "small_conv_fc-shared.yaml"


def _table(out: Path) -> list[dict[str, str]]:
    with open(out / "results.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    return [{k: v for k, v in r.items() if k not in TIMING_COLUMNS} for r in rows]


def test_ray_local_and_dask_give_identical_tables(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text(f"base: {SMALL}\nimages: 2\naxes:\n  layers.fc1.weights.length: [16, 32]\n"
                 "  stream.length: [64, 128]\n", encoding="utf-8")
    tables = {}
    for backend in ("local", "dask", "ray"):
        if backend == "dask":
            pytest.importorskip("dask.distributed")
        out = tmp_path / backend
        assert main(["sweep", str(f), "--out", str(out), "--backend", backend, "--jobs", "2",
                     "--quiet"]) == 0
        tables[backend] = _table(out)
    rows = tables["local"]
    assert len(rows) == 4 and {r["status"] for r in rows} == {"ok"}
    assert all(r["cycles"] and r["energy_pj"] for r in rows)
    assert tables["ray"] == rows
    assert tables["dask"] == rows
    import ray

    assert not ray.is_initialized()  # the instance the sweep started is shut down
