"""Elaboration of a BNN design: the weights, the layers' arithmetic, the blocks and their costs.

Hardware cost model (``docs/bnn-model.md``), per layer:

* ``weights`` (kind ``memory``): the arrays holding the layer's weight rows and its
  thresholds, ``max(arrays, ceil(rows needed / rows))`` arrays of ``rows x columns`` bits;
  a 2T-2MTJ bit is two cells (twice the cell area, read and write energy); reads per bit
  sensed, writes per bit programmed at power-up (every power-up for SRAM);
* ``sense_amp`` (ST-MRAM only; SRAM's read energy includes its sense amplifiers): one per
  column of every array, per bit sensed, the 2T-2MTJ one with the XNOR inside;
* ``xnor`` (1T-1MTJ with ``xnor: logic``, SRAM): one gate per column of each read array;
* ``popcount`` trees (or the first layer's multi-bit ``adder`` datapath), ``accumulator``s and
  ``threshold`` comparators, one per lane, ``acc_bits`` wide; ``pool`` OR gates; the
  ``act_buffer`` register holding the layer's binary outputs;
* the input stage: ``sng`` comparators and ``rng`` sources (one per SNG lane) and the
  ``input_buffer`` holding the binary images (or the 8-bit pixels).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from archsim.config.errors import ConfigError
from archsim.engine.fabric import Actions, FabricNetwork
from archsim.engine.kinds import register_block_kind
from archsim.engine.ledger import Action, Block
from archsim.fabrics.bnn.config import BnnConfig
from archsim.fabrics.bnn.faults import FAULTS, WRITE
from archsim.fabrics.bnn.layer import BnnLayerModel, LayerPlan, pack_rows, pool_or
from archsim.fabrics.bnn.mapping import LayerShape, _label, design_workload, layer_shapes
from archsim.fabrics.bnn.sng import lane_phases
from archsim.sc import kernels
from archsim.seeds import derive_seed
from archsim.workload import BatchNormParams, Workload, WorkloadWeights, load_weights
from archsim.workload.batchnorm import sign_thresholds

for _name, _role, _what in (
    ("popcount", "compute", "popcount (adder) trees of XNOR-popcount lanes"),
    ("threshold", "compute", "per-neuron integer threshold comparators (batchnorm folded)"),
    ("adder", "compute", "multi-bit adder datapaths (conditional negation + adder tree)"),
):
    register_block_kind(_name, _role, _what)

__all__ = ["BnnNetwork", "binarize"]


def binarize(w: np.ndarray) -> np.ndarray:
    """+1 where w >= 0, else -1 (int64), flattened per neuron: ``(M, K)``."""
    return np.where(np.asarray(w).reshape(w.shape[0], -1) >= 0, 1, -1).astype(np.int64)


def _unit(u: Any) -> tuple[float, float, float]:
    return u.energy.value, u.area.value, u.leakage.value


class BnnNetwork(FabricNetwork):
    """An elaborated BNN accelerator."""

    def __init__(self, cfg: BnnConfig) -> None:
        self.cfg = cfg
        self.name, self.seed, self.clock_mhz = cfg.name, cfg.seed, cfg.clock
        src = cfg.source_file
        self.workload: Workload = design_workload(cfg.workload_file, cfg.model.weights)
        label = _label(Path(cfg.workload_file))
        shapes = layer_shapes(self.workload, label)
        wl = self.workload
        if wl.input.mapping != "unipolar":
            raise ConfigError(label, "input.mapping", wl.input.mapping,
                              "unipolar (a BNN's 8-bit pixels p give x = p / 255)")
        names = [s.name for s in shapes]
        by_name = {}
        for i, lay in enumerate(cfg.layers):
            if lay.name not in names:
                raise ConfigError(src, f"layers[{i}].name", lay.name,
                                  f"a weighted op of the workload: one of {names}")
            if lay.name in by_name:
                raise ConfigError(src, f"layers[{i}].name", lay.name, "a unique layer name")
            if lay.memory not in cfg.memories:
                raise ConfigError(src, f"layers[{i}].memory", lay.memory,
                                  f"a memory of 'memories' ({', '.join(cfg.memories)})")
            by_name[lay.name] = (i, lay)
        for n in names:
            if n not in by_name:
                raise ConfigError(src, "layers", [x.name for x in cfg.layers],
                                  f"an entry for layer {n!r} of the workload")
        tech = cfg.technology
        for mname, mem in cfg.memories.items():
            if mem.kind not in ("stt_mram", "sram"):
                raise ConfigError(src, f"memories.{mname}.kind", mem.kind,
                                  "stt_mram or sram (the BNN fabric's weight arrays)")
            if getattr(tech, mem.kind) is None:
                raise ConfigError(src, f"technology.{mem.kind}", None,
                                  f"a technology.{mem.kind} section (memory {mname!r})")
            read_error = getattr(mem, "read_error", 0.0)
            if read_error:
                raise ConfigError(src, f"memories.{mname}.read_error", read_error,
                                  "0: the BNN fabric's weight errors are weight_faults.read_ber "
                                  "and weight_faults.write_ber")
        arr = cfg.array
        for fault in FAULTS:
            rate = fault.rate(cfg.weight_faults)
            for lname, (_, lay) in by_name.items():
                kind = cfg.memories[lay.memory].kind
                if rate > 0 and not fault.supported(kind):
                    raise ConfigError(src, fault.key_path, rate, fault.expected(lname, kind))
        for lname, (_, lay) in by_name.items():
            kind = cfg.memories[lay.memory].kind
            if arr.xnor == "sense_amp" and (kind != "stt_mram" or arr.cell != "2t2mtj"):
                raise ConfigError(src, "array.xnor", "sense_amp",
                                  f"logic: the XNOR is in the sense amplifier only for 2T-2MTJ "
                                  f"ST-MRAM bits (layer {lname!r} has {kind}"
                                  f"{', cell ' + arr.cell if kind == 'stt_mram' else ''})")
        inp = cfg.input
        if inp.encoding == "fixed" and inp.combine != "first_layer":
            raise ConfigError(src, "input.combine", inp.combine,
                              "first_layer: a fixed-point input has no presentations to combine")
        self.weights: WorkloadWeights = load_weights(self.workload)
        self.shapes = shapes
        self.input_shape = tuple(wl.input.shape)
        n_in = int(np.prod(self.input_shape))
        N = inp.presentations
        self.sng = None
        if inp.encoding == "stochastic":
            rng_seed = inp.rng.seed if inp.rng.seed is not None else derive_seed(cfg.seed,
                                                                                  "bnn-sng")
            self.sng = (inp.rng.kind, lane_phases(inp.rng.kind, n_in, rng_seed), rng_seed, N)
        output_mode = inp.encoding == "stochastic" and inp.combine != "first_layer"
        self.layers: list[BnnLayerModel] = []
        self.ref_plans: list[LayerPlan] = []
        write = WRITE
        for li, sh in enumerate(shapes):
            i, lay = by_name[sh.name]
            mem = cfg.memories[lay.memory]
            mtech = getattr(tech, mem.kind).model_copy(update=mem.tech_overrides())
            w_model = binarize(self.weights[sh.name].w)
            bn = self.weights.batchnorm[sh.bn]
            first = li == 0
            if first:
                mode = "sc" if inp.encoding == "stochastic" else str(inp.datapath)
            else:
                mode = "bipolar"
            if mode == "sc":
                passes, accumulate = N, not output_mode
                scale = np.ones(N, np.int64)
                divisor = float(N) if accumulate else 1.0
            elif mode == "bit_serial":
                passes, accumulate = 8, True
                scale = (1 << np.arange(8)).astype(np.int64)
                divisor = 255.0
            elif mode == "adder":
                passes, accumulate, scale, divisor = 1, True, np.ones(1, np.int64), 255.0
            else:
                passes, accumulate = (N if output_mode else 1), False
                scale, divisor = np.ones(1, np.int64), 1.0
            w_stored = w_model.copy()
            flips = np.zeros(0, np.int64)
            if cfg.weight_faults.write_ber > 0:
                flips = write.flips(cfg.seed, sh.name, w_model.size, cfg.weight_faults.write_ber)
                flat = w_stored.reshape(-1)
                flat[flips] = -flat[flips]
            thr, neg = self._thresholds(sh, bn, divisor)
            read_cycles = max(1, math.ceil(mtech.read_latency.value / cfg.clock_period - 1e-9))
            plan = LayerPlan(shape=sh, mode=mode, passes=passes, accumulate=accumulate,
                             scale=scale, divisor=divisor, columns=arr.columns,
                             lanes=lay.arrays, read_cycles=read_cycles, w_pm=w_stored,
                             w_sum=w_model.sum(axis=1), bn=bn, threshold=thr, negate=neg,
                             read_ber=cfg.weight_faults.read_ber, seed=cfg.seed)
            blocks, front = self._blocks(sh, plan, mem.kind, mtech, lay.name)
            model = BnnLayerModel(plan, blocks, front, self.sng if mode == "sc" else None)
            model.write_flips = len(flips)  # type: ignore[attr-defined]
            model.rule = inp.combine  # type: ignore[attr-defined]
            self.layers.append(model)
            # the float reference: the conventional network on x = p / 255, evaluated exactly
            # (bit planes for the first layer: its integer a = sum w p is exact)
            rmode = "bit_serial" if first else "bipolar"
            rdiv = 255.0 if first else 1.0
            rthr, rneg = self._thresholds(sh, bn, rdiv)
            self.ref_plans.append(LayerPlan(
                shape=sh, mode=rmode, passes=8 if first else 1, accumulate=first,
                scale=(1 << np.arange(8)).astype(np.int64) if first else np.ones(1, np.int64),
                divisor=rdiv, columns=arr.columns, lanes=lay.arrays, read_cycles=1,
                w_pm=w_model, w_sum=w_model.sum(axis=1), bn=bn, threshold=rthr, negate=rneg))
        self.input_tokens = 1
        self.input_blocks = self._input_blocks(n_in)

    @staticmethod
    def _thresholds(sh: LayerShape, bn: BatchNormParams,
                    divisor: float) -> tuple[np.ndarray, np.ndarray]:
        if sh.is_last:
            return np.zeros(sh.outputs, np.int64), np.zeros(sh.outputs, bool)
        t = sign_thresholds(bn, divisor)
        return t.threshold.astype(np.int64), t.negate.astype(bool)

    # ------------------------------------------------------------------------ blocks
    def _blocks(self, sh: LayerShape, plan: LayerPlan, kind: str, mtech: Any,
                name: str) -> tuple[dict[str, Block], str]:
        cfg = self.cfg
        arr = cfg.array
        bt = cfg.technology.bnn
        logic = cfg.technology.logic
        cells = 2 if kind == "stt_mram" and arr.cell == "2t2mtj" else 1
        rows_needed = sh.outputs * plan.segments + math.ceil(sh.outputs * plan.acc_bits
                                                             / arr.columns)
        n_arrays = max(plan.lanes, math.ceil(rows_needed / arr.rows))
        bits = n_arrays * arr.rows * arr.columns
        t = mtech.as_floats()
        acts = {"read": Action("read", cells * t["read_energy_per_bit"]),
                "write": Action("write", cells * t["write_energy_per_bit"])}
        if arr.row_read_energy is not None:
            acts["row_read"] = Action("row_read", arr.row_read_energy.value)
        if kind == "stt_mram":
            acts["read_error"] = Action("read_error", 0.0)
            acts["write_error"] = Action("write_error", 0.0)
        what = f"{n_arrays} arrays of {arr.rows} x {arr.columns} {kind} bits"
        if kind == "stt_mram":
            what += f" ({arr.cell})"
        blocks = {"weights": Block("weights", name, "memory", bits, acts,
                                   cells * t["cell_area"], cells * t["leakage_per_bit"], what)}
        lanes, cols = plan.lanes, arr.columns
        front = "weights"
        if kind == "stt_mram":
            sa = bt.sense_amp_xnor if arr.xnor == "sense_amp" else bt.sense_amp
            e, a, lk = _unit(sa)
            blocks["sense_amp"] = Block("sense_amp", name, "sense_amp", n_arrays * cols,
                                        {"sense": Action("sense", e)}, a, lk,
                                        "column sense amplifiers"
                                        + (" with the XNOR" if arr.xnor == "sense_amp" else ""))
            front = "sense_amp"
        if plan.mode != "adder" and (arr.xnor == "logic" or kind != "stt_mram"):
            e, a, lk = _unit(logic.xnor)
            blocks["xnor"] = Block("xnor", name, "xnor", lanes * cols,
                                   {"xnor": Action("xnor", e)}, a, lk, "XNOR gates after the read")
            front = "xnor"
        if plan.mode == "adder":
            e, a, lk = _unit(bt.adder_bit)
            blocks["adder"] = Block("adder", name, "adder", lanes * cols * 8,
                                    {"add": Action("add", e)}, a, lk,
                                    "8-bit conditional negation + adder tree per lane")
        else:
            e, a, lk = _unit(bt.popcount_per_input)
            blocks["popcount"] = Block("popcount", name, "popcount", lanes * cols,
                                       {"count": Action("count", e)}, a, lk, "popcount trees")
        unit = bt.shift_add_bit if plan.mode == "bit_serial" else bt.accumulator_bit
        e, a, lk = _unit(unit)
        act = "shift_add" if plan.mode == "bit_serial" else "add"
        blocks["accumulator"] = Block("accumulator", name, "accumulator", lanes * plan.acc_bits,
                                      {act: Action(act, e)}, a, lk,
                                      f"{plan.acc_bits}-bit accumulators")
        e, a, lk = _unit(bt.threshold_bit)
        blocks["threshold"] = Block("threshold", name, "threshold", lanes * plan.acc_bits,
                                    {"compare": Action("compare", e)}, a, lk,
                                    "per-neuron threshold comparators")
        if sh.pool is not None:
            e, a, lk = _unit(bt.or_input)
            blocks["pool"] = Block("pool", name, "pool", lanes * sh.pool[0] ** 2,
                                   {"or": Action("or", e)}, a, lk, "OR max pooling")
        e, a, lk = _unit(logic.register_bit)
        blocks["act_buffer"] = Block("act_buffer", name, "register", plan.out_batch * sh.n_out,
                                     {"write": Action("write", e)}, a, lk,
                                     "binary output activations")
        return blocks, front

    def _input_blocks(self, n_in: int) -> dict[str, Block]:
        cfg = self.cfg
        inp = cfg.input
        logic, bt = cfg.technology.logic, cfg.technology.bnn
        e, a, lk = _unit(logic.register_bit)
        if inp.encoding == "fixed":
            self._input_actions: Actions = {"input_buffer": {"write": 8 * n_in}}
            return {"input_buffer": Block("input_buffer", "input", "register", 8 * n_in,
                                          {"write": Action("write", e)}, a, lk,
                                          "8-bit pixel buffer")}
        N = inp.presentations
        lanes = inp.sng_lanes or n_in
        blocks = {"input_buffer": Block("input_buffer", "input", "register", N * n_in,
                                        {"write": Action("write", e)}, a, lk,
                                        "buffer of the N binary images")}
        e, a, lk = _unit(logic.sng_comparator)
        blocks["sng"] = Block("sng", "input", "sng", lanes, {"compare": Action("compare", e)},
                              a, lk, "8-bit comparator SNGs")
        src = {"lfsr": logic.lfsr, "sobol": bt.sobol, "ideal": bt.ideal_rng}[inp.rng.kind]
        e, a, lk = _unit(src)
        blocks["rng"] = Block("rng", "input", "rng", lanes, {"step": Action("step", e)}, a, lk,
                              f"{inp.rng.kind} random sources, one per SNG lane")
        self._input_actions = {"input_buffer": {"write": N * n_in}, "sng": {"compare": N * n_in},
                               "rng": {"step": N * n_in}}
        return blocks

    # ---------------------------------------------------------------------- interface
    def encode(self, pixels: np.ndarray) -> np.ndarray:
        return np.asarray(pixels, dtype=np.uint8).reshape(-1)

    def input_token_array(self, pixels: np.ndarray) -> np.ndarray:
        return np.asarray(pixels, dtype=np.uint8).reshape(1, -1)

    def input_actions(self) -> Actions:
        return self._input_actions

    def reference_layers(self, pixels: np.ndarray) -> list[np.ndarray]:
        """The conventional network's outputs on x = p / 255 (exact integers): per layer the
        +-1 activations (pooled) and, last, the class scores."""
        x: Any = self.encode(pixels)
        out = []
        for plan in self.ref_plans:
            p = plan
            sh = p.shape
            if p.mode == "bit_serial":  # the 8 bit planes of the pixels
                flat = ((x[None, :].astype(np.int64) >> np.arange(8)[:, None]) & 1).astype(
                    np.uint8)
            else:
                flat = x[None, :]
            if sh.kind == "dense":
                rows = flat[:, None, :]
            else:
                padded = np.concatenate([flat, np.zeros((flat.shape[0], 1), flat.dtype)], 1)
                rows = padded[:, p.src]
            bits, sums = kernels.bnn_xnor_popcount_threshold(
                pack_rows(rows), p.w_packed, p.valid, p.scale, p.s_threshold,
                p.negate.astype(np.uint8))
            if sh.is_last:
                out.append(p.scores(p.integers(sums)[None, 0, :])[0])
                break
            x = pool_or(bits[None], sh)[0]
            out.append(2.0 * x - 1.0)
        return out

    def reference(self, pixels: np.ndarray,
                  values: Sequence[np.ndarray]) -> tuple[dict[str, float], int]:
        ref = self.reference_layers(pixels)
        errors = {lay.name: float(np.mean(np.abs(np.asarray(v) - r)))
                  for lay, v, r in zip(self.layers, values, ref, strict=True)}
        return errors, int(np.argmax(ref[-1]))

    @property
    def workload_weights(self) -> WorkloadWeights:
        """The workload's weights as loaded (masked, quantized): what ``archsim train``
        starts from (archsim.train.registry)."""
        return self.weights

    def metadata(self) -> dict[str, Any]:
        inp = self.cfg.input
        return {"bnn": {"encoding": inp.encoding, "presentations": inp.presentations,
                        "combine": inp.combine, "rng": inp.rng.kind,
                        "first_layer_datapath": inp.datapath,
                        "weights": self.weights.source, "model_metadata":
                        dict(self.weights.metadata)}}

    def area_um2(self) -> float:
        return float(sum(b.total_area_um2 for b in self.all_blocks()))
