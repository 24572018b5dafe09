"""One conv2d / dense layer on SOT-MRAM computational sub-arrays, behind the fabric interface.

Hardware of a layer (blocks, one ledger entry each):

* ``compute`` (kind ``pim_subarray``): the sub-arrays' SOT-MRAM cells; actions ``write`` (an
  activation bit-plane bit written through the heavy-metal strip), ``and`` (one bit-line of a
  dual-row AND sensing), ``read`` (one bit-line of a single-row read), ``sense_error`` (fault
  events, no energy);
* ``sense_amp`` per bit-line, ``bit_counter`` (per counted bit), ``shift_adder`` (one per
  sub-array);
* the digital unit's lanes: ``accumulate`` (chunk partial sums and alpha P - beta S),
  ``digital_mac`` (scaling by the steps, bias, batch norm), ``digital_compare`` (ReLU,
  re-quantization, max pooling);
* ``buffer`` (kind ``memory``): the SOT-MRAM feature-map bank holding the layer's input: the
  input feature map is written into it once per image (for the first layer: the input image
  load) and every window's bits are read from it when they are written into the sub-arrays.

The layer waits for its whole input (``waits_for = "image"``) and emits its output at its last
step. :meth:`PimLayerModel.compute` is the fast path (one integer GEMM of the codes per group,
exact by the bit-plane identity); the per-cycle model (``percycle.py``) does every window's
AND/bit-count/shift-add in plain Python integers. Both apply the same sensing-error flips.
"""

from __future__ import annotations

from dataclasses import dataclass
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
from archsim.engine.kinds import register_block_kind
from archsim.engine.ledger import Action, Block
from archsim.fabrics.pim_bitplane.bitplane import gemm_dtype, im2col
from archsim.fabrics.pim_bitplane.faults import Flips, draw_flips, flip_delta
from archsim.fabrics.pim_bitplane.mapping import LayerMapping
from archsim.workload import BatchNorm, Conv2d, Flatten, MaxPool, Quantize, Relu
from archsim.workload.batchnorm import batchnorm
from archsim.workload.forward import pool
from archsim.workload.quantize import quantize_activation_codes

for _name, _role, _what in (
    ("pim_subarray", "storage", "computational SOT-MRAM sub-array cells (bit-plane rows)"),
    ("bit_counter", "compute", "bit-counters of sensed rows"),
    ("shift_adder", "compute", "shift-and-add of counts into partial sums"),
    ("digital_unit", "compute", "digital unit: accumulation, scaling, batch norm, ReLU, "
                                "re-quantization, pooling"),
):
    register_block_kind(_name, _role, _what)


@dataclass(frozen=True)
class DigitalOps:
    """What the digital unit does after a layer's accumulation: the workload stage's ops."""

    ops: tuple[Any, ...]  # the stage's ops after the weighted op
    batchnorm: dict[str, Any]  # batchnorm op name -> params
    out_bits: int | None  # bits of the output codes (None: last layer, real outputs)

    def macs_per_output(self) -> int:
        return 1 + sum(isinstance(o, BatchNorm) for o in self.ops)

    def compares_per_output(self) -> int:
        return sum(isinstance(o, (Relu, Quantize)) for o in self.ops)

    def pool_compares(self) -> int:
        n = 0
        for o in self.ops:
            if isinstance(o, MaxPool):
                n += int(np.prod(o.out_shape)) * (o.kernel[0] * o.kernel[1] - 1)
        return n

    def apply(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(values, codes) of the stage output for ``z`` (one image, no batch axis): the ops
        in float64 as the workload reference computes them; codes after a quantize."""
        x = z[None]
        codes: np.ndarray | None = None
        levels = 1.0
        for op in self.ops:
            if isinstance(op, (BatchNorm, Quantize)) and codes is not None:
                x, codes = codes / levels, None  # the values of the codes, as the reference
            if isinstance(op, BatchNorm):
                x = batchnorm(x, self.batchnorm[op.name], image_ndim=len(op.in_shape))
            elif isinstance(op, Relu):
                if codes is None:
                    x = np.maximum(x, 0.0)
                else:
                    codes = np.maximum(codes, 0)
            elif isinstance(op, Quantize):
                codes, levels = quantize_activation_codes(x, op.bits), float(op.levels)
            elif isinstance(op, MaxPool):
                # on codes, the values follow: max(a / L, b / L) == max(a, b) / L exactly
                if codes is None:
                    x = pool(op, x)
                else:
                    codes = pool(op, codes)
            elif isinstance(op, Flatten):
                if codes is None:
                    x = x.reshape(1, -1)
                else:
                    codes = codes.reshape(1, -1)
            # Identity ("none"): nothing
        if codes is not None:
            return codes[0] / levels, codes[0]
        return x[0], None


class PimLayerModel(LayerModel):
    """A weighted op mapped onto sub-arrays (see the module docstring)."""

    waits_for = "image"

    def __init__(self, op: Any, codes: np.ndarray, keep: np.ndarray | None, u: np.ndarray,
                 alpha: int, beta: int, step_w: float, bias: np.ndarray | None,
                 step_x: float, act_max: int, mp: LayerMapping, digital: DigitalOps,
                 blocks: dict[str, Block], digital_latency: int, is_last: bool,
                 fault_rate: float, seed: int, in_bits: int) -> None:
        self.name = op.name
        self.op, self.mp, self.digital = op, mp, digital
        self.codes, self.keep, self.u = codes, keep, u
        self.alpha, self.beta, self.step_w, self.bias = alpha, beta, step_w, bias
        self.step_x, self.act_max, self.is_last = step_x, act_max, is_last
        self.fault_rate, self.seed = fault_rate, seed
        self.blocks = blocks
        self.memory_block = "compute"
        self.digital_latency = digital_latency
        self.depth_cycles = 2 + digital_latency  # bit-counter, shift-adder, digital unit
        self.in_elems = int(np.prod(op.in_shape))
        self.in_bits = in_bits
        f = op.weight_shape[0]
        self.codes2 = codes.reshape(f, -1)
        self.keep2 = None if keep is None else keep.reshape(f, -1)
        self.u2 = u.reshape(f, -1)
        self.code_max = int(np.abs(codes).max()) if codes.size else 0
        # the GEMM operands of each group (the kept filters' codes over the kept columns), in
        # the one float type that keeps every partial sum exact (bitplane.gemm_dtype)
        self.gemm_dtype = gemm_dtype(max(mp.n_g, default=0), self.code_max, act_max)
        per = f // mp.groups
        self._all_cols = [len(kc) == self.codes2.shape[1] for kc in mp.kept_cols]
        self.group_codes: list[np.ndarray] = []
        for g, (kf, kc) in enumerate(zip(mp.kept_filters, mp.kept_cols, strict=True)):
            rows = (self.codes2[g * per:(g + 1) * per] if len(kf) == per
                    else self.codes2[kf])
            block = rows if self._all_cols[g] else rows[:, kc]
            self.group_codes.append(np.ascontiguousarray(block, dtype=self.gemm_dtype))
        n = mp.step_windows()
        interval = mp.interval(n, f, first=True)
        self._sched = Schedule(interval=interval, cum_interval=np.cumsum(interval),
                               stall_cycles=int((interval - 1).sum()),
                               emit_from=len(interval) - 1)
        self.step_n = n
        self._win = mp.window_counts()
        self._win["digital_mac"] = {"mac": f * digital.macs_per_output()}
        self._win["digital_compare"] = {"compare": f * digital.compares_per_output()}

    # ---------------------------------------------------------------- interface
    def stages(self) -> list[Stage]:
        return [Stage("compute", 0), Stage("bit_counter", 1), Stage("shift_adder", 1),
                Stage("digital_mac", self.digital_latency)]

    def load_actions(self) -> Actions:
        return {"compute": {"write": self.mp.weight_bits}}

    def load_cycles(self) -> int:
        return self.mp.load_cycles

    def schedule(self) -> Schedule:
        return self._sched

    def flips(self, image: int) -> Flips:
        return draw_flips(self.mp, self.fault_rate, self.seed, image)

    def columns(self, data: np.ndarray) -> list[np.ndarray]:
        """Per group, the kept im2col columns (N_g, P) of the input codes, as exact integers
        in the GEMM's float type."""
        x: np.ndarray = np.asarray(data).astype(self.gemm_dtype)  # exact integer codes
        if isinstance(self.op, Conv2d):
            cols = im2col(x.reshape(self.op.in_shape), self.op.kernel, self.op.stride,
                          self.op.padding, self.op.groups)
        else:
            cols = x.reshape(1, -1, 1)
        return [cols[g] if self._all_cols[g] else cols[g][kc]
                for g, kc in enumerate(self.mp.kept_cols)]

    def accumulate(self, act: list[np.ndarray]) -> np.ndarray:
        """acc (F, P): the kept filters' integer dot products (unmapped filters 0), one exact
        GEMM of the codes per group (:func:`~.bitplane.gemm_dtype`: integer values held
        exactly in the GEMM's float type)."""
        f = self.op.weight_shape[0]
        per = f // self.mp.groups
        if self.mp.groups == 1 and len(self.mp.kept_filters[0]) == f:
            if not self.group_codes[0].shape[1]:
                return np.zeros((f, self.mp.positions), dtype=self.gemm_dtype)
            out: np.ndarray = np.matmul(self.group_codes[0], act[0])
            return out
        acc = np.zeros((f, self.mp.positions), dtype=self.gemm_dtype)
        for g, (kf, wc, a) in enumerate(zip(self.mp.kept_filters, self.group_codes, act,
                                            strict=True)):
            if len(kf) and wc.shape[1]:
                if len(kf) == per:
                    np.matmul(wc, a, out=acc[g * per:(g + 1) * per])
                else:
                    acc[kf] = np.matmul(wc, a)
        return acc

    def fault(self, acc: np.ndarray, act: list[np.ndarray], flips: Flips,
              sel: np.ndarray | None = None) -> None:
        """Apply the sensing-error flips (``sel``: a subset) to ``acc`` in place."""
        if len(flips) == 0:
            return
        s = np.ones(len(flips), dtype=bool) if sel is None else sel
        f, p, d = flip_delta(flips, s, self.u2, self.keep2, act, self.mp, self.alpha,
                             self.beta)
        np.add.at(acc, (f, p), d)

    def finish_output(self, acc: np.ndarray) -> LayerOutput:
        """The digital unit on the accumulations of the whole image."""
        z = acc.astype(np.float64) * (self.step_x * self.step_w)
        if self.bias is not None:
            z = z + self.bias[:, None]
        z = z.reshape(self.op.out_shape)
        values, codes = self.digital.apply(z)
        if self.is_last:
            return LayerOutput(data=values, value=values, scores=values, trace_bits=values)
        assert codes is not None
        return LayerOutput(data=codes, value=values, trace_bits=codes)

    def compute(self, data: Any, image: int, detail: bool = False) -> LayerOutput:
        act = self.columns(data)
        acc = self.accumulate(act)
        flips = self.flips(image)
        if len(flips):
            acc = acc.astype(np.int64)
            self.fault(acc, [a.astype(np.int64) for a in act], flips)
        out = self.finish_output(acc)
        if len(flips):
            out.events = {"compute": {"sense_error": len(flips)}}
        return out

    def step_actions(self, s: int) -> Actions:
        """Actions of step ``s`` (data independent, fault events excluded)."""
        n = int(self.step_n[s])
        acts = {b: {a: c * n for a, c in d.items()} for b, d in self._win.items()}
        if s == 0:  # the input feature map arrives in the layer's bank
            acts["buffer"]["write"] = self.in_elems * self.in_bits
        if s == len(self.step_n) - 1:
            acts["digital_compare"]["compare"] += self.digital.pool_compares()
        return acts

    def image_actions(self, sched: Schedule, out: LayerOutput) -> Actions:
        total: Actions = {}
        steps = len(self.step_n)
        # every step but the first and last has the same counts: scale one of them
        firsts = {0, steps - 1}
        for s in sorted(firsts):
            for b, d in self.step_actions(s).items():
                t = total.setdefault(b, {})
                for a, c in d.items():
                    t[a] = t.get(a, 0) + c
        middle = int(self.step_n[1:-1].sum()) if steps > 2 else 0
        for b, d in self._win.items():
            t = total.setdefault(b, {})
            for a, c in d.items():
                t[a] = t.get(a, 0) + c * middle
        for b, d in out.events.items():
            t = total.setdefault(b, {})
            for a, c in d.items():
                t[a] = t.get(a, 0) + c
        return total

    def percycle(self) -> PerCycleModel:
        from archsim.fabrics.pim_bitplane.percycle import PimPerCycle

        return PimPerCycle(self)


def make_blocks(layer: str, mp: LayerMapping, cfg: Any, compute_tech: Any,
                buffer_tech: Any, buffer_bits: int) -> dict[str, Block]:
    """The layer's blocks (see the module docstring) with their costs."""
    per = cfg.periphery
    t = compute_tech
    cols = mp.subarrays * cfg.subarray.columns

    def unit(name: str, kind: str, n: int, action: str, lu: Any, what: str) -> Block:
        return Block(name, layer, kind, n, {action: Action(action, lu.energy.value)},
                     lu.area.value, lu.leakage.value, what)

    return {
        "compute": Block("compute", layer, "pim_subarray",
                         mp.subarrays * cfg.subarray.rows * cfg.subarray.columns,
                         {"write": Action("write", t.write_energy_per_bit.value),
                          "and": Action("and", t.and_energy_per_bit.value),
                          "read": Action("read", t.read_energy_per_bit.value),
                          "sense_error": Action("sense_error", 0.0)},
                         t.cell_area.value, t.leakage_per_bit.value,
                         f"{mp.subarrays} SOT-MRAM sub-arrays of {cfg.subarray.rows} x "
                         f"{cfg.subarray.columns}"),
        "sense_amp": unit("sense_amp", "sense_amp", cols, "sense", per.sense_amp,
                          "sense amplifiers, one per bit-line"),
        "bit_counter": unit("bit_counter", "bit_counter", cols, "count", per.bit_counter,
                            "bit-counters (per counted column)"),
        "shift_adder": unit("shift_adder", "shift_adder", mp.subarrays, "add",
                            per.shift_adder, "shift-adders, one per sub-array"),
        "accumulate": unit("accumulate", "digital_unit", cfg.digital_lanes, "add",
                           per.accumulate, "digital unit: integer adders"),
        "digital_mac": unit("digital_mac", "digital_unit", cfg.digital_lanes, "mac",
                            per.digital_mac, "digital unit: multiply-add lanes"),
        "digital_compare": unit("digital_compare", "digital_unit", cfg.digital_lanes,
                                "compare", per.digital_compare,
                                "digital unit: compare/select lanes"),
        "buffer": Block("buffer", layer, "memory", buffer_bits,
                        {"read": Action("read", buffer_tech.read_energy_per_bit.value),
                         "write": Action("write", buffer_tech.write_energy_per_bit.value)},
                        buffer_tech.cell_area.value, buffer_tech.leakage_per_bit.value,
                        "SOT-MRAM feature-map bank (the layer's input)"),
    }
