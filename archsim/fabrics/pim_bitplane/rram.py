"""The RRAM crossbar reference: an ISAAC-style analog in-memory accelerator on the same layers.

ISAAC (Shafiee et al., ISCA 2016): weights are conductances of 128 x 128 crossbars with
``bits_per_cell`` bits per cell, inputs enter one bit per 100 ns cycle through 1-bit DACs,
every column is sampled and held and converted by a shared 8-bit ADC, shift-and-add units
merge the bit-serial partial sums; 8 crossbars form an IMA (with its input and output
registers), 12 IMAs a tile (eDRAM buffer, bus, router share, activation and pooling units).

Here each layer of the bit-plane mapping (its kept filters and fan-in, M-bit weights, K-bit
inputs, P windows) is placed on ``ceil(N_g / rows) x ceil(F_g ceil(M / bits_per_cell) /
columns)`` crossbars per group, and every window costs K crossbar cycles on every crossbar of
the layer. Energy is the component powers of ISAAC's table times the cycles they are busy
(the tile overhead is shared by the tile's crossbars); area is the IMAs and tiles the layers
occupy. This is a reference *model* (counts x published per-component costs), not a
simulation of ISAAC's pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from archsim.fabrics.pim_bitplane.mapping import LayerMapping

__all__ = ["RramLayer", "rram_reference"]


@dataclass(frozen=True)
class RramLayer:
    """One layer on the crossbars: crossbars used, crossbar cycles per image, energy (pJ) by
    component, latency (ns)."""

    name: str
    crossbars: int
    activations: int
    energy_pj: dict[str, float]
    latency_ns: float


def rram_reference(layers: list[LayerMapping], ref: Any) -> dict[str, Any]:
    """Energy per image, latency, area and breakdowns of ``layers`` on the crossbars ``ref``
    (an :class:`~archsim.fabrics.pim_bitplane.config.RramReference`)."""
    cycle_ns = ref.cycle_ns.value
    per_xbar = ref.ima_crossbars
    mw_ns_to_pj = 1.0  # 1 mW x 1 ns = 1 pJ
    # power (mW) of the parts busy with one crossbar during one of its cycles
    power = {
        "crossbar": ref.crossbar.power.value,
        "adc": ref.adc.power.value,
        "dac": ref.crossbar_rows * ref.dac.power.value,
        "sample_hold": ref.crossbar_columns * ref.sample_hold.power.value,
        "shift_add": 4 * ref.shift_add.power.value / per_xbar,
        "buffers": ref.ima_buffers.power.value / per_xbar,
        "tile_overhead": ref.tile_overhead.power.value / (per_xbar * ref.tile_imas),
    }
    out_layers = []
    total_xbars = 0
    for mp in layers:
        cells = -(-mp.m_bits // ref.bits_per_cell)
        xbars = sum(-(-n // ref.crossbar_rows) * -(-(f * cells) // ref.crossbar_columns)
                    for f, n in zip(mp.f_g, mp.n_g, strict=True) if f and n)
        acts = mp.positions * mp.k_bits * xbars
        energy = {k: acts * p * cycle_ns * mw_ns_to_pj for k, p in power.items()}
        out_layers.append(RramLayer(mp.name, xbars, acts, energy,
                                    mp.positions * mp.k_bits * cycle_ns))
        total_xbars += xbars
    imas = sum(-(-lay.crossbars // per_xbar) for lay in out_layers)
    tiles = -(-imas // ref.tile_imas)
    ima_area = (per_xbar * (ref.crossbar.area.value + ref.adc.area.value)
                + per_xbar * ref.crossbar_rows * ref.dac.area.value
                + per_xbar * ref.crossbar_columns * ref.sample_hold.area.value
                + 4 * ref.shift_add.area.value + ref.ima_buffers.area.value)
    area = {"imas_um2": imas * ima_area, "tile_overhead_um2": tiles * ref.tile_overhead.area.value}
    by_component: dict[str, float] = {}
    for lay in out_layers:
        for k, v in lay.energy_pj.items():
            by_component[k] = by_component.get(k, 0.0) + v
    return {
        "energy_pj": sum(by_component.values()),
        "energy_by_component_pj": by_component,
        "energy_by_layer_pj": {lay.name: sum(lay.energy_pj.values()) for lay in out_layers},
        "latency_ns": sum(lay.latency_ns for lay in out_layers),
        "crossbars": total_xbars, "imas": imas, "tiles": tiles,
        "area_um2": sum(area.values()), "area_by_part_um2": area,
        "layers": {lay.name: {"crossbars": lay.crossbars, "crossbar_cycles": lay.activations,
                              "latency_ns": lay.latency_ns} for lay in out_layers},
    }
