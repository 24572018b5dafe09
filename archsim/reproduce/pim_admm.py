"""``archsim reproduce pim-admm``: highly compressed DNNs on the SOT-MRAM bit-plane PIM engine.

The paper (Yuan et al., "A Highly Compressed DNN Design on SOT-MRAM based Processing-in-Memory
Engine", 2019; abstract only) compresses networks with ADMM (structured pruning and
quantization under the engine's constraints) and claims better accuracy and compression than
the reference works and markedly better area, power and frames/s; it gives no numbers. The
closest published figures are the same group's ADMM compression on memristor crossbars
(:data:`CROSSBAR`), set beside ours and labelled as another engine's.

Two studies, both through the simulator (``fabric: pim_bitplane``):

* accuracy against compression: every shipped compressed model (``pimc_*`` in
  :data:`archsim.workload.models.BUILTIN_MODELS`, made by ``training/train_admm.py``: ADMM, the
  magnitude-pruning + post-training-quantization baseline, the binarized baseline, the 8-bit
  reference) runs on ``--images`` test images through ``arch_configs/pim/pimc_sot.yaml``; beside
  it the accuracy its training recorded (torch, float64, the same integer arithmetic) and the
  fixed-point reference's prediction image by image (they must agree);
* hardware against compression: VGG-16 and ResNet-18 with CIFAR-10 shapes
  (``vgg16_admm_sot.yaml``, ``resnet18_admm_sot.yaml``) with structurally pruned synthetic
  weights and fewer weight bits (:data:`VGG_POINTS`, :data:`RESNET_POINTS`): VGG-16 prunes the
  filters of smallest L2 norm in every layer but the classifier and the matching input channels
  of the next layer; ResNet-18 the filters of each basic block's first convolution and the
  matching input channels of its second (the residual path's channels stay), on
  ``--hw-images`` random images: area (sub-arrays and periphery), power, energy per image and
  frames/s (steady-state: images 2..N's completion interval) relative to the uncompressed
  engine (8-bit weights, nothing pruned), and whether each improves monotonically.

Output folder::

    <out>/report.md            the tables, the trend checks, the crossbar figures beside ours
    <out>/tables/*.csv         accuracy.csv, hardware.csv, crossbar.csv
    <out>/figures/*.png        accuracy_vs_compression.png, hardware_vs_compression.png
    <out>/points/*.json        each point's figures
    <out>/vgg16/, <out>/resnet18/   the masks of each hardware point
"""

from __future__ import annotations

import csv
import io
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from archsim.outputs.atomic import write_text

__all__ = ["CROSSBAR", "NETWORKS", "RESNET_POINTS", "VGG_POINTS", "compression_rate",
           "reproduce_pim_admm"]

#: The same group's ADMM compression on memristor crossbars (the issue's figures): weight
#: compression, power and area reduction (%), accuracy loss (points). Another engine's numbers.
CROSSBAR = {
    "VGG-16": {"compression": 29.81, "power_reduction_pct": 98.38,
               "area_reduction_pct": 98.29, "accuracy_loss_pts": 0.5},
    "ResNet-18": {"compression": 20.88, "power_reduction_pct": 96.96,
                  "area_reduction_pct": 97.47, "accuracy_loss_pts": 0.76},
}
#: VGG-16 hardware points: (label, fraction of filters kept in every layer but the last,
#: weight bits); ordered by compression rate. The first is the uncompressed engine.
VGG_POINTS: tuple[tuple[str, float, int], ...] = (
    ("uncompressed W8", 1.0, 8),
    ("W4", 1.0, 4),
    ("filters 75 % W4", 0.75, 4),
    ("filters 50 % W4", 0.5, 4),
    ("filters 50 % W2", 0.5, 2),
    ("filters 25 % W2", 0.25, 2),
    ("filters 25 % W1", 0.25, 1),
)
#: ResNet-18 hardware points: (label, fraction of the filters kept in each basic block's first
#: convolution (and of the input channels of its second), weight bits); the first is the
#: uncompressed engine. 37.5 % at 4 bits is the rate of the crossbar figures (about 21x).
RESNET_POINTS: tuple[tuple[str, float, int], ...] = (
    ("uncompressed W8", 1.0, 8),
    ("W4", 1.0, 4),
    ("inner filters 50 % W4", 0.5, 4),
    ("inner filters 37.5 % W4", 0.375, 4),
    ("inner filters 25 % W2", 0.25, 2),
)
VGG_DESIGN = "builtin:pim/vgg16_admm_sot.yaml"
VGG_WORKLOAD = "builtin:workloads/vgg16_cifar_pim.yaml"
RESNET_DESIGN = "builtin:pim/resnet18_admm_sot.yaml"
RESNET_WORKLOAD = "builtin:workloads/resnet18_cifar_pim.yaml"
SMALL_DESIGN = "builtin:pim/pimc_sot.yaml"
FLOAT_BITS = 32


def compression_rate(weights: Any, bits: dict[str, int]) -> tuple[float, float]:
    """(weight-storage compression vs 32-bit float dense, kept fraction) of loaded weights:
    ``32 x all weights / sum over layers of kept weights x bits``."""
    total = kept_bits = kept = 0
    for name, p in weights.layers.items():
        n = int(np.prod(p.w.shape))
        k = n if p.mask is None else int(np.count_nonzero(p.mask))
        total += n
        kept += k
        kept_bits += k * bits[name]
    return FLOAT_BITS * total / kept_bits, kept / total


# ---------------------------------------------------------------- accuracy (shipped models)
def shipped_models() -> list[str]:
    from archsim.workload.models import BUILTIN_MODELS

    return sorted(n for n in BUILTIN_MODELS if n.startswith("pimc_"))


def accuracy_point(name: str, images: int, extra: list[str]) -> dict[str, Any]:
    """A shipped compressed model through the simulator on the first ``images`` test images,
    and the fixed-point reference's predictions on the same images."""
    from archsim.config import load_config
    from archsim.resources import resolve
    from archsim.run import RunOptions, run_config
    from archsim.workload import load_images, load_weights, load_workload, reference_forward
    from archsim.workload.models import BUILTIN_MODELS, builtin_model_path

    entry = BUILTIN_MODELS[name]
    wl_path = resolve(f"builtin:{entry.workload.removeprefix('arch_configs/')}")
    cfg = load_config(resolve(SMALL_DESIGN),
                      [f"workload={wl_path}", f"dataset.images={images}", "dataset.start=0",
                       f"dataset.name={entry.dataset}", "reference_check=false", *extra])
    res, _ = run_config(cfg, RunOptions(images=images))
    wl = load_workload(wl_path, [f"dataset.images={images}", "dataset.start=0"])
    w = load_weights(wl)
    imgs = load_images(wl)
    pixels, labels = imgs.images, imgs.labels
    ref = np.concatenate([np.argmax(reference_forward(wl, w, pixels[i:i + 500],
                                                      fixed_point=True)[-1], axis=1)
                          for i in range(0, len(pixels), 500)])
    sim = np.array([r.prediction for r in res.accuracy])
    meta = dict(np.load(builtin_model_path(name), allow_pickle=False).items())
    info = json.loads(str(meta["metadata"])) if "metadata" in meta else {}
    bits = {n: wl.model.layers[n].bits or 0 for n in w.layers}
    rate, kept = compression_rate(w, bits)
    n = len(res.accuracy)
    out = {
        "model": name, "net": info.get("net", ""), "dataset": entry.dataset,
        "method": info.get("method") or name.split("_")[2], "images": n,
        "weight_bits": bits, "activation_bits": info.get("abits"),
        "compression": rate, "kept_fraction": kept,
        "accuracy_sim": float(np.mean(sim == np.asarray(labels)[:n])),
        "accuracy_reference": float(np.mean(ref == np.asarray(labels)[:n])),
        "disagreements_sim_vs_reference": int(np.count_nonzero(sim != ref)),
        "torch_test_accuracy": info.get("torch_test_accuracy"),
        "torch_note": info.get("test_accuracy_note", ""),
        "energy_uj_per_image": res.energy_pj() / n / 1e6,
        "area_mm2": res.area_um2() / 1e6,
        "subarrays": res.metadata["subarrays_used"],
        "frames_per_s": _frames_per_s(res),
        "run_average_power_mw": res.power_mw(),
    }
    out["power_mw"] = _power_mw(out)
    return out


def _power_mw(p: dict[str, Any]) -> float:
    """Steady-state power (mW): energy per image x frames/s (both simulated)."""
    return float(p["energy_uj_per_image"] * p["frames_per_s"] * 1e-3)


def _frames_per_s(res: Any) -> float:
    """Steady-state throughput: images 2..N's completion interval (one image: 1 / latency)."""
    ends = sorted(r.end_cycle for r in res.accuracy)
    if len(ends) >= 2 and ends[-1] > ends[0]:
        return (len(ends) - 1) / ((ends[-1] - ends[0]) * res.cycle_ns * 1e-9)
    return 1.0 / (res.latency_ns * 1e-9)


# ---------------------------------------------------------------- hardware (VGG-16)
def vgg_masks(keep: float, seed: int, folder: Path) -> dict[str, Path]:
    """Structured masks of VGG-16 keeping ``keep`` of the filters of every layer but the
    last (those of smallest L2 norm of the random weights pruned) and, in the next layer, the
    matching input channels; one .npz per layer in ``folder``. ``keep`` 1: no masks."""
    from archsim.resources import resolve
    from archsim.workload import Conv2d, load_weights, load_workload

    if keep >= 1.0:
        return {}
    wl = load_workload(resolve(VGG_WORKLOAD), [f"model.seed={seed}"])
    w = load_weights(wl)
    ops = wl.weighted_ops
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    alive_in: np.ndarray | None = None  # kept output channels of the previous layer
    for i, op in enumerate(ops):
        wt = w.layers[op.name].w
        f = wt.shape[0]
        mask = np.ones(wt.shape, dtype=bool)
        if alive_in is not None:
            if isinstance(op, Conv2d):
                mask[:, ~alive_in] = False
            else:  # dense after flatten: the channel's positions (512 x 1 x 1 here)
                per = wt.shape[1] // alive_in.size
                mask[:, ~np.repeat(alive_in, per)] = False
        if i < len(ops) - 1:
            norms = np.sqrt((wt.reshape(f, -1) ** 2).sum(axis=1))
            kept = np.zeros(f, dtype=bool)
            kept[np.argsort(-norms, kind="stable")[:max(1, round(keep * f))]] = True
            mask[~kept] = False
            alive_in = kept
        path = folder / f"{op.name}_mask.npz"
        np.savez_compressed(path, **{f"{op.name}_mask": mask})  # type: ignore[arg-type]
        out[op.name] = path
    return out


def resnet_masks(keep: float, seed: int, folder: Path) -> dict[str, Path]:
    """Structured masks of ResNet-18 keeping ``keep`` of the filters of every layer whose
    output only one other convolution reads, through no add (each basic block's first
    convolution; those of smallest L2 norm of the random weights pruned), and, in that
    convolution (the block's second), the matching input channels. The stem, the second
    convolutions' filters, the projections and the classifier keep every filter: the channels
    of the residual path are not pruned. One .npz per masked layer in ``folder``; ``keep`` 1:
    no masks."""
    from archsim.resources import resolve
    from archsim.workload import Add, Conv2d, load_weights, load_workload

    if keep >= 1.0:
        return {}
    wl = load_workload(resolve(RESNET_WORKLOAD), [f"model.seed={seed}"])
    w = load_weights(wl)
    readers: dict[str, list[Any]] = {}
    for op in wl.ops:
        for name in op.inputs:
            readers.setdefault(name, []).append(op)
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    for st in wl.stages():
        users = readers.get(st.output, [])
        if (len(users) != 1 or not isinstance(users[0], Conv2d)
                or any(isinstance(o, Add) for o in st.ops)):
            continue
        first, second = st.layer, users[0]
        wt = w.layers[first.name].w
        f = wt.shape[0]
        norms = np.sqrt((wt.reshape(f, -1) ** 2).sum(axis=1))
        kept = np.zeros(f, dtype=bool)
        kept[np.argsort(-norms, kind="stable")[:max(1, round(keep * f))]] = True
        m1 = np.ones(wt.shape, dtype=bool)
        m1[~kept] = False
        m2 = np.ones(w.layers[second.name].w.shape, dtype=bool)
        m2[:, ~kept] = False
        for op, mask in ((first, m1), (second, m2)):
            path = folder / f"{op.name}_mask.npz"
            np.savez_compressed(path, **{f"{op.name}_mask": mask})  # type: ignore[arg-type]
            out[op.name] = path
    return out


@dataclass(frozen=True)
class HardwareNet:
    """A network of the hardware study: its design, workload, points and masks."""

    label: str
    design: str
    workload: str
    points: tuple[tuple[str, float, int], ...]
    masks: Callable[[float, int, Path], dict[str, Path]]
    pruning: str  # what the points' filter fraction prunes, in words


#: The hardware study's networks, by the name ``--only`` and the points' files use.
NETWORKS: dict[str, HardwareNet] = {
    "vgg16": HardwareNet("VGG-16", VGG_DESIGN, VGG_WORKLOAD, VGG_POINTS, vgg_masks,
                         "the filters of smallest L2 norm in every layer but the classifier "
                         "and the matching input channels of the next layer"),
    "resnet18": HardwareNet("ResNet-18", RESNET_DESIGN, RESNET_WORKLOAD, RESNET_POINTS,
                            resnet_masks,
                            "the filters of smallest L2 norm of each basic block's first "
                            "convolution and the matching input channels of its second"),
}


def hardware_point(label: str, keep: float, bits: int, images: int, folder: Path,
                   extra: list[str], net: str = "vgg16") -> dict[str, Any]:
    from archsim.config import load_config
    from archsim.resources import resolve
    from archsim.run import RunOptions, run_config
    from archsim.workload import load_weights, load_workload

    spec = NETWORKS[net]
    masks = spec.masks(keep, 1, folder)
    wl_sets = [f"model.layers.{op.name}.bits={bits}"
               for op in load_workload(resolve(spec.workload)).weighted_ops]
    wl_sets += [f"model.layers.{n}.mask={p}" for n, p in masks.items()]
    cfg = load_config(resolve(spec.design), [f"dataset.images={images}",
                                             f"workload_set={json.dumps(wl_sets)}", *extra])
    res, _ = run_config(cfg, RunOptions(images=images))
    wl = load_workload(resolve(spec.workload), wl_sets)
    rate, kept = compression_rate(load_weights(wl), {op.name: bits for op in wl.weighted_ops})
    out = {
        "network": spec.label,
        "label": label, "filters_kept": keep, "weight_bits": bits, "activation_bits": 4,
        "images": images, "compression": rate, "kept_fraction": kept,
        "energy_uj_per_image": res.energy_pj() / images / 1e6,
        "area_mm2": res.area_um2() / 1e6, "subarrays": res.metadata["subarrays_used"],
        "frames_per_s": _frames_per_s(res), "run_average_power_mw": res.power_mw(),
        "layers": res.metadata["layers"],
    }
    out["power_mw"] = _power_mw(out)
    return out


# ---------------------------------------------------------------- report
def _slug(label: str) -> str:
    return label.replace(" % ", "pct_").replace(" ", "_")


def _csv(rows: list[list[Any]]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


def _md(rows: list[list[Any]]) -> list[str]:
    head, *body = rows
    lines = ["| " + " | ".join(str(c) for c in head) + " |", "|" + "---|" * len(head)]
    return lines + ["| " + " | ".join(str(c) for c in r) + " |" for r in body] + [""]


def monotonic(values: list[float], increasing: bool) -> bool:
    """Whether ``values`` never move the wrong way (ties allowed)."""
    pairs = zip(values, values[1:], strict=False)
    return all((b >= a) if increasing else (b <= a) for a, b in pairs)


def _plots(acc: list[dict[str, Any]], hw: dict[str, list[dict[str, Any]]],
           fdir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fdir.mkdir(parents=True, exist_ok=True)
    written = []
    if acc:
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        for ax, ds in zip(axes, ("mnist", "fashion-mnist"), strict=True):
            for method, marker in (("admm", "o"), ("magnitude", "s"), ("binary", "^"),
                                   ("float", "x")):
                pts = sorted((p["compression"], 100 * p["accuracy_sim"]) for p in acc
                             if p["dataset"] == ds and p["method"] == method)
                if pts:
                    ax.plot(*zip(*pts, strict=True), marker=marker, label=method)
            ax.set_xscale("log")
            ax.set_xlabel("weight compression (x, vs 32-bit float)")
            ax.set_ylabel("accuracy through the simulator (%)")
            ax.set_title(ds)
            ax.legend()
        fig.tight_layout()
        p = fdir / "accuracy_vs_compression.png"
        fig.savefig(p, dpi=110)
        plt.close(fig)
        written.append(p)
    nets = [n for n in NETWORKS if hw.get(n)]
    if nets:
        fig, axes = plt.subplots(1, len(nets), figsize=(6.5 * len(nets), 4.5), squeeze=False)
        for ax, net in zip(axes[0], nets, strict=True):
            hw_pts = hw[net]
            base = hw_pts[0]
            x = [p["compression"] for p in hw_pts]
            for key, lab in (("area_mm2", "area"), ("power_mw", "power"),
                             ("energy_uj_per_image", "energy / image"),
                             ("frames_per_s", "frames/s")):
                ax.plot(x, [p[key] / base[key] for p in hw_pts], marker="o", label=lab)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("weight compression (x, vs 32-bit float)")
            ax.set_ylabel("relative to the uncompressed engine")
            ax.set_title(f"{NETWORKS[net].label} (CIFAR-10 shapes) on the SOT-MRAM "
                         "bit-plane engine", fontsize=10)
            ax.legend()
        fig.tight_layout()
        p = fdir / "hardware_vs_compression.png"
        fig.savefig(p, dpi=110)
        plt.close(fig)
        written.append(p)
    return written


def _iso_power(p: dict[str, Any], base: dict[str, Any]) -> float:
    """Power (mW) of point ``p`` run at the uncompressed engine's frames/s: its energy per
    image x the base's frames/s (the simulated power, ``p["power_mw"]``, is at p's own
    frames/s, which compression raises)."""
    return float(p["energy_uj_per_image"] * base["frames_per_s"] * 1e-3)


def write_report(acc: list[dict[str, Any]], hw: dict[str, list[dict[str, Any]]], out: Path,
                 wall_s: float) -> list[Path]:
    """The report, tables, plots and points; ``hw``: network name (:data:`NETWORKS`) -> its
    hardware points in order (the first: the uncompressed engine)."""
    tdir, pdir = out / "tables", out / "points"
    tdir.mkdir(parents=True, exist_ok=True)
    pdir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    md = ["# Highly compressed DNNs on the SOT-MRAM PIM engine, reproduced by archsim", "",
          "Yuan et al., \"A Highly Compressed DNN Design on SOT-MRAM based Processing-in-Memory "
          "Engine\" (2019) give no numbers in their abstract; this report sets our simulated "
          "figures beside the same group's ADMM figures on memristor crossbars (another "
          "engine's). docs/reproducing-pim-admm.md explains each difference.", "",
          f"Wall time: {wall_s / 60:.1f} min.", ""]
    if acc:
        md += ["## Accuracy against compression (shipped models, through the simulator)", ""]
        rows: list[list[Any]] = [["model", "data set", "method", "compression (x)",
                                  "weights kept", "weight bits", "A bits", "images",
                                  "accuracy sim (%)", "fixed-point ref (%)", "sim != ref",
                                  "torch, full test set (%)", "energy (nJ/img)", "area (mm2)",
                                  "sub-arrays", "frames/s"]]
        for p in sorted(acc, key=lambda p: (p["dataset"], p["method"], p["compression"])):
            bits = sorted(set(p["weight_bits"].values()))
            rows.append([p["model"], p["dataset"], p["method"], f"{p['compression']:.1f}",
                         f"{100 * p['kept_fraction']:.1f} %", "/".join(map(str, bits)),
                         p["activation_bits"], p["images"], f"{100 * p['accuracy_sim']:.2f}",
                         f"{100 * p['accuracy_reference']:.2f}",
                         p["disagreements_sim_vs_reference"],
                         "" if p["torch_test_accuracy"] is None
                         else f"{100 * p['torch_test_accuracy']:.2f}",
                         f"{1e3 * p['energy_uj_per_image']:.1f}", f"{p['area_mm2']:.3f}",
                         p["subarrays"], f"{p['frames_per_s']:.0f}"])
        md += _md(rows)
        written.append(write_text(tdir / "accuracy.csv", _csv(rows)))
        md += ["ADMM against the magnitude-pruning baseline at equal compression:", ""]
        for ds in ("mnist", "fashion-mnist"):
            for a in (p for p in acc if p["dataset"] == ds and p["method"] == "admm"):
                for b in (p for p in acc if p["dataset"] == ds and p["method"] == "magnitude"
                          and abs(p["compression"] / a["compression"] - 1) < 0.02):
                    d = 100 * (a["accuracy_sim"] - b["accuracy_sim"])
                    md.append(f"* {ds}, {a['compression']:.1f}x: ADMM "
                              f"{100 * a['accuracy_sim']:.2f} % vs magnitude "
                              f"{100 * b['accuracy_sim']:.2f} % ({d:+.2f} points)")
        md.append("")
    crossbar: list[list[Any]] = [["network", "engine", "weight compression (x)",
                                  "power reduction (%)", "area reduction (%)",
                                  "accuracy loss (points)"]]
    for net_name, c in CROSSBAR.items():
        crossbar.append([net_name, "memristor crossbar (same group's ADMM, another engine)",
                         c["compression"], c["power_reduction_pct"], c["area_reduction_pct"],
                         c["accuracy_loss_pts"]])
    hw_rows: list[list[Any]] = [["network", "point", "compression (x)", "weights kept",
                                 "W bits", "sub-arrays", "area (mm2)", "area / base",
                                 "power (mW)", "power / base", "power at base frames/s / base",
                                 "energy (uJ/img)", "energy / base", "frames/s",
                                 "frames/s / base"]]
    for net in (n for n in NETWORKS if hw.get(n)):
        spec, pts = NETWORKS[net], hw[net]
        base = pts[0]
        md += [f"## Hardware against compression: {spec.label}, CIFAR-10 shapes, synthetic "
               "structurally pruned weights", "",
               f"`{spec.design}`, 4-bit activations, {base['images']} random images per point; "
               "ratios relative to the uncompressed engine (8-bit weights, nothing pruned); "
               f"the filter fraction prunes {spec.pruning}.", ""]
        rows = [hw_rows[0][1:]]
        for p in pts:
            rows.append([p["label"], f"{p['compression']:.1f}",
                         f"{100 * p['kept_fraction']:.1f} %", p["weight_bits"],
                         p["subarrays"], f"{p['area_mm2']:.2f}",
                         f"{p['area_mm2'] / base['area_mm2']:.3f}", f"{p['power_mw']:.1f}",
                         f"{p['power_mw'] / base['power_mw']:.3f}",
                         f"{_iso_power(p, base) / base['power_mw']:.3f}",
                         f"{p['energy_uj_per_image']:.2f}",
                         f"{p['energy_uj_per_image'] / base['energy_uj_per_image']:.3f}",
                         f"{p['frames_per_s']:.0f}",
                         f"{p['frames_per_s'] / base['frames_per_s']:.2f}"])
        md += _md(rows)
        hw_rows += [[spec.label, *r] for r in rows[1:]]
        trend = {"area falls": monotonic([p["area_mm2"] for p in pts], False),
                 "energy per image falls": monotonic([p["energy_uj_per_image"] for p in pts],
                                                     False),
                 "frames/s rises": monotonic([p["frames_per_s"] for p in pts], True),
                 "power falls": monotonic([p["power_mw"] for p in pts], False),
                 "power at the uncompressed engine's frames/s falls":
                     monotonic([_iso_power(p, base) for p in pts], False)}
        md += ["Trend with compression (points in order of compression rate):", ""]
        md += [f"* {k}: {'yes, monotonically' if v else 'NO, not monotonic'}"
               for k, v in trend.items()]
        md.append("")
        # beside the crossbar figures: our point nearest the crossbar's compression rate
        target = CROSSBAR[spec.label]["compression"]
        near = min(pts[1:] or pts, key=lambda p: abs(np.log(p["compression"] / target)))
        crossbar.append([spec.label, f"ours: SOT-MRAM bit-plane, {near['label']}",
                         f"{near['compression']:.2f}",
                         f"{100 * (1 - near['power_mw'] / base['power_mw']):.2f} (at its own "
                         f"frames/s); "
                         f"{100 * (1 - _iso_power(near, base) / base['power_mw']):.2f} "
                         "(at the uncompressed frames/s)",
                         f"{100 * (1 - near['area_mm2'] / base['area_mm2']):.2f}",
                         "n/a (synthetic weights; accuracy: the small networks above)"])
        written.extend(write_text(pdir / f"{net}_{_slug(p['label'])}.json",
                                  json.dumps(p, indent=2)) for p in pts)
    if len(hw_rows) > 1:
        written.append(write_text(tdir / "hardware.csv", _csv(hw_rows)))
        md += ["![hardware against compression](figures/hardware_vs_compression.png)", ""]
        md += ["## Beside the crossbar figures (labelled: another engine's)", ""]
        md += _md(crossbar)
        md += ["Power: ours is the steady-state power, energy per image x frames/s, at each "
               "point's own frames/s (compression raises them: fewer weight planes to sense per "
               "step) and at the uncompressed engine's frames/s; the crossbar figures' baseline "
               "is the uncompressed 32-bit network on crossbars, ours the 8-bit uncompressed "
               "network on the same SOT-MRAM engine (32-bit weights do not exist on it: "
               "8 bit-planes at most).", ""]
        written.append(write_text(tdir / "crossbar.csv", _csv(crossbar)))
    written.extend(write_text(pdir / f"{p['model']}.json", json.dumps(p, indent=2))
                   for p in acc)
    written += _plots(acc, hw, out / "figures")
    written.append(write_text(out / "report.md", "\n".join(md)))
    return written


def reproduce_pim_admm(args: Any) -> int:
    """``archsim reproduce pim-admm`` (``args`` from the CLI parser). ``--only accuracy`` or
    ``--only hardware`` runs one study; ``--only vgg16`` / ``--only resnet18`` one network of
    the hardware study; ``--only <model name>`` one shipped model."""
    from archsim.config.errors import ConfigError

    only = set(args.only or [])
    models = shipped_models()
    run_acc = not only or "accuracy" in only or bool(only & set(models))
    nets = [n for n in NETWORKS if not only or "hardware" in only or n in only]
    if only and not (run_acc or nets):
        print(f"archsim: error: --only {sorted(only)}: expected accuracy, hardware, "
              f"{', '.join(NETWORKS)} or a shipped model "
              f"({', '.join(models) or 'none shipped'})", file=sys.stderr)
        return 2
    if only & set(models):
        models = [m for m in models if m in only]
    out = Path(args.out) if args.out else Path("traces") / "reproduce" / "pim-admm"
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    acc: list[dict[str, Any]] = []
    hw: dict[str, list[dict[str, Any]]] = {}
    try:
        if run_acc:
            for name in models:
                p = accuracy_point(name, args.images, list(args.set))
                acc.append(p)
                if not args.quiet:
                    print(f"{name}: {p['compression']:.1f}x, sim {100 * p['accuracy_sim']:.2f} "
                          f"% on {p['images']} images ({p['disagreements_sim_vs_reference']} "
                          "disagreements with the fixed-point reference)", flush=True)
        for net in nets:
            for label, keep, bits in NETWORKS[net].points:
                p = hardware_point(label, keep, bits, max(2, args.hw_images),
                                   out / net / _slug(label), list(args.set), net)
                hw.setdefault(net, []).append(p)
                if not args.quiet:
                    print(f"{NETWORKS[net].label} {label}: {p['compression']:.1f}x, "
                          f"{p['area_mm2']:.2f} mm2, {p['power_mw']:.1f} mW, "
                          f"{p['energy_uj_per_image']:.2f} uJ/img, "
                          f"{p['frames_per_s']:.0f} frames/s", flush=True)
    except ConfigError as e:
        print(f"archsim: error: {e}", file=sys.stderr)
        return 2
    written = write_report(acc, hw, out, time.perf_counter() - t0)
    if not args.quiet:
        print(f"{out}: {len(written)} files (report.md, tables/, figures/, points/)")
    return 0
