"""``archsim reproduce scbnn``: Hirtzlin et al., "Stochastic Computing for Hardware
Implementation of Binarized Neural Networks" (IEEE Access 2019), on the BNN fabric.

It runs the Fashion-MNIST BNN (``arch_configs/bnn/``) as the conventional BNN (8-bit first
layer: adder datapath and bit-serial) and as the SC-BNN at N = 1, 2, 4, 8, 16, 32 presentations
(accumulated in the first layer), and writes beside each of the paper's numbers ours and the
ratio:

* area of the SC-BNN against the conventional BNN (paper: 62 % smaller), for the whole
  accelerator and for its logic alone (the weight arrays excluded);
* energy saved against accuracy lost across N (paper: a factor 2.1 at -1.4 points);
* accuracy against N for the conventionally trained model (``builtin:bnn_fmnist_conv``) and
  the models trained with stochastic inputs (``builtin:bnn_fmnist_sc_n{N}``, where shipped);
* the paper's stated trends, checked (never asserted): SC-BNN area below the conventional
  one, accuracy rising with N, the adapted training at least as accurate at N <= 8, some N
  within 1.5 points of the conventional BNN, energy rising with N.

``docs/reproducing-scbnn.md`` explains each gap and which default drives it. Energy per image is
the inference's (dynamic + leakage; the one-time programming of the weights at power-up is
reported apart). Energy and area are independent of the data (no data-dependent action), so
they come from ``--hw-images`` images; accuracy from ``--images`` Fashion-MNIST test images
(10,000 for the README table).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from archsim.config import load_config
from archsim.resources import configs_dir
from archsim.run import RunOptions, run_config
from archsim.workload.models import BUILTIN_MODELS

__all__ = ["PAPER", "scbnn_main"]

NS = (1, 2, 4, 8, 16, 32)
PAPER = {"area_reduction": 0.62, "energy_factor": 2.1, "accuracy_loss_points": 1.4}
CONV_MODEL = "bnn_fmnist_conv"


def _run(design: str, overrides: list[str], images: int, jobs: int,
         data_dir: str | None) -> dict[str, Any]:
    cfg = load_config(configs_dir() / "bnn" / design, [*overrides, f"dataset.images={images}"])
    res, _ = run_config(cfg, RunOptions(jobs=jobs, data_dir=data_dir))
    rows = res.ledger.rows()
    per_image = rows["image"] >= 0  # the one-time weight programming at power-up excluded
    leak = sum(b.total_leakage_mw for b in res.ledger.blocks.values()) * res.latency_ns
    energy = float(rows["energy_pj"][per_image].sum()) + leak
    load = float(rows["energy_pj"][~per_image].sum())
    area = sum(b.total_area_um2 for b in res.ledger.blocks.values())
    arrays = sum(b.total_area_um2 for b in res.ledger.blocks.values()
                 if b.kind in ("memory", "sense_amp"))
    first = cfg.layers[0].name
    first_area = sum(b.total_area_um2 for b in res.ledger.blocks.values()
                     if b.layer in (first, "input") and b.kind not in ("memory", "sense_amp"))
    return {"design": design, "overrides": overrides, "images": images,
            "accuracy": res.accuracy_fraction(),
            "energy_nj_per_image": energy / 1e3 / images,
            "programming_energy_nj": load / 1e3, "cycles_per_image": res.cycles / images,
            "latency_us_per_image": res.latency_ns / 1e3 / images,
            "area_mm2": area / 1e6, "logic_area_mm2": (area - arrays) / 1e6,
            "first_layer_logic_area_mm2": first_area / 1e6}


def _ratio(ours: float, paper: float) -> str:
    return f"{ours / paper:.2f}" if paper else "-"


def scbnn_main(args: Any) -> int:
    """``archsim reproduce scbnn`` (``args`` from the CLI parser)."""
    out = Path(args.out) if args.out else Path("traces") / "reproduce" / "scbnn"
    out.mkdir(parents=True, exist_ok=True)
    quiet = getattr(args, "quiet", False)
    extra = list(getattr(args, "set", []) or [])
    t0 = time.perf_counter()
    say = (lambda *_: None) if quiet else (lambda *a: print(*a, file=sys.stderr, flush=True))
    hw_n = args.hw_images or 2
    jobs, data = args.jobs or 1, args.data_dir
    conv_model = f"model.weights=builtin:{CONV_MODEL}"
    res: dict[str, Any] = {"paper": PAPER, "images": args.images, "hw_images": hw_n}
    say("hardware: conventional BNN (adder, bit-serial), SC-BNN at N =", NS)
    hw = {"conv_adder": _run("conv_bnn_fmnist.yaml", [conv_model, *extra], hw_n, 1, data),
          "conv_bit_serial": _run("conv_bnn_fmnist_bitserial.yaml", [conv_model, *extra],
                                  hw_n, 1, data)}
    for n in NS:
        hw[f"sc_n{n}"] = _run("scbnn_fmnist_n8.yaml", [conv_model, f"input.presentations={n}",
                                                       *extra], hw_n, 1, data)
    res["hardware"] = hw
    say(f"accuracy on {args.images} Fashion-MNIST test images")
    acc: dict[str, Any] = {"conventional_bnn": _run("conv_bnn_fmnist.yaml", [conv_model, *extra],
                                                    args.images, jobs, data)["accuracy"]}
    for n in NS:
        say(f"  N = {n}")
        acc[f"sc_n{n}_conventional_training"] = _run(
            "scbnn_fmnist_n8.yaml", [conv_model, f"input.presentations={n}", *extra],
            args.images, jobs, data)["accuracy"]
        name = f"bnn_fmnist_sc_n{n}"
        acc[f"sc_n{n}_adapted_training"] = (_run(
            "scbnn_fmnist_n8.yaml", [f"model.weights=builtin:{name}",
                                     f"input.presentations={n}", *extra],
            args.images, jobs, data)["accuracy"] if name in BUILTIN_MODELS else None)
    res["accuracy"] = acc
    md = _report(res)
    res["wall_s"] = time.perf_counter() - t0
    (out / "results.json").write_text(json.dumps(res, indent=2))
    (out / "report.md").write_text(md)
    if not quiet:
        print(md)
        print(f"{out}: results.json, report.md in {res['wall_s'] / 60:.1f} min")
    return 0


def _report(res: dict[str, Any]) -> str:
    hw, acc = res["hardware"], res["accuracy"]
    conv = hw["conv_adder"]
    lines = ["# SC-BNN (Hirtzlin et al., IEEE Access 2019) on the BNN fabric", "",
             f"Accuracy on {res['images']} Fashion-MNIST test images; energy and area from "
             f"{res['hw_images']} images (data-independent). Conventional BNN = 8-bit first "
             "layer on adder lanes (bit-serial beside it).", "",
             "## Area: SC-BNN (N = 8) against the conventional BNN", "",
             "| | conventional (mm^2) | SC-BNN N=8 (mm^2) | reduction | paper | ratio to paper |",
             "|---|---|---|---|---|---|"]
    sc8 = hw["sc_n8"]
    for key, label in (("area_mm2", "whole accelerator"), ("logic_area_mm2",
                                                             "logic (no weight arrays)"),
                       ("first_layer_logic_area_mm2", "first layer + input logic")):
        red = 1 - sc8[key] / conv[key]
        lines.append(f"| {label} | {conv[key]:.4f} | {sc8[key]:.4f} | {red:.1%} | 62 % | "
                     f"{_ratio(red, PAPER['area_reduction'])} |")
    base = acc["conventional_bnn"]
    lines += ["", "## Energy saved against accuracy lost, across N", "",
              f"Conventional BNN: {conv['energy_nj_per_image']:.1f} nJ/image (bit-serial: "
              f"{hw['conv_bit_serial']['energy_nj_per_image']:.1f}), accuracy "
              f"{100 * base:.2f} %.", "",
              "| N | SC nJ/image | saving vs adder | saving vs bit-serial | acc. conv. training |"
              " acc. adapted | loss (points, best) |", "|---|---|---|---|---|---|---|"]
    best_pt = None
    for n in NS:
        e = hw[f"sc_n{n}"]["energy_nj_per_image"]
        a_c = acc[f"sc_n{n}_conventional_training"]
        a_a = acc[f"sc_n{n}_adapted_training"]
        best = max(a for a in (a_c, a_a) if a is not None)
        loss = 100 * (base - best)
        f_add = conv["energy_nj_per_image"] / e
        f_bs = hw["conv_bit_serial"]["energy_nj_per_image"] / e
        lines.append(f"| {n} | {e:.1f} | {f_add:.2f}x | {f_bs:.2f}x | {100 * a_c:.2f} % | "
                     f"{'-' if a_a is None else f'{100 * a_a:.2f} %'} | {loss:+.2f} |")
        if best_pt is None or abs(loss - PAPER["accuracy_loss_points"]) < abs(
                best_pt[1] - PAPER["accuracy_loss_points"]):
            best_pt = (n, loss, f_add, f_bs)
    assert best_pt is not None
    n, loss, f_add, f_bs = best_pt
    lines += ["", f"Closest to the paper's -1.4 points: N = {n}, {loss:+.2f} points, energy "
              f"saving {f_add:.2f}x against the adder baseline (paper 2.1x, ratio "
              f"{_ratio(f_add, PAPER['energy_factor'])}), {f_bs:.2f}x against the bit-serial "
              f"one (ratio {_ratio(f_bs, PAPER['energy_factor'])}).", "",
              "## The paper's trends, checked", ""]
    accs = [max(a for a in (acc[f"sc_n{k}_conventional_training"],
                            acc[f"sc_n{k}_adapted_training"]) if a is not None) for k in NS]
    energies = [hw[f"sc_n{k}"]["energy_nj_per_image"] for k in NS]
    adapted = [(k, acc[f"sc_n{k}_adapted_training"], acc[f"sc_n{k}_conventional_training"])
               for k in NS if k <= 8 and acc[f"sc_n{k}_adapted_training"] is not None]
    trends = [
        ("SC-BNN smaller than the conventional BNN", sc8["area_mm2"] < conv["area_mm2"]),
        ("accuracy rises with N (N = 32 above N = 1)", accs[-1] > accs[0]),
        ("energy rises with N", all(b > a for a, b in zip(energies, energies[1:],
                                                            strict=False))),
        ("some N within 1.5 points of the conventional BNN",
         any(100 * (base - a) <= 1.5 for a in accs)),
        ("adapted training at least as accurate as conventional at every N <= 8 (shipped "
         f"models: {[k for k, _, _ in adapted]})",
         bool(adapted) and all(a >= c for _, a, c in adapted)),
    ]
    lines += [f"- {'holds' if ok else 'does NOT hold'}: {what}" for what, ok in trends]
    res["trends"] = {what: bool(ok) for what, ok in trends}
    res["closest_point"] = {"N": n, "loss_points": loss, "saving_vs_adder": f_add,
                            "saving_vs_bit_serial": f_bs}
    lines += ["", "docs/reproducing-scbnn.md explains each gap and the default behind it.", ""]
    return "\n".join(lines)
