"""Simulation speed of this checkout against another one, measured in turns in the same minutes.

    python benchmarks/ab_speed.py --baseline /path/to/other/checkout [--rounds 3] [--images 100]
        [--jobs 1 2]

A redesign must not slow the simulator down, but this machine's speed drifts by tens of
percent over minutes, so a figure recorded earlier is a poor reference. This script runs the
same design in the baseline checkout (its own ``.venv/bin/python`` if it has one, else this
interpreter with the baseline on ``PYTHONPATH``) and in this one, taking turns ``--rounds``
times (who goes first alternates: A B, B A, ...), and prints each side's best images/s (fast
engine, 1024-bit DW-CNN designs by default, ``--jobs`` worker counts) and their ratio, with the
median of the rounds' ratios beside it.
"""

from __future__ import annotations

import argparse
import os
import statistics
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
jobs = int(sys.argv[3])
run_config(cfg, RunOptions(images=4, jobs=jobs))
best = min(run_config(cfg, RunOptions(images=int(sys.argv[2]), jobs=jobs))[0]
           .host_wall_s["simulation"] for _ in range(2))
print(int(sys.argv[2]) / best)
"""


def checkout_python(checkout: Path) -> tuple[str, dict[str, str]]:
    """The interpreter and environment that run a checkout's code: its own ``.venv`` if it has
    one, else this interpreter with the checkout first on ``PYTHONPATH`` (it must then be
    built in place)."""
    py = checkout / ".venv" / "bin" / "python"
    env = dict(os.environ)
    if checkout.resolve() == ROOT or not py.exists():
        py = Path(sys.executable)
        if checkout.resolve() != ROOT:
            env["PYTHONPATH"] = str(checkout)
    return str(py), env


def _images_per_s(checkout: Path, design: str, images: int, jobs: int) -> float:
    py, env = checkout_python(checkout)
    out = subprocess.run([py, "-c", _MEASURE, design, str(images), str(jobs)],
                         cwd=checkout, env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", type=Path, required=True, help="the other checkout")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--images", type=int, default=100)
    ap.add_argument("--designs", nargs="*", default=list(DESIGNS))
    ap.add_argument("--jobs", nargs="*", type=int, default=[1])
    args = ap.parse_args(argv)
    for design in args.designs:
        for jobs in args.jobs:
            base, ours = [], []
            for r in range(args.rounds):
                for side in ("base", "ours") if r % 2 == 0 else ("ours", "base"):
                    if side == "base":
                        base.append(_images_per_s(args.baseline, design, args.images, jobs))
                    else:
                        ours.append(_images_per_s(ROOT, design, args.images, jobs))
            ratios = [o / b for o, b in zip(ours, base, strict=True)]
            print(f"{Path(design).stem:32s} jobs {jobs}: baseline {max(base):6.1f} img/s, this "
                  f"checkout {max(ours):6.1f} img/s: {max(ours) / max(base):.1%} (median of "
                  f"{len(ratios)} rounds {statistics.median(ratios):.1%}, "
                  f"{min(ratios):.1%}-{max(ratios):.1%})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
