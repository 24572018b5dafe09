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

import numpy as np

from archsim.blocks.specs import LayerSpec, RngSpec
from archsim.sc import kernels as K
from archsim.seeds import derive_seed


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


def quantize_binary(x: np.ndarray, bits: int) -> np.ndarray:
    """DW-CNN eq. (1): the w-bit integer int((x+1)/2 * 2^w), clamped to the w-bit range."""
    v = np.floor((np.clip(x, -1.0, 1.0) + 1.0) / 2.0 * (1 << bits)).astype(np.int64)
    return np.clip(v, 0, (1 << bits) - 1)


def program_stochastic(x: np.ndarray, length: int, seed: int, name: str) -> np.ndarray:
    """Stored streams (unpacked uint8, shape x.shape + (length,)) with exact ones counts."""
    flat = np.clip(x.ravel(), -1.0, 1.0)
    ones = np.rint((flat + 1.0) / 2.0 * length).astype(np.int64)
    rng = np.random.default_rng(derive_seed(seed, "program", name))
    perm = rng.permutation(length).astype(np.int64)
    offs = rng.integers(0, length, size=flat.size, dtype=np.int64)
    pos = (np.arange(length, dtype=np.int64)[None, :] + offs[:, None]) % length
    bits = (perm[pos] < ones[:, None]).astype(np.uint8)
    return bits.reshape(*x.shape, length)


class LayerWeights:
    """The weight bits one layer's XNOR array sees, for every stream position of an image."""

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
        if layer.weight_format == "stochastic":
            self.stored = program_stochastic(self.float_weights, layer.weight_length, seed,
                                             layer.name)  # (units, fan_in, L_w)
            if layer.shared_fc:
                _G, M = layer.mux_groups, layer.mux_phases
                self.select = (address % M).astype(np.int64)  # MUX select per stream bit
                self.bit_index = (address // M).astype(np.int64)
                self.read_bits = None
            else:
                self.bit_index = address
                self.read_bits = self.stored[:, :, address]  # (units, fan_in, L)
            self.effective = (2.0 * self.stored.mean(axis=-1) - 1.0)
        else:
            v = quantize_binary(self.float_weights, layer.weight_bits)
            spec = layer.weight_rng
            seq = rng_sequence(spec, length, dim=1)
            offs = sng_offsets(spec, v.size, len(seq), layer.name)
            S = layer.steps(length)  # the SNGs keep running through every pass
            packed = K.sng(v.ravel(), seq, S, rule=rule, offsets=offs)
            self.read_bits = K.unpack_bits(packed, S).reshape(*v.shape, S)
            self.effective = 2.0 * v / (1 << layer.weight_bits) - 1.0
            if layer.shared_fc:
                M = layer.mux_phases
                t = np.arange(layer.steps(length), dtype=np.int64)
                self.select = t % M
                self.bit_index = t
        self.packed = None if self.read_bits is None else K.pack_bits(self.read_bits)

    def bits_at(self, t: int) -> np.ndarray:
        """Weight bits (units, fan_in) read at stream position t (shared FC: the selected ones)."""
        if self.read_bits is not None:
            return self.read_bits[:, :, t]  # binary SNG output, or stochastic unshared
        j = self.bit_index[t]
        return self.stored[:, :, j]
