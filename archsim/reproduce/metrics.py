"""Quantities the paper reports, read from a run's ``summary.json``.

* *Weight storage* (Table I): the weight memory with its access ports and read/write
  circuitry, plus the binary-to-stochastic conversion of binary weights (weight registers,
  per-weight SNGs and their RNGs), summed over every layer.
* *One layer* (Table II): every block of that layer; its power is the layer's energy over the
  time the layer is busy (the paper's energy = power x 5.12 us unshared, x 84 us shared).
* *The whole network* (Fig. 11): the run's area and power.

Power is energy (dynamic + leakage) over time; pJ / ns = mW.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["STORAGE_BLOCKS", "LayerCost", "Cost", "layer_cost", "network_cost",
           "weight_storage_cost", "accuracy_pct"]

#: Blocks that store weights or turn stored weights into streams.
STORAGE_BLOCKS = frozenset({"weight_mem", "ports", "weight_reg", "weight_sng", "weight_rng"})


@dataclass(frozen=True)
class Cost:
    area_um2: float
    power_mw: float


@dataclass(frozen=True)
class LayerCost:
    area_um2: float
    power_mw: float
    energy_per_image_nj: float
    time_per_image_us: float


def _run_time_ns(summary: dict[str, Any]) -> float:
    return float(summary["cycles"]) * float(summary["cycle_ns"])


def weight_storage_cost(summary: dict[str, Any]) -> Cost:
    """Area and power of the weight storage of every layer (Table I's scope)."""
    blocks = [b for b in summary["blocks"] if b["block"] in STORAGE_BLOCKS]
    if not blocks:
        raise ValueError(f"run {summary.get('design')!r} has no weight storage blocks")
    area = sum(float(b["area_um2"]) for b in blocks)
    energy = sum(float(b["energy_pj"]) for b in blocks)
    return Cost(area, energy / _run_time_ns(summary))


def network_cost(summary: dict[str, Any]) -> Cost:
    """Area and power of the whole network (Fig. 11's scope)."""
    return Cost(float(summary["area_um2"]), float(summary["power_mw"]))


def layer_cost(summary: dict[str, Any], layer: str) -> LayerCost:
    """Area, power, energy and busy time per image of one layer (Table II's scope)."""
    for lay in summary["layers"]:
        if lay["name"] == layer:
            break
    else:
        raise ValueError(f"run {summary.get('design')!r} has no layer {layer!r}")
    images = int(summary["images"])
    busy_ns = float(lay["busy_cycles"]) * float(summary["cycle_ns"])
    energy_pj = float(lay["energy_pj"])
    return LayerCost(area_um2=float(lay["area_um2"]), power_mw=energy_pj / busy_ns,
                     energy_per_image_nj=energy_pj / images / 1e3,
                     time_per_image_us=busy_ns / images / 1e3)


def accuracy_pct(summary: dict[str, Any]) -> float:
    """Classification accuracy of the run in percent."""
    acc = summary.get("accuracy")
    if acc is None:
        raise ValueError(f"run {summary.get('design')!r} has no accuracy (unlabelled images)")
    return 100.0 * float(acc)
