"""The per-cycle reference engine's speed on the shipped small designs, against the fast
engine on the same designs in the same run.

    python benchmarks/bench_percycle.py [--images 4] [--repeat 5] [--json]

For each ``arch_configs/dwcnn/small_*.yaml`` design: the simulation wall time of ``--images``
images in the per-cycle engine (every block of every layer a SimPy process) and in the fast
engine, best of ``--repeat``, and the SimPy events of each. The issue of the fabric redesign
asks the per-cycle engine to stay within 3x of the engine it replaced; that engine's figures
(measured on this machine on 2026-12-02 at commit b845d3d, best of 5, 4 images) are printed
beside ours as RECORDED_BEFORE - a recorded figure, not one measured in this run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: per-cycle simulation ms for 4 images before the fabric redesign (commit b845d3d)
RECORDED_BEFORE = {"small_bin_sram_slowdwm": 35.0, "small_conv_fc-shared": 20.6,
                   "small_conv_fc": 21.1}


def measure(images: int, repeat: int) -> list[dict]:
    from archsim.config import load_config
    from archsim.run import RunOptions, run_config

    out = []
    for path in sorted((ROOT / "arch_configs" / "dwcnn").glob("small_*.yaml")):
        cfg = load_config(path)
        row: dict = {"design": path.stem, "images": images}
        for mode in ("per-cycle", "fast"):
            best, events = float("inf"), 0
            for _ in range(repeat):
                t = time.perf_counter()
                res, _ = run_config(cfg, RunOptions(mode=mode, images=images, jobs=1))
                best = min(best, res.host_wall_s.get("simulation", time.perf_counter() - t))
                events = res.simpy_events
            row[f"{mode}_ms"] = 1e3 * best
            row[f"{mode}_events"] = events
        out.append(row)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = ap.parse_args(argv)
    rows = measure(args.images, args.repeat)
    if args.json:
        print(json.dumps(rows))
        return 0
    for r in rows:
        before = RECORDED_BEFORE.get(r["design"]) if args.images == 4 else None
        ratio = (f", {r['per-cycle_ms'] / before:.2f}x the recorded {before:.1f} ms"
                 if before else "")
        print(f"  {r['design']:24s} per-cycle {r['per-cycle_ms']:7.1f} ms ({r['per-cycle_events']}"
              f" events), fast {r['fast_ms']:6.1f} ms: {r['per-cycle_ms'] / r['fast_ms']:.1f}x "
              f"the fast engine{ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
