"""Plain specifications the hardware blocks are built from (validated config, flattened).

``archsim.fabrics.sc_stream.elaborate`` turns the validated YAML config into these; blocks never
see YAML.
Quantities are in archsim's internal units: ns, MHz, pJ, mW, um^2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(frozen=True)
class LogicCost:
    """Per-unit cost of a logic cell: energy per action, area, leakage."""

    energy_pj: float
    area_um2: float
    leakage_mw: float

    def scaled(self, factor: float) -> LogicCost:
        return LogicCost(self.energy_pj * factor, self.area_um2 * factor, self.leakage_mw * factor)


@dataclass(frozen=True)
class RngSpec:
    """A random source shared by SNGs: kind (lfsr|sobol|counter), width, seed, taps."""

    kind: str = "lfsr"
    width: int = 10
    seed: int = 1
    taps: tuple[int, ...] | None = None
    share: int | None = None  # SNGs per RNG; None = all
    rotate: bool = True  # each SNG reads the shared sequence at its own phase


@dataclass(frozen=True)
class MemorySpec:
    """A weight memory: technology kind, organisation, and resolved per-bit costs."""

    name: str
    kind: str  # a registered memory kind (archsim.config.schema.MEMORY_KINDS)
    read_energy_pj: float  # per bit
    write_energy_pj: float  # per bit
    leakage_mw_per_bit: float
    cell_area_um2: float  # per bit (incl. periphery share)
    read_latency_ns: float
    write_latency_ns: float
    shift_energy_pj: float = 0.0  # per track per one-domain step (DWM)
    shift_latency_ns: float = 0.0  # one-domain step (DWM)
    port_area_um2: float = 0.0  # per access port per track (DWM)
    domains: int = 64
    ports: int = 1
    rw_ports: tuple[int, ...] | None = (0,)
    port_select: str = "static"
    port_update: str = "lazy"
    layout: str = "interleaved"
    word_tracks: int = 32
    shift_overlaps_read: bool = False
    reread: str = "rewind"  # rewind | pingpong
    preshift: bool = True  # idle chain tracks realign in the background (latency hidden)
    power_cycles: int = 1
    misalignment: float = 0.0  # per shift-step over/under-shift probability
    misalignment_edge: str = "saturate"
    read_error: float = 0.0  # per-read probability that a weight bit comes out inverted (MRAM)
    volatile: bool = False  # contents lost at power-off: reloaded at every power-up (SRAM)

    @property
    def is_dwm(self) -> bool:
        return self.kind == "dwm"



@dataclass(frozen=True)
class LayerSpec:
    """One SC layer (conv + optional 2x2 segment max pool + Btanh, or fc + Btanh/none)."""

    name: str
    kind: str  # conv | fc
    memory: MemorySpec
    weight_format: str  # stochastic | binary
    weight_length: int = 128  # stochastic stream bits
    weight_bits: int = 7  # binary precision
    weight_rounding: str = "nearest"  # binary: "nearest" or "floor" (DW-CNN eq. 1 as printed)
    weight_rng: RngSpec = field(default_factory=RngSpec)
    in_channels: int = 1
    in_size: int = 28
    filters: int = 1
    kernel: int = 5
    pool: int = 1
    inputs: int = 0
    outputs: int = 0
    sharing: str = "filter"
    mux_groups: int | None = None
    mux_passes: int = 1  # shared FC: passes over the buffered input streams per image
    counter: str = "apc"
    pool_segment: int = 16
    pool_first: int = 0
    btanh_s: float = 1.0
    btanh_r: int | None = None
    btanh_s0: str = "half"
    activation: str = "btanh"
    pipeline_depth: int | None = None
    output_flip: float = 0.0  # probability that an output stream bit arrives inverted
    in_width: int = 0  # conv input width (0: square, in_size)
    stride: int = 1  # conv stride
    padding: int = 0  # conv zero padding on every side
    pool_stride: int = 0  # pooling stride (0: the pooling kernel, non-overlapping windows)

    # ----------------------------------------------------------- derived shape
    @property
    def in_h(self) -> int:
        return self.in_size

    @property
    def in_w(self) -> int:
        return self.in_width or self.in_size

    @property
    def conv_h(self) -> int:
        return (self.in_h + 2 * self.padding - self.kernel) // self.stride + 1

    @property
    def conv_w(self) -> int:
        return (self.in_w + 2 * self.padding - self.kernel) // self.stride + 1

    @property
    def pool_step(self) -> int:
        return self.pool_stride or self.pool

    @property
    def pooled(self) -> bool:
        """Segment max pooling over pool x pool windows (conv layers)."""
        return self.kind == "conv" and self.pool > 1

    @property
    def out_h(self) -> int:
        return (self.conv_h - self.pool) // self.pool_step + 1

    @property
    def out_w(self) -> int:
        return (self.conv_w - self.pool) // self.pool_step + 1

    @property
    def conv_size(self) -> int:
        """Side of a square convolution output (``conv_h``)."""
        return self.conv_h

    @property
    def out_size(self) -> int:
        """Side of a square layer output (``out_h``)."""
        return self.out_h

    @property
    def standard(self) -> bool:
        """A valid, stride-1 convolution with 2x2/stride-2 (or no) pooling: the shape the
        fused kernels compute directly."""
        return (self.stride == 1 and self.padding == 0
                and (self.pool == 1 or (self.pool == 2 and self.pool_step == 2)))

    @property
    def fan_in(self) -> int:
        """Inputs of one inner product, bias included."""
        if self.kind == "conv":
            return self.in_channels * self.kernel * self.kernel + 1
        return self.inputs + 1

    @property
    def in_count(self) -> int:
        return self.in_channels * self.in_h * self.in_w if self.kind == "conv" else self.inputs

    @property
    def out_count(self) -> int:
        if self.kind == "conv":
            return self.filters * self.out_h * self.out_w
        return self.outputs

    @property
    def neurons(self) -> int:
        """Inner products computed per stream bit (before pooling)."""
        if self.kind == "conv":
            return self.filters * self.conv_h * self.conv_w
        return self.outputs

    @property
    def shared_fc(self) -> bool:
        return self.kind == "fc" and self.mux_groups is not None

    @property
    def groups(self) -> int:
        """G: the MUX groups of a shared FC (``mux_groups``, which a shared FC always has)."""
        assert self.mux_groups is not None, f"layer {self.name!r} is not a MUX-shared FC"
        return self.mux_groups

    @property
    def mux_phases(self) -> int:
        """M: MUX selections needed to cover the fan-in with G groups (shared FC)."""
        return -(-self.fan_in // self.groups)

    @property
    def passes(self) -> int:
        """Passes over the input streams per image (> 1 only for a multi-pass shared FC)."""
        return self.mux_passes if self.shared_fc else 1

    def steps(self, stream_length: int) -> int:
        """Datapath steps (cycles without stalls) per image."""
        return self.passes * stream_length

    @property
    def counter_inputs(self) -> int:
        """Inputs of the APC/PC of one inner-product block."""
        return self.groups if self.shared_fc else self.fan_in

    @property
    def btanh_n(self) -> int:
        return self.counter_inputs

    @property
    def depth_cycles(self) -> int:
        """Pipeline registers between consuming an input bit and producing the output bit."""
        if self.pipeline_depth is not None:
            return self.pipeline_depth
        tree = max(1, math.ceil(math.log2(max(2, self.counter_inputs))))
        return tree + (1 if self.pooled else 0) + (1 if self.activation == "btanh" else 0)


@dataclass(frozen=True)
class NetworkSpec:
    """The whole accelerator: clock, input stream, layers and logic costs."""

    name: str
    clock_mhz: float
    stream_length: int
    input_shape: tuple[int, int, int]
    input_rng: RngSpec
    comparator: str
    layers: tuple[LayerSpec, ...]
    logic: dict[str, LogicCost]
    seed: int = 1

    @property
    def cycle_ns(self) -> float:
        return 1e3 / self.clock_mhz
