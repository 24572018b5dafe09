"""DWM misalignment faults: fingerprints of the results, and the cost per image.

Records, for a set of designs, fault rates, edges and seeds, everything a run with
misalignment produces -- the fault tables (faulted tracks, offsets, events per access), the
weight bits the XNOR arrays read, every layer's per-cycle counts, predictions, cycles and every
action count of the ledger -- as SHA-256 fingerprints, and the wall time per image::

    python benchmarks/misalignment_identity.py record before.json   # on the old code
    python benchmarks/misalignment_identity.py check before.json    # on the new: identical?
    python benchmarks/misalignment_identity.py --lenet record ...   # + LeNet-5 (slow before)

``check`` prints each case's fingerprint beside the recorded one and the time per image beside
the recorded time, and exits 1 if any fingerprint differs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SMALL = ROOT / "arch_configs" / "dwcnn" / "small_conv_fc.yaml"
LENET = ROOT / "arch_configs" / "dwcnn" / "lenet5_dwm_sn128_fc-unshared.yaml"


def _hash(*arrays: object) -> str:
    h = hashlib.sha256()
    for a in arrays:
        arr = np.ascontiguousarray(np.asarray(a))
        h.update(str(arr.dtype).encode() + str(arr.shape).encode())
        h.update(arr.tobytes())
    return h.hexdigest()[:16]


def _cases(lenet: bool) -> list[dict]:
    cases = [{"design": "small", "p": p, "edge": edge, "seed": seed, "images": 4, "mode": "fast"}
             for p in (0.01, 0.05, 0.3) for edge in ("saturate", "random") for seed in (1, 2)]
    cases.append({"design": "small", "p": 0.05, "edge": "random", "seed": 3, "images": 2,
                  "mode": "per-cycle"})
    if lenet:
        for p, images in ((1e-4, 2), (1e-3, 1), (1e-2, 1)):
            cases.append({"design": "lenet", "p": p, "edge": "saturate", "seed": 1,
                          "images": images, "mode": "fast"})
        cases.append({"design": "lenet", "p": 1e-3, "edge": "random", "seed": 2, "images": 1,
                      "mode": "fast"})
    return cases


def _tables() -> dict[str, str]:
    """draw_faults on its own, over step patterns like the stores' (ones, zeros, bursts)."""
    from archsim.blocks.misalignment import draw_faults

    out = {}
    rng = np.random.default_rng(0)
    patterns = {"ones": np.ones(300, np.int64), "bursty": rng.integers(0, 4, 500),
                "sparse": (rng.random(400) < 0.1).astype(np.int64) * 64}
    for name, steps in patterns.items():
        for tracks, p in ((1, 0.5), (50, 0.01), (2000, 0.003), (300, 0.2)):
            for image in (0, 5):
                t = draw_faults(steps, tracks, p, 7, "fc1", image)
                out[f"{name}-{tracks}-{p}-{image}"] = _hash(t.tracks, t.offsets, t.per_step)
    return out


def _run(case: dict) -> tuple[str, dict, float]:
    from archsim.config import load_config
    from archsim.run import RunOptions, run_config

    path = SMALL if case["design"] == "small" else LENET
    over = [f"memories.{'dwm0' if case['design'] == 'small' else 'weights'}"
            f".misalignment.probability={case['p']}",
            f"memories.{'dwm0' if case['design'] == 'small' else 'weights'}"
            f".misalignment.edge={case['edge']}",
            f"seed={case['seed']}", f"dataset.images={case['images']}"]
    if case["design"] == "small":
        over.append("layers.fc1.mux_groups=null")
    cfg = load_config(path, over)
    t0 = time.perf_counter()
    result, trace = run_config(cfg, RunOptions(jobs=1, mode=case["mode"], keep_trace=True))
    wall = (time.perf_counter() - t0) / case["images"]
    counts = {f"{b}.{a}": int(n) for b, acts in sorted(result.ledger.action_counts().items())
              for a, n in sorted(acts.items())}
    bits = {name: _hash(*[b for b in per_image if b is not None])
            for name, per_image in sorted(trace.layer_bits.items())}
    fields = {
        "counts": _hash(*trace.counts_sum),
        "layer_bits": bits,
        "produce": {name: _hash(*v) for name, v in sorted(trace.produce.items())},
        "predictions": [r.prediction for r in result.accuracy],
        "cycles": int(result.cycles),
        "misalign_events": {k: v for k, v in counts.items() if k.endswith("misalign")},
        "ledger": _hash(np.array(list(counts.values()), dtype=np.int64)),
        "layers": [[x.name, x.start_cycle, x.end_cycle, x.busy_cycles, x.stall_cycles]
                   for x in result.layers],
    }
    return json.dumps(fields, sort_keys=True), fields, wall


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("action", choices=("record", "check"))
    ap.add_argument("file")
    ap.add_argument("--lenet", action="store_true", help="also LeNet-5 at p = 1e-4..1e-2")
    args = ap.parse_args(argv)
    out: dict = {"tables": _tables(), "runs": []}
    for case in _cases(args.lenet):
        text, fields, wall = _run(case)
        out["runs"].append({"case": case, "fingerprint": _hash(np.frombuffer(text.encode(),
                                                                             np.uint8)),
                            "fields": fields, "wall_s_per_image": round(wall, 3)})
        print(f"{case}: {wall:.2f} s/image", flush=True)
    if args.action == "record":
        Path(args.file).write_text(json.dumps(out, indent=1), encoding="utf-8")
        return 0
    old = json.loads(Path(args.file).read_text(encoding="utf-8"))
    bad = [k for k, v in out["tables"].items() if old["tables"].get(k) != v]
    print(f"fault tables: {len(out['tables']) - len(bad)}/{len(out['tables'])} identical")
    recorded = {json.dumps(r["case"], sort_keys=True): r for r in old["runs"]}
    for r in out["runs"]:
        ref = recorded.get(json.dumps(r["case"], sort_keys=True))
        if ref is None:
            print(f"{r['case']}: not recorded")
            continue
        same = ref["fingerprint"] == r["fingerprint"]
        bad += [] if same else [str(r["case"])]
        print(f"{r['case']}: {'identical' if same else 'DIFFERENT'}  "
              f"{ref['wall_s_per_image']:.2f} s/image before, {r['wall_s_per_image']:.2f} now "
              f"(x{ref['wall_s_per_image'] / max(r['wall_s_per_image'], 1e-9):.0f})")
    print("all identical" if not bad else f"DIFFERENT: {bad}")
    return 0 if not bad else 1


if __name__ == "__main__":
    sys.exit(main())
