"""How one conv2d / dense layer is laid out on computational SOT-MRAM sub-arrays, and what
every step of it costs in cycles and actions.

Layout (weight-stationary, as in IMCE): the layer's weight matrix is, per group, F_g filters
(rows) x N_g fan-in positions (columns, the (c, ky, kx) im2col order). Filters whose mask is
all 0 are not mapped; fan-in positions pruned in every filter of their group are dropped from
the im2col columns. The N_g columns are cut into ``ceil(N_g / columns)`` chunks, one chunk per
sub-array; a sub-array holds, for its chunk, the M weight bit-planes of ``filters_per_subarray``
filters in M rows each (plus one mask-plane row each when the layer is pruned) and ``windows``
input windows of K activation bit-planes in K rows each (twice that with double buffering).
``replicas`` copies of the whole set work on different windows.

A step is one round of every sub-array of the layer: it writes its windows' K bit-planes
(one SOT row write per plane and window), then senses, per window and filter, every weight
plane against every activation plane (dual-row AND), and the mask plane against every
activation plane (pruned layers) or each activation plane alone (single-row read: the plain
activation count S). The bit-counter and shift-adder are pipelined behind the sensing. The
busiest sub-array sets the step's interval; the digital unit (``lanes`` outputs per cycle)
must keep up, else it sets it. Counts per step are linear in its windows and independent of
the data (a sensing costs the same whatever the bits).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["LayerMapping", "map_layer"]


def cycles(latency_ns: float, period_ns: float) -> int:
    """Whole clock cycles of an operation of ``latency_ns`` (at least 1)."""
    return max(1, int(np.ceil(latency_ns / period_ns - 1e-9)))


@dataclass
class LayerMapping:
    """The placement of one layer and its per-window action counts."""

    name: str
    groups: int
    m_bits: int
    k_bits: int
    masked: bool
    positions: int
    kept_filters: list[np.ndarray]  # per group: global filter indices that are mapped
    kept_cols: list[np.ndarray]  # per group: fan-in indices (within the group) mapped
    columns: int
    rows: int
    filters_per_subarray: int
    windows: int
    replicas: int
    double_buffer: bool
    write_cycles: int
    and_cycles: int
    read_cycles: int
    lanes: int
    out_channels: int
    chunks: list[int] = field(default_factory=list)
    fsets: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        c = self.columns
        self.chunks = [-(-len(k) // c) for k in self.kept_cols]
        self.fsets = [-(-len(f) // self.filters_per_subarray) for f in self.kept_filters]

    # ---------------------------------------------------------------- placement
    @property
    def f_g(self) -> list[int]:
        return [len(f) for f in self.kept_filters]

    @property
    def n_g(self) -> list[int]:
        return [len(k) for k in self.kept_cols]

    @property
    def subarrays_per_replica(self) -> int:
        return sum(ch * fs for ch, fs in zip(self.chunks, self.fsets, strict=True))

    @property
    def subarrays(self) -> int:
        return self.replicas * self.subarrays_per_replica

    @property
    def planes(self) -> int:
        """Rows a mapped filter takes in a sub-array: M weight planes (+ its mask plane)."""
        return self.m_bits + int(self.masked)

    @property
    def f_busy(self) -> int:
        """Filters in the busiest sub-array."""
        return min(self.filters_per_subarray, max(self.f_g, default=0))

    @property
    def weight_bits(self) -> int:
        """Cells holding weight or mask planes (all replicas)."""
        return self.replicas * self.planes * sum(
            f * n for f, n in zip(self.f_g, self.n_g, strict=True))

    @property
    def load_cycles(self) -> int:
        """Power-up: each sub-array writes its weight rows one after another (in parallel)."""
        return self.f_busy * self.planes * self.write_cycles

    @property
    def steps(self) -> int:
        return -(-self.positions // (self.windows * self.replicas))

    def step_windows(self) -> np.ndarray:
        """Windows (output positions) computed at each step, int64[steps]."""
        per = self.windows * self.replicas
        n = np.full(self.steps, per, dtype=np.int64)
        n[-1] = self.positions - per * (self.steps - 1)
        return n

    def step_positions(self, s: int) -> range:
        per = self.windows * self.replicas
        return range(s * per, min(self.positions, (s + 1) * per))

    # ---------------------------------------------------------------- per window counts
    def window_counts(self) -> dict[str, dict[str, int]]:
        """Actions of one window (one output position, every group and filter)."""
        k, m = self.k_bits, self.m_bits
        fn = sum(f * n for f, n in zip(self.f_g, self.n_g, strict=True))
        n_sets = sum(n * fs for n, fs in zip(self.n_g, self.fsets, strict=True))
        f_chunks = sum(f * ch for f, ch in zip(self.f_g, self.chunks, strict=True))
        sets_chunks = sum(ch * fs for ch, fs in zip(self.chunks, self.fsets, strict=True))
        and_bits = k * m * fn + (k * fn if self.masked else 0)
        read_bits = 0 if self.masked else k * n_sets
        adds = k * m * f_chunks + (k * f_chunks if self.masked else k * sets_chunks)
        return {
            "compute": {"write": k * n_sets, "and": and_bits, "read": read_bits},
            "sense_amp": {"sense": and_bits + read_bits},
            "bit_counter": {"count": and_bits + read_bits},
            "shift_adder": {"add": adds},
            "accumulate": {"add": f_chunks},
            "buffer": {"read": k * sum(self.n_g)},
        }

    def interval(self, n_windows: np.ndarray, outputs_per_window: int,
                 first: bool) -> np.ndarray:
        """Cycles of steps computing ``n_windows`` windows each (the busiest sub-array, or
        the digital unit if it is slower); ``first``: the first element is the image's first
        step (nothing to overlap its writes with)."""
        busy = np.minimum(self.windows, -(-n_windows // self.replicas))
        write = busy * self.k_bits * self.write_cycles
        sense = busy * self.f_busy * self.planes * self.k_bits * self.and_cycles
        if not self.masked:
            sense = sense + busy * self.k_bits * self.read_cycles
        if self.double_buffer:
            t = np.maximum(write, sense)
            if first:
                t[0] = write[0] + sense[0]
        else:
            t = write + sense
        digital = -(-(n_windows * outputs_per_window) // self.lanes)
        out: np.ndarray = np.maximum(np.maximum(t, digital), 1).astype(np.int64)
        return out


def map_layer(name: str, groups: int, weight_shape: tuple[int, ...], keep: np.ndarray | None,
              positions: int, m_bits: int, k_bits: int, rows: int, columns: int,
              filters_per_subarray: int | None, windows: int, replicas: int,
              double_buffer: bool, write_cycles: int, and_cycles: int, read_cycles: int,
              lanes: int) -> LayerMapping:
    """Place a layer (``keep``: the mask, True = kept, or None). Raises ValueError with the
    reason when a sub-array cannot hold it (the caller turns it into a ConfigError)."""
    f_total = weight_shape[0]
    n_fan = int(np.prod(weight_shape[1:]))
    per_group = f_total // groups
    keep2 = (np.ones((f_total, n_fan), dtype=bool) if keep is None
             else np.asarray(keep, dtype=bool).reshape(f_total, n_fan))
    kept_filters, kept_cols = [], []
    for g in range(groups):
        block = keep2[g * per_group:(g + 1) * per_group]
        kept_filters.append(g * per_group + np.flatnonzero(block.any(axis=1)))
        kept_cols.append(np.flatnonzero(block.any(axis=0)))
    masked = keep is not None and not bool(keep2.all())
    planes = m_bits + int(masked)
    act_rows = windows * k_bits * (2 if double_buffer else 1)
    fit = (rows - act_rows) // planes
    if fit < 1:
        raise ValueError(
            f"a sub-array of {rows} rows cannot hold {windows} window(s) of {k_bits} "
            f"activation planes{' (double-buffered)' if double_buffer else ''} plus one "
            f"filter's {planes} weight/mask planes ({act_rows + planes} rows)")
    if filters_per_subarray is not None and filters_per_subarray > fit:
        raise ValueError(
            f"filters_per_subarray {filters_per_subarray} needs "
            f"{filters_per_subarray * planes + act_rows} rows; a sub-array has {rows} "
            f"(at most {fit} filters fit)")
    f_sa = filters_per_subarray if filters_per_subarray is not None else fit
    return LayerMapping(
        name=name, groups=groups, m_bits=m_bits, k_bits=k_bits, masked=masked,
        positions=positions, kept_filters=kept_filters, kept_cols=kept_cols, columns=columns,
        rows=rows, filters_per_subarray=f_sa, windows=windows, replicas=replicas,
        double_buffer=double_buffer, write_cycles=write_cycles, and_cycles=and_cycles,
        read_cycles=read_cycles, lanes=lanes, out_channels=f_total)
