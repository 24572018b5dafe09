"""Record the results of every shipped design, to hold a redesign to them.

Writes ``tests/golden/results.json``: for each design file under ``arch_configs/dwcnn`` (and
the per-cycle engine on the small ones), the run's total and per-layer cycles, every block's
action counts, energies and area, and per image the prediction, the float reference's
prediction, the latency and the per-layer SC-vs-float error.  ``tests/test_golden.py``
compares the current code against that record.

    python tools/record_golden.py            # rewrite the record (only before a redesign!)
    python tools/record_golden.py --check    # compare, print the differences, exit 1 if any
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RECORD = ROOT / "tests" / "golden" / "results.json"

#: (design file, mode, images) recorded.  LeNet-5 designs run on the first MNIST test images
#: shipped inside the package; the small designs on their seeded random images.
LENET_IMAGES = 4

#: Designs whose shipped model was replaced after the record was written: the record holds
#: the simulator to them with the model they were recorded with (a new model changes the
#: predictions, not what the hardware does with a given model).
RECORDED_MODEL = {
    "arch_configs/dwcnn/lenet5_dwm_sn128_fc-shared_sc.yaml": "builtin:lenet5_mnist_apc_sc",
}


def cases() -> list[tuple[str, str, int]]:
    out = []
    for path in sorted((ROOT / "arch_configs" / "dwcnn").glob("*.yaml")):
        rel = path.relative_to(ROOT).as_posix()
        if path.stem.startswith("small_"):
            out.append((rel, "fast", 3))
            out.append((rel, "per-cycle", 3))
        else:
            out.append((rel, "fast", LENET_IMAGES))
    return out


def run_case(rel: str, mode: str, images: int) -> dict[str, Any]:
    """The recorded figures of one run (everything a redesign must leave unchanged)."""
    from archsim.config import load_config
    from archsim.run import RunOptions, run_config

    pinned = RECORDED_MODEL.get(rel)
    cfg = load_config(ROOT / rel, [f"model.weights={pinned}"] if pinned else [])
    res, _ = run_config(cfg, RunOptions(images=images, start=0, mode=mode, jobs=1))
    blocks = {}
    for qname, blk in res.ledger.blocks.items():
        blocks[qname] = {
            "layer": blk.layer,
            "instances": int(blk.instances),
            "area_um2": float(blk.total_area_um2),
            "leakage_mw": float(blk.total_leakage_mw),
        }
    counts = res.ledger.action_counts()
    energy = res.block_energy_pj()
    for qname in blocks:
        blocks[qname]["actions"] = {a: int(n) for a, n in sorted(counts.get(qname, {}).items())}
        blocks[qname]["energy_pj"] = {a: float(e) for a, e in sorted(energy[qname].items())}
    return {
        "design": rel,
        "mode": mode,
        "images": images,
        "cycles": int(res.cycles),
        "energy_pj": float(res.energy_pj()),
        "area_um2": float(res.area_um2()),
        "layers": [
            {"name": t.name, "start": t.start_cycle, "end": t.end_cycle, "busy": t.busy_cycles,
             "stall": t.stall_cycles, "starve": t.starve_cycles}
            for t in res.layers
        ],
        "layer_energy_pj": {k: float(v) for k, v in res.layer_energy_pj().items()},
        "layer_area_um2": {k: float(v) for k, v in res.layer_area_um2().items()},
        "blocks": blocks,
        "per_image": [
            {"index": r.index, "label": r.label, "prediction": r.prediction,
             "float_prediction": r.float_prediction, "latency_cycles": r.latency_cycles,
             "layer_error": {k: float(v) for k, v in r.layer_error.items()}}
            for r in res.accuracy
        ],
    }


def key(rel: str, mode: str) -> str:
    return f"{rel}@{mode}"


def compare(old: Any, new: Any, where: str = "", rel_tol: float = 1e-12) -> list[str]:
    """Differences between two records: integers and strings exactly, floats to ``rel_tol``
    (summation order may change the last bits of an energy; nothing else may change)."""
    out: list[str] = []
    if isinstance(old, dict) and isinstance(new, dict):
        for k in sorted(set(old) | set(new), key=str):
            if k not in new:
                out.append(f"{where}.{k}: missing now")
            elif k not in old:
                out.append(f"{where}.{k}: new ({new[k]!r})")
            else:
                out += compare(old[k], new[k], f"{where}.{k}", rel_tol)
    elif isinstance(old, list) and isinstance(new, list):
        if len(old) != len(new):
            out.append(f"{where}: {len(old)} items recorded, {len(new)} now")
        for i, (a, b) in enumerate(zip(old, new, strict=False)):
            out += compare(a, b, f"{where}[{i}]", rel_tol)
    elif isinstance(old, float) or isinstance(new, float):
        a, b = float(old), float(new)
        if abs(a - b) > rel_tol * max(abs(a), abs(b), 1e-300):
            out.append(f"{where}: recorded {a!r}, now {b!r}")
    elif old != new:
        out.append(f"{where}: recorded {old!r}, now {new!r}")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="compare instead of writing")
    args = ap.parse_args(argv)
    record = {key(rel, mode): run_case(rel, mode, n) for rel, mode, n in cases()}
    if args.check:
        old = json.loads(RECORD.read_text())
        diffs = compare(old, record)
        for d in diffs:
            print(d)
        print(f"{len(diffs)} difference(s) against {RECORD.relative_to(ROOT)}")
        return 1 if diffs else 0
    RECORD.parent.mkdir(parents=True, exist_ok=True)
    RECORD.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    print(f"wrote {RECORD.relative_to(ROOT)} ({len(record)} runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
