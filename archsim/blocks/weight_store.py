"""Weight storage of one SC layer: where the weight bits live and what reading them costs.

Two storage formats (DW-CNN section IV-B):

* **stochastic** -- each weight is an L_w-bit stream stored along a nanowire (DWM) or in L_w
  cells (SRAM/MRAM) and read one bit per cycle; no SNG.  When the input stream is longer
  than L_w the weight stream is re-read: ``rewind`` shifts back to the first bit (costing
  L_w - 1 steps on a DWM track), ``pingpong`` reads it backwards on the way back.
* **binary** -- each weight is a w-bit word, read once at power-up into a register that
  feeds an SNG every cycle (the memory is then idle).

DWM geometry.  A *logical nanowire* holds what one read port streams: one weight stream
(length L_w) or, in the MUX-shared FC layer, the bit-interleaved streams of the M weights of
one group (length M x L_w; domain ``j*M + m`` holds bit j of the group's m-th weight, so the
nanowire advances one domain per cycle while the MUX select walks m = 0..M-1).  If a logical
nanowire fits in one port's zone (``domains/ports``), ``ports`` of them share a track and
shift together; otherwise it is a chain of tracks read one after another, each with its own
heads (``archsim.blocks.nanowire``).
"""

from __future__ import annotations

import math

import numpy as np

from archsim.blocks.nanowire import NanowireChain, NanowireHeads
from archsim.blocks.specs import LayerSpec, MemorySpec

#: The heads' state: a port offset (one group of tracks) or one per track (a chain).
HeadState = int | tuple[int, ...]


def _ceil_cycles(ns: float, cycle_ns: float) -> int:
    return int(math.ceil(ns / cycle_ns - 1e-9))


def reread_index(t: np.ndarray, period: int, reread: str) -> np.ndarray:
    """Index into a stored sequence of ``period`` items read at stream positions ``t``."""
    if reread == "rewind":
        return t % period
    u = t % (2 * period)
    return np.where(u < period, u, 2 * period - 1 - u)


class WeightStore:
    """The weight memory of one layer: geometry, read schedule, per-access cost."""

    def __init__(self, layer: LayerSpec, stream_length: int, cycle_ns: float) -> None:
        self.layer = layer
        self.mem: MemorySpec = layer.memory
        self.L = stream_length
        self.S = layer.steps(stream_length)  # accesses per image (passes x stream bits)
        self.cycle_ns = cycle_ns
        lay = layer
        copies = 1
        if lay.kind == "conv" and lay.sharing == "none":
            copies = lay.conv_h * lay.conv_w  # one filter copy per inner-product block
        if lay.kind == "conv":
            self.weights = lay.filters * lay.fan_in * copies
        else:
            self.weights = lay.outputs * lay.fan_in
        self.stochastic = lay.weight_format == "stochastic"
        mem = self.mem
        if self.stochastic:
            self.stored_bits = self.weights * lay.weight_length
            if lay.shared_fc:
                self.nanowires = lay.outputs * lay.groups
                self.period = lay.mux_phases * lay.weight_length
            else:
                self.nanowires = self.weights
                self.period = lay.weight_length
            self.reads_per_cycle = self.nanowires
            t = np.arange(self.S, dtype=np.int64)
            self.address = reread_index(t, self.period, mem.reread)  # logical domain per bit
        else:
            self.stored_bits = self.weights * lay.weight_bits
            self.nanowires = 0
            self.period = 0
            self.reads_per_cycle = 0
            self.address = np.zeros(0, dtype=np.int64)
        self._build_geometry()
        self.hidden_steps = self._hidden_steps()
        self._cache: dict[HeadState, tuple[np.ndarray, HeadState]] = {}
        self._no_steps: np.ndarray | None = None  # SRAM/MRAM/binary: no shifts (shared)

    # ------------------------------------------------------------- geometry
    def _build_geometry(self) -> None:
        mem, lay = self.mem, self.layer
        self.zone_mode = False
        self.tracks = 0
        self.chain_tracks = 1
        self.shift_latency_ns = mem.shift_latency_ns
        if not mem.is_dwm:
            return
        ports = (mem.ports, mem.port_select, mem.port_update, mem.rw_ports)
        zone = mem.domains // mem.ports
        self.heads: NanowireHeads | NanowireChain
        if self.stochastic:
            if self.period <= zone:
                self.zone_mode = True
                self.tracks = -(-self.nanowires // mem.ports)
                self.heads = NanowireHeads(zone, 1, "static", mem.port_update)
                self.shifting_tracks = self.tracks
            else:
                self.chain_tracks = -(-self.period // mem.domains)
                self.tracks = self.nanowires * self.chain_tracks
                self.heads = NanowireChain(self.period, mem.domains, *ports)
                self.shifting_tracks = self.nanowires
        else:
            # binary words: a w-bit word on w tracks that shift together (interleaved layout),
            # `domains` words stacked along each group; serial layout: the word's bits follow
            # each other along one track, so moving one word is w one-domain steps.
            w = lay.weight_bits
            if mem.layout == "interleaved":
                groups = -(-self.weights // mem.domains)
                self.tracks = groups * w
                self.shifting_tracks = self.tracks
                self.load_words = min(self.weights, mem.domains)
            else:
                per_track = max(1, mem.domains // w)
                self.tracks = -(-self.weights // per_track)
                self.shifting_tracks = self.tracks
                self.load_words = min(self.weights, per_track)
            self.heads = NanowireHeads(mem.domains, *ports)

    def _hidden_steps(self) -> np.ndarray:
        """Shift steps per access that a pre-shift can hide (chain tracks only).

        A track of a chain sits idle while the other tracks are read; with ``preshift`` it
        realigns to its next access in that time.  Each idle access lasts at least one cycle,
        so ``floor(gap * t_clk / t_shift)`` steps are hidden, where ``gap`` is the number of
        accesses to other tracks since this track's last access (cyclically over the image).
        The shift energy is paid either way.
        """
        L = self.S
        hidden = np.zeros(L, dtype=np.int64)
        if not (self.stochastic and self.mem.is_dwm and not self.zone_mode
                and self.mem.preshift and self.chain_tracks > 1 and self.shift_latency_ns > 0):
            return hidden
        track = self.address // self.mem.domains
        last: dict[int, int] = {}
        for t in range(2 * L):  # second lap sees the previous image's accesses
            tr = int(track[t % L])
            if t >= L and tr in last:
                gap = t - last[tr] - 1
                hidden[t - L] = int(gap * self.cycle_ns // self.shift_latency_ns)
            last[tr] = t
        return hidden

    # ---------------------------------------------------------- access cost
    def latency_steps(self, steps: np.ndarray, t0: int = 0) -> np.ndarray:
        """Shift steps on the critical path of accesses at stream positions t0, t0+1, ..."""
        h = self.hidden_steps[t0: t0 + len(steps)]
        return np.maximum(steps - h, 0)

    def interval_of(self, steps: np.ndarray, t0: int = 0) -> np.ndarray:
        """Cycles between consecutive bit deliveries for accesses of ``steps`` shifts each."""
        if self.stochastic and self.mem.is_dwm:
            steps = self.latency_steps(steps, t0)
        mem, cyc = self.mem, self.cycle_ns
        rd = mem.read_latency_ns
        if not mem.is_dwm:
            return np.full(len(steps), max(1, _ceil_cycles(rd, cyc)), dtype=np.int64)
        sh = steps.astype(np.float64) * self.shift_latency_ns
        if mem.shift_overlaps_read:
            a = np.ceil(sh / cyc - 1e-9).astype(np.int64)
            return np.maximum(np.maximum(a, _ceil_cycles(rd, cyc)), 1)
        return np.maximum(np.ceil((sh + rd) / cyc - 1e-9).astype(np.int64), 1)

    def nominal_steps(self) -> np.ndarray:
        """Shift steps of one image's accesses starting with its first bit under the port."""
        if not hasattr(self, "_nominal"):
            if not (self.stochastic and self.mem.is_dwm):
                self._nominal = np.zeros(self.S, dtype=np.int64)
            else:
                state = self.heads.state()
                self._set_heads(0 if self.zone_mode else (0,) * self.chain_tracks)
                self._nominal = self.heads.access_many(self.address)
                self._set_heads(state)
        return self._nominal

    def track_of_stream(self, stream: np.ndarray) -> np.ndarray:
        """Physical track (or chain) holding each weight stream (zone mode: ports per track)."""
        return stream // self.mem.ports if self.zone_mode else stream

    def image_steps(self) -> np.ndarray:
        """Shift steps of every weight-bit access of one image (fast mode; cached by head state).

        Head state carries over from the previous image: the first access of an image
        realigns the track to the stream's first bit.
        """
        if not (self.stochastic and self.mem.is_dwm):
            if self._no_steps is None:
                self._no_steps = np.zeros(self.S, dtype=np.int64)
                self._no_steps.flags.writeable = False
            return self._no_steps
        key = self.heads.state()
        hit = self._cache.get(key)
        if hit is None:
            steps = self.heads.access_many(self.address)
            hit = (steps, self.heads.state())
            self._cache[key] = hit
        else:
            self._set_heads(hit[1])
        return hit[0]

    def _set_heads(self, state: HeadState) -> None:
        """Put the heads in ``state`` (a tuple for a chain, an offset otherwise)."""
        if isinstance(self.heads, NanowireChain):
            assert isinstance(state, tuple)
            self.heads.set_state(state)
        else:
            assert isinstance(state, int)
            self.heads.set_state(state)

    def step_access(self, t: int) -> int:
        """Shift steps of the access for stream bit ``t`` (per-cycle mode, stepping the heads)."""
        if not (self.stochastic and self.mem.is_dwm):
            return 0
        a = int(self.address[t])
        if isinstance(self.heads, NanowireChain):
            track = self.heads.tracks[a // self.mem.domains]
            return track.access(a % self.mem.domains)
        return self.heads.access(a)

    def load_steps(self) -> np.ndarray:
        """Power-up load of binary words into the SNG registers: shift steps per word access."""
        if self.stochastic:
            return np.zeros(0, dtype=np.int64)
        if not self.mem.is_dwm:
            rows = min(self.weights, self.mem.domains)  # SRAM/MRAM: one row per access
            return np.zeros(rows, dtype=np.int64)
        addr = np.arange(self.load_words, dtype=np.int64)
        if self.mem.layout == "serial":
            addr = addr * self.layer.weight_bits  # word i starts at domain i*w on its track
        return self.heads.access_many(addr)

    # ------------------------------------------------------------------ area
    @property
    def cell_bits(self) -> int:
        """Cells paid for: whole tracks for DWM (unused domains included)."""
        if self.mem.is_dwm:
            return self.tracks * self.mem.domains
        return self.stored_bits

    @property
    def port_count(self) -> int:
        return self.tracks * self.mem.ports if self.mem.is_dwm else 0
