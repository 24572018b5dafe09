"""The trends DW-CNN states, each checked on our numbers (holds or not, with the evidence).

Every check is computed from the simulated points; nothing is copied from the paper except
the statement being tested.
"""

from __future__ import annotations

from dataclasses import dataclass

from archsim.reproduce import paper
from archsim.reproduce.collect import (
    fig8_series,
    fig11_series,
    storage_designs,
    table2_costs,
    table3_accuracy,
)
from archsim.reproduce.metrics import weight_storage_cost
from archsim.reproduce.studies import Point

__all__ = ["Trend", "check_trends", "trends_markdown"]

Results = dict[tuple[str, str], list[Point]]


@dataclass(frozen=True)
class Trend:
    where: str
    tech: str
    claim: str
    evidence: str
    holds: bool


def _label(key: tuple[str, str]) -> str:
    return f"{key[1].upper()} {'7-bit binary' if key[0] == 'bin7' else '128-bit stochastic'}"


def _table1_trends(results: Results, tech: str) -> list[Trend]:
    d = storage_designs(results, tech)
    if len(d) < 4:
        return []
    cost = {k: weight_storage_cost(p.summary) for k, p in d.items()}
    out = []
    smallest = min(cost, key=lambda k: cost[k].area_um2)
    out.append(Trend("Table I", tech, "128-bit stochastic DWM is the smallest weight storage",
                     f"smallest: {_label(smallest)} ({cost[smallest].area_um2 / 1e6:.3g} mm2)",
                     smallest == ("sn128", "dwm")))
    least = min(cost, key=lambda k: cost[k].power_mw)
    out.append(Trend("Table I", tech, "128-bit stochastic DWM uses the least power",
                     f"least power: {_label(least)} ({cost[least].power_mw / 1e3:.3g} W)",
                     least == ("sn128", "dwm")))
    for fmt in ("bin7", "sn128"):
        a, b = cost[(fmt, "dwm")], cost[(fmt, "sram")]
        out.append(Trend("Table I", tech, f"DWM beats SRAM in area and power ({fmt})",
                         f"area {a.area_um2 / 1e6:.3g} vs {b.area_um2 / 1e6:.3g} mm2, "
                         f"power {a.power_mw / 1e3:.3g} vs {b.power_mw / 1e3:.3g} W",
                         a.area_um2 < b.area_um2 and a.power_mw < b.power_mw))
    a, b = cost[("sn128", "dwm")], cost[("bin7", "dwm")]
    out.append(Trend("Table I", tech, "in DWM, stochastic storage beats binary (area and power)",
                     f"area {a.area_um2 / 1e6:.3g} vs {b.area_um2 / 1e6:.3g} mm2, "
                     f"power {a.power_mw / 1e3:.3g} vs {b.power_mw / 1e3:.3g} W",
                     a.area_um2 < b.area_um2 and a.power_mw < b.power_mw))
    a, b = cost[("sn128", "sram")], cost[("bin7", "sram")]
    out.append(Trend("Table I", tech, "in SRAM the trend differs: stochastic storage uses more "
                     "power than binary (7.04 vs 1.06 W)",
                     f"power {a.power_mw / 1e3:.3g} vs {b.power_mw / 1e3:.3g} W",
                     a.power_mw > b.power_mw))
    return out


def _fig11_trends(results: Results, tech: str) -> list[Trend]:
    s = fig11_series(results, tech)
    need = ("DWM stochastic", "SRAM stochastic", "DWM 7-bit binary", "SRAM 7-bit binary")
    if any(not s.get(k) for k in need):
        return []
    out = []
    bd, bs = s["DWM 7-bit binary"][0][1], s["SRAM 7-bit binary"][0][1]
    da = abs(bd.area_um2 / bs.area_um2 - 1)
    dp = abs(bd.power_mw / bs.power_mw - 1)
    out.append(Trend("Fig. 11", tech, "7-bit binary: SRAM and DWM almost the same area and "
                     "power (within 10 %)", f"differ by {100 * da:.1f} % (area), "
                     f"{100 * dp:.1f} % (power)", da < 0.10 and dp < 0.10))
    dwm = dict(s["DWM stochastic"])
    sram = dict(s["SRAM stochastic"])
    lo, hi = min(dwm), max(dwm)
    ga = dwm[hi].area_um2 / dwm[lo].area_um2
    out.append(Trend("Fig. 11", tech, f"DWM stochastic: area almost flat over stored length "
                     f"({lo} -> {hi} bits: < 1.25x)", f"x{ga:.3f}", ga < 1.25))
    gp_d = dwm[hi].power_mw / dwm[lo].power_mw
    gp_s = sram[hi].power_mw / sram[lo].power_mw
    out.append(Trend("Fig. 11", tech, "SRAM power rises steeply with stored length (holds "
                     "if >= 1.5x), DWM stochastic only insignificantly (< 1.25x)",
                     f"{lo} -> {hi} bits: SRAM x{gp_s:.3f}, DWM x{gp_d:.3f}",
                     gp_s >= 1.5 and gp_d < 1.25))
    c = dwm.get(128)
    if c is not None:
        ok = c.area_um2 < min(bd.area_um2, bs.area_um2) and c.power_mw < min(bd.power_mw,
                                                                             bs.power_mw)
        out.append(Trend("Fig. 11", tech, "128-bit stochastic DWM: less area and power than "
                         "the binary designs (whole LeNet-5)",
                         f"area {c.area_um2 / 1e6:.3g} vs {min(bd.area_um2, bs.area_um2) / 1e6:.3g}"
                         f" mm2, power {c.power_mw / 1e3:.3g} vs "
                         f"{min(bd.power_mw, bs.power_mw) / 1e3:.3g} W", ok))
    return out


def _table2_trends(results: Results, tech: str) -> list[Trend]:
    c = table2_costs(results, tech)
    lengths = [n for n in paper.TABLE2_LENGTHS if (n, "shared") in c and (n, "unshared") in c]
    if len(lengths) < 2:
        return []
    out = []
    ok = all(c[(n, "shared")].area_um2 < c[(n, "unshared")].area_um2
             and c[(n, "shared")].power_mw < c[(n, "unshared")].power_mw for n in lengths)
    out.append(Trend("Table II", tech, "sharing reduces FC area and power at every length",
                     ", ".join(f"{n}: {c[(n, 'shared')].power_mw:.4g}/"
                               f"{c[(n, 'unshared')].power_mw:.4g} mW" for n in lengths), ok))
    for st in ("shared", "unshared"):
        p = [c[(n, st)].power_mw for n in lengths]
        ref = [paper.TABLE2_POWER_MW[(n, st)] for n in lengths]
        rise, ref_rise = p[-1] / p[0] - 1, ref[-1] / ref[0] - 1
        out.append(Trend("Table II", tech, f"{st} FC power grows with stored length "
                         f"({lengths[0]} -> {lengths[-1]} bits: +{100 * ref_rise:.0f} %; "
                         "holds if ours rises monotonically by at least half that)",
                         ", ".join(f"{v:.4g}" for v in p) + f" mW (+{100 * rise:.1f} %)",
                         all(b >= a for a, b in zip(p, p[1:], strict=False))
                         and rise >= ref_rise / 2))
    sav = max(100 * (1 - c[(n, "shared")].area_um2 / c[(n, "unshared")].area_um2)
              for n in lengths)
    out.append(Trend("Table II", tech, f"sharing cuts FC area by up to "
                     f"{paper.CLAIM_AREA_SAVING_PCT} % (within a factor 2: 26-100 %)",
                     f"up to {sav:.1f} %", paper.CLAIM_AREA_SAVING_PCT / 2 <= sav))
    red = max(c[(n, "unshared")].power_mw / c[(n, "shared")].power_mw for n in lengths)
    out.append(Trend("Table II", tech, f"sharing cuts FC power by {paper.CLAIM_POWER_RATIO}x "
                     "(within a factor 2)", f"up to {red:.2f}x",
                     paper.CLAIM_POWER_RATIO / 2 <= red <= paper.CLAIM_POWER_RATIO * 2))
    e = {k: v.energy_per_image_nj for k, v in c.items()}
    lo, hi = lengths[0], lengths[-1]
    ok = e[(lo, "shared")] < e[(lo, "unshared")] and e[(hi, "shared")] > e[(hi, "unshared")]
    out.append(Trend("Table II", tech, "energy per image: shared below unshared at 32 bits, "
                     "above at 1024 bits (the shared layer runs 16x longer)",
                     f"{lo}: {e[(lo, 'shared')]:.4g} vs {e[(lo, 'unshared')]:.4g} nJ; {hi}: "
                     f"{e[(hi, 'shared')]:.4g} vs {e[(hi, 'unshared')]:.4g} nJ", ok))
    return out


def _accuracy_trends(results: Results) -> list[Trend]:
    out = []
    for shared in (False, True):
        acc = table3_accuracy(results, shared=shared)
        if len(acc) < 2:
            continue
        vals = [a for a, _ in acc.values()]
        n = min(i for _, i in acc.values())
        mean = sum(vals) / len(vals)
        se = 100 * (max(mean / 100 * (1 - mean / 100), 1e-4) / n) ** 0.5
        spread = max(vals) - min(vals)
        out.append(Trend("Table III", "generic45", "accuracy nearly independent of the last FC "
                         "layer's weight length 32..1024 (paper: 98.94-99.04 %, 0.1 pp spread;"
                         " holds if our spread is within 2 standard errors) "
                         f"[{'shared' if shared else 'unshared'} FC]",
                         f"{min(vals):.2f}-{max(vals):.2f} % on {n} images (spread "
                         f"{spread:.2f} pp; 2 standard errors = {2 * se:.2f} pp)",
                         spread <= max(2 * se, 0.5)))
    f8 = fig8_series(results)
    if f8.get("all"):
        bits = paper.FIG8_CLAIM_BITS
        worst = []
        for curve, pts in f8.items():
            d = {b: e for b, e, _ in pts}
            if bits in d and 10 in d:
                worst.append((d[bits] - d[10], curve))
        if worst:
            gap, curve = max(worst)
            out.append(Trend("Fig. 8", "generic45", "7-bit weights suffice: error at 7 bits "
                             "within 1 pp of 10-bit weights, per layer and all layers",
                             f"largest excess at 7 bits: {gap:.2f} pp ({curve})", gap <= 1.0))
    return out


def check_trends(results: Results, techs: tuple[str, ...]) -> list[Trend]:
    out: list[Trend] = []
    for tech in techs:
        out += _table1_trends(results, tech) + _fig11_trends(results, tech)
        out += _table2_trends(results, tech)
    return out + _accuracy_trends(results)


def trends_markdown(trends: list[Trend]) -> str:
    lines = ["### Trends the paper states, checked on our runs", "",
             "| where | technology | paper's trend | ours | holds |", "|---|---|---|---|---|"]
    lines += [f"| {t.where} | {t.tech} | {t.claim} | {t.evidence} | "
              f"{'yes' if t.holds else '**no**'} |" for t in trends]
    return "\n".join(lines) + "\n"
