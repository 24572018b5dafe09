"""Speed of low bit-width AlexNet through the bit-exact SOT-MRAM bit-plane datapath, against an
integer GEMM floor over the same layer shapes, on one core.

    python benchmarks/bench_pim.py [--images 20] [--set model.layers.conv1.bits=2 ...] [--json F]

* the simulation: ``arch_configs/pim/alexnet_imce.yaml`` (W:A = 1:4, ImageNet shapes) through
  ``run_config``'s code path (fast engine: the exact integer accumulation of every layer,
  the digital unit, cycles of every step, action counts and energy; the per-image comparison
  with the workload's fixed-point reference is switched off, ``reference_check=false``, as it
  is an int64 NumPy convolution that costs ~20x the datapath; the test suite holds the
  datapath to it on small designs). ``images_per_s`` = images / the simulation phase's wall
  time (elaboration, i.e. drawing and quantizing 61 M random weights, is ``elaboration_s``);
* the floor: for every conv/FC layer of the same network, one GEMM of its integer codes in
  the same floating type (float32: every partial sum is an exact integer below 2^24), with the
  im2col operands prepared beforehand, i.e. nothing but the multiply-accumulates;
  ``floor_s_per_image`` is the best of ``--floor-repeat`` passes over all layers, measured
  before and after the simulations (the faster kept, so the ratio is not flattered); the
  simulation is the fastest of ``--repeat`` runs.

One core: BLAS is held to one thread (set before NumPy loads).
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DESIGN = ROOT / "arch_configs" / "pim" / "alexnet_imce.yaml"
TARGET_IMG_S = 10.0
TARGET_FLOOR_RATIO = 2.0


def gemm_floor(net, repeat: int) -> dict:
    """Best time of one pass of every layer's GEMM (prepared operands, same dtypes)."""
    from archsim.fabrics.pim_bitplane.bitplane import im2col

    ops = []
    rng = np.random.default_rng(0)
    for lay in net.layers:
        op = lay.op
        act = rng.integers(0, lay.act_max + 1, size=op.in_shape).astype(np.int64)
        if hasattr(op, "kernel"):
            cols = im2col(act, op.kernel, op.stride, op.padding, op.groups)
        else:
            cols = act.reshape(1, -1, 1)
        for g, wc in enumerate(lay.group_codes):
            ops.append((wc, np.ascontiguousarray(cols[g], dtype=lay.gemm_dtype)))
    macs = sum(w.shape[0] * w.shape[1] * a.shape[1] for w, a in ops)
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for w, a in ops:
            np.matmul(w, a)
        best = min(best, time.perf_counter() - t0)
    return {"floor_s_per_image": best, "macs_per_image": macs,
            "floor_gmacs_per_s": macs / best / 1e9}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=20)
    ap.add_argument("--set", action="append", default=[], help="design override key=value")
    ap.add_argument("--repeat", type=int, default=3,
                    help="simulation runs, the fastest kept (a shared machine only slows runs)")
    ap.add_argument("--floor-repeat", type=int, default=5)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from archsim.config import load_config
    from archsim.fabrics import get_fabric
    from archsim.run import RunOptions, run_config

    overrides = ["reference_check=false", *args.set]
    cfg = load_config(DESIGN, overrides)
    floor_before = gemm_floor(get_fabric("pim_bitplane")().elaborate(cfg)[0], args.floor_repeat)
    runs = [run_config(cfg, RunOptions(images=args.images))[0]
            for _ in range(max(1, args.repeat))]
    result = min(runs, key=lambda r: r.host_wall_s["simulation"])
    sim_s = result.host_wall_s["simulation"]
    net = get_fabric("pim_bitplane")().elaborate(cfg)[0]
    floor_after = gemm_floor(net, args.floor_repeat)
    floor = min(floor_before, floor_after, key=lambda f: f["floor_s_per_image"])
    per_image = sim_s / args.images
    widths = sorted({(mp.m_bits, mp.k_bits) for mp in net.mappings})
    out = {
        "design": result.design, "images": args.images, "overrides": overrides,
        "repeats_simulation_s": [r.host_wall_s["simulation"] for r in runs],
        "load_average": list(os.getloadavg()),
        "widths_w_a": widths, "simulation_s": sim_s,
        "elaboration_s": result.host_wall_s["elaboration"],
        "images_per_s": args.images / sim_s, "s_per_image": per_image,
        "cycles_per_image": result.cycles / args.images,
        "energy_uj_per_image": result.energy_pj() / args.images / 1e6,
        **floor, "floor_ratio": per_image / floor["floor_s_per_image"],
        "targets": {"images_per_s": TARGET_IMG_S, "floor_ratio": TARGET_FLOOR_RATIO},
    }
    text = json.dumps(out, indent=2)
    if args.json:
        args.json.write_text(text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
