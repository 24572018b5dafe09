"""Full SC LeNet-5 (DW-CNN) simulation speed, and the XNOR + popcount floor it is compared to.

One measurement per process, so that peak memory belongs to it alone::

    python benchmarks/bench_lenet.py --config arch_configs/dwcnn/lenet5_dwm_sn128_fc-unshared.yaml \
        --length 1024 --images 100 --jobs 1 [--json OUT]
    python benchmarks/bench_lenet.py --floor --length 1024 [--json OUT]

The simulation is the normal ``archsim run`` path (``run_config``, fast engine, bit-exact, with
cycle and energy accounting, float reference and per-layer error for every image), on the
MNIST test images (``ARCHSIM_DATA`` if set, else the shipped subset). Reported:

- ``images_per_s``: images / wall time of the simulation phase (the pipeline fill included,
  elaboration -- programming the weight streams, building the weight tables -- excluded; that
  is ``elaboration_s``, and ``total_s`` is everything including loading the config and model);
- ``bit_products_per_image``: XNOR products counted per image: neurons x fan-in x steps for
  conv and unshared FC layers, outputs x G x steps for a MUX-shared FC (its slot-products);
  ``dense_bit_products_per_image`` counts every FC product once per stream bit (the operand
  size of the floor);
- ``simpy_events_per_image``, ``peak_rss_mb`` (this process) and ``peak_rss_children_mb``
  (largest worker).

The floor (``--floor``) runs ``floor_conv_popcount`` / ``floor_fc_popcount``: for every
neuron of LeNet-5 the XNOR of its input and weight streams and a popcount of each word (a
vector Harley-Seal popcount, ``cython_kernels/hs_simd.h``: AVX2 on this machine), over
the same operand sizes as the simulated datapath (random streams of the given length), best of
several repeats. It is the cost of touching every bit-product once, with no per-cycle counts.
It also reports the same loop's best-case rate on one long contiguous operand pair in cache
(``contiguous_bit_products_per_s``, and that rate as a time per image): the bound with no
gather of conv windows at all.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

# LeNet-5 of DW-CNN: (kind, C or inputs, H, F or outputs, k)
LENET = (("conv", 1, 28, 20, 5), ("conv", 20, 12, 50, 5), ("fc", 800, 0, 500, 0),
         ("fc", 500, 0, 10, 0))


def dense_bit_products(length: int) -> int:
    """XNOR products of one LeNet-5 image with every product computed once per stream bit."""
    total = 0
    for kind, c, h, f, k in LENET:
        if kind == "conv":
            ho = h - k + 1
            total += f * ho * ho * (c * k * k + 1) * length
        else:
            total += f * (c + 1) * length
    return total


def floor(length: int, min_time: float = 1.0, sustained_s: float = 0.0) -> dict:
    """Best time per image of the XNOR + popcount floor over LeNet-5's operands; with
    ``sustained_s``, instead the images per second it keeps up over that many seconds (the
    machine's sustained compute rate, for the two-core reference of ``bench_all``)."""
    from archsim.sc import kernels

    C = kernels.backend("cython")  # the floors are compiled only (archsim._kernels_floors)

    rng = np.random.default_rng(0)
    words = (length + 63) // 64

    def streams(*shape):
        return rng.integers(0, 2**63, size=(*shape, words), dtype=np.uint64)

    calls = []
    for kind, c, h, f, k in LENET:
        if kind == "conv":
            args = (streams(c, h, h), streams(f, c, k, k), streams(f))
            calls.append((C.floor_conv_popcount, args))
        else:
            calls.append((C.floor_fc_popcount, (streams(c + 1), streams(f, c + 1))))

    def one_image():
        return sum(int(fn(*a).sum()) for fn, a in calls)

    one_image()
    if sustained_s > 0:
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < sustained_s:
            one_image()
            n += 1
        return {"kind": "floor_sustained", "length": length, "images": n,
                "images_per_s": n / (time.perf_counter() - t0)}
    best, spent, reps = float("inf"), 0.0, 0
    while spent < min_time or reps < 3:
        t0 = time.perf_counter()
        one_image()
        dt = time.perf_counter() - t0
        best, spent, reps = min(best, dt), spent + dt, reps + 1
    bp = dense_bit_products(length)
    # the same loop on one long contiguous operand pair in cache: the best-case rate of
    # XNOR + popcount on this core, converted to a time per image
    xs = rng.integers(0, 2**63, size=(8192, 16), dtype=np.uint64)  # 1 MB, rows of 16 words
    ws = rng.integers(0, 2**63, size=(1, 8192, 16), dtype=np.uint64)
    C.floor_fc_popcount(xs, ws)
    t_best = float("inf")
    for _ in range(50):
        t0 = time.perf_counter()
        C.floor_fc_popcount(xs, ws)
        t_best = min(t_best, time.perf_counter() - t0)
    peak = xs.size * 64 / t_best
    return {"kind": "floor", "length": length, "s_per_image": best,
            "bit_products_per_image": bp, "bit_products_per_s": bp / best,
            "contiguous_bit_products_per_s": peak, "contiguous_s_per_image": bp / peak}


def simulate(config: str, length: int, images: int, jobs: int) -> dict:
    """Run the design through ``run_config`` and time it (see the module docstring)."""
    from archsim.config import load_config
    from archsim.run import RunOptions, run_config

    t_start = time.perf_counter()
    cfg = load_config(config, overrides=[f"stream.length={length}"])
    result, _ = run_config(cfg, RunOptions(images=images, jobs=jobs))
    t_end = time.perf_counter()
    sim_s = result.host_wall_s["simulation"]
    steady = images / sim_s
    spec = result.config_resolved
    bp = 0
    for lay in spec["layers"]:
        steps = length * int(lay.get("mux_passes") or 1)
        if lay["kind"] == "conv":
            ho = lay["in_size"] - lay["kernel"] + 1
            bp += lay["filters"] * ho * ho * (lay["in_channels"] * lay["kernel"] ** 2 + 1) * length
        elif lay.get("mux_groups"):
            bp += lay["outputs"] * lay["mux_groups"] * steps
        else:
            bp += lay["outputs"] * (lay["inputs"] + 1) * length
    acc = [r.correct for r in result.accuracy if r.correct is not None]
    return {
        "kind": "simulation",
        "config": str(config),
        "design": result.design,
        "length": length,
        "images": images,
        "jobs": result.metadata.get("jobs", jobs),
        "kernels": result.metadata.get("kernels"),
        "total_s": t_end - t_start,
        "elaboration_s": result.host_wall_s["elaboration"],
        "simulation_s": sim_s,
        "images_per_s": steady,
        "s_per_image": 1.0 / steady,
        "bit_products_per_image": bp,
        "dense_bit_products_per_image": dense_bit_products(length),
        "bit_products_per_s": bp * steady,
        "simpy_events_per_image": result.simpy_events / max(1, images),
        "cycles_per_image": result.cycles / max(1, images),
        "energy_pj_per_image": result.energy_pj() / max(1, images),
        "accuracy": float(np.mean(acc)) if acc else None,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_rss_children_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config",
                   default=str(ROOT / "arch_configs/dwcnn/lenet5_dwm_sn128_fc-unshared.yaml"))
    p.add_argument("--length", type=int, default=1024)
    p.add_argument("--images", type=int, default=100)
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--floor", action="store_true", help="measure the XNOR + popcount floor")
    p.add_argument("--sustained", type=float, default=0.0, metavar="S",
                   help="with --floor: images/s kept up over S seconds instead of the best time")
    p.add_argument("--json", help="write the result here (one JSON object)")
    args = p.parse_args(argv)
    if args.floor:
        res = floor(args.length, sustained_s=args.sustained)
    else:
        res = simulate(args.config, args.length, args.images, args.jobs)
    text = json.dumps(res, indent=2)
    if args.json:
        Path(args.json).write_text(text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
