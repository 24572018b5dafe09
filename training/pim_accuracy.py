"""Accuracy of the shipped DoReFa models through the bit-exact SOT-MRAM bit-plane simulator,
against the quantized torch model on the same images.

For each model (``archsim.workload.models.BUILTIN_MODELS`` entries ``dorefa_*``), on the full
test set of its data set:

* ``archsim``: the fast engine of ``arch_configs/pim/dorefa_mnist_sot.yaml`` with the model's
  workload (the integer accumulation of every layer, the digital unit; per-image layer error
  against the workload's fixed-point reference);
* ``torch``: ``train_dorefa.quantized_eval`` (the exported integer model in torch float64, the
  PIM contract's order), when torch is installed; else the accuracy recorded in the model's
  metadata at training time.

Prints a markdown table (the README's) and the number of images whose predictions differ.

    nice -n 10 python training/pim_accuracy.py --data-dir $ARCHSIM_DATA [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DESIGN = ROOT / "arch_configs" / "pim" / "dorefa_mnist_sot.yaml"


def evaluate(name: str, data_dir: str | None, count: int | None) -> dict:
    from archsim.config import load_config
    from archsim.nn.datasets import load_dataset
    from archsim.run import RunOptions, run_config
    from archsim.workload.models import BUILTIN_MODELS, builtin_model_path

    entry = BUILTIN_MODELS[name]
    images, labels, source = load_dataset(entry.dataset, "test", data_dir, 0, count)
    n = len(labels)
    workload = ROOT / "arch_configs" / "workloads" / f"{name}.yaml"
    cfg = load_config(DESIGN, [f"workload={workload}",
                               f"dataset.name={entry.dataset}", f"dataset.images={n}"])
    res, _ = run_config(cfg, RunOptions(data_dir=data_dir))
    sim = np.array([r.prediction for r in res.accuracy])
    max_err = max((max(r.layer_error.values(), default=0.0) for r in res.accuracy),
                  default=0.0)
    meta = json.loads(str(np.load(builtin_model_path(name))["metadata"]))
    row = {"model": name, "dataset": entry.dataset, "images": n, "source": source,
           "weight_bits": meta["wbits"], "activation_bits": meta["abits"],
           "archsim_accuracy": float((sim == labels).mean()),
           "max_layer_error_vs_fixed_point_reference": max_err,
           "energy_uj_per_image": res.energy_pj() / n / 1e6,
           "recorded_torch_accuracy": meta.get("quantized_test_accuracy")}
    try:
        from train_dorefa import quantized_eval  # needs torch
    except ImportError:
        row["torch_accuracy"] = None
        return row
    arrays = {k: v for k, v in np.load(builtin_model_path(name)).items() if k != "metadata"}
    tp = quantized_eval(arrays, meta["wbits"], meta["abits"], images)
    row["torch_accuracy"] = float((tp == labels).mean())
    row["predictions_differing"] = int((tp != sim).sum())
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--images", type=int, default=None, help="first N test images (all)")
    ap.add_argument("--models", nargs="*", default=None)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT / "training"))
    from archsim.workload.models import BUILTIN_MODELS

    names = args.models or [n for n in BUILTIN_MODELS if n.startswith("dorefa_")]
    rows = []
    print("| model | data set | W:A | test images | archsim (bit-plane simulator) | "
          "quantized torch model | predictions differing | energy / image |")
    print("|---|---|---|---|---|---|---|---|")
    for name in names:
        r = evaluate(name, args.data_dir, args.images)
        rows.append(r)
        torch_acc = r["torch_accuracy"]
        print(f"| {name} | {r['dataset']} | {r['weight_bits']}:{r['activation_bits']} | "
              f"{r['images']} | {100 * r['archsim_accuracy']:.2f} % | "
              + (f"{100 * torch_acc:.2f} %" if torch_acc is not None else
                 f"{100 * r['recorded_torch_accuracy']:.2f} % (recorded)")
              + f" | {r.get('predictions_differing', 'n/a')} | "
              f"{r['energy_uj_per_image']:.3f} uJ |", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
