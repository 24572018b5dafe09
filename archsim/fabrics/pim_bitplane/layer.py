"""One conv2d / dense layer on SOT-MRAM computational sub-arrays, behind the fabric interface.

Hardware of a layer (blocks, one ledger entry each):

* ``compute`` (kind ``pim_subarray``): the sub-arrays' SOT-MRAM cells; actions ``write`` (an
  activation bit-plane bit written through the heavy-metal strip), ``and`` (one bit-line of a
  dual-row AND sensing), ``read`` (one bit-line of a single-row read), ``sense_error`` (fault
  events, no energy);
* ``sense_amp`` per bit-line, ``bit_counter`` (per counted bit), ``shift_adder`` (one per
  sub-array);
* the digital unit's lanes: ``accumulate`` (chunk partial sums and alpha P - beta S, the
  residual ``add`` and the average pool's sums), ``digital_mac`` (scaling by the steps, bias,
  batch norm, the average pool's 1 / (kh kw)), ``digital_compare`` (ReLU, re-quantization,
  max pooling);
* ``buffer`` (kind ``memory``): the SOT-MRAM feature-map bank holding the layer's input: the
  input feature map is written into it once per image (for the first layer: the input image
  load) and every window's bits are read from it when they are written into the sub-arrays;
* ``shortcut`` (kind ``memory``, only in a layer whose digital unit reads tensors of earlier
  layers, e.g. a residual add's shortcut operand): a SOT-MRAM bank holding them (codes at
  their K bits, values at ``digital_word_bits``), written once per image when they are made,
  read by the digital unit.

The layer waits for its whole input (``waits_for = "image"``) and emits its output at its last
step. Between layers travels a *bundle* (name -> codes or values): the next layer's input and
every tensor a later layer still reads (a branch input, a shortcut operand).
:meth:`PimLayerModel.compute` is the fast path (one integer GEMM of the codes per group, exact
by the bit-plane identity); the per-cycle model (``percycle.py``) does every window's
AND/bit-count/shift-add in plain Python integers. Both apply the same sensing-error flips.
"""

from __future__ import annotations

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
from archsim.engine.kinds import register_block_kind
from archsim.engine.ledger import Action, Block
from archsim.fabrics.pim_bitplane.bitplane import gemm_dtype, im2col
from archsim.fabrics.pim_bitplane.faults import Flips, draw_flips, flip_delta
from archsim.fabrics.pim_bitplane.mapping import LayerMapping
from archsim.workload import (
    Add,
    AvgPool,
    BatchNorm,
    Conv2d,
    Flatten,
    MaxPool,
    Quantize,
    Relu,
)
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


#: A tensor in the digital unit: (array with a batch axis of 1, the divisor of its integer
#: codes, or None for values)
_Held = tuple[np.ndarray, "float | None"]


def _values(t: _Held) -> np.ndarray:
    """The values of a tensor, as the workload reference computes them (codes / divisor)."""
    arr, div = t
    return arr if div is None else arr / div


@dataclass(frozen=True)
class DigitalOps:
    """What the digital unit does after a layer's accumulation: the workload stage's ops, on
    the layer's output and on the tensors of earlier layers they read (``remote``, held in
    the layer's shortcut bank until then)."""

    ops: tuple[Any, ...]  # the stage's ops after the weighted op
    batchnorm: dict[str, Any]  # batchnorm op name -> params
    out_bits: int | None  # bits of the stage output's codes (None: values)
    layer: str = ""  # the weighted op (its output is the tensor ``z``)
    remote: dict[str, float | None] = field(default_factory=dict)
    """Tensors of earlier layers the ops read: name -> divisor of its codes (None: values)."""
    passed: tuple[str, ...] = ()
    """Tensors of this stage that later layers read (handed on with the output)."""
    held: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Per remote tensor: (elements, bits per element in the shortcut bank)."""

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

    def image_adds(self) -> int:
        """Integer adds of one image beyond the accumulation: one per output element of an
        ``add``, ``kh kw - 1`` per output element of an ``avgpool``."""
        n = 0
        for o in self.ops:
            if isinstance(o, Add):
                n += int(np.prod(o.out_shape))
            elif isinstance(o, AvgPool):
                n += int(np.prod(o.out_shape)) * (o.kernel[0] * o.kernel[1] - 1)
        return n

    def image_scales(self) -> int:
        """Multiplies of one image beyond the per-output ones: the average pool's 1 / (kh kw)
        per output element."""
        return sum(int(np.prod(o.out_shape)) for o in self.ops if isinstance(o, AvgPool))

    def shortcut_bits(self) -> int:
        """Cells of the shortcut bank: every remote tensor at its width."""
        return sum(n * b for n, b in self.held.values())

    def shortcut_reads(self) -> int:
        """Bits the digital unit reads from the shortcut bank per image (one read of a
        remote tensor per op that reads it)."""
        return sum(self.held[name][0] * self.held[name][1] for o in self.ops
                   for name in o.inputs if name in self.held)

    def apply(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(values, codes) of the stage output for ``z`` alone (a stage reading no tensor of
        an earlier layer)."""
        values, codes, _ = self.run(z, {})
        return values, codes

    def run(self, z: np.ndarray, bundle: dict[str, np.ndarray]
            ) -> tuple[np.ndarray, np.ndarray | None, dict[str, np.ndarray]]:
        """(values, codes, passed) of the stage for ``z`` (one image, no batch axis) and the
        tensors of earlier layers in ``bundle``: the ops in float64 as the workload reference
        computes them, codes where a quantize made them (kept by relu, maxpool, flatten,
        none); ``passed``: the tensors of :attr:`passed` (codes or values)."""
        env: dict[str, _Held] = {self.layer: (z[None], None)}
        for name, div in self.remote.items():
            env[name] = (np.asarray(bundle[name])[None], div)
        last = self.layer
        for op in self.ops:
            t = env[op.input]
            arr, div = t
            out: _Held
            if isinstance(op, BatchNorm):
                out = (batchnorm(_values(t), self.batchnorm[op.name],
                                 image_ndim=len(op.in_shape)), None)
            elif isinstance(op, Relu):
                out = (np.maximum(arr, 0.0) if div is None else np.maximum(arr, 0), div)
            elif isinstance(op, Quantize):
                out = (quantize_activation_codes(_values(t), op.bits), float(op.levels))
            elif isinstance(op, MaxPool):
                # on codes, the values follow: max(a / L, b / L) == max(a, b) / L exactly
                out = (pool(op, arr), div)
            elif isinstance(op, AvgPool):
                out = (pool(op, _values(t)), None)
            elif isinstance(op, Add):
                out = (_values(t) + _values(env[op.other]), None)
            elif isinstance(op, Flatten):
                out = (arr.reshape(1, -1), div)
            else:  # Identity ("none"): nothing
                out = t
            env[op.name] = out
            last = op.name
        arr, div = env[last]
        passed = {name: env[name][0][0] for name in self.passed}
        if div is not None:
            return arr[0] / div, arr[0], passed
        return arr[0], None, passed


class PimLayerModel(LayerModel):
    """A weighted op mapped onto sub-arrays (see the module docstring)."""

    waits_for = "image"

    def __init__(self, op: Any, codes: np.ndarray, keep: np.ndarray | None, u: np.ndarray,
                 alpha: int, beta: int, step_w: float, bias: np.ndarray | None,
                 step_x: float, act_max: int, mp: LayerMapping, digital: DigitalOps,
                 blocks: dict[str, Block], digital_latency: int, is_last: bool,
                 fault_rate: float, seed: int, in_bits: int,
                 carry: tuple[str, ...] = ()) -> None:
        self.name = op.name
        self.carry = carry  # tensors of earlier layers handed on to later ones
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
        self.shortcut = digital.shortcut_bits() > 0

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

    def bundle(self, data: Any) -> dict[str, np.ndarray]:
        """The tensors a layer receives (``network.PimNetwork.encode``, the previous layer's
        ``data``): name -> codes or values of its input and of the earlier layers' tensors
        the digital unit or later layers read."""
        if isinstance(data, dict):
            return data
        return {self.op.input: np.asarray(data)}  # a bare code array: the layer's input

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

    def finish_output(self, acc: np.ndarray, bundle: dict[str, np.ndarray]) -> LayerOutput:
        """The digital unit on the accumulations of the whole image (and the tensors of
        earlier layers in ``bundle``); ``data``: the tensors handed on to the next layer."""
        z = acc.astype(np.float64) * (self.step_x * self.step_w)
        if self.bias is not None:
            z = z + self.bias[:, None]
        z = z.reshape(self.op.out_shape)
        values, codes, passed = self.digital.run(z, bundle)
        if self.is_last:
            return LayerOutput(data=values, value=values, scores=values, trace_bits=values)
        nxt = {name: bundle[name] for name in self.carry}
        nxt.update(passed)
        return LayerOutput(data=nxt, value=values,
                           trace_bits=codes if codes is not None else values)

    def compute(self, data: Any, image: int, detail: bool = False) -> LayerOutput:
        bundle = self.bundle(data)
        act = self.columns(bundle[self.op.input])
        acc = self.accumulate(act)
        flips = self.flips(image)
        if len(flips):
            acc = acc.astype(np.int64)
            self.fault(acc, [a.astype(np.int64) for a in act], flips)
        out = self.finish_output(acc, bundle)
        if len(flips):
            out.events = {"compute": {"sense_error": len(flips)}}
        return out

    def step_actions(self, s: int) -> Actions:
        """Actions of step ``s`` (data independent, fault events excluded)."""
        n = int(self.step_n[s])
        acts = {b: {a: c * n for a, c in d.items()} for b, d in self._win.items()}
        if s == 0:  # the input feature map arrives in the layer's bank
            acts["buffer"]["write"] = self.in_elems * self.in_bits
            if self.shortcut:  # and the earlier layers' tensors in its shortcut bank
                acts["shortcut"] = {"write": self.digital.shortcut_bits()}
        if s == len(self.step_n) - 1:  # the digital unit's whole-image ops
            d = self.digital
            acts["digital_compare"]["compare"] += d.pool_compares()
            if self.shortcut:
                sc = acts.setdefault("shortcut", {})
                sc["read"] = sc.get("read", 0) + d.shortcut_reads()
            if d.image_adds():
                acts["accumulate"]["add"] += d.image_adds()
            if d.image_scales():
                acts["digital_mac"]["mac"] += d.image_scales()
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
                buffer_tech: Any, buffer_bits: int, shortcut_bits: int = 0) -> dict[str, Block]:
    """The layer's blocks (see the module docstring) with their costs; a ``shortcut`` bank
    of ``shortcut_bits`` cells when the digital unit reads tensors of earlier layers."""
    per = cfg.periphery
    t = compute_tech
    cols = mp.subarrays * cfg.subarray.columns

    def unit(name: str, kind: str, n: int, action: str, lu: Any, what: str) -> Block:
        return Block(name, layer, kind, n, {action: Action(action, lu.energy.value)},
                     lu.area.value, lu.leakage.value, what)

    blocks = {
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
    if shortcut_bits:
        blocks["shortcut"] = Block(
            "shortcut", layer, "memory", shortcut_bits,
            {"read": Action("read", buffer_tech.read_energy_per_bit.value),
             "write": Action("write", buffer_tech.write_energy_per_bit.value)},
            buffer_tech.cell_area.value, buffer_tech.leakage_per_bit.value,
            "SOT-MRAM shortcut bank (earlier layers' tensors the digital unit reads: the "
            "operands of a residual add)")
    return blocks
