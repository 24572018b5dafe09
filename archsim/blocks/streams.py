"""Stream sources of the datapath: input SNGs and the weight streams each layer reads.

* Input SNGs turn 8-bit pixels into bipolar streams (pixel p -> x = 2p/255 - 1, i.e. a
  comparator value round(p * 2^w / 255) against a w-bit RNG).
* Stochastic weights are *programmed* once (off-line, like writing the memory): a stored
  stream of L_w bits holds exactly round((x+1)/2 * L_w) ones in a seeded random order (a
  rotated random permutation compared against the count).  The layer then reads bit
  j(t) of the stored stream at stream position t (see ``WeightStore.address``).
* Binary weights follow DW-CNN's equation (1): v = int((x+1)/2 * 2^w), clamped to 2^w - 1,
  compared every cycle with a w-bit RNG (one SNG per stored weight; the RNG is shared by the
  layer, each SNG reading it at its own seeded phase).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from archsim.blocks import bit_errors
from archsim.blocks.specs import LayerSpec, RngSpec
from archsim.sc import kernels as K
from archsim.seeds import derive_seed

if TYPE_CHECKING:
    from archsim.blocks.misalignment import FaultDraw


def rng_sequence(spec: RngSpec, length: int, dim: int = 0) -> np.ndarray:
    """The random numbers of a shared source (at least one period, or ``length``)."""
    if spec.kind == "lfsr":
        period = (1 << spec.width) - 1
        seed = spec.seed % period + 1
        return K.lfsr_sequence(spec.width, period, seed=seed, taps=spec.taps)
    if spec.kind == "sobol":
        return K.sobol_sequence(spec.width, 1 << spec.width, dim=dim)
    if spec.kind == "counter":
        return K.counter_sequence(spec.width, 1 << spec.width)
    raise ValueError(f"unknown rng kind {spec.kind!r}")


def sng_offsets(spec: RngSpec, count: int, period: int, *names: object) -> np.ndarray | None:
    """Per-SNG read phase of a shared RNG (None when SNGs read it in phase)."""
    if not spec.rotate:
        return None
    rng = np.random.default_rng(derive_seed(spec.seed, "offsets", *names))
    return rng.integers(0, period, size=count, dtype=np.int64)


def input_streams(pixels: np.ndarray, spec: RngSpec, length: int, rule: str) -> np.ndarray:
    """Packed bipolar streams (C, H, W, words) of one image's uint8 pixels (C, H, W)."""
    seq = rng_sequence(spec, length)
    w = spec.width
    values = np.rint(pixels.astype(np.float64).ravel() * (1 << w) / 255.0).astype(np.int64)
    offs = sng_offsets(spec, values.size, len(seq), "input")
    bits = K.sng(values, seq, length, rule=rule, offsets=offs)
    return bits.reshape(*pixels.shape, -1)


def quantize_binary(x: np.ndarray, bits: int, rounding: str = "nearest") -> np.ndarray:
    """DW-CNN eq. (1): the w-bit integer R((x+1)/2 * 2^w), clamped to the w-bit range, with R
    rounding to nearest or truncating (``floor``, eq. (1)'s ``int`` as printed)."""
    op = np.floor if rounding == "floor" else np.rint
    v = op((np.clip(x, -1.0, 1.0) + 1.0) / 2.0 * (1 << bits)).astype(np.int64)
    return np.clip(v, 0, (1 << bits) - 1)


def program_stochastic(x: np.ndarray, length: int, seed: int, name: str,
                       chunk: int = 8192) -> np.ndarray:
    """Stored streams, packed (x.shape + (words,)), each with exactly round((x+1)/2 L) ones.

    The ones sit in a seeded random order: a random permutation of the L positions, read at
    a seeded phase per weight, compared against the ones count.
    """
    flat = np.clip(x.ravel(), -1.0, 1.0)
    ones = np.rint((flat + 1.0) / 2.0 * length).astype(np.int64)
    rng = np.random.default_rng(derive_seed(seed, "program", name))
    perm = rng.permutation(length).astype(np.int64)
    offs = rng.integers(0, length, size=flat.size, dtype=np.int64)
    out = np.empty((flat.size, (length + 63) // 64), dtype=np.uint64)
    pos0 = np.arange(length, dtype=np.int64)[None, :]
    for lo in range(0, flat.size, chunk):  # bounded temporaries for large layers
        hi = min(lo + chunk, flat.size)
        pos = (pos0 + offs[lo:hi, None]) % length
        out[lo:hi] = K.pack_bits((perm[pos] < ones[lo:hi, None]).astype(np.uint8))
    return out.reshape(*x.shape, -1)


def gather_bits(packed: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Bits at positions ``j`` of packed streams: ``packed[..., w]`` -> uint8 (..., *j.shape)."""
    return ((packed[..., j >> 6] >> (j & 63).astype(np.uint64)) & np.uint64(1)).astype(np.uint8)


def period_words(index: np.ndarray, length: int) -> int | None:
    """The smallest number of words P < W after which a re-read order repeats (bit t reads
    ``index[t mod 64 P]``), so that the streams it produces are periodic in whole words; None
    if there is none (or the length is not whole words)."""
    if length % 64 or len(index) != length:
        return None
    W = length // 64
    for p in range(1, W):
        if W % p == 0 and np.array_equal(index, np.tile(index[: 64 * p], W // p)):
            return p
    return None


def cache_aligned(a: np.ndarray, align: int = 64) -> np.ndarray:
    """A C-contiguous copy of ``a`` whose data starts on an ``align``-byte boundary (a cache
    line). The kernels read the weight streams row by row, 128 bytes per 1024-bit stream; the
    allocator's 16-byte alignment lets every such row straddle three cache lines."""
    a = np.asarray(a)
    buf = np.empty(a.nbytes + align, dtype=np.uint8)
    off = (-buf.ctypes.data) % align
    out = buf[off: off + a.nbytes].view(a.dtype).reshape(a.shape)
    out[...] = a
    return out


def reorder_streams(packed: np.ndarray, length: int, index: np.ndarray) -> np.ndarray:
    """Packed streams whose bit t is bit ``index[t]`` of the input streams (re-read order)."""
    out = K.gather_streams(packed.reshape(-1, packed.shape[-1]), length, index)
    return out.reshape(*packed.shape[:-1], -1)


class LayerWeights:
    """The weight bits one layer's XNOR array sees, for every datapath step of an image.

    Everything is kept packed (64 bits per word): ``packed`` holds the streams the XNOR array
    reads (unshared layers), ``source``/``bit_index`` the stored streams and the bit read at
    each step (shared FC), so memory stays at bits / 8 bytes.
    """

    def __init__(self, layer: LayerSpec, w: np.ndarray, b: np.ndarray, address: np.ndarray,
                 length: int, rule: str, seed: int) -> None:
        self.layer = layer
        self.L = length
        # all weights of one inner product, bias last: (neurons_out, fan_in)
        if layer.kind == "conv":
            wf = np.concatenate([w.reshape(layer.filters, -1), b.reshape(-1, 1)], axis=1)
        else:
            wf = np.concatenate([w.reshape(layer.outputs, -1), b.reshape(-1, 1)], axis=1)
        self.float_weights = np.clip(wf, -1.0, 1.0)
        self.packed: np.ndarray | None = None
        self._seed = seed
        S = layer.steps(length)
        if layer.weight_format == "stochastic":
            Lw = layer.weight_length
            stored = program_stochastic(self.float_weights, Lw, seed, layer.name)
            self.effective = 2.0 * np.rint((self.float_weights + 1) / 2 * Lw) / Lw - 1.0
            if layer.shared_fc:
                M = layer.mux_phases
                self.select = (address % M).astype(np.int64)  # MUX select per step
                self.bit_index = (address // M).astype(np.int64)
                self.source = stored
                self.mux_table(S)  # built here, before image workers fork (shared by them)
            else:
                self.packed = cache_aligned(reorder_streams(stored, Lw,
                                                            address.astype(np.int64)))
                self.source = self.packed
                p = period_words(address.astype(np.int64), length)
                if layer.kind == "fc" and p is not None:
                    # e.g. 128-bit streams re-read ping-pong: 4 distinct words of 16; the FC
                    # kernel reads these and expands them in cache (xnor_counts' x_period)
                    self.periodic = cache_aligned(self.packed[..., :p])
                self.bit_index = np.arange(length, dtype=np.int64)
                if layer.memory.misalignment > 0:
                    self._stored = stored.reshape(-1, stored.shape[-1])
                    self._address = address.astype(np.int64)
                self.read_error = layer.memory.read_error  # per read, drawn per image
        else:
            v = quantize_binary(self.float_weights, layer.weight_bits, layer.weight_rounding)
            # read once into the SNG registers at power-up: read errors strike at that load
            loaded = bit_errors.flip_binary_words(v, layer.weight_bits, layer.memory.read_error,
                                                  seed, layer.name)
            flipped = np.ascontiguousarray(loaded ^ v, dtype=np.uint64)
            self.load_read_errors = int(np.unpackbits(flipped.view(np.uint8)).sum())
            v = loaded
            spec = layer.weight_rng
            seq = rng_sequence(spec, length, dim=1)
            offs = sng_offsets(spec, v.size, len(seq), layer.name)
            shift = spec.width - layer.weight_bits  # compare in the source's range
            vs = v << shift if shift >= 0 else v >> -shift
            # the SNGs keep running through every pass of a multi-pass shared FC
            self.packed = cache_aligned(
                K.sng(vs.ravel(), seq, S, rule=rule, offsets=offs).reshape(*v.shape, -1))
            self.source = self.packed
            self.bit_index = np.arange(S, dtype=np.int64)
            self.effective = 2.0 * v / (1 << layer.weight_bits) - 1.0
            if layer.shared_fc:
                self.select = self.bit_index % layer.mux_phases
                self.mux_table(S)

    _mux_table: tuple[np.ndarray, np.ndarray] | None = None
    _conv_ops: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    periodic: np.ndarray | None = None  # unshared FC: the first words of periodic streams

    def conv_operands(self, image: int, channels: int,
                      kernel: int) -> tuple[np.ndarray, np.ndarray]:
        """Conv layer: the filters ``(F, C, k, k, W)`` and bias streams ``(F, W)`` the XNOR
        array reads for ``image``, contiguous; kept while the streams do not change."""
        wp = self.image_packed(image)  # (F, fan_in, W)
        if self._conv_ops is None or self._conv_ops[0] is not wp:
            n = wp.shape[1]
            filt = cache_aligned(wp[:, : n - 1].reshape(wp.shape[0], channels, kernel,
                                                        kernel, -1))
            self._conv_ops = (wp, filt, cache_aligned(wp[:, n - 1]))
        return self._conv_ops[1], self._conv_ops[2]

    def mux_table(self, steps: int) -> tuple[np.ndarray, np.ndarray]:
        """MUX-shared FC: the static weight-bit table ``(tab, row)`` of ``K.mux_fc_table`` for
        the first ``steps`` steps (built once, reused by every image)."""
        if self._mux_table is None or self._mux_table[1].shape[0] != steps:
            tab, row = K.mux_fc_table(self.source, self.select[:steps],
                                      self.bit_index[:steps], self.layer.groups)
            self._mux_table = (cache_aligned(tab), row)
        return self._mux_table

    # ------------------------------------------------------- misalignment, read errors
    faults: FaultDraw | None = None  # image -> faults, set by the network when p > 0
    read_error = 0.0  # per-read inversion probability of stochastic weight bits (MRAM)
    load_read_errors = 0  # binary weights: bits inverted when loaded at power-up
    _cached: tuple[int, np.ndarray] | None = None
    _stored_bits: np.ndarray | None = None  # misalignment: stored streams, a byte per bit

    def _packed(self) -> np.ndarray:
        """``packed``, which every layer but a stochastic MUX-shared FC has (the only layers
        whose bits can vary per image)."""
        assert self.packed is not None, f"layer {self.layer.name!r} keeps no packed streams"
        return self.packed

    @property
    def varies_per_image(self) -> bool:
        """Whether the weight bits read differ between images (faults drawn per image)."""
        return self.faults is not None or self.read_error > 0

    def read_error_mask(self, image: int) -> np.ndarray:
        """``uint64[units, fan_in, W]``: the reads of ``image`` that come out inverted."""
        shape = self._packed().shape
        rows = int(np.prod(shape[:-1]))
        return bit_errors.read_error_mask(rows, self.L, self.read_error, self._seed,
                                          self.layer.name, image).reshape(shape)

    def image_packed(self, image: int) -> np.ndarray:
        """The streams the XNOR array reads for ``image``: misaligned tracks read shifted bits,
        and with read errors some reads come out inverted."""
        if not self.varies_per_image:
            return self._packed()
        if self._cached is not None and self._cached[0] == image:
            return self._cached[1]
        packed = self._misaligned(image) if self.faults is not None else self._packed()
        if self.read_error > 0:
            mask = self.read_error_mask(image)
            packed = packed ^ mask
            self._read_errors = (image, int(K.popcount(mask, self.L).sum()))
        self._cached = (image, packed)
        return packed

    _read_errors: tuple[int, int] | None = None

    def read_errors(self, image: int) -> int:
        """Inverted weight-bit reads of ``image`` (0 without read errors)."""
        if self.read_error <= 0:
            return 0
        if self._read_errors is None or self._read_errors[0] != image:
            self.image_packed(image)
        assert self._read_errors is not None
        return self._read_errors[1]

    def _misaligned(self, image: int) -> np.ndarray:
        """The streams of ``image`` as read from tracks left misaligned by its faults.

        Vectorised over blocks of faulted tracks: each track's offsets, the addresses its
        streams are read at, and (edge ``random``) the random bits read past a track's end,
        drawn in bulk as the words one ``integers(0, 2, S)`` call per such stream, in track and
        stream order, would take (:class:`~archsim.blocks.misalignment.Uint32Stream`)."""
        from archsim.blocks.misalignment import Uint32Stream

        assert self.faults is not None
        table, streams_of = self.faults(image)
        packed = self._packed()
        if not len(table.tracks):
            return packed
        flat = packed.reshape(-1, packed.shape[-1]).copy()
        rng = np.random.default_rng(derive_seed(0, "misread", self.layer.name, image))
        words = Uint32Stream(rng)
        period = self.layer.weight_length
        random_edge = self.layer.memory.misalignment_edge == "random"
        address = self._address[None, :]
        S = address.shape[1]
        if self._stored_bits is None:  # the stored streams, one byte per bit, kept
            self._stored_bits = K.unpack_bits(self._stored, period).reshape(-1)
        stored_bits = self._stored_bits
        block = max(1, (1 << 22) // max(1, S * streams_of.per_track))  # bounded temporaries
        for r0 in range(0, len(table.tracks), block):
            r1 = min(len(table.tracks), r0 + block)
            a = table.offset_rows(r0, r1)
            np.subtract(address, a, out=a)  # the address each access really reads
            outside = ((a < 0) | (a >= period)) if random_edge else None
            np.clip(a, 0, period - 1, out=a)  # past an end: the last real cell (saturate)
            rows, streams = streams_of.many(table.tracks[r0:r1])
            if streams_of.per_track > 1:
                a = a[rows]
            a += (streams * period)[:, None]
            bits = stored_bits.take(a)
            if outside is not None:
                if streams_of.per_track > 1:
                    outside = outside[rows]
                redraw = np.flatnonzero(outside.any(axis=1))
                if len(redraw):  # past an end: a random bit (edge random)
                    fresh = (words.next(len(redraw) * S) >> np.uint64(31)).astype(np.uint8)
                    sel = outside[redraw]
                    bits[redraw] = np.where(sel, fresh.reshape(len(redraw), S), bits[redraw])
            flat[streams] = K.pack_bits(bits)
        return flat.reshape(packed.shape)

    def bits_at(self, t: int, image: int = 0) -> np.ndarray:
        """Weight bits (units, fan_in) read at datapath step t of ``image``."""
        j = int(self.bit_index[t])
        src = self.image_packed(image) if self.varies_per_image else self.source
        return ((src[..., j >> 6] >> np.uint64(j & 63)) & np.uint64(1)).astype(np.uint8)
