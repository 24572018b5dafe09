"""One BNN layer on its hardware: weight arrays, XNOR-popcount lanes, accumulators, thresholds.

The hardware of a layer (``docs/bnn-model.md``): its weights, one row of ``columns`` bits per
(neuron, fan-in segment), sit in arrays of ``rows`` x ``columns`` ST-MRAM (or SRAM) bits.
``arrays`` of them are read in parallel each step; each read row goes through one lane:

* the XNOR of the weight bits with the input bits (in the 2T-2MTJ sense amplifier, or an XNOR
  gate after a 1T-1MTJ / SRAM read), a popcount tree of ``columns`` inputs, the accumulator
  of the neuron, and, when the neuron's last segment (of its last pass) is in, the per-neuron
  integer threshold (the batchnorm folded) giving its binary activation;
* for a fixed-point first layer with the ``adder`` datapath: the conditional negation of the
  8-bit pixels by the weight bits and a multi-bit adder tree instead of XNOR + popcount.

A layer's work is ``ops = positions x outputs x passes x segments`` row reads in the order
(position, neuron, pass, segment), ``arrays`` per step; a step takes the row-read latency in
cycles. Passes are the stochastic presentations (SC input), the 8 bit planes (bit-serial
fixed-point input) or 1. A first layer that accumulates (SC ``first_layer`` combination,
bit-serial) adds its passes into one accumulator; otherwise every pass gives its own output
(the network runs once per presentation). The layer waits for its whole input, and emits its
output at its last step (``waits_for = "image"``); pipeline: lane front (combinational with
the read) -> popcount (1 cycle) -> accumulator (1) -> threshold (1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from archsim.engine.fabric import (
    Actions,
    LayerModel,
    LayerOutput,
    PerCycleModel,
    Schedule,
    Stage,
)
from archsim.engine.ledger import Block
from archsim.fabrics.bnn.faults import READ
from archsim.fabrics.bnn.mapping import LayerShape
from archsim.sc import kernels
from archsim.sc.rng import pack_bits
from archsim.workload.batchnorm import BatchNormParams, batchnorm

__all__ = ["BnnLayerModel", "LayerPlan", "pool_or"]


@dataclass
class LayerPlan:
    """The elaborated arithmetic of one layer (what both engines compute)."""

    shape: LayerShape
    mode: str  # "bipolar" (+-1 inputs) | "sc" | "bit_serial" | "adder" (first layer)
    passes: int  # Q: presentations, bit planes or 1
    accumulate: bool  # the passes add into one accumulator
    scale: np.ndarray  # int64[Q]: weight of each pass in the accumulator
    divisor: float  # pre-activation = integer / divisor
    columns: int
    lanes: int  # arrays read in parallel
    read_cycles: int
    w_pm: np.ndarray  # int64[M, K] +-1: the stored weights (write errors included)
    w_sum: np.ndarray  # int64[M]: sum of the model's weights (folded into the thresholds)
    bn: BatchNormParams
    threshold: np.ndarray  # int64[M]: on the layer's integer (the contract's a or A)
    negate: np.ndarray  # bool[M]
    read_ber: float = 0.0
    seed: int = 1
    src: np.ndarray = field(init=False)  # int64[R, K] im2col (-1: padding)
    w_packed: np.ndarray = field(init=False)
    valid: np.ndarray = field(init=False)  # uint64[R, W]
    s_threshold: np.ndarray = field(init=False)  # int64[M]: on the kernel's sums
    count_planes: int = field(init=False)
    count_scale: np.ndarray = field(init=False)
    count_s_threshold: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        sh = self.shape
        self.src = sh.im2col()
        self.w_packed = pack_bits(self.w_pm > 0)
        if self.unipolar:  # the padded inputs are 0 bits, counted through the weight sums
            self.valid = pack_bits(np.ones((sh.positions, sh.fan_in), np.uint8))
        else:  # +-1 inputs: a padded input is 0, masked out of the lane
            self.valid = pack_bits(self.src >= 0)
        t = np.clip(self.threshold, -(1 << 60), 1 << 60)
        # unipolar input x in {0, 1}: integer = (S + C w_sum) / 2 with S the XNOR sums
        self.s_threshold = 2 * t - self.c_total * self.w_sum if self.unipolar else t.copy()
        # the fast engine's shortcut for accumulated 0/1 passes of scale 1 (SC first layer):
        # sum_n w . b_n = w . c with c the per-input count of ones, fed to the same lanes as
        # its B = bit_length(N) bit planes (scales 2^b): B passes instead of N, same integers
        self.count_planes = int(self.passes).bit_length()
        c_planes = (1 << self.count_planes) - 1
        self.count_scale = (1 << np.arange(self.count_planes)).astype(np.int64)
        self.count_s_threshold = 2 * t - c_planes * self.w_sum

    @property
    def unipolar(self) -> bool:
        return self.mode in ("sc", "bit_serial")

    @property
    def c_total(self) -> int:
        return int(self.scale.sum()) if self.accumulate else 1

    @property
    def segments(self) -> int:
        return -(-self.shape.fan_in // self.columns)

    @property
    def hw_passes(self) -> int:
        return 1 if self.mode == "adder" else self.passes

    @property
    def ops(self) -> int:
        sh = self.shape
        return sh.positions * sh.outputs * self.hw_passes * self.segments

    @property
    def steps(self) -> int:
        return -(-self.ops // self.lanes)

    @property
    def out_batch(self) -> int:
        return 1 if self.accumulate or self.mode == "adder" else self.passes

    @property
    def acc_bits(self) -> int:
        k = self.shape.fan_in
        bound = {"bipolar": k, "sc": k * self.c_total, "bit_serial": 255 * k, "adder": 255 * k}
        return math.ceil(math.log2(bound[self.mode] + 1)) + 1

    # -------------------------------------------------------------- the integer arithmetic
    def integers(self, sums: np.ndarray) -> np.ndarray:
        """The layer's integers (the contract's a or A) from the lanes' sums."""
        if self.unipolar:
            return (sums + self.c_total * self.w_sum) // 2
        return sums

    def scores(self, ints: np.ndarray) -> np.ndarray:
        """Batchnorm of the last layer, float64 per pass: ``(B, M)``."""
        x = ints.astype(np.float64)
        return batchnorm(x if self.divisor == 1.0 else x / self.divisor, self.bn,
                         image_ndim=1)

    def threshold_bits(self, ints: np.ndarray) -> np.ndarray:
        return np.where(self.negate, ints <= self.threshold,
                        ints >= self.threshold).astype(np.uint8)


def pack_rows(bits: np.ndarray) -> np.ndarray:
    """0/1 ``uint8[..., K]`` -> ``uint64[..., ceil(K/64)]``, bit k in bit k % 64 of word k // 64
    (the layout of ``archsim.sc.rng.pack_bits``, without its conversions)."""
    k = bits.shape[-1]
    pad = -k % 64
    if pad:
        bits = np.concatenate([bits, np.zeros(bits.shape[:-1] + (pad,), np.uint8)], axis=-1)
    return np.packbits(bits, axis=-1, bitorder="little").view("<u8")


def pool_or(bits: np.ndarray, shape: LayerShape) -> np.ndarray:
    """``(B, R, M)`` thresholded bits -> ``(B, n_out)`` in (C, H, W) order, OR-pooled."""
    b = bits.shape[0]
    ho, wo = shape.conv_hw
    maps = bits.transpose(0, 2, 1).reshape(b, shape.outputs, ho, wo)
    if shape.pool is not None:
        k, s = shape.pool
        oh, ow = shape.out_shape[1], shape.out_shape[2]
        out = np.zeros((b, shape.outputs, oh, ow), dtype=np.uint8)
        for dy in range(k):
            for dx in range(k):
                out |= maps[:, :, dy:dy + s * (oh - 1) + 1:s, dx:dx + s * (ow - 1) + 1:s]
        maps = out
    return maps.reshape(b, -1)


class BnnLayerModel(LayerModel):
    """A BNN layer behind the fabric interface."""

    waits_for = "image"

    def __init__(self, plan: LayerPlan, blocks: dict[str, Block], front: str,
                 sng: Any = None) -> None:
        self.plan = plan
        self.name = plan.shape.name
        self.blocks = blocks
        self.front = front
        self.memory_block = "weights"
        self.depth_cycles = 3
        self.sng = sng  # the first layer of an SC design: (kind, phases, seed, presentations)
        steps = plan.steps
        interval = np.full(steps, plan.read_cycles, dtype=np.int64)
        self._sched = Schedule(interval=interval, cum_interval=np.cumsum(interval),
                               stall_cycles=int((interval - 1).sum()), emit_from=steps - 1)
        self._step_ops, self._step_done = self._step_counts()
        self._image_actions = self._actions(int(self._step_ops.sum()),
                                            int(self._step_done.sum()), last_step=True)

    # ----------------------------------------------------------------------- structure
    def stages(self) -> list[Stage]:
        tree = "adder" if self.plan.mode == "adder" else "popcount"
        return [Stage(self.front, 0), Stage(tree, 1), Stage("accumulator", 1),
                Stage("threshold", 1)]

    def _step_counts(self) -> tuple[np.ndarray, np.ndarray]:
        """Row reads and completed neuron outputs (thresholds) of every step."""
        p = self.plan
        ops, lanes, steps = p.ops, p.lanes, p.steps
        per = np.full(steps, lanes, dtype=np.int64)
        per[-1] = ops - lanes * (steps - 1)
        # an output completes at its last segment (of the last pass if the passes accumulate)
        block = p.segments * (p.hw_passes if p.accumulate else 1)
        done_at = np.arange(block - 1, ops, block, dtype=np.int64)
        done = np.bincount(done_at // lanes, minlength=steps).astype(np.int64)
        return per, done

    def _actions(self, ops: int, done: int, last_step: bool) -> Actions:
        p = self.plan
        bits = ops * p.columns
        a: Actions = {"weights": {"read": bits + done * p.acc_bits}}
        if "row_read" in self.blocks["weights"].actions:
            a["weights"]["row_read"] = ops
        if "sense_amp" in self.blocks:
            a["sense_amp"] = {"sense": bits}
        if "xnor" in self.blocks:
            a["xnor"] = {"xnor": bits}
        if p.mode == "adder":
            a["adder"] = {"add": bits * 8}
        else:
            a["popcount"] = {"count": bits}
        a["accumulator"] = {"shift_add" if p.mode == "bit_serial" else "add": ops * p.acc_bits}
        a["threshold"] = {"compare": done * p.acc_bits}
        if last_step:
            sh = p.shape
            if sh.pool is not None:
                a["pool"] = {"or": p.out_batch * sh.n_out * sh.pool[0] ** 2}
            a["act_buffer"] = {"write": p.out_batch * sh.n_out}
        return a

    def load_actions(self) -> Actions:
        p = self.plan
        stored = p.shape.outputs * (p.shape.fan_in + p.acc_bits)
        acts: Actions = {"weights": {"write": stored}}
        events = getattr(self, "write_flips", 0)
        if "write_error" in self.blocks["weights"].actions:
            acts["weights"]["write_error"] = int(events)
        return acts

    def schedule(self) -> Schedule:
        return self._sched

    # ------------------------------------------------------------------------ fast path
    def input_rows(self, data: Any, image: int) -> np.ndarray:
        """The lanes' input bits ``(B, R, K)`` (uint8) of one image."""
        p = self.plan
        if p.mode == "sc":
            from archsim.fabrics.bnn.sng import random_numbers

            kind, phases, seed, n = self.sng
            r = random_numbers(kind, phases, seed, image, n)
            flat = (r < data[None, :].astype(np.int64)).astype(np.uint8)
        elif p.mode == "bit_serial":
            flat = ((data[None, :].astype(np.int64) >> np.arange(8)[:, None]) & 1).astype(
                np.uint8)
        else:
            flat = data
        if p.shape.kind == "dense":
            return flat[:, None, :]
        padded = np.concatenate([flat, np.zeros((flat.shape[0], 1), flat.dtype)], axis=1)
        return padded[:, p.src]  # index -1 reads the appended 0

    def lane_integers(self, data: Any, image: int) -> tuple[np.ndarray, np.ndarray | None,
                                                             int]:
        """The layer's integers ``(B, R, M)``, the kernel's bits (None if recomputed) and the
        read-error events of one image."""
        p = self.plan
        sh = p.shape
        flips = np.zeros(0, dtype=np.int64)
        if p.read_ber > 0:
            flips = READ.flips(p.seed, self.name, image, p.ops * p.columns, p.read_ber)
        if p.mode == "adder":
            px = data.astype(np.int64)
            x = px if sh.kind == "dense" else np.concatenate([px, [0]])[p.src]
            ints = (x.reshape(sh.positions, sh.fan_in) @ p.w_pm.T)[None]
            if len(flips):
                op, col = np.divmod(flips, p.columns)
                seg = op % p.segments
                j = (op // p.segments) % sh.outputs
                r = op // (p.segments * sh.outputs)
                k = seg * p.columns + col
                ok = k < sh.fan_in
                r, j, k = r[ok], j[ok], k[ok]
                xs = x.reshape(sh.positions, sh.fan_in)[r, k]
                np.add.at(ints, (np.zeros_like(r), r, j), -2 * p.w_pm[j, k] * xs)
            return ints, None, len(flips)
        rows = self.input_rows(data, image)  # (B, R, K)
        b = rows.shape[0]
        neg = p.negate.astype(np.uint8)
        if p.mode == "sc" and p.accumulate and not len(flips):  # count planes (see LayerPlan)
            counts = rows.sum(axis=0, dtype=np.int64)
            planes = ((counts[None] >> np.arange(p.count_planes)[:, None, None]) & 1)
            kbits, sums = kernels.bnn_xnor_popcount_threshold(
                pack_rows(planes.astype(np.uint8)), p.w_packed, p.valid, p.count_scale,
                p.count_s_threshold, neg)
            c_planes = (1 << p.count_planes) - 1
            ints = ((sums + c_planes * p.w_sum) // 2).reshape(-1, sh.positions, sh.outputs)
            return ints, kbits.reshape(-1, sh.positions, sh.outputs), 0
        packed = pack_rows(rows)  # (B, R, W)
        if p.accumulate:
            x, valid = packed, p.valid
        else:
            x = packed.reshape(1, b * sh.positions, -1)
            valid = np.tile(p.valid, (b, 1))
        scale = p.scale if p.accumulate else np.ones(1, np.int64)
        thr = p.s_threshold
        kbits, sums = kernels.bnn_xnor_popcount_threshold(x, p.w_packed, valid, scale, thr, neg)
        bits: np.ndarray | None = kbits
        if len(flips):
            bits = None
            op, col = np.divmod(flips, p.columns)
            seg = op % p.segments
            q = (op // p.segments) % p.hw_passes
            j = (op // (p.segments * p.hw_passes)) % sh.outputs
            r = op // (p.segments * p.hw_passes * sh.outputs)
            k = seg * p.columns + col
            ok = k < sh.fan_in
            if not p.unipolar:
                ok &= p.src[np.minimum(r, sh.positions - 1), np.minimum(k, sh.fan_in - 1)] >= 0
            r, j, q, k = r[ok], j[ok], q[ok], k[ok]
            xb = rows[q, r, k].astype(np.int64)
            wb = (p.w_pm[j, k] > 0).astype(np.int64)
            delta = 2 * (1 - 2 * (1 - (xb ^ wb)))  # the XNOR bit inverts
            if p.accumulate:
                np.add.at(sums, (r, j), p.scale[q] * delta)
            else:
                np.add.at(sums, (q * sh.positions + r, j), delta)
        ints = p.integers(sums).reshape(-1, sh.positions, sh.outputs)
        if bits is not None:
            bits = bits.reshape(-1, sh.positions, sh.outputs)
        return ints, bits, len(flips)

    def compute(self, data: Any, image: int, detail: bool = False) -> LayerOutput:
        ints, bits, n_flips = self.lane_integers(data, image)
        events: Actions = {"weights": {"read_error": n_flips}} if n_flips else {}
        return self.output(ints, bits, events)

    def output(self, ints: np.ndarray, bits: np.ndarray | None,
               events: Actions) -> LayerOutput:
        """The layer's output from its integers ``(B, R, M)`` (both engines)."""
        p = self.plan
        if p.shape.is_last:
            per_pass = p.scores(ints[:, 0, :])
            return LayerOutput(data=None, value=per_pass.mean(axis=0),
                               scores=self.combine(per_pass), events=events,
                               trace_bits=ints[:, 0, :].copy())
        if bits is None:
            bits = p.threshold_bits(ints)
        out = pool_or(bits, p.shape)
        value = 2.0 * out[0] - 1.0 if len(out) == 1 else (2.0 * out - 1.0).mean(axis=0)
        return LayerOutput(data=out, value=value, events=events, trace_bits=pack_rows(out))

    def combine(self, per_pass: np.ndarray) -> np.ndarray:
        """The class scores of an image from the per-pass scores of the last layer."""
        rule = getattr(self, "rule", "first_layer")
        if rule == "output_vote" and len(per_pass) > 1:
            votes = np.argmax(per_pass, axis=1)
            return np.bincount(votes, minlength=per_pass.shape[1]).astype(np.float64)
        return per_pass.sum(axis=0)

    def image_actions(self, sched: Schedule, out: LayerOutput) -> Actions:
        if not out.events:
            return self._image_actions
        acts = {b: dict(c) for b, c in self._image_actions.items()}
        for block, counts in out.events.items():
            for a, n in counts.items():
                acts.setdefault(block, {})[a] = acts.get(block, {}).get(a, 0) + n
        return acts

    def step_actions(self, s: int, flips: int) -> Actions:
        """Actions of step ``s`` (per-cycle engine), ``flips`` read errors included."""
        acts = self._actions(int(self._step_ops[s]), int(self._step_done[s]),
                             last_step=s == self.plan.steps - 1)
        if flips:
            acts["weights"]["read_error"] = flips
        return acts

    def percycle(self) -> PerCycleModel:
        from archsim.fabrics.bnn.percycle import BnnPerCycle

        return BnnPerCycle(self)
