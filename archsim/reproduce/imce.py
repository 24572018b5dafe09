"""``archsim reproduce imce``: IMCE's low bit-width AlexNet on SOT-MRAM sub-arrays, beside the
paper's numbers and an ISAAC-style RRAM crossbar design run on the same layers.

The paper (Angizi, He, Parveen, Fan, "IMCE: Energy-efficient bit-wise in-memory convolution
engine for deep neural network", ASP-DAC 2018; abstract) states three numbers: AlexNet on
ImageNet at 785.25 uJ per image, about 3x less energy than a recent RRAM-based counterpart,
and about 4x smaller chip area. Its bit widths, sub-array size and device table are not in
any text we could read, so the study sweeps the DoReFa widths and names the assumptions
(docs/reproducing-imce.md).

For each W:A of :data:`WIDTHS`, ``arch_configs/pim/alexnet_imce.yaml`` runs on ``--hw-images``
synthetic 3x227x227 images (energy, cycles and area are counts x costs and do not depend on
the pixels); the RRAM reference (``archsim.fabrics.pim_bitplane.rram``) is evaluated on the same
elaborated layers in the same run (the network's metadata). Output folder::

    <out>/report.md                 every number beside the paper's, with the ratio
    <out>/tables/*.csv              widths, per layer, per component, the comparison
    <out>/points/w<M>a<K>.json      each point's figures
"""

from __future__ import annotations

import csv
import io
import json
import sys
import time
from pathlib import Path
from typing import Any

from archsim.outputs.atomic import write_text

__all__ = ["PAPER", "WIDTHS", "reproduce_imce"]

#: the abstract's numbers
PAPER = {"energy_uj_per_image": 785.25, "rram_energy_ratio": 3.0, "rram_area_ratio": 4.0}
#: (weight bits, activation bits) of the sweep; the headline row is HEADLINE
WIDTHS = ((1, 1), (1, 2), (1, 4), (2, 2), (2, 4), (4, 4), (8, 8))
HEADLINE = (1, 4)
LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8")
QUANTIZE = ("q1", "q2", "q3", "q4", "q5", "q6", "q7")
#: per-component groups of the breakdown: (block, action) -> group
COMPONENTS = {
    ("compute", "write"): "activation bit-plane writes",
    ("compute", "and"): "dual-row AND sensing (cells)",
    ("compute", "read"): "single-row reads (activation counts)",
    ("sense_amp", "sense"): "sense amplifiers",
    ("bit_counter", "count"): "bit-counting",
    ("shift_adder", "add"): "shift-add",
    ("accumulate", "add"): "digital unit",
    ("digital_mac", "mac"): "digital unit",
    ("digital_compare", "compare"): "digital unit",
    ("buffer", "read"): "feature-map bank (reads, input image load)",
    ("buffer", "write"): "feature-map bank (reads, input image load)",
}


def width_overrides(m: int, k: int) -> list[str]:
    """The workload overrides of W:A = m:k (the first layer keeps its 8-bit pixel codes)."""
    sets = [f"model.layers.{n}.bits={m}" for n in LAYERS]
    sets += [f"ops.{q}.bits={k}" for q in QUANTIZE]
    return [f"workload_set={json.dumps(sets)}"]


def run_point(m: int, k: int, images: int, extra: list[str]) -> dict[str, Any]:
    """One W:A point: energy, latency, area, breakdowns, and the RRAM reference."""
    from archsim.config import load_config
    from archsim.resources import resolve
    from archsim.run import RunOptions, run_config

    design = resolve("builtin:pim/alexnet_imce.yaml")
    cfg = load_config(design, ["reference_check=false", f"dataset.images={images}",
                               *width_overrides(m, k), *extra])
    res, _ = run_config(cfg, RunOptions(images=images))
    energy = res.block_energy_pj()
    comp: dict[str, float] = {}
    layers: dict[str, float] = {}
    for qname, acts in energy.items():
        layer, block = qname.split(".", 1)
        for action, pj in acts.items():
            group = ("leakage (periphery)" if action == "leak"
                     else COMPONENTS.get((block, action), "other"))
            if pj:
                comp[group] = comp.get(group, 0.0) + pj / images / 1e6
            layers[layer] = layers.get(layer, 0.0) + pj / images / 1e6
    rram = res.metadata["rram_reference"]
    lat = [r.latency_cycles for r in res.accuracy]
    out = {
        "weight_bits": m, "activation_bits": k, "images": images,
        "energy_uj_per_image": res.energy_pj() / images / 1e6,
        "latency_us": min(lat) * res.cycle_ns / 1e3,
        "frames_per_s": images / (res.latency_ns * 1e-9),
        "area_mm2": res.area_um2() / 1e6,
        "subarrays": res.metadata["subarrays_used"],
        "energy_by_component_uj": comp, "energy_by_layer_uj": layers,
        "area_by_layer_mm2": {k2: v / 1e6 for k2, v in res.layer_area_um2().items()},
        "rram_energy_uj_per_image": rram["energy_pj"] / 1e6,
        "rram_area_mm2": rram["area_um2"] / 1e6,
        "rram_latency_us": rram["latency_ns"] / 1e3,
        "rram_energy_by_component_uj": {c: v / 1e6 for c, v in
                                        rram["energy_by_component_pj"].items()},
        "rram_energy_by_layer_uj": {c: v / 1e6 for c, v in rram["energy_by_layer_pj"].items()},
        "rram_crossbars": rram["crossbars"], "rram_tiles": rram["tiles"],
        "layers": res.metadata["layers"],
    }
    out["rram_energy_ratio"] = out["rram_energy_uj_per_image"] / out["energy_uj_per_image"]
    out["rram_area_ratio"] = out["rram_area_mm2"] / out["area_mm2"]
    return out


def _csv(rows: list[list[Any]]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


def _md(rows: list[list[Any]]) -> list[str]:
    head, *body = rows
    lines = ["| " + " | ".join(str(c) for c in head) + " |",
             "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in body]
    return lines + [""]


def _f(x: float, nd: int = 2) -> str:
    return f"{x:.{nd}f}"


def write_report(points: dict[tuple[int, int], dict[str, Any]], out: Path,
                 wall_s: float) -> list[Path]:
    written = []
    tdir = out / "tables"
    tdir.mkdir(parents=True, exist_ok=True)
    (out / "points").mkdir(parents=True, exist_ok=True)
    head = points.get(HEADLINE) or next(iter(points.values()))
    hw = (head["weight_bits"], head["activation_bits"])
    md = ["# IMCE reproduced by archsim", "",
          "Low bit-width AlexNet (ImageNet shapes, synthetic images) on SOT-MRAM computational "
          "sub-arrays (`arch_configs/pim/alexnet_imce.yaml`, technology "
          "`arch_configs/tech/imce_sot45.yaml`), and an ISAAC-style RRAM crossbar design on "
          "the same layers in the same run. Ratios are ours / paper. docs/reproducing-imce.md "
          "explains each difference.", "",
          f"Wall time: {wall_s / 60:.1f} min.", "", "## Against the paper", ""]
    close = min(points.values(),
                key=lambda p: abs(p["energy_uj_per_image"] / PAPER["energy_uj_per_image"] - 1))
    cmp_rows: list[list[Any]] = [["quantity", "paper", "ours", "ours / paper", "note"],
                [f"AlexNet energy per image (uJ), W:A {hw[0]}:{hw[1]}",
                 PAPER["energy_uj_per_image"], _f(head["energy_uj_per_image"]),
                 _f(head["energy_uj_per_image"] / PAPER["energy_uj_per_image"]),
                 "the paper's widths are not known; W:A 1:4 is our headline choice"],
                [f"AlexNet energy per image (uJ), closest width "
                 f"{close['weight_bits']}:{close['activation_bits']}",
                 PAPER["energy_uj_per_image"], _f(close["energy_uj_per_image"]),
                 _f(close["energy_uj_per_image"] / PAPER["energy_uj_per_image"]),
                 "the width whose energy is nearest the paper's"],
                [f"RRAM energy / IMCE energy, W:A {hw[0]}:{hw[1]}", "~3",
                 _f(head["rram_energy_ratio"]),
                 _f(head["rram_energy_ratio"] / PAPER["rram_energy_ratio"]),
                 "ISAAC (ISCA 2016) per-component numbers; the paper's RRAM design is unnamed"],
                [f"RRAM area / IMCE area, W:A {hw[0]}:{hw[1]}", "~4",
                 _f(head["rram_area_ratio"]),
                 _f(head["rram_area_ratio"] / PAPER["rram_area_ratio"]),
                 "area of the sub-arrays / crossbars the layers occupy"]]
    md += _md(cmp_rows)
    written.append(write_text(tdir / "comparison.csv", _csv(cmp_rows)))
    md += ["## Across bit widths", ""]
    wrows = [["W:A", "energy (uJ/img)", "/ paper", "latency (us)", "frames/s (pipelined)",
              "area (mm2)", "sub-arrays", "RRAM energy (uJ/img)", "RRAM/IMCE energy",
              "RRAM area (mm2)", "RRAM/IMCE area"]]
    for (m, k), p in sorted(points.items()):
        wrows.append([f"{m}:{k}", _f(p["energy_uj_per_image"]),
                      _f(p["energy_uj_per_image"] / PAPER["energy_uj_per_image"]),
                      _f(p["latency_us"], 1), _f(p["frames_per_s"], 0), _f(p["area_mm2"]),
                      p["subarrays"], _f(p["rram_energy_uj_per_image"]),
                      _f(p["rram_energy_ratio"]), _f(p["rram_area_mm2"]),
                      _f(p["rram_area_ratio"])])
    md += _md(wrows)
    written.append(write_text(tdir / "widths.csv", _csv(wrows)))
    md += [f"## Per component, W:A {hw[0]}:{hw[1]} (uJ per image)", ""]
    crow = [["component", "IMCE (SOT-MRAM)", "share"]]
    total = head["energy_uj_per_image"]
    for c, v in sorted(head["energy_by_component_uj"].items(), key=lambda x: -x[1]):
        crow.append([c, _f(v, 3), f"{100 * v / total:.1f} %"])
    md += _md(crow)
    written.append(write_text(tdir / "components.csv", _csv(crow)))
    rrow = [["RRAM component", "energy (uJ/img)"]]
    for c, v in sorted(head["rram_energy_by_component_uj"].items(), key=lambda x: -x[1]):
        rrow.append([c, _f(v, 3)])
    md += _md(rrow)
    written.append(write_text(tdir / "rram_components.csv", _csv(rrow)))
    md += [f"## Per layer, W:A {hw[0]}:{hw[1]}", ""]
    lrow = [["layer", "energy (uJ/img)", "area (mm2)", "sub-arrays", "steps/img",
             "RRAM energy (uJ/img)"]]
    lrow.extend([name, _f(head["energy_by_layer_uj"].get(name, 0.0), 3),
                 _f(head["area_by_layer_mm2"].get(name, 0.0), 3),
                 head["layers"][name]["subarrays"], head["layers"][name]["steps"],
                 _f(head["rram_energy_by_layer_uj"].get(name, 0.0), 3)] for name in LAYERS)
    md += _md(lrow)
    written.append(write_text(tdir / "layers.csv", _csv(lrow)))
    for (m, k), p in points.items():
        written.append(write_text(out / "points" / f"w{m}a{k}.json", json.dumps(p, indent=2)))
    written.append(write_text(out / "report.md", "\n".join(md)))
    return written


def reproduce_imce(args: Any) -> int:
    """``archsim reproduce imce`` (``args`` from the CLI parser)."""
    from archsim.config.errors import ConfigError

    images = args.hw_images
    if images < 1:
        print("archsim: error: --hw-images must be at least 1", file=sys.stderr)
        return 2
    widths: list[tuple[int, int]] = list(WIDTHS)
    if args.only:
        try:
            widths = []
            for w in args.only:
                m, k = (int(v) for v in w.lower().replace("w", "").split("a"))
                widths.append((m, k))
        except ValueError:
            print(f"archsim: error: --only {args.only}: expected widths like w1a4",
                  file=sys.stderr)
            return 2
    out = Path(args.out) if args.out else Path("traces") / "reproduce" / "imce"
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    points = {}
    try:
        for m, k in widths:
            points[(m, k)] = p = run_point(m, k, images, list(args.set))
            if not args.quiet:
                print(f"W:A {m}:{k}: {p['energy_uj_per_image']:.2f} uJ/img (paper "
                      f"{PAPER['energy_uj_per_image']}), {p['area_mm2']:.2f} mm2, RRAM "
                      f"{p['rram_energy_ratio']:.2f}x energy, {p['rram_area_ratio']:.2f}x "
                      "area", flush=True)
    except ConfigError as e:
        print(f"archsim: error: {e}", file=sys.stderr)
        return 2
    written = write_report(points, out, time.perf_counter() - t0)
    if not args.quiet:
        print(f"{out}: {len(written)} files (report.md, tables/, points/)")
    return 0
