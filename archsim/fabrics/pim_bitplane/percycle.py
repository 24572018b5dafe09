"""The per-cycle reference of a bit-plane layer: the sub-arrays, bit-counters, shift-adders and
the digital unit as the per-cycle engine's SimPy processes, one step per call.

Stage 0 (the sub-arrays) senses, for each window of its step, every weight plane and the mask
plane against every activation plane and counts the ones, in plain Python integers
(:func:`~archsim.fabrics.pim_bitplane.bitplane.accumulate_python`: an int per bit-plane, ``&``
and ``int.bit_count``), then applies the step's sensing-error flips bit by bit; stage 1 (the
bit-counter register) passes the counts on; stage 2 (the shift-adders) adds them into the
image's accumulators and, at the last step, hands them to stage 3, the digital unit. Nothing
of the fast path's GEMM is used: this is the oracle the fast engine is held to.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from archsim.engine.fabric import Actions, LayerOutput, PerCycleModel
from archsim.fabrics.pim_bitplane.bitplane import accumulate_python

if TYPE_CHECKING:
    from archsim.fabrics.pim_bitplane.layer import PimLayerModel


class PimPerCycle(PerCycleModel):
    def __init__(self, lay: PimLayerModel) -> None:
        self.lay = lay
        mp = lay.mp
        self.steps, self.emit_from = mp.steps, mp.steps - 1
        if not hasattr(lay, "_py_rows"):  # the stored planes as Python ints, once per layer
            rows = []
            for kf, kc in zip(mp.kept_filters, mp.kept_cols, strict=True):
                u = [[int(v) for v in lay.u2[f][kc]] for f in kf]
                q = (None if lay.keep2 is None
                     else [[bool(v) for v in lay.keep2[f][kc]] for f in kf])
                rows.append((u, q))
            lay._py_rows = rows  # type: ignore[attr-defined]
        self.rows = lay._py_rows  # type: ignore[attr-defined]

    def reset(self, image: int) -> None:
        lay = self.lay
        self.flips = lay.flips(image)
        self.acc = np.zeros((lay.op.weight_shape[0], lay.mp.positions), dtype=np.int64)
        self.act: list[np.ndarray] | None = None
        self.bundle: dict[str, np.ndarray] = {}
        self.out: LayerOutput | None = None
        per = lay.mp.windows * lay.mp.replicas
        self.flip_step = self.flips.position // per

    def access(self, s: int) -> tuple[int, Actions]:
        acts = self.lay.step_actions(s)
        n = int((self.flip_step == s).sum())
        if n:
            acts["compute"]["sense_error"] = n
        return int(self.lay.schedule().interval[s]), acts

    def stage(self, i: int, s: int, data: Any) -> Any:
        lay = self.lay
        mp = lay.mp
        if i == 0:  # the sub-arrays: AND sensing + counting of this step's windows
            if self.act is None:
                self.bundle = lay.bundle(data)
                self.act = lay.columns(self.bundle[lay.op.input])
            out: dict[tuple[int, int], int] = {}
            for p in mp.step_positions(s):
                for g, (kf, (u, q)) in enumerate(zip(mp.kept_filters, self.rows,
                                                     strict=True)):
                    if not len(kf):
                        continue
                    window = [int(v) for v in self.act[g][:, p]]
                    accs = accumulate_python(u, q, window, mp.m_bits, mp.k_bits, lay.alpha,
                                             lay.beta)
                    for f, a in zip(kf, accs, strict=True):
                        out[(int(f), p)] = a
            self._flip(s, out)
            return out
        if i == 1:  # the bit-counter register
            return data
        if i == 2:  # the shift-adders: into the image's partial sums
            for (f, p), a in data.items():
                self.acc[f, p] += a
            return self.acc if s == self.emit_from else None
        if data is None:  # the digital unit: only the last step carries the image
            return None
        self.out = lay.finish_output(data, self.bundle)
        return self.out.data

    def _flip(self, s: int, out: dict[tuple[int, int], int]) -> None:
        """The step's sensing errors, one sensed bit at a time."""
        lay, mp, fl = self.lay, self.lay.mp, self.flips
        assert self.act is not None
        for i in np.flatnonzero(self.flip_step == s):
            f, p, g = int(fl.filt[i]), int(fl.position[i]), int(fl.group[i])
            j, k = int(fl.plane[i]), int(fl.kbit[i])
            fan = int(mp.kept_cols[g][fl.col[i]])
            a = int(self.act[g][fl.col[i], p])
            if j < mp.m_bits:
                w_bit, weight = (int(lay.u2[f, fan]) >> j) & 1, lay.alpha << (j + k)
            else:
                w_bit = int(lay.keep2[f, fan]) if lay.keep2 is not None else 1
                weight = -(lay.beta << k)
            bit = w_bit & ((a >> k) & 1)
            out[(f, p)] += weight if bit == 0 else -weight

    def finish(self, tokens: list[np.ndarray]) -> LayerOutput:
        assert self.out is not None
        return LayerOutput(value=self.out.value, scores=self.out.scores,
                           trace_bits=self.out.trace_bits)
