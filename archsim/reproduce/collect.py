"""From finished design points to the rows of DW-CNN's tables and the series of its figures.

Each function takes the points of :func:`archsim.reproduce.studies.run_studies` (keyed by
(study, technology)) and picks the points and quantities one table or figure needs; the
numbers themselves come from :mod:`archsim.reproduce.metrics`.
"""

from __future__ import annotations

from archsim.reproduce import paper
from archsim.reproduce.metrics import (
    Cost,
    LayerCost,
    accuracy_pct,
    layer_cost,
    network_cost,
    weight_storage_cost,
)
from archsim.reproduce.studies import Point
from archsim.reproduce.tables import Table

__all__ = ["FIG8_CURVES", "fig8_series", "fig11_series", "storage_designs", "table1",
           "study_models", "table2", "table2_costs", "table3", "table3_accuracy",
           "claims_table"]

Results = dict[tuple[str, str], list[Point]]
FIG8_CURVES = ("conv1", "conv2", "fc1", "fc2", "all")
FC_LAYER = "fc2"  # Table II's layer: the last FC layer (see table2_fc2_unshared.yaml)


def _memory_kind(pt: Point) -> str:
    mem = pt.axes.get("memories.weights")
    if isinstance(mem, dict):
        return str(mem["kind"])
    return str(pt.summary["config"]).split("_")[1]  # lenet5_<memory>_...


def _length(pt: Point, layer: str) -> int:
    return int(pt.axes[f"layers.{layer}.weights.length"])


def storage_designs(results: Results, tech: str) -> dict[tuple[str, str], Point]:
    """Table I's four designs: (bin7|sn128, sram|dwm) -> the whole-LeNet-5 point."""
    out: dict[tuple[str, str], Point] = {}
    for pt in results.get(("table1_binary", tech), []):
        out[("bin7", _memory_kind(pt))] = pt
    for mem in ("dwm", "sram"):
        for pt in results.get((f"fig11_{mem}_stochastic", tech), []):
            if _length(pt, "fc1") == 128:
                out[("sn128", mem)] = pt
    return out


def table1(results: Results, tech: str) -> Table:
    t = Table(f"Table I: LeNet-5 weight storage ({tech} technology)", ["weights", "memory"],
              ["area_mm2", "power_w"])
    designs = storage_designs(results, tech)
    for key in paper.TABLE1_COLUMNS:
        cost = weight_storage_cost(designs[key].summary) if key in designs else None
        t.add([{"bin7": "7-bit binary", "sn128": "128-bit stochastic"}[key[0]], key[1].upper()],
              {"area_mm2": (paper.TABLE1_AREA_MM2[key], cost.area_um2 / 1e6 if cost else None),
               "power_w": (paper.TABLE1_POWER_W[key], cost.power_mw / 1e3 if cost else None)})
    t.notes.append("Weight storage = weight memory cells, access ports and read/write "
                   "circuitry, plus binary-to-stochastic conversion (weight registers, one SNG "
                   "per weight, RNGs), every layer, unshared FC; power at 200 MHz.")
    return t


def fig11_series(results: Results, tech: str) -> dict[str, list[tuple[int, Cost]]]:
    """Whole-network (stored bits per weight, cost) per memory x format."""
    out: dict[str, list[tuple[int, Cost]]] = {}
    for mem in ("dwm", "sram"):
        pts = sorted(results.get((f"fig11_{mem}_stochastic", tech), []),
                     key=lambda p: _length(p, "fc1"))
        out[f"{mem.upper()} stochastic"] = [(_length(p, "fc1"), network_cost(p.summary))
                                            for p in pts]
    for key, pt in storage_designs(results, tech).items():
        if key[0] == "bin7":
            out[f"{key[1].upper()} 7-bit binary"] = [(7, network_cost(pt.summary))]
    return out


def table2_costs(results: Results, tech: str) -> dict[tuple[int, str], LayerCost]:
    out: dict[tuple[int, str], LayerCost] = {}
    for structure in ("shared", "unshared"):
        for pt in results.get((f"table2_fc2_{structure}", tech), []):
            out[(_length(pt, FC_LAYER), structure)] = layer_cost(pt.summary, FC_LAYER)
    return out


def table2(results: Results, tech: str) -> Table:
    t = Table(f"Table II: last FC layer (500 -> 10) in DWM, shared vs unshared ({tech})",
              ["weight stream bits", "structure"], ["power_mw", "energy_nj", "area_um2"])
    costs = table2_costs(results, tech)
    for length in paper.TABLE2_LENGTHS:
        for structure in ("shared", "unshared"):
            key = (length, structure)
            c = costs.get(key)
            t.add([str(length), structure], {
                "power_mw": (paper.TABLE2_POWER_MW[key], c.power_mw if c else None),
                "energy_nj": (paper.TABLE2_ENERGY_NJ[key],
                              c.energy_per_image_nj if c else None),
                "area_um2": (paper.TABLE2_AREA_UM2[key], c.area_um2 if c else None)})
    t.notes.append("Energy per image; power = energy / the layer's busy time per image "
                   "(ours: 5.12 us unshared, 81.92 us shared with 16 passes; paper: 5.12 us "
                   "and 84 us).")
    return t


def table3_accuracy(results: Results, shared: bool = False) -> dict[int, tuple[float, int]]:
    """fc2 stored length -> (accuracy %, images), unshared or MUX-shared FC layers."""
    study = "table3_fc2_length_shared" if shared else "table3_fc2_length"
    return {_length(p, "fc2"): (accuracy_pct(p.summary), int(p.summary["images"]))
            for p in results.get((study, "generic45"), [])}


def study_models(results: Results, study: str) -> str:
    """The model(s) a study's points ran (``builtin:`` prefix dropped), e.g.
    ``lenet5_mnist_apc``."""
    names = sorted({str(((p.summary.get("metadata") or {}).get("model") or {})
                        .get("weights", "?")).removeprefix("builtin:")
                    for p in results.get((study, "generic45"), [])})
    return ", ".join(names) or "?"


def table3(results: Results) -> Table:
    acc = table3_accuracy(results)
    acc_sh = table3_accuracy(results, shared=True)
    m_un = study_models(results, "table3_fc2_length")
    m_sh = study_models(results, "table3_fc2_length_shared")
    t = Table("Table III: accuracy vs the last FC layer's weight stream length "
              "(1024-bit inputs)", ["weight stream bits"],
              ["accuracy_pct unshared FC", "accuracy_pct shared FC"])
    for length, p in paper.TABLE3_ACCURACY_PCT.items():
        t.add([str(length)], {
            "accuracy_pct unshared FC": (p, acc[length][0] if length in acc else None),
            "accuracy_pct shared FC": (p, acc_sh[length][0] if length in acc_sh else None)})
    images = sorted({n for _, n in [*acc.values(), *acc_sh.values()]})
    t.notes.append(f"Ours: MNIST test images 0..{images[-1] - 1 if images else '?'} "
                   f"({', '.join(map(str, images))} per point), 128-bit stochastic weights "
                   f"elsewhere, DWM, APC inner products; FC layers unshared (model {m_un}) "
                   f"or MUX-shared (G = 25, 16 passes: the DW-CNN design; model {m_sh}). "
                   "Paper: full 10,000-image test set, one value per length.")
    from archsim.outputs.metrics import wilson_interval

    for name, values in (("unshared FC", acc), ("shared FC", acc_sh)):
        cells = []
        for length in sorted(values):
            pct, n = values[length]
            ci = wilson_interval(round(pct / 100 * n), n)
            if ci is not None:
                cells.append(f"{length}: {100 * ci[0]:.1f}-{100 * ci[1]:.1f} %")
        if cells:
            t.notes.append(f"95% Wilson intervals of ours, {name} (bits: interval): "
                           + ", ".join(cells) + ".")
    return t


def fig8_series(results: Results) -> dict[str, list[tuple[int, float, int]]]:
    """Curve -> [(weight bits, error %, images)]; every curve ends at the all-10-bit point."""
    out: dict[str, list[tuple[int, float, int]]] = {}
    for curve in FIG8_CURVES:
        layer = "conv1" if curve == "all" else curve
        pts = results.get((f"fig8_{curve}", "generic45"), [])
        out[curve] = sorted((int(p.axes[f"layers.{layer}.weights.bits"]),
                             100.0 - accuracy_pct(p.summary), int(p.summary["images"]))
                            for p in pts)
    full = [e for e in out.get("all", []) if e[0] == 10]
    for curve in FIG8_CURVES[:-1]:
        if full and out[curve]:
            out[curve] = [*out[curve], full[0]]
    return out


def claims_table(results: Results, tech: str) -> Table:
    """The Section V headline claims on sharing, from the Table II points."""
    costs = table2_costs(results, tech)
    t = Table(f"Headline claims of FC resource sharing ({tech})", ["claim"],
              ["value"])
    savings = [100.0 * (1 - costs[(n, "shared")].area_um2 / costs[(n, "unshared")].area_um2)
               for n in paper.TABLE2_LENGTHS if (n, "shared") in costs and (n, "unshared") in costs]
    ratios = [costs[(n, "unshared")].power_mw / costs[(n, "shared")].power_mw
              for n in paper.TABLE2_LENGTHS if (n, "shared") in costs and (n, "unshared") in costs]
    t.add(["FC area saving by sharing, max over lengths (%)"],
          {"value": (paper.CLAIM_AREA_SAVING_PCT, max(savings) if savings else None)})
    t.add(["FC power reduction by sharing, max over lengths (x)"],
          {"value": (paper.CLAIM_POWER_RATIO, max(ratios) if ratios else None)})
    return t
