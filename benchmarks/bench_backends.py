"""Wall time of one sweep on each backend with two workers: local, Dask and Ray.

``python benchmarks/bench_backends.py [--images N]`` runs ``arch_configs/sweeps/
dwcnn_memory_format.yaml`` (8 LeNet-5 design points) with ``--jobs 2`` on the local process
pool, a local Dask cluster and a local Ray instance (each started and stopped by the sweep,
so its start-up is in the figure), checks that the three tables are identical and prints the
wall time and seconds per point of each (docs/sweeps.md quotes it).
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

from archsim.cli import main
from archsim.sweep.runner import TIMING_COLUMNS

ROOT = Path(__file__).resolve().parents[1]
SWEEP = ROOT / "arch_configs" / "sweeps" / "dwcnn_memory_format.yaml"


def _table(out: Path) -> list[dict[str, str]]:
    with open(out / "results.csv", encoding="utf-8", newline="") as f:
        return [{k: v for k, v in r.items() if k not in TIMING_COLUMNS}
                for r in csv.DictReader(f)]


def run(images: int) -> dict[str, float]:
    walls: dict[str, float] = {}
    tables = {}
    with tempfile.TemporaryDirectory() as tmp:
        for backend in ("local", "dask", "ray"):
            out = Path(tmp) / backend
            t0 = time.perf_counter()
            rc = main(["sweep", str(SWEEP), "--out", str(out), "--backend", backend,
                       "--jobs", "2", "--images", str(images), "--quiet"])
            walls[backend] = time.perf_counter() - t0
            assert rc == 0, backend
            tables[backend] = _table(out)
    assert tables["dask"] == tables["local"] == tables["ray"], "tables differ"
    n = len(tables["local"])
    for backend, wall in walls.items():
        print(f"{backend:>5}: {wall:6.1f} s for {n} points ({wall / n:.2f} s per point), "
              "tables identical")
    return walls


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--images", type=int, default=5)
    run(ap.parse_args().images)
