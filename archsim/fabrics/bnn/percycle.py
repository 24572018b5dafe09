"""The per-cycle reference of a BNN layer: each block does one step's work in plain integers.

The per-cycle engine runs the layer's blocks as SimPy processes; here is what each does with
step s (its ``arrays`` row reads), in Python integers, without the packed kernel:

* front (sense amplifier / XNOR / conditional negation): each lane's weight row (a Python int
  of ``columns`` bits, read-error flips applied to the sensed bits) against its input segment:
  the XNOR and the count of ones under the valid mask, or the signed sum of the 8-bit pixels;
* popcount tree: the +-1 dot product ``2 ones - valid`` times the pass's scale;
* accumulator: adds it into the neuron's partial sum; a neuron whose last segment (and last
  accumulated pass) is in goes on;
* threshold: the layer's integer (``(S + C w_sum) / 2`` for 0/1 inputs) against the
  neuron's integer threshold (on the integer itself, not on the kernel's sums); at the last
  step the OR pooling and the output token.

The first layer of an SC design generates its binary images itself, stepping the lanes'
random sources (:class:`archsim.fabrics.bnn.sng.LaneSources`) one presentation at a time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from archsim.engine.fabric import Actions, LayerOutput, PerCycleModel
from archsim.fabrics.bnn.faults import READ
from archsim.fabrics.bnn.sng import LaneSources

if TYPE_CHECKING:
    from archsim.fabrics.bnn.layer import BnnLayerModel

__all__ = ["BnnPerCycle"]


class BnnPerCycle(PerCycleModel):
    """One image of one BNN layer, step by step."""

    def __init__(self, lay: BnnLayerModel) -> None:
        self.lay = lay
        p = self.p = lay.plan
        self.steps, self.emit_from = p.steps, p.steps - 1
        sh = p.shape
        self.M, self.K, self.R = sh.outputs, sh.fan_in, sh.positions
        self.Q, self.nseg, self.cols = p.hw_passes, p.segments, p.columns
        self.full = (1 << self.cols) - 1
        self.src = p.src.tolist()
        if not hasattr(lay, "_pc_rows"):  # the weight rows as Python ints (the arrays)
            rows = []
            for j in range(self.M):
                wj = p.w_pm[j].tolist()
                rows.append([self._int([1 if wj[k] > 0 else 0
                                        for k in self._seg(c)]) for c in range(self.nseg)])
            lay._pc_rows = rows  # type: ignore[attr-defined]
            lay._pc_sources = None  # type: ignore[attr-defined]
        self.w_rows: list[list[int]] = lay._pc_rows  # type: ignore[attr-defined]
        self.w_list = p.w_pm.tolist()
        self.thr = p.threshold.tolist()
        self.neg = p.negate.tolist()
        self.w_sum = p.w_sum.tolist()
        self.scale = p.scale.tolist() if p.accumulate else [1] * self.Q

    def _seg(self, c: int) -> range:
        return range(c * self.cols, min((c + 1) * self.cols, self.K))

    @staticmethod
    def _int(bits: list[int]) -> int:
        v = 0
        for i, b in enumerate(bits):
            v |= b << i
        return v

    def _decode(self, o: int) -> tuple[int, int, int, int]:
        c = o % self.nseg
        q = (o // self.nseg) % self.Q
        j = (o // (self.nseg * self.Q)) % self.M
        r = o // (self.nseg * self.Q * self.M)
        return r, j, q, c

    # --------------------------------------------------------------------------- image
    def reset(self, image: int) -> None:
        p = self.p
        self.image = image
        self.rows: list[list[list[int]]] | None = None  # input segments [q][r][c]
        self.values: list[list[int]] | None = None  # adder: [r][k] pixel values
        self.acc: dict[tuple[int, ...], int] = {}
        self.ints = [[[0] * self.M for _ in range(self.R)] for _ in range(p.out_batch)]
        self.flips: dict[int, int] = {}  # op -> mask of the sensed bits read inverted
        if p.read_ber > 0:
            for pos in READ.flips(p.seed, self.lay.name, image, p.ops * p.columns,
                                  p.read_ber).tolist():
                o, col = divmod(pos, self.cols)
                self.flips[o] = self.flips.get(o, 0) | (1 << col)
        self.step_flips = [0] * self.steps
        for o, m in self.flips.items():
            self.step_flips[o // p.lanes] += m.bit_count()

    def access(self, s: int) -> tuple[int, Actions]:
        return self.p.read_cycles, self.lay.step_actions(s, self.step_flips[s])

    def _input_bits(self, token: Any) -> list[list[int]]:
        """The layer's input bits per pass, flat (plain Python)."""
        p = self.p
        if p.mode == "sc":
            kind, phases, seed, n = self.lay.sng
            src = self.lay._pc_sources  # type: ignore[attr-defined]
            if src is None:  # the lanes' random sources keep their state from image to image
                src = self.lay._pc_sources = LaneSources(kind, phases, seed, n)  # type: ignore
            px = [int(v) for v in np.asarray(token).ravel().tolist()]
            out: list[list[int]] = []
            for q in range(n):
                r = src.numbers(self.image, q)
                out.append([1 if r[i] < px[i] else 0 for i in range(len(px))])
            return out
        if p.mode == "bit_serial":
            px = [int(v) for v in np.asarray(token).ravel().tolist()]
            return [[(v >> b) & 1 for v in px] for b in range(8)]
        return [[int(v) for v in row] for row in np.asarray(token).tolist()]

    def _prepare(self, token: Any) -> None:
        p = self.p
        if p.mode == "adder":
            px = [int(v) for v in np.asarray(token).ravel().tolist()]
            self.values = [[0 if self.src[r][k] < 0 else px[self.src[r][k]]
                            for k in range(self.K)] for r in range(self.R)]
            return
        flat = self._input_bits(token)
        self.rows = []
        self.valid: list[list[int]] = []
        for q in range(len(flat)):
            self.rows.append([[self._int([0 if self.src[r][k] < 0 else flat[q][self.src[r][k]]
                                          for k in self._seg(c)]) for c in range(self.nseg)]
                              for r in range(self.R)])
        for r in range(self.R):
            self.valid.append([self._int([1 if p.unipolar or self.src[r][k] >= 0 else 0
                                          for k in self._seg(c)]) for c in range(self.nseg)])

    # --------------------------------------------------------------------------- blocks
    def stage(self, i: int, s: int, data: Any) -> Any:
        p = self.p
        if i == 0:  # front: the row reads of step s against their input segments
            if s == 0:
                self._prepare(data)
            out = []
            for o in range(s * p.lanes, min((s + 1) * p.lanes, p.ops)):
                r, j, q, c = self._decode(o)
                w = self.w_rows[j][c] ^ self.flips.get(o, 0)
                if p.mode == "adder":
                    assert self.values is not None
                    tot = 0
                    for n, k in enumerate(self._seg(c)):
                        v = self.values[r][k]
                        tot += v if (w >> n) & 1 else -v
                    out.append((o, tot, 0))
                else:
                    assert self.rows is not None
                    v = self.valid[r][c]
                    ones = ((self.rows[q][r][c] ^ w) ^ self.full) & v
                    out.append((o, ones.bit_count(), v.bit_count()))
            return out
        if i == 1:  # popcount tree (or the adder tree's sum)
            if p.mode == "adder":
                return [(o, x) for o, x, _ in data]
            return [(o, self.scale[self._decode(o)[2]] * (2 * ones - nv))
                    for o, ones, nv in data]
        if i == 2:  # accumulator
            done = []
            for o, x in data:
                r, j, q, c = self._decode(o)
                key = (r, j) if p.accumulate else (r, j, q)
                self.acc[key] = self.acc.get(key, 0) + x
                if c == self.nseg - 1 and (not p.accumulate or q == self.Q - 1):
                    done.append((key, self.acc.pop(key)))
            return done
        # threshold: the layer's integer against the neuron's threshold
        for key, total in data:
            r, j = key[0], key[1]
            b = key[2] if len(key) == 3 else 0
            if p.unipolar:
                total = (total + p.c_total * self.w_sum[j]) // 2
            self.ints[b][r][j] = total
        if s < self.emit_from:
            return None
        return self._token()

    def _token(self) -> np.ndarray:
        p = self.p
        sh = p.shape
        if sh.is_last:
            return np.array([[row[j] for j in range(self.M)] for row in
                             (batch[0] for batch in self.ints)], dtype=np.int64)
        out = []
        for batch in self.ints:
            bits = [[(1 if (batch[r][j] <= self.thr[j] if self.neg[j]
                            else batch[r][j] >= self.thr[j]) else 0)
                     for r in range(self.R)] for j in range(self.M)]  # [j][r]
            if sh.pool is None:
                out.append([b for row in bits for b in row])
                continue
            k, st = sh.pool
            ho, wo = sh.conv_hw
            oh, ow = sh.out_shape[1], sh.out_shape[2]
            flat = []
            for j in range(self.M):
                for y in range(oh):
                    for x in range(ow):
                        v = 0
                        for dy in range(k):
                            for dx in range(k):
                                v |= bits[j][(y * st + dy) * wo + x * st + dx]
                        flat.append(v)
            out.append(flat)
        return np.array(out, dtype=np.uint8)

    def finish(self, tokens: list[np.ndarray]) -> LayerOutput:
        tok = tokens[-1]
        if self.p.shape.is_last:
            return self.lay.output(tok[:, None, :], None, {})
        from archsim.fabrics.bnn.layer import pack_rows

        value = (2.0 * tok - 1.0).mean(axis=0)
        return LayerOutput(value=value, trace_bits=pack_rows(np.ascontiguousarray(tok)))
