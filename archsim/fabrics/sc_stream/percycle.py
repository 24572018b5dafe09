"""Per-cycle reference of a layer's datapath: one stream bit per call, no packed kernels.

This is the oracle the fast mode is checked against.  Every block is written out bit by
bit as the hardware does it: XNOR gates, the APC's OR/AND pair layer and adder tree (or the
exact PC), the segment counters and comparator of the max pooling, and the Btanh up/down
counter.  It is vectorised across the units of a layer but steps one cycle at a time.
"""

from __future__ import annotations

import numpy as np

from archsim.blocks.specs import LayerSpec
from archsim.blocks.streams import LayerWeights
from archsim.fabrics.sc_stream.datapath import btanh_states


def _count(products: np.ndarray, approx: bool) -> np.ndarray:
    """Per-cycle count over the last axis: exact sum, or the APC (OR/AND pairs, x2, odd LSB)."""
    if not approx:
        return products.sum(axis=-1, dtype=np.int64)
    n = products.shape[-1]
    pairs = n // 2
    total = np.zeros(products.shape[:-1], dtype=np.int64)
    for j in range(pairs):
        a, b = products[..., 2 * j], products[..., 2 * j + 1]
        total += (a | b) if j % 2 == 0 else (a & b)
    total *= 2
    if n % 2:
        total += products[..., n - 1]
    return total


class PerCycleLayer:
    """One layer of the SC datapath, advanced one stream bit at a time."""

    def __init__(self, layer: LayerSpec, wts: LayerWeights, L: int, pool_first: int) -> None:
        self.layer, self.wts, self.L = layer, wts, L
        self.approx = layer.counter == "apc"
        self.pool_first = pool_first
        self.r, self.s0 = btanh_states(layer) if layer.activation == "btanh" else (0, 0)
        if layer.kind == "conv":
            C, H, W, k = layer.in_channels, layer.in_h, layer.in_w, layer.kernel
            st, pad = layer.stride, layer.padding
            c, ky, kx = np.meshgrid(np.arange(C), np.arange(k), np.arange(k), indexing="ij")
            oy, ox = np.meshgrid(np.arange(layer.conv_h), np.arange(layer.conv_w),
                                 indexing="ij")
            # window element (c, ky, kx) of output (oy, ox) -> flat input index; a padded
            # position reads index C*H*W, the bipolar zero stream (bit t = t & 1)
            iy = oy.ravel()[:, None] * st + ky.ravel()[None, :] - pad
            ix = ox.ravel()[:, None] * st + kx.ravel()[None, :] - pad
            inside = (iy >= 0) & (iy < H) & (ix >= 0) & (ix < W)
            self.window = np.where(inside, c.ravel()[None, :] * H * W + iy * W + ix, C * H * W)
            self.padded = bool(pad)
            if layer.pooled:
                # pooling window j's member (dy, dx) -> flat (f, y, x) index of the counts
                kp, sp, Ho, Wo = layer.pool, layer.pool_step, layer.conv_h, layer.conv_w
                f, py, px = np.meshgrid(np.arange(layer.filters), np.arange(layer.out_h),
                                        np.arange(layer.out_w), indexing="ij")
                dy, dx = np.meshgrid(np.arange(kp), np.arange(kp), indexing="ij")
                self.pool_index = (f.ravel()[:, None] * Ho * Wo
                                   + (py.ravel()[:, None] * sp + dy.ravel()[None, :]) * Wo
                                   + px.ravel()[:, None] * sp + dx.ravel()[None, :])
        self.reset()

    def reset(self, image: int = 0) -> None:
        """Counters and pooling state start afresh for every image."""
        self.image = image
        lay = self.layer
        units = lay.out_count
        self.state = np.full(units, self.s0, dtype=np.int64)
        self.acc = np.zeros(units, dtype=np.int64)
        if lay.pooled:
            self.seg_sum = np.zeros((units, lay.pool * lay.pool), dtype=np.int64)
            self.sel = np.full(units, self.pool_first, dtype=np.int64)
            self.selections: list[np.ndarray] = []

    # ------------------------------------------------------------ the blocks of one step
    def mux(self, t: int, x_t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The shared FC's input MUXes: group k selects input k + G*m(t) (bias last, the
        constant-1 stream); returns (selected input indices, which are real, their bits)."""
        lay = self.layer
        G, n = lay.groups, lay.fan_in
        xin = np.append(x_t, np.uint8(1))
        idx = np.arange(G) + G * int(self.wts.select[t])
        idx_c = np.minimum(idx, n - 1)
        return idx_c, idx < n, xin[idx_c]

    def products(self, t: int, x_t: np.ndarray | tuple) -> np.ndarray:
        """The XNOR array: the uint8 products of step t's input bits x_t (flat; in a shared
        FC the MUX outputs) with the weight bits, per inner product, bias last."""
        lay = self.layer
        wbits = self.wts.bits_at(t, self.image)  # (units, fan_in) weight bits at this step
        if lay.shared_fc:
            idx_c, valid, xsel = x_t  # slots past the fan-in carry bit t & 1 (exact zero)
            prod = 1 - (xsel[None, :] ^ wbits[:, idx_c])
            return np.where(valid[None, :], prod, t & 1).astype(np.uint8)
        if lay.kind == "conv":
            if self.padded:
                x_t = np.append(x_t, np.uint8(t & 1))
            xs = x_t[self.window]  # (P, fan_in - 1)
            prod = 1 - (xs[None, :, :] ^ wbits[:, None, : lay.fan_in - 1])  # (F, P, n-1)
            bias = np.broadcast_to(wbits[:, None, lay.fan_in - 1 :], prod.shape[:2] + (1,))
            return np.concatenate([prod, bias], axis=-1).astype(np.uint8)
        xin = np.append(x_t, np.uint8(1))  # bias input is the constant-1 stream
        return (1 - (xin[None, :] ^ wbits)).astype(np.uint8)

    def count(self, prod: np.ndarray) -> np.ndarray:
        """The APC or exact parallel counter of every inner product."""
        return _count(prod, self.approx)

    def pool(self, t: int, v: np.ndarray) -> np.ndarray:
        """Segment max pooling (conv layers with 2x2 pooling); the counts pass otherwise."""
        lay = self.layer
        if not lay.pooled:
            return v.ravel()
        v = v.ravel()[self.pool_index]  # (pooling units, pool^2)
        fwd = v[np.arange(len(v)), self.sel]
        self.seg_sum += v
        if (t % self.L) % lay.pool_segment == lay.pool_segment - 1:
            self.selections.append(self.sel.copy())
            # comparator: largest segment count wins, ties to the last input
            self.sel = v.shape[1] - 1 - np.argmax(self.seg_sum[:, ::-1], axis=1)
            self.seg_sum[:] = 0
        return fwd

    def activate(self, v: np.ndarray) -> np.ndarray:
        """The Btanh up/down counters' output bits (a last layer: its output counters add)."""
        lay = self.layer
        v = v.ravel()  # an unpooled conv's counts are (filters, positions)
        if lay.activation == "none":
            self.acc += v
            return np.zeros(lay.out_count, dtype=np.uint8)
        self.state = np.clip(self.state + 2 * v - lay.btanh_n, 0, self.r - 1)
        return (self.state >= self.r // 2).astype(np.uint8)

    def step(self, t: int, x_t: np.ndarray) -> np.ndarray:
        """One whole step (all blocks at once): consume input bits x_t (flat, uint8) of stream
        position t; return the output bits."""
        x = self.mux(t, x_t) if self.layer.shared_fc else x_t
        return self.activate(self.pool(t, self.count(self.products(t, x))))
