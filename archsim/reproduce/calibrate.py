"""Fitting a technology to DW-CNN Table II (the last FC layer, shared vs unshared, in DWM).

Table II fixes five combinations of technology numbers and nothing more:

* the power per stored weight bit (its power rises by 44.3 mW from 32 to 1024 bits in both
  structures: 8.9 nW per stored bit),
* the area per stored weight bit (14.5 um^2 per bit of stream length over 5010 weights),
* the energy of one active weight input per cycle (a weight bit read, its XNOR and its APC
  input: 0.43 pJ in the unshared and in the shared layer alike),
* the cost of the sharing circuitry (the shared rows' intercept beyond their active inputs),
* the logic area (the intercepts of the area rows).

How the per-input energy divides between reading the bit and computing with it is not
determined by Table II (both scale with the active inputs). The fit fixes the read at an
independent figure, the sensing energy of an MTJ (48.4 fJ, NVSim sample cell; the number
generic45 uses for STT-MRAM), takes the per-step shift energy into the per-stored-bit term
(shifting an L-domain nanowire drives current through all L domains), and fits the rest as a
common scale on the XNOR and APC/PC energies, the blocks the paper credits for the sharing
gains ("due to the smaller size of APC ... as well as the sharing of DWM reading/writing
circuitry"). The shared layer's own circuitry, its MUXes and the buffer that holds its input
streams for the 16 passes (DWM writes), gets a second common energy scale: Table II cannot
tell these two apart, and the paper's Fig. 10 has no such buffer. Areas: one scale on every
DWM area (cells and ports) and one on the XNOR/APC/MUX areas. All parameters are
non-negative (NNLS on relative errors).

The fit reads the per-image action counts of the generic45 runs of the Table II points:
counts do not depend on the energies, so the same runs serve any candidate technology.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from archsim.reproduce import paper

__all__ = ["MTJ_READ_PJ", "Fit", "fit_table2", "fitted_numbers"]

#: MTJ sensing energy per read bit (NVSim sample_STTRAM.cell: 30 uW x 1.61338 ns).
MTJ_READ_PJ = 0.0484
LOGIC_SCALED = ("xnor", "apc", "mux")  # blocks whose area the logic area scale multiplies
INNER_PRODUCT = ("xnor", "apc")  # blocks whose energy the inner-product scale multiplies
DWM_BLOCKS = ("weight_mem", "ports", "input_buf")
PNW_TO_PJ_PER_NS = 1e-6  # 1 nW for 1 ns = 1e-6 pJ


@dataclass(frozen=True)
class Fit:
    """Fitted numbers and the fit's relative errors on Table II."""

    logic_energy_scale: float
    sharing_energy_scale: float
    dwm_leakage_nw_per_bit: float
    dwm_area_scale: float
    logic_area_scale: float
    power_rel_err: dict[tuple[int, str], float]
    area_rel_err: dict[tuple[int, str], float]

    @property
    def power_rms_pct(self) -> float:
        return 100.0 * float(np.sqrt(np.mean(np.square(list(self.power_rel_err.values())))))

    @property
    def area_rms_pct(self) -> float:
        return 100.0 * float(np.sqrt(np.mean(np.square(list(self.area_rel_err.values())))))


def _layer_blocks(summary: dict[str, Any], layer: str) -> dict[str, dict[str, Any]]:
    return {b["block"]: b for b in summary["blocks"] if b["layer"] == layer}


def _columns(summary: dict[str, Any], layer: str) -> tuple[list[float], list[float], float]:
    """Per image: energy terms (fixed, inner product, leakage per nW/bit, sharing circuitry
    at generic45), area terms (DWM, logic, other), busy ns."""
    images = int(summary["images"])
    run_ns = float(summary["cycles"]) * float(summary["cycle_ns"]) / images
    lay = next(la for la in summary["layers"] if la["name"] == layer)
    busy_ns = float(lay["busy_cycles"]) * float(summary["cycle_ns"]) / images
    blocks = _layer_blocks(summary, layer)
    fixed = logic = stored_bits = sharing = 0.0
    area_dwm = area_logic = area_other = 0.0
    for name, b in blocks.items():
        acts = {k: float(v) / images for k, v in b["actions"].items()}
        if name in ("weight_mem", "input_buf"):
            fixed += acts.get("read", 0.0) * MTJ_READ_PJ
            sharing += float(b["action_energy_pj"].get("write", 0.0)) / images
            stored_bits += float(b["instances"])
        elif name in INNER_PRODUCT:
            logic += float(b["dynamic_energy_pj"]) / images
            fixed += float(b["leakage_energy_pj"]) / images
        elif name == "mux":
            sharing += float(b["dynamic_energy_pj"]) / images
            fixed += float(b["leakage_energy_pj"]) / images
        elif name != "ports":
            fixed += float(b["energy_pj"]) / images
        if name in DWM_BLOCKS:
            area_dwm += float(b["area_um2"])
        elif name in LOGIC_SCALED:
            area_logic += float(b["area_um2"])
        else:
            area_other += float(b["area_um2"])
    energy = [fixed, logic, stored_bits * run_ns * PNW_TO_PJ_PER_NS, sharing]
    return energy, [area_dwm, area_logic, area_other], busy_ns


def nnls(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, float]:
    """Non-negative least squares min ||a x - b||, x >= 0, for a few unknowns: the exact
    minimiser found by trying every set of free (positive) unknowns with ``lstsq``.

    Returns ``(x, residual norm)`` like ``scipy.optimize.nnls`` (no SciPy dependency)."""
    n = a.shape[1]
    best_x, best_r = np.zeros(n), float(np.linalg.norm(b))
    for mask in range(1, 1 << n):
        free = [j for j in range(n) if mask >> j & 1]
        sol, *_ = np.linalg.lstsq(a[:, free], b, rcond=None)
        if np.any(sol < 0):
            continue
        x = np.zeros(n)
        x[free] = sol
        r = float(np.linalg.norm(a @ x - b))
        if r < best_r - 1e-15:
            best_x, best_r = x, r
    return best_x, best_r


def fit_table2(points: dict[tuple[int, str], dict[str, Any]], layer: str = "fc2") -> Fit:
    """Fit to Table II from generic45 runs: ``points[(length, structure)] = summary``."""

    keys = [k for k in paper.TABLE2_POWER_MW if k in points]
    if len(keys) < 4:
        raise ValueError(f"need at least 4 Table II points to fit, got {len(keys)}")
    rows_e, rhs_e, rows_a, rhs_a = [], [], [], []
    cols: dict[tuple[int, str], tuple[list[float], list[float], float]] = {}
    for k in keys:
        e, a, busy_ns = _columns(points[k], layer)
        cols[k] = (e, a, busy_ns)
        target_pj = paper.TABLE2_POWER_MW[k] * busy_ns  # mW x ns = pJ
        rows_e.append([e[1] / target_pj, e[2] / target_pj, e[3] / target_pj])
        rhs_e.append(1.0 - e[0] / target_pj)
        target_a = paper.TABLE2_AREA_UM2[k]
        rows_a.append([a[0] / target_a, a[1] / target_a])
        rhs_a.append(1.0 - a[2] / target_a)
    xe, _ = nnls(np.array(rows_e), np.array(rhs_e))
    xa, _ = nnls(np.array(rows_a), np.array(rhs_a))
    p_err, a_err = {}, {}
    for k in keys:
        e, a, busy_ns = cols[k]
        p = (e[0] + xe[0] * e[1] + xe[1] * e[2] + xe[2] * e[3]) / busy_ns
        p_err[k] = p / paper.TABLE2_POWER_MW[k] - 1.0
        ar = xa[0] * a[0] + xa[1] * a[1] + a[2]
        a_err[k] = ar / paper.TABLE2_AREA_UM2[k] - 1.0
    return Fit(logic_energy_scale=float(xe[0]), dwm_leakage_nw_per_bit=float(xe[1]),
               sharing_energy_scale=float(xe[2]), dwm_area_scale=float(xa[0]),
               logic_area_scale=float(xa[1]), power_rel_err=p_err, area_rel_err=a_err)


def fitted_numbers(fit: Fit, generic: dict[str, float]) -> dict[str, float]:
    """The technology numbers the fit implies, keyed like the calibrated file's leaves.

    ``generic`` holds the generic45 values the scales multiply (internal units: pJ, um^2).
    """
    out = {
        "dwm.read_energy_per_bit": MTJ_READ_PJ,
        "dwm.shift_energy_per_track_step": 0.0,
        "dwm.write_energy_per_bit": fit.sharing_energy_scale * generic["dwm.write_energy_per_bit"],
        "dwm.leakage_per_bit": fit.dwm_leakage_nw_per_bit * 1e-6,  # nW -> mW
        "dwm.cell_area": fit.dwm_area_scale * generic["dwm.cell_area"],
        "dwm.port_area": fit.dwm_area_scale * generic["dwm.port_area"],
    }
    for unit in ("xnor", "apc_per_input", "pc_per_input", "mux_input"):
        scale = fit.sharing_energy_scale if unit == "mux_input" else fit.logic_energy_scale
        out[f"logic.{unit}.energy"] = scale * generic[f"logic.{unit}.energy"]
        out[f"logic.{unit}.area"] = fit.logic_area_scale * generic[f"logic.{unit}.area"]
    return out
