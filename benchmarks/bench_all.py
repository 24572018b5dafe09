"""The speed benchmark of archsim: kernels, the XNOR + popcount floor and the full SC LeNet-5,
on one core and on two. One command::

    python benchmarks/bench_all.py [--images 100] [--quick] [--out benchmarks/results/bench.json]

1. kernel microbenchmarks (``bench_kernels.py``: XNOR + per-cycle APC count, conv, Btanh,
   segment max pool, SNG, the fused layer kernels), in one process, then in two processes at
   once (aggregate throughput = sum of both);
2. the XNOR + popcount floor over LeNet-5's operands (``bench_lenet.py --floor``) at 256 and
   1024-bit streams, one process and two at once;
3. the full DW-CNN LeNet-5 through ``archsim run``'s code path (fast engine, bit-exact, cycle
   and energy accounting, float reference and per-layer error per image) at 256 and 1024-bit
   streams on ``--images`` MNIST test images, ``--jobs 1`` and ``--jobs 2``, for the unshared
   FC design and the MUX-shared FC design (DW-CNN Fig. 10, 16 passes);
4. the one-core times set beside UnarySim's, as quoted in issue 7 (UnarySim itself cannot be
   installed here), per image and per multiply-accumulate;
5. low bit-width AlexNet (W:A 1:4, ImageNet shapes) through the bit-exact SOT-MRAM bit-plane
   datapath with cycle and energy accounting (``bench_pim.py``), one core, against an integer
   GEMM floor over the same layer shapes measured in the same process (issue 16);
6. the Fashion-MNIST SC-BNN at N = 8 on the BNN fabric (``bench_bnn.py``: fast engine,
   bit-exact, cycle and energy accounting, one core) beside the XNOR + popcount floor over the
   same operands, measured in the same run, and their ratio (issue 15: >= 1,000 images/s).
   ``--bnn-only`` runs this step alone.

The fabric redesign keeps at least 95 % of the DW-CNN images/s at 1024 bits of the code before it
(commit b845d3d). The figures recorded on the VM of 2026-12-02 are only a reference on that
machine; on any other, measure the old code in the same run::

    git worktree add /tmp/base b845d3d && python -m venv /tmp/base/.venv \
        && /tmp/base/.venv/bin/pip install -e /tmp/base
    python benchmarks/bench_all.py --baseline /tmp/base

and its 1024-bit runs take turns with ours (``benchmarks/ab_speed.py`` does only this).

Every measurement runs in its own process (clean peak memory); each simulation runs
``--repeat`` times (default 5), ``--jobs 1`` and ``--jobs 2`` taking turns, and the fastest run
of each is kept (the others are in the JSON): this VM's speed drifts by tens of percent over
minutes, and a slow spell only ever slows a run down. The two-core scaling is the ratio of those
fastest runs; beside it are the median of the back-to-back pairs' ratios (how much the machine
moved under the measurement) and the same two figures for the machine itself: the floor loop
kept running for 2 s in one process and in two, taking turns in the same way. That loop has no
main process, no pipeline and no inter-process traffic; on this VM even it gets anywhere from
~1.5x to 2x out of the second vCPU, and the simulation's scaling is to be read against it.
Prints one table and writes everything to the JSON file. The ratio to the floor compares
seconds per image of the simulation with seconds per image of the floor (best time) at the
same stream length and core count, both measured in this run (the floor before and after the
simulations, the faster kept, so that the ratio is not flattered).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DESIGNS = {
    "unshared FC": ROOT / "arch_configs/dwcnn/lenet5_dwm_sn128_fc-unshared.yaml",
    "MUX-shared FC": ROOT / "arch_configs/dwcnn/lenet5_dwm_sn128_fc-shared.yaml",
}
LENGTHS = (256, 1024)
TARGET_IMG_S = 25.0  # images/s on one core at 1024 bits (issue 7)
TARGET_FLOOR_RATIO = 7.0
TARGET_SCALING = 1.8
# UnarySim (the public PyTorch SC simulator), seconds per image on one core of these machines
# for a small LeNet-5 (6/16 channels), as quoted in issue 7. Not measured here: UnarySim is not
# on PyPI and this machine cannot reach GitHub. Its network has 0.28-0.42 M MACs (28x28 input
# unpadded or padded to 32x32, 120/84 FC layers) against our 2.29 M.
UNARYSIM_QUOTED_S_PER_IMAGE = {256: 3.3, 1024: 12.5}
UNARYSIM_MACS = (0.28e6, 0.42e6)
LENET_MACS = 2.29e6
# images/s of the DW-CNN designs at 1024 bits before the fabric redesign (commit b845d3d, this
# machine, 2026-12-02, this benchmark: best of 5 over 100 images); the redesign keeps >= 95 %
RECORDED_BEFORE_REDESIGN = {("unshared FC", 1): 73.0, ("unshared FC", 2): 130.4,
                            ("MUX-shared FC", 1): 82.6, ("MUX-shared FC", 2): 152.7}
TARGET_KEEP = 0.95
TARGET_PERCYCLE = 3.0  # per-cycle engine at most 3x slower than before the redesign


def _run_json(args: list[str], parallel: int = 1, checkout: Path = ROOT) -> list[dict]:
    """Run ``python <args> --json F`` in ``parallel`` processes at once; their JSON results.
    ``checkout`` is the source tree the processes run in (another one: its own ``.venv``)."""
    from ab_speed import checkout_python  # a sibling script, as bench_percycle below

    python, env = checkout_python(checkout)
    with tempfile.TemporaryDirectory() as tmp:
        procs, outs = [], []
        for i in range(parallel):
            out = Path(tmp) / f"r{i}.json"
            outs.append(out)
            procs.append(subprocess.Popen([python, *args, "--json" if "--floor" in args
                                           or "--config" in args else "--out", str(out)],
                                          cwd=checkout, env=env, stdout=subprocess.DEVNULL))
        for p in procs:
            if p.wait() != 0:
                raise SystemExit(f"benchmark step failed: {' '.join(args)}")
        return [json.loads(o.read_text()) for o in outs]


def kernels(quick: bool, parallel: int) -> list[dict]:
    runs = _run_json([str(HERE / "bench_kernels.py"), *(["--quick"] if quick else [])], parallel)
    rows = []
    for i, case in enumerate(runs[0]["cases"]):
        rate = sum(r["cases"][i]["cython_per_s"] for r in runs if "cython_per_s" in r["cases"][i])
        rows.append({"kernel": case["kernel"], "unit": case["unit"], "processes": parallel,
                     "cython_per_s": rate, "numpy_per_s": case.get("numpy_per_s")})
    return rows


def floor(length: int, parallel: int) -> dict:
    runs = _run_json([str(HERE / "bench_lenet.py"), "--floor", "--length", str(length)], parallel)
    per_s = sum(1.0 / r["s_per_image"] for r in runs)  # images/s of all processes together
    return {**runs[0], "processes": parallel, "images_per_s": per_s,
            "bit_products_per_s": per_s * runs[0]["bit_products_per_image"]}


def machine_scaling(seconds: float = 2.0) -> dict:
    """What this machine's second core gives: the floor loop kept running for ``seconds`` in one
    process, then in two at once, REPEAT times taking turns (the same pairing as the
    simulations). Its best-over-best ratio and the pairs' ratios are the reference the
    simulation's two-core scaling is read against: a loop with no main process, no pipeline
    and no inter-process traffic cannot be beaten by the simulator."""
    args = [str(HERE / "bench_lenet.py"), "--floor", "--length", "1024",
            "--sustained", str(seconds)]
    one, two = [], []
    for _ in range(REPEAT):
        one.append(_run_json(args)[0]["images_per_s"])
        two.append(sum(r["images_per_s"] for r in _run_json(args, parallel=2)))
    pairs = [b / a for a, b in zip(one, two, strict=True)]
    return {"seconds": seconds, "jobs1_images_per_s": one, "jobs2_images_per_s": two,
            "scaling": max(two) / max(one), "scaling_pairs": pairs,
            "scaling_pairs_median": statistics.median(pairs)}


REPEAT = 5  # each simulation is run this many times and the fastest run kept (set by --repeat)


def simulations(config: Path, length: int, images: int, jobs: tuple[int, ...],
                baseline: Path | None = None) -> dict[int, dict]:
    """Per worker count, the fastest of REPEAT runs (a shared VM's noise only ever slows a run
    down). The worker counts take turns (1, 2, 1, 2, ...), so that a slow spell of the
    machine does not fall on one of them only and fake or hide the scaling. With a
    ``baseline`` checkout, its code runs the same design in the same turns, and each result
    carries the baseline's best as ``baseline_images_per_s``."""
    runs: dict[int, list[dict]] = {j: [] for j in jobs}
    base_runs: dict[int, list[float]] = {j: [] for j in jobs}
    for rep in range(REPEAT):
        for j in jobs:
            bench = ["benchmarks/bench_lenet.py", "--length", str(length), "--images",
                     str(images), "--jobs", str(j), "--config"]
            # with a baseline, who goes first alternates (A B, B A, ...): a run that follows
            # another on both cores finds the second vCPU awake, one that follows a pause
            # does not, and a fixed order gave that to one side only
            sides = [ROOT] if baseline is None else [ROOT, baseline][:: 1 if rep % 2 else -1]
            for side in sides:
                if side == ROOT:
                    runs[j].append(_run_json([*bench, str(config)])[0])
                else:
                    base_runs[j].append(_run_json([*bench, str(config.relative_to(ROOT))],
                                                  checkout=side)[0]["images_per_s"])
    best = {}
    for j, rs in runs.items():
        best[j] = max(rs, key=lambda r: r["images_per_s"])
        best[j]["repeats_images_per_s"] = [r["images_per_s"] for r in rs]
        if base_runs[j]:
            best[j]["baseline_images_per_s"] = max(base_runs[j])
            best[j]["baseline_repeats_images_per_s"] = base_runs[j]
    if 1 in runs and 2 in runs:
        pairs = [b["images_per_s"] / a["images_per_s"] for a, b in zip(runs[1], runs[2],
                                                                        strict=True)]
        best[2]["scaling"] = best[2]["images_per_s"] / best[1]["images_per_s"]
        best[2]["scaling_pairs"] = pairs
        best[2]["scaling_pairs_median"] = statistics.median(pairs)
    return best


PIM_TARGET_IMG_S = 10.0  # issue 16: AlexNet through the bit-exact PIM datapath, one core
PIM_TARGET_FLOOR_RATIO = 2.0


def pim_alexnet(images: int = 20) -> dict:
    """``bench_pim.py`` in its own process (one BLAS thread): its JSON result."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "pim.json"
        subprocess.run([sys.executable, str(HERE / "bench_pim.py"), "--images", str(images),
                        "--json", str(out)], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        return json.loads(out.read_text())


def scaling_text(r: dict, machine: dict | None = None) -> str:
    """'scaling 1.95x (back-to-back pairs: median 1.90x, 1.71-2.05x)', and the machine's
    reference figures when given ('; machine 1.97x, median 1.80x')."""
    pairs = r["scaling_pairs"]
    text = (f"scaling {r['scaling']:.2f}x (back-to-back pairs: median "
            f"{r['scaling_pairs_median']:.2f}x, {min(pairs):.2f}-{max(pairs):.2f}x")
    if machine is not None:
        text += (f"; machine {machine['scaling']:.2f}x, "
                 f"median {machine['scaling_pairs_median']:.2f}x")
    return text + ")"


TARGET_BNN_IMG_S = 1000.0  # issue 15: the Fashion-MNIST BNN at N = 8 on one core


def bnn_speed(images: int) -> dict:
    """The BNN fabric's step (``bench_bnn.py``), in its own process."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bnn.json"
        subprocess.run([sys.executable, str(HERE / "bench_bnn.py"), "--images", str(images),
                        "--json", str(out)], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        return json.loads(out.read_text())


def bnn_text(r: dict) -> str:
    return (f"{r['images_per_s']:,.0f} img/s on one core ({1e3 * r['s_per_image']:.2f} ms), "
            f"XNOR+popcount floor {r['floor_images_per_s']:,.0f} img/s, simulation / floor = "
            f"{r['ratio_to_floor']:.1f}x, {r['energy_nj_per_image']:.0f} nJ and "
            f"{r['cycles_per_image']:.0f} cycles per image (load average "
            f"{r['load_average'][0]:.1f})")


def main(argv=None) -> int:
    global REPEAT
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=100, help="images per simulation (default 100)")
    ap.add_argument("--quick", action="store_true", help="shorter kernel timings")
    ap.add_argument("--designs", nargs="*", choices=list(DESIGNS), default=list(DESIGNS))
    ap.add_argument("--repeat", type=int, default=REPEAT,
                    help=f"runs per simulation measurement, the fastest kept (default {REPEAT})")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "bench.json")
    ap.add_argument("--bnn-images", type=int,
                    default=2000 if os.environ.get("ARCHSIM_DATA") else 500,
                    help="images of the BNN step (default 2000 with $ARCHSIM_DATA, else the "
                         "500 the package ships)")
    ap.add_argument("--bnn-only", action="store_true", help="run only the BNN step (6.)")
    ap.add_argument("--baseline", type=Path, metavar="CHECKOUT",
                    help="a checkout of the code before the fabric redesign (b845d3d), built in "
                         "its own .venv (or in place): its 1024-bit DW-CNN runs take turns with "
                         "ours and the 95 %% check compares with them instead of the recorded "
                         "figures")
    args = ap.parse_args(argv)
    if args.bnn_only:
        r = bnn_speed(args.bnn_images)
        print(f"== BNN Fashion-MNIST SC-BNN N=8: {bnn_text(r)}")
        ok = r["images_per_s"] >= TARGET_BNN_IMG_S
        print(f"  [{'met ' if ok else 'MISS'}] >= {TARGET_BNN_IMG_S:,.0f} img/s on one core")
        return 0
    REPEAT = max(1, args.repeat)
    t0 = time.time()
    res: dict = {"created": time.strftime("%Y-%m-%dT%H:%M:%S"), "images": args.images,
                 "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(),
                             "python": sys.version.split()[0],
                             "load_average_at_start": list(os.getloadavg())}}

    print("== kernels (G units/s; 2 processes = aggregate)", flush=True)
    k1, k2 = kernels(args.quick, 1), kernels(args.quick, 2)
    res["kernels"] = {"1": k1, "2": k2}
    for a, b in zip(k1, k2, strict=True):
        print(f"  {a['kernel']:48s} 1 core {a['cython_per_s'] / 1e9:8.2f}  "
              f"2 cores {b['cython_per_s'] / 1e9:8.2f} G{a['unit']}/s", flush=True)

    print("== XNOR + popcount floor over LeNet-5's operands (the faster of a measurement "
          "before and one after the simulations)", flush=True)
    floors = {(L, p): floor(L, p) for L in LENGTHS for p in (1, 2)}

    machine = res["machine_scaling"] = machine_scaling()
    print(f"== full SC LeNet-5, {args.images} images, steady state", flush=True)
    sims, groups = [], []
    for name in args.designs:
        for L in LENGTHS:
            by_jobs = simulations(DESIGNS[name], L, args.images, (1, 2),
                                  args.baseline if L == 1024 else None)
            for r in by_jobs.values():
                r["design_label"] = name
                sims.append(r)
            groups.append((name, L, by_jobs))
    for key in floors:  # a floor measured in a slow spell would flatter the ratio: keep the faster
        again = floor(*key)
        if again["images_per_s"] > floors[key]["images_per_s"]:
            floors[key] = again
    res["floor"] = list(floors.values())
    floor_scaling = {L: floors[(L, 2)]["images_per_s"] / floors[(L, 1)]["images_per_s"]
                     for L in LENGTHS}
    res["floor_scaling"] = {str(L): v for L, v in floor_scaling.items()}
    for (L, p), f in floors.items():
        print(f"  floor L={L:5d} {p} core(s): {1e3 / f['images_per_s']:7.2f} ms/image "
              f"({f['bit_products_per_s'] / 1e9:6.1f} G bit-products/s); contiguous operands "
              f"{f['contiguous_bit_products_per_s'] / 1e9:6.1f} G/s per process = "
              f"{1e3 * f['contiguous_s_per_image']:.2f} ms/image", flush=True)
    for L, v in floor_scaling.items():
        print(f"  floor L={L:5d}: two processes give {v:.2f}x one (best time per image of each)",
              flush=True)
    print(f"  machine's two-core reference: the floor loop kept running {machine['seconds']:g} s, "
          f"one process and two taking turns {REPEAT} times: {scaling_text(machine)}", flush=True)
    for name, L, by_jobs in groups:
        for jobs, r in by_jobs.items():
            r["floor_ratio"] = floors[(L, jobs)]["images_per_s"] / r["images_per_s"]
            r["contiguous_floor_ratio"] = (
                r["s_per_image"] * jobs / floors[(L, 1)]["contiguous_s_per_image"])
        for jobs, r in by_jobs.items():
            extra = f"\n      {scaling_text(r, machine)}" if "scaling" in r else ""
            if "baseline_images_per_s" in r:
                extra += (f"\n      before the fabric redesign (--baseline, same turns): "
                          f"{r['baseline_images_per_s']:.1f} img/s; this code "
                          f"{r['images_per_s'] / r['baseline_images_per_s']:.1%} of it")
            print(f"  {name:14s} L={L:5d} jobs {jobs}: {r['images_per_s']:7.1f} img/s "
                  f"({1e3 * r['s_per_image']:7.1f} ms), {r['bit_products_per_s'] / 1e9:6.1f} "
                  f"G bit-products/s, {r['floor_ratio']:5.2f}x floor "
                  f"({r['contiguous_floor_ratio']:5.2f}x contiguous), "
                  f"{r['simpy_events_per_image']:.1f} events/img, peak "
                  f"{r['peak_rss_mb']:.0f} MB (+{r['peak_rss_children_mb']:.0f} MB/worker), "
                  f"elab {r['elaboration_s']:.1f} s, acc {r['accuracy']:.3f}{extra}",
                  flush=True)
    res["simulations"] = sims

    print("== against UnarySim (its figures quoted in issue 7, not measured here)", flush=True)
    res["unarysim"] = []
    for r in sims:
        if r["jobs"] != 1 or r["length"] not in UNARYSIM_QUOTED_S_PER_IMAGE:
            continue
        us = UNARYSIM_QUOTED_S_PER_IMAGE[r["length"]]
        row = {"design_label": r["design_label"], "length": r["length"],
               "unarysim_s_per_image_quoted": us, "archsim_s_per_image": r["s_per_image"],
               "speedup_per_image": us / r["s_per_image"],
               "speedup_per_mac": [us / r["s_per_image"] * LENET_MACS / m for m in UNARYSIM_MACS]}
        res["unarysim"].append(row)
        print(f"  {r['design_label']:14s} L={r['length']:5d}: UnarySim {us:5.1f} s/image "
              "(6/16-channel "
              f"LeNet, no timing/energy) vs {1e3 * r['s_per_image']:6.1f} ms "
              "(20/50 channels, bit-exact "
              f"with cycles and energy): {row['speedup_per_image']:5.0f}x per image, "
              f"{row['speedup_per_mac'][1]:5.0f}-{row['speedup_per_mac'][0]:5.0f}x per MAC",
              flush=True)

    # two-core scaling once the pipeline fill and worker start-up are amortised
    long_images = max(3 * args.images, 300)
    print(f"== two-core scaling at 1024 bits on {long_images} images", flush=True)
    res["scaling_long"] = []
    for name in args.designs:
        by_jobs = simulations(DESIGNS[name], 1024, long_images, (1, 2))
        one, two = by_jobs[1], by_jobs[2]
        row = {"design_label": name, "images": long_images, "jobs1_images_per_s":
               one["images_per_s"], "jobs2_images_per_s": two["images_per_s"],
               "jobs1_repeats_images_per_s": one["repeats_images_per_s"],
               "jobs2_repeats_images_per_s": two["repeats_images_per_s"],
               "scaling": two["scaling"], "scaling_pairs": two["scaling_pairs"],
               "scaling_pairs_median": two["scaling_pairs_median"]}
        res["scaling_long"].append(row)
        print(f"  {name:14s} jobs 1: {one['images_per_s']:6.1f} img/s, jobs 2: "
              f"{two['images_per_s']:6.1f} img/s, {scaling_text(two, machine)}",
              flush=True)

    checks = []
    for r in sims:
        if r["length"] == 1024 and r["jobs"] == 1:
            checks.append((f"{r['design_label']}: >= {TARGET_IMG_S:g} img/s on one core",
                           r["images_per_s"] >= TARGET_IMG_S, f"{r['images_per_s']:.1f}"))
            checks.append((f"{r['design_label']}: <= {TARGET_FLOOR_RATIO:g}x the floor",
                           r["floor_ratio"] <= TARGET_FLOOR_RATIO, f"{r['floor_ratio']:.2f}x"))
        if r["length"] == 1024 and "scaling" in r:
            checks.append((f"{r['design_label']}: >= {TARGET_SCALING:g}x on two cores",
                           r["scaling"] >= TARGET_SCALING,
                           f"{r['scaling']:.2f}x (pairs' median {r['scaling_pairs_median']:.2f}x; "
                           f"the machine's: {machine['scaling']:.2f}x, median "
                           f"{machine['scaling_pairs_median']:.2f}x)"))
    extra = [(f"{row['design_label']}: >= {TARGET_SCALING:g}x on two cores over "
              f"{row['images']} images", row["scaling"] >= TARGET_SCALING,
              f"{row['scaling']:.2f}x (pairs' median {row['scaling_pairs_median']:.2f}x)")
             for row in res["scaling_long"]]
    for r in sims:
        before = r.get("baseline_images_per_s",
                       RECORDED_BEFORE_REDESIGN.get((r["design_label"], r["jobs"])))
        how = ("measured in this run, in turns with ours" if "baseline_images_per_s" in r else
               "recorded on the VM of 2026-12-02; on another machine pass --baseline")
        if r["length"] == 1024 and before:
            checks.append((f"{r['design_label']} jobs {r['jobs']}: >= {TARGET_KEEP:.0%} of "
                           f"{before:.1f} img/s before the fabric redesign ({how})",
                           r["images_per_s"] >= TARGET_KEEP * before,
                           f"{r['images_per_s']:.1f} img/s = {r['images_per_s'] / before:.1%}"))
    print("== per-cycle reference engine (every block a SimPy process), small designs",
          flush=True)
    pc = json.loads(subprocess.run([sys.executable, str(HERE / "bench_percycle.py"), "--json"],
                                   cwd=ROOT, capture_output=True, text=True,
                                   check=True).stdout)
    res["percycle"] = pc
    for row in pc:
        print(f"  {row['design']:24s} per-cycle {row['per-cycle_ms']:7.1f} ms, fast "
              f"{row['fast_ms']:6.1f} ms ({row['per-cycle_ms'] / row['fast_ms']:.1f}x), "
              f"{row['images']} images", flush=True)
    from bench_percycle import RECORDED_BEFORE

    pc_new = sum(r["per-cycle_ms"] for r in pc if r["design"] in RECORDED_BEFORE)
    pc_old = sum(RECORDED_BEFORE.values())
    checks.append((f"per-cycle engine <= {TARGET_PERCYCLE:g}x its time before the redesign "
                   f"(recorded {pc_old:.1f} ms for the small designs)",
                   pc_new <= TARGET_PERCYCLE * pc_old, f"{pc_new:.1f} ms = {pc_new / pc_old:.2f}x"))
    print("== AlexNet W:A 1:4 through the SOT-MRAM bit-plane datapath (bench_pim.py), one core",
          flush=True)
    pim = pim_alexnet()
    res["pim_alexnet"] = pim
    print(f"  {pim['images_per_s']:6.1f} img/s ({1e3 * pim['s_per_image']:.1f} ms/image, "
          f"best of {len(pim['repeats_simulation_s'])} runs of {pim['images']} images), "
          f"GEMM floor {1e3 * pim['floor_s_per_image']:.1f} ms/image "
          f"({pim['floor_gmacs_per_s']:.1f} GMAC/s): {pim['floor_ratio']:.2f}x floor; "
          f"{pim['energy_uj_per_image']:.1f} uJ/image, {pim['cycles_per_image']:.0f} "
          "cycles/image", flush=True)
    checks.append((f"PIM AlexNet W:A 1:4: >= {PIM_TARGET_IMG_S:g} img/s on one core",
                   pim["images_per_s"] >= PIM_TARGET_IMG_S, f"{pim['images_per_s']:.1f}"))
    checks.append((f"PIM AlexNet W:A 1:4: <= {PIM_TARGET_FLOOR_RATIO:g}x the integer GEMM floor",
                   pim["floor_ratio"] <= PIM_TARGET_FLOOR_RATIO, f"{pim['floor_ratio']:.2f}x"))
    print("== BNN fabric: Fashion-MNIST SC-BNN, N = 8 (bench_bnn.py)", flush=True)
    bnn = res["bnn"] = bnn_speed(args.bnn_images)
    print(f"  {bnn_text(bnn)}", flush=True)
    checks.append((f"BNN Fashion-MNIST N=8: >= {TARGET_BNN_IMG_S:,.0f} img/s on one core",
                   bnn["images_per_s"] >= TARGET_BNN_IMG_S,
                   f"{bnn['images_per_s']:,.0f} img/s, {bnn['ratio_to_floor']:.1f}x the floor"))
    res["targets"] = [{"target": t, "met": ok, "measured": v} for t, ok, v in checks]
    res["extra_checks"] = [{"check": t, "met": ok, "measured": v} for t, ok, v in extra]
    res["machine"]["load_average_at_end"] = list(os.getloadavg())
    res["wall_s"] = time.time() - t0
    print(f"== targets (issue 7: 1024-bit streams, {args.images} images; the fabric redesign)")
    for t, ok, v in checks:
        print(f"  [{'met ' if ok else 'MISS'}] {t}: {v}")
    print("== extra check (longer runs, pipeline fill and worker start-up amortised)")
    for t, ok, v in extra:
        print(f"  [{'met ' if ok else 'MISS'}] {t}: {v}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(args.out.name + ".tmp")
    tmp.write_text(json.dumps(res, indent=2))
    os.replace(tmp, args.out)
    print(f"wrote {args.out} ({res['wall_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
