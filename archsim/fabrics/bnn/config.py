"""The design files of the binarized-network fabric (``fabric: bnn``): their pydantic schema.

A BNN design names a workload (the network: dense / conv2d ops without bias, each followed by
a batchnorm and a sign, max pooling after the sign, a last dense + batchnorm) and gives the
hardware: the weight arrays (rows x columns of ST-MRAM or SRAM bits, which cell, where the
XNOR is done), how the input is binarized (stochastic presentations and how they combine, or
a fixed-point first layer and its datapath), per layer how many arrays are read in parallel,
and the stored-weight bit error rates. ``docs/config.md`` lists every key.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from archsim.config.schema import (
    DesignConfig,
    FieldProblem,
    LogicUnit,
    Memory,
    Strict,
    TechEnergy,
    Technology,
)

__all__ = ["ArrayConfig", "BnnConfig", "BnnLayer", "BnnLogicTech", "BnnTechnology",
           "InputConfig", "SngRng", "WeightFaults"]


class BnnLogicTech(Strict):
    """Costs of the BNN datapath units (``technology.bnn``; each with its source)."""

    sense_amp: LogicUnit
    """Sense amplifier of one column reading a 1T-1MTJ cell against a reference, per bit."""
    sense_amp_xnor: LogicUnit
    """Differential (2T-2MTJ) pre-charge sense amplifier with the XNOR inside, per bit."""
    popcount_per_input: LogicUnit
    """Popcount (adder) tree, per input per use."""
    accumulator_bit: LogicUnit
    """Accumulator register + adder, per bit per addition."""
    threshold_bit: LogicUnit
    """Per-neuron threshold comparator, per bit per comparison."""
    or_input: LogicUnit
    """Max pooling of binary activations (an OR gate input), per input bit."""
    adder_bit: LogicUnit
    """Multi-bit adder datapath of a fixed-point first layer: one input bit of the conditional
    negation + adder tree, per bit per use."""
    shift_add_bit: LogicUnit
    """Shift-add accumulator of a bit-serial first layer, per bit per pass."""
    sobol: LogicUnit
    """One 8-bit Sobol (bit-reversed counter) random source, per step."""
    ideal_rng: LogicUnit
    """An ideal (true) random source of 8-bit numbers, per number."""


class BnnTechnology(Technology):
    """The shared technology (logic units, memory kinds) plus the BNN datapath's units."""

    bnn: BnnLogicTech


class SngRng(Strict):
    """The random source of the comparator SNGs (one SNG per pixel lane)."""

    kind: Literal["lfsr", "sobol", "ideal"] = "lfsr"
    """``lfsr``: an 8-bit maximal-length LFSR per lane (random phase per lane), the number is
    its state - 1 (0..254); ``sobol``: the 8-bit van der Corput (Sobol dimension 0) sequence
    per lane at a random offset; ``ideal``: uniform 0..254 numbers from a seeded generator."""
    seed: int | None = Field(None, ge=0)
    """Seed of the lanes' phases / the ideal source; default derived from the run seed."""


class InputConfig(Strict):
    """How the 8-bit pixels reach the first layer."""

    encoding: Literal["stochastic", "fixed"] = "stochastic"
    """``stochastic``: each presentation is one binary image, bit = [r < p] (SC-BNN);
    ``fixed``: the 8-bit pixels themselves (conventional BNN)."""
    presentations: int = Field(1, ge=1, le=1024)
    """N: binary images per input (stochastic)."""
    combine: Literal["first_layer", "output_add", "output_vote"] = "first_layer"
    """How presentations combine: accumulate the first layer's sums over the N presentations
    before its threshold, or run the whole network N times and add (vote) the output scores."""
    rng: SngRng = Field(default_factory=SngRng)
    datapath: Literal["adder", "bit_serial"] | None = None
    """Fixed-point first layer: a multi-bit adder datapath, or ``bits`` bit-serial passes of
    the XNOR-popcount lanes with shift-add (default ``adder``)."""
    bits: int = Field(8, ge=8, le=8)
    """Pixel precision (8)."""
    sng_lanes: int | None = Field(None, ge=1)
    """Comparator SNGs (each with its RNG) of the stochastic input; default one per pixel."""

    @model_validator(mode="after")
    def _check(self) -> InputConfig:
        if self.encoding == "fixed":
            if self.presentations != 1:
                raise FieldProblem(self.presentations, "1 (a fixed-point input is presented "
                                   "once)", ("presentations",))
            if self.datapath is None:
                self.datapath = "adder"
        elif self.datapath is not None:
            raise FieldProblem(self.datapath, "no datapath: it is the fixed-point first "
                               "layer's (encoding: fixed)", ("datapath",))
        return self


class ArrayConfig(Strict):
    """The weight arrays beside the logic."""

    rows: int = Field(1024, ge=1, le=1 << 20)
    """Rows per array (one neuron's segment of ``columns`` weights per row)."""
    columns: int = Field(64, ge=1, le=4096)
    """Bits per row: the width of one XNOR-popcount lane."""
    cell: Literal["2t2mtj", "1t1mtj"] = "2t2mtj"
    """ST-MRAM bit: two complementary cells read differentially, or one cell against a
    reference (SRAM arrays: ignored)."""
    xnor: Literal["sense_amp", "logic"] = "sense_amp"
    """Where the XNOR is done: in the 2T-2MTJ sense amplifier, or by an XNOR gate after the
    read."""
    row_read_energy: TechEnergy | None = None
    """Energy of one row read besides its bits' (word-line driver, decoder), ``{value,
    source}``; default none (the memory's per-bit read energy only)."""


class WeightFaults(Strict):
    """Bit errors of the stored weights (ST-MRAM arrays only)."""

    read_ber: float = Field(0.0, ge=0.0, le=0.5)
    """Probability that a weight bit is sensed inverted, per read."""
    write_ber: float = Field(0.0, ge=0.0, le=0.5)
    """Probability that a weight bit is programmed inverted at power-up (it stays so)."""


class BnnLayer(Strict):
    """The hardware of one weighted op of the workload."""

    name: str
    """The name of a conv2d / dense op of the workload."""
    memory: str
    """The memory (``memories``) holding its weights."""
    arrays: int = Field(1, ge=1, le=4096)
    """Arrays read in parallel (XNOR-popcount lanes)."""


class BnnConfig(DesignConfig):
    """A validated BNN design (``fabric: bnn``)."""

    fabric: Literal["bnn"] = "bnn"
    technology: BnnTechnology
    workload_file: str
    """The workload file (``workload:``, resolved at load)."""
    input: InputConfig = Field(default_factory=InputConfig)
    array: ArrayConfig = Field(default_factory=ArrayConfig)
    memories: dict[str, Memory] = Field(min_length=1)
    weight_faults: WeightFaults = Field(default_factory=WeightFaults)
    layers: list[BnnLayer] = Field(min_length=1)
