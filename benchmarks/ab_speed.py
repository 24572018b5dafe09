"""Simulation speed of this checkout against another one, measured in turns in the same minutes.

    python benchmarks/ab_speed.py --baseline /path/to/other/checkout [--rounds 3] [--images 100]

A redesign must not slow the simulator down, but this machine's speed drifts by tens of
percent over minutes, so a figure recorded earlier is a poor reference. This script runs the
same design in the baseline checkout (its own ``.venv/bin/python`` if it has one, else this
interpreter with the baseline on ``PYTHONPATH``) and in this one, taking turns ``--rounds``
times, and prints each side's best images/s (fast engine, one process, 1024-bit DW-CNN
designs by default) and their ratio.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DESIGNS = ("arch_configs/dwcnn/lenet5_dwm_sn128_fc-shared.yaml",
           "arch_configs/dwcnn/lenet5_dwm_sn128_fc-unshared.yaml")
_MEASURE = """
import sys
from archsim.config import load_config
from archsim.run import RunOptions, run_config
cfg = load_config(sys.argv[1])
run_config(cfg, RunOptions(images=4, jobs=1))
best = min(run_config(cfg, RunOptions(images=int(sys.argv[2]), jobs=1))[0]
           .host_wall_s["simulation"] for _ in range(2))
print(int(sys.argv[2]) / best)
"""


def _images_per_s(checkout: Path, design: str, images: int) -> float:
    py = checkout / ".venv" / "bin" / "python"
    env = dict(os.environ)
    if not py.exists():
        py = Path(sys.executable)
        env["PYTHONPATH"] = str(checkout)
    out = subprocess.run([str(py), "-c", _MEASURE, design, str(images)], cwd=checkout, env=env,
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", type=Path, required=True, help="the other checkout")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--images", type=int, default=100)
    ap.add_argument("--designs", nargs="*", default=list(DESIGNS))
    args = ap.parse_args(argv)
    for design in args.designs:
        base, ours = 0.0, 0.0
        for _ in range(args.rounds):
            base = max(base, _images_per_s(args.baseline, design, args.images))
            ours = max(ours, _images_per_s(ROOT, design, args.images))
        print(f"{Path(design).stem:36s} baseline {base:6.1f} img/s, this checkout {ours:6.1f} "
              f"img/s: {ours / base:.1%}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
