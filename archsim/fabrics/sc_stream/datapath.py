"""The SC datapath of one layer, computed on packed streams (fast mode).

Feature-extraction block (SC-DCNN / DW-CNN Fig. 7): XNOR multipliers feed an APC (or exact
PC) per inner product; in a conv layer the 4 inner products of a 2x2 window go through the
segment-based approximate max pooling, whose forwarded counts drive the Btanh up/down
counter.  The MUX-shared FC layer (DW-CNN Fig. 10) multiplexes one of M inputs of each of G
groups per cycle into a G-input APC.  The last layer (``activation: none``) keeps the
per-cycle counts, which an output counter accumulates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from archsim.blocks.bit_errors import bernoulli_mask
from archsim.blocks.specs import LayerSpec
from archsim.blocks.streams import LayerWeights
from archsim.sc import kernels as K
from archsim.sc.rng import kim_r


def btanh_states(layer: LayerSpec) -> tuple[int, int]:
    """(r, initial state) of the layer's Btanh.

    The MUX-shared FC adds, per cycle, only the G products of one MUX phase, so its
    per-cycle drift is the full inner product divided by M: it needs the gain M, i.e.
    Kim's r(G, s/M).
    """
    n = layer.btanh_n
    s = layer.btanh_s / (layer.mux_phases if layer.shared_fc else 1)
    r = layer.btanh_r if layer.btanh_r is not None else kim_r(n, s)
    s0 = r // 2 if layer.btanh_s0 == "half" else r // 2 - 1
    return r, s0


@dataclass
class LayerOutput:
    """What one layer produced for one image."""

    streams: np.ndarray  # packed output streams, shape out_shape + (words,)
    counts_sum: np.ndarray | None = None  # last layer: accumulated counts per output
    pool_select: np.ndarray | None = None  # max-pool forwarded input per segment
    counts: np.ndarray | None = None  # per-cycle counter outputs (kept for probes)


def output_flip_mask(layer: LayerSpec, L: int, seed: int, image: int) -> np.ndarray:
    """``uint64[out_count, W]``: the output stream bits of ``image`` that arrive inverted at
    the next layer (each with probability ``layer.output_flip``, drawn from the run seed, the
    layer and the image; see ``archsim.blocks.bit_errors``)."""
    return bernoulli_mask(layer.out_count, L, layer.output_flip, seed, "stream-flip", layer.name,
                          image)


def flip_outputs(layer: LayerSpec, out: LayerOutput, L: int, seed: int, image: int) -> int:
    """Transient faults on the layer's output wires: ``out.streams`` replaced by the streams
    the next layer receives; returns the number of inverted bits."""
    if layer.output_flip <= 0:
        return 0
    mask = output_flip_mask(layer, L, seed, image)
    out.streams = out.streams ^ mask.reshape(out.streams.shape)
    return int(K.popcount(mask, L).sum())


def pool_windows(counts: np.ndarray, k: int = 2, step: int = 0) -> np.ndarray:
    """(F, Ho, Wo, L) -> (k*k, F*Hp*Wp, L): the members of each k x k pooling window (windows
    ``step`` apart, default k), in (dy, dx) row-major order; neurons in (f, y, x) order."""
    F, Ho, Wo, L = counts.shape
    step = step or k
    if k == step:
        c = counts[:, : Ho // k * k, : Wo // k * k].reshape(F, Ho // k, k, Wo // k, k, L)
        return c.transpose(2, 4, 0, 1, 3, 5).reshape(k * k, -1, L)
    Hp, Wp = (Ho - k) // step + 1, (Wo - k) // step + 1
    members = [counts[:, dy: dy + step * (Hp - 1) + 1: step, dx: dx + step * (Wp - 1) + 1: step]
               for dy in range(k) for dx in range(k)]
    return np.stack(members).reshape(k * k, F * Hp * Wp, L)


def zero_stream(L: int) -> np.ndarray:
    """The packed bipolar zero stream 0101... (bit t = t & 1): exactly 0 over an even length."""
    return K.pack_bits((np.arange(L) & 1).astype(np.uint8)[None, :])[0]


def pad_streams(x: np.ndarray, padding: int, L: int) -> np.ndarray:
    """(C, H, W, words) input streams with ``padding`` zero streams on every side."""
    C, H, W, nw = x.shape
    out = np.empty((C, H + 2 * padding, W + 2 * padding, nw), dtype=np.uint64)
    out[...] = zero_stream(L)
    out[:, padding: padding + H, padding: padding + W] = x
    return out


def shared_fc_counts(layer: LayerSpec, x: np.ndarray, wts: LayerWeights, L: int,
                     approx: bool) -> np.ndarray:
    """Per-step G-input counts (outputs, S) of the MUX-shared FC.

    ``x: uint64[n-1, W]`` are the packed input streams. At step s the MUX of group k selects
    input k + G*m(s); the group's nanowire delivers that weight's bit.  Slots past the fan-in
    (the last phase is partly empty) carry the exact-zero bipolar stream 0101... so they add
    nothing on average.  Pass q re-reads the buffered input bit s mod L.  The compiled kernel
    ``mux_fc_counts`` does the work.
    """
    S = layer.steps(L)
    return K.mux_fc_counts(x, wts.source, wts.select[:S], wts.bit_index[:S], layer.groups,
                           L, approx)


def _shared_fc_fused(layer: LayerSpec, x: np.ndarray, wts: LayerWeights, L: int,
                     approx: bool) -> LayerOutput:
    """MUX-shared FC without materialising per-step counts: same bits and sums as the
    counts -> Btanh path (``mux_fc_btanh`` / ``mux_fc_sums`` on the layer's weight table)."""
    S = layer.steps(L)
    tab, row = wts.mux_table(S)
    sel = wts.select[:S]
    n, G, outs = layer.fan_in, layer.groups, layer.out_count
    if layer.activation == "none":
        sums = K.mux_fc_sums(x, tab, row, sel, n, G, L, approx, outs)
        return LayerOutput(streams=np.zeros((outs, (L + 63) // 64), np.uint64), counts_sum=sums)
    r, s0 = btanh_states(layer)
    y = K.mux_fc_btanh(x, tab, row, sel, n, G, L, approx, layer.btanh_n, r, s0, outs)
    return LayerOutput(streams=y)


def compute_layer(layer: LayerSpec, x: np.ndarray, wts: LayerWeights, L: int,
                  pool_first: int, keep_counts: bool = False, image: int = 0) -> LayerOutput:
    """Run one image through one layer on packed streams."""
    approx = layer.counter == "apc"
    if layer.kind == "conv":
        k, C = layer.kernel, layer.in_channels
        filt, bias = wts.conv_operands(image, C, k)  # (F, C, k, k, W), (F, W)
        if layer.padding:
            x = pad_streams(x.reshape(C, layer.in_h, layer.in_w, -1), layer.padding, L)
        if layer.standard and layer.pool == 2 and not keep_counts and layer.activation != "none":
            # fast path: pooling reads the counts out of the counter's bit-planes (no
            # per-cycle counts of every neuron are materialised); same bits as below
            r, s0 = btanh_states(layer)
            y, forwarded = K.conv_pool_btanh(np.ascontiguousarray(x), filt, bias, L, approx,
                                             layer.pool_segment, pool_first, layer.btanh_n,
                                             r, s0)
            return LayerOutput(streams=y, pool_select=forwarded)
        counts = K.conv_counts(np.ascontiguousarray(x), filt, bias, L, approx)
        if layer.stride > 1:  # the strided outputs of the stride-1 windows (same bits)
            s = layer.stride
            counts = np.ascontiguousarray(counts[:, ::s, ::s])
        sel: np.ndarray | None = None
        kept = counts if keep_counts else None
        if layer.pooled:
            vals, sel = K.segment_maxpool(
                np.ascontiguousarray(pool_windows(counts, layer.pool, layer.pool_step)),
                layer.pool_segment, pool_first)
        else:
            vals = counts.reshape(-1, L)
    else:
        x = x.reshape(-1, x.shape[-1])  # (C, H, W) order, as the float reference flattens
        if layer.shared_fc and not keep_counts:  # neuron-sliced fast path: no per-step counts
            return _shared_fc_fused(layer, x, wts, L, approx)
        if layer.shared_fc:
            vals = shared_fc_counts(layer, x, wts, L, approx)
        else:
            ones = _full(L, 1)
            xin = np.concatenate([x, ones], axis=0)
            # same bits, 4x less memory read
            if wts.periodic is not None and not wts.varies_per_image:
                vals = K.xnor_counts(wts.periodic, xin, L, approx,
                                     x_period=wts.periodic.shape[-1])
            else:
                vals = K.xnor_counts(wts.image_packed(image), xin, L, approx)
        sel = None
        kept = vals if keep_counts else None
    S = layer.steps(L)
    if layer.activation == "none":
        return LayerOutput(streams=np.zeros((layer.out_count, (L + 63) // 64), np.uint64),
                           counts_sum=vals.reshape(layer.out_count, S).sum(axis=1, dtype=np.int64),
                           pool_select=sel, counts=kept)
    r, s0 = btanh_states(layer)
    y = K.btanh(np.ascontiguousarray(vals.reshape(-1, S)), layer.btanh_n, r, s0)
    if S > L:  # multi-pass shared FC: the counter runs through all passes, the last one is emitted
        y = K.pack_bits(K.unpack_bits(y, S)[:, S - L:])
    if layer.kind == "conv":
        y = y.reshape(layer.filters, layer.out_h, layer.out_w, -1)
    return LayerOutput(streams=y, pool_select=sel, counts=kept)


def _full(L: int, rows: int) -> np.ndarray:
    """``rows`` all-ones packed streams of length L (the bias input, tail bits clear)."""
    return K.pack_bits(np.ones((rows, L), dtype=np.uint8))
