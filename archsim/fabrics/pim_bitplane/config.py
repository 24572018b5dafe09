"""The design-file schema of the SOT-MRAM bit-plane in-memory fabric (``fabric: pim_bitplane``).

A design names a workload (the network, its bit widths and masks: docs/workloads.md) and
gives the hardware: the computational sub-arrays (rows x columns, grouped in mats and banks),
the feature-map buffer, the periphery (sense amplifiers, bit-counters, shift-adders, the
digital unit), how each layer is mapped (filters per sub-array, windows per step, replicas),
the dual-row sensing-error rate, and the RRAM crossbar reference it is compared with.
Checks that need the workload (row budgets, bit widths, the fit on the chip) are done at
elaboration (:mod:`archsim.fabrics.pim_bitplane.network`), so ``archsim validate`` sees them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from archsim.config.schema import (
    DesignConfig,
    LogicUnit,
    Memory,
    SotMramTech,
    Strict,
    TechArea,
    TechPower,
    TechTime,
)


class SubArray(Strict):
    """One computational SOT-MRAM sub-array: ``rows`` word lines x ``columns`` bit-lines, a
    sense amplifier per bit-line, one bit-counter over the columns and one shift-adder."""

    rows: int = Field(512, ge=2, le=65536)
    columns: int = Field(256, ge=1, le=65536)


class Organisation(Strict):
    """How many sub-arrays the chip has: banks x mats x sub-arrays per mat."""

    banks: int = Field(8, ge=1)
    mats_per_bank: int = Field(16, ge=1)
    subarrays_per_mat: int = Field(16, ge=1)

    @property
    def subarrays(self) -> int:
        return self.banks * self.mats_per_bank * self.subarrays_per_mat


class PimLayer(Strict):
    """The mapping of one weighted op of the workload (by name) onto sub-arrays."""

    name: str
    filters_per_subarray: int | None = Field(None, ge=1)
    """Filters whose weight bit-planes share a sub-array (None: as many as fit the rows)."""
    windows: int = Field(1, ge=1)
    """Input windows (im2col columns) a sub-array holds and computes per step."""
    replicas: int = Field(1, ge=1)
    """Copies of the layer's weight sub-arrays, each on other windows (position parallelism)."""


class Periphery(Strict):
    """The CMOS around the sub-arrays, per action (docs/pim-bitplane.md)."""

    sense_amp: LogicUnit
    """Per bit-line, per sensing (single-row read or dual-row AND)."""
    bit_counter: LogicUnit
    """Per counted bit (area and leakage per counted column)."""
    shift_adder: LogicUnit
    """Per shift-and-add of one count into a partial sum (one per sub-array)."""
    digital_mac: LogicUnit
    """Digital unit: one multiply-add (scaling by the steps, batch norm)."""
    digital_compare: LogicUnit
    """Digital unit: one compare/select (ReLU, quantization, max pooling)."""
    accumulate: LogicUnit
    """Digital unit: one integer add (partial sums of the column chunks, alpha P - beta S)."""


class RramPart(Strict):
    """One ISAAC component: power while busy and area, per instance."""

    power: TechPower
    area: TechArea


class RramReference(Strict):
    """An ISAAC-style RRAM crossbar accelerator (the reference IMCE is compared with)."""

    crossbar_rows: int = Field(128, ge=1)
    crossbar_columns: int = Field(128, ge=1)
    bits_per_cell: int = Field(2, ge=1, le=8)
    cycle_ns: TechTime
    ima_crossbars: int = Field(8, ge=1)
    tile_imas: int = Field(12, ge=1)
    adc: RramPart
    dac: RramPart
    sample_hold: RramPart
    crossbar: RramPart
    shift_add: RramPart
    ima_buffers: RramPart
    tile_overhead: RramPart


class SenseFaults(Strict):
    """Dual-row sensing errors (fault plug-in ``sense_error``)."""

    and_error: float = Field(0.0, ge=0.0, le=0.5)
    """Probability that one sensed bit of a dual-row AND flips."""


class PimConfig(DesignConfig):
    """A validated ``pim_bitplane`` design (see the module docstring)."""

    fabric: Literal["pim_bitplane"] = "pim_bitplane"
    workload: str
    """The workload file (relative to the design file)."""
    workload_set: list[str] = Field(default_factory=list)
    """``key.path=value`` overrides applied to the workload (e.g. ``model.layers.fc1.bits=2``)."""
    memories: dict[str, Memory]
    """``compute`` (the sub-arrays) and ``buffer`` (the feature-map banks), both sot_mram."""
    subarray: SubArray = Field(default_factory=SubArray)
    organisation: Organisation = Field(default_factory=Organisation)
    layers: list[PimLayer] = Field(default_factory=list)
    """Per-layer mapping (a weighted op without an entry gets the defaults)."""
    digital_lanes: int = Field(16, ge=1)
    """Lanes of each layer's digital unit (outputs handled per cycle)."""
    digital_latency_cycles: int = Field(2, ge=1, le=64)
    """Pipeline depth of the digital unit."""
    digital_word_bits: int = Field(16, ge=1, le=64)
    """Width of one value of the digital unit (a batch-normalised pre-activation) held in a
    later layer's shortcut bank until the residual ``add`` that reads it; codes are held at
    their K bits."""
    double_buffer: bool = False
    """Two sets of activation rows per sub-array: the next step's writes overlap the
    current step's sensing (costs K more rows per window)."""
    periphery: Periphery
    rram: RramReference | None = None
    faults: SenseFaults = Field(default_factory=SenseFaults)
    reference_check: bool = True
    """Compare every image's layer outputs with the workload's fixed-point reference
    (``reference_forward(fixed_point=True)``); off for long runs of large networks, whose
    datapath the test suite holds to the reference on small ones."""

    def memory_tech(self, name: str) -> SotMramTech:
        """Technology numbers of memory ``name``: the ``sot_mram`` section with the memory's
        own overrides applied (elaboration checks that both memories are sot_mram)."""
        memory = self.memories[name]
        section = getattr(self.technology, memory.kind)
        out: SotMramTech = section.model_copy(update=memory.tech_overrides())
        return out
