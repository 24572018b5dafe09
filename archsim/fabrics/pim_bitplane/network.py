"""Elaboration of a ``pim_bitplane`` design: its workload onto sub-arrays, every load-time check.

The workload is cut into stages (a conv2d or dense op and the ops after it up to the next
one, :meth:`~archsim.workload.Workload.stages`), one layer of the engines each, in file order.
The graph may branch: a weighted op may read any earlier tensor (a 1x1 projection reading a
block's input), and the digital unit's ops (``batchnorm``, ``relu``, ``quantize``, ``maxpool``,
``avgpool``, ``add``, ``flatten``, ``none``) may read tensors of earlier stages (a residual
``add``'s shortcut operand), which that layer holds in its shortcut bank. Every weighted op
must read integer codes (docs/pim-bitplane.md): the 8-bit input pixels (``unipolar`` or
``raw`` mapping) or the codes of a ``quantize`` op, passed through ``maxpool``, ``relu``,
``flatten`` or ``none``; the ops before the first layer form a chain from the input and keep
it on codes. Weight widths come from ``model.layers.<op>.bits`` (1..8) and the quantizer from
``model.layers.<op>.quantizer``; activation widths from the ``quantize`` ops (1..8); masks
from the model or ``model.layers.<op>.mask``. Every problem is a
:class:`~archsim.config.errors.ConfigError` naming the file and key path, raised before a run
folder exists (``archsim validate`` calls this exactly as ``run`` does).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from archsim.config.errors import ConfigError
from archsim.engine.fabric import Actions, FabricNetwork
from archsim.engine.ledger import Block
from archsim.fabrics.pim_bitplane.bitplane import affine, unsigned_codes
from archsim.fabrics.pim_bitplane.config import PimConfig
from archsim.fabrics.pim_bitplane.layer import DigitalOps, PimLayerModel, make_blocks
from archsim.fabrics.pim_bitplane.mapping import LayerMapping, cycles, map_layer
from archsim.fabrics.pim_bitplane.rram import rram_reference
from archsim.workload import (
    INPUT,
    Add,
    AvgPool,
    BatchNorm,
    Conv2d,
    Dense,
    Flatten,
    Identity,
    MaxPool,
    Quantize,
    Relu,
    WeightedOp,
    Workload,
    WorkloadWeights,
    layer_outputs,
    load_weights,
    load_workload,
    map_input,
    reference_forward,
)
from archsim.workload.forward import pool
from archsim.workload.quantize import quantize_activation_codes

#: ops that keep integer codes on their grid
_GRID_OPS = (MaxPool, Relu, Flatten, Identity)
_STAGE_OPS = (BatchNorm, Relu, Quantize, MaxPool, AvgPool, Add, Flatten, Identity)
#: a tensor's integer grid: (bits K, step of the codes, the divisor giving their values as
#: the workload reference computes them); None: the digital unit's values
Grid = tuple[int, float, float] | None
MAX_BITS = 8


def _origin(cfg: PimConfig) -> str:
    return str(cfg.source_file) if cfg.source_file else "<design>"


def design_workload(cfg: PimConfig) -> Workload:
    """The design's workload with its overrides (and the design's model, if it names one)."""
    sets = list(cfg.workload_set)
    if cfg.model.weights not in ("", None):
        sets.append(f"model.weights={cfg.model.weights}")
    path = Path(cfg.workload)
    if not path.is_file():
        raise ConfigError(_origin(cfg), "workload", cfg.workload, "an existing workload file")
    return load_workload(path, sets)


def _check_ops(wl: Workload) -> int:
    """Every op is one the fabric computes, the ops before the first layer form a chain from
    the input; returns the index of the first weighted op."""
    first = next((op.index for op in wl.ops if isinstance(op, (Conv2d, Dense))), None)
    if first is None:
        raise ConfigError(wl.origin("ops"), "ops", [op.kind for op in wl.ops],
                          "at least one conv2d or dense op (the layers the sub-arrays compute)")
    prev = INPUT
    for op in wl.ops:
        if not isinstance(op, (Conv2d, Dense, *_STAGE_OPS)):
            raise ConfigError(wl.origin("ops", op.index), f"ops[{op.index}].op", op.kind,
                              "an op the bit-plane fabric computes: conv2d, dense, batchnorm, "
                              "relu, quantize, maxpool, avgpool, add, flatten, none")
        if op.index <= first and op.input != prev:
            raise ConfigError(wl.origin("ops", op.index, "input"), f"ops[{op.index}].input",
                              op.input, f"the previous op {prev!r}: the ops before the first "
                              "layer of the bit-plane fabric form a chain from the input")
        prev = op.name
    return first


def _input_grid(wl: Workload) -> tuple[int, float]:
    if wl.input.mapping == "bipolar":
        raise ConfigError(wl.origin("input", "mapping"), "input.mapping", "bipolar",
                          "unipolar or raw: the bit-plane fabric stores the 8-bit pixel codes")
    return 8, (1.0 / 255.0 if wl.input.mapping == "unipolar" else 1.0)


def _dead_outputs(op: WeightedOp, mp: LayerMapping, digital: DigitalOps,
                  bias: np.ndarray | None) -> np.ndarray | None:
    """Per element of the stage's output codes (flattened): True where it is code 0 in every
    image, i.e. its channel's filter is unmapped (so ``z = b``, a constant per channel) and the
    stage's per-channel ops (batch norm, ReLU, max pool, re-quantization) turn that constant
    into code 0. None when every filter is mapped, or when the stage's ops also read tensors
    of earlier layers (a residual add: the channel is no longer a constant)."""
    if digital.remote:
        return None
    f = op.weight_shape[0]
    unmapped = np.ones(f, dtype=bool)
    for kf in mp.kept_filters:
        unmapped[kf] = False
    if not unmapped.any():
        return None
    z = np.zeros(op.out_shape, dtype=np.float64)
    if bias is not None:
        z += np.asarray(bias, dtype=np.float64).reshape((f,) + (1,) * (z.ndim - 1))
    _, codes = digital.apply(z)
    if codes is None:
        return None
    per_ch = np.asarray(codes).reshape(f, -1)
    dead_ch = unmapped & (per_ch == 0).all(axis=1)
    return np.repeat(dead_ch, per_ch.shape[1])


def _dead_fan_in(op: WeightedOp, dead: np.ndarray | None) -> np.ndarray | None:
    """(F, fan-in) bool of the layer's fan-in positions whose input is always code 0
    (``dead``: per input element, from :func:`_dead_outputs` of the previous layer)."""
    if dead is None or not dead.any():
        return None
    f = op.weight_shape[0]
    if isinstance(op, Dense):
        return np.broadcast_to(dead.reshape(1, -1), (f, dead.size))
    assert isinstance(op, Conv2d)
    c_in = op.in_shape[0]
    dead_ch: np.ndarray = np.asarray(dead.reshape(c_in, -1).all(axis=1))
    cg, per = c_in // op.groups, f // op.groups
    taps = op.kernel[0] * op.kernel[1]
    out = np.zeros((f, cg * taps), dtype=bool)
    for g in range(op.groups):
        out[g * per:(g + 1) * per] = np.repeat(dead_ch[g * cg:(g + 1) * cg], taps)[None]
    return out


class PimNetwork(FabricNetwork):
    """A bit-plane in-memory accelerator elaborated from a design (module docstring)."""

    def __init__(self, cfg: PimConfig) -> None:
        self.cfg = cfg
        self.name, self.seed, self.clock_mhz = cfg.name, cfg.seed, cfg.clock
        file = _origin(cfg)
        for mem in ("compute", "buffer"):
            if mem not in cfg.memories:
                raise ConfigError(file, f"memories.{mem}", "<missing>",
                                  "a sot_mram memory (compute: the sub-arrays, buffer: the "
                                  "feature-map banks)")
            if cfg.memories[mem].kind != "sot_mram":
                raise ConfigError(file, f"memories.{mem}.kind", cfg.memories[mem].kind,
                                  "sot_mram")
        if getattr(cfg.technology, "sot_mram", None) is None:
            raise ConfigError(file, "technology.sot_mram", "<missing>",
                              "the SOT-MRAM technology section (arch_configs/tech/)")
        wl = self.workload = design_workload(cfg)
        first = _check_ops(wl)
        stages = wl.stages()
        self.pre_ops = wl.ops[:first]
        grids = self._grids(wl)
        # where each tensor is made (-1: the input and the ops before the first layer) and
        # the last stage that reads it: what each layer passes on to the layers after it
        made: dict[str, int] = {INPUT: -1, **{op.name: -1 for op in self.pre_ops}}
        for j, stage in enumerate(stages):
            made.update({o.name: j for o in stage.ops})
        last_use: dict[str, int] = {}
        for op in wl.ops:
            for name in op.inputs:
                last_use[name] = max(last_use.get(name, -1), made[op.name])
        order = [INPUT, *(op.name for op in wl.ops)]
        self.input_names = tuple(n for n in order if made[n] == -1
                                 and last_use.get(n, -2) >= 0)
        for stage in stages:
            src = stage.layer.input
            if grids[src] is None:
                producer = wl.op(src)
                raise ConfigError(wl.origin("ops", producer.index), f"ops[{producer.index}].op",
                                  producer.kind, f"an op leaving integer codes, as layer "
                                  f"{stage.layer.name!r} reads its output: a quantize op, "
                                  "then only maxpool, relu, flatten or none")
        self.weights = load_weights(wl)
        entries = {}
        names = [s.layer.name for s in stages]
        for i, e in enumerate(cfg.layers):
            if e.name not in names:
                raise ConfigError(file, f"layers[{i}].name", e.name,
                                  f"a weighted op of the workload: one of {names}")
            entries[e.name] = (i, e)
        period = cfg.clock_period
        tc = cfg.memory_tech("compute")
        tb = cfg.memory_tech("buffer")
        wcyc = cycles(tc.write_latency.value, period)
        acyc = cycles(tc.and_latency.value, period)
        rcyc = cycles(tc.read_latency.value, period)
        self.layers: list[PimLayerModel] = []
        self.mappings: list[LayerMapping] = []
        used = 0
        # per tensor read by a layer: its elements that are code 0 in every image
        dead: dict[str, np.ndarray | None] = {}
        for j, stage in enumerate(stages):
            op = stage.layer
            g_in = grids[op.input]
            assert g_in is not None
            k_bits, step_x, _ = g_in
            meta = wl.model.layers.get(op.name)
            m_bits = meta.bits if meta is not None else None
            if m_bits is None or not 1 <= m_bits <= MAX_BITS:
                raise ConfigError(wl.origin("model", "layers", op.name, "bits"),
                                  f"model.layers.{op.name}.bits",
                                  m_bits if m_bits is not None else "<missing>",
                                  f"weight bits 1..{MAX_BITS} (DoReFa widths of the "
                                  "bit-plane fabric)")
            assert meta is not None
            params = self.weights.layers[op.name]
            assert params.codes is not None and params.step is not None
            keep = params.mask
            u = unsigned_codes(params.codes, keep if keep is not None else
                               np.ones(params.codes.shape, dtype=bool), meta.quantizer, m_bits)
            alpha, beta = affine(meta.quantizer, m_bits)
            idx, entry = entries.get(op.name, (None, None))
            where = f"layers[{idx}]" if idx is not None else "subarray"
            positions = (op.out_shape[1] * op.out_shape[2]) if isinstance(op, Conv2d) else 1
            groups = op.groups if isinstance(op, Conv2d) else 1
            try:
                mp = map_layer(
                    op.name, groups, op.weight_shape, keep, positions, m_bits, k_bits,
                    cfg.subarray.rows, cfg.subarray.columns,
                    entry.filters_per_subarray if entry else None,
                    entry.windows if entry else 1, entry.replicas if entry else 1,
                    cfg.double_buffer, wcyc, acyc, rcyc, cfg.digital_lanes,
                    _dead_fan_in(op, dead.get(op.input)))
            except ValueError as exc:
                key = (f"{where}.filters_per_subarray" if entry is not None
                       and entry.filters_per_subarray is not None
                       and "cannot hold" not in str(exc) else "subarray.rows")
                value = (entry.filters_per_subarray if entry is not None
                         and key.endswith("filters_per_subarray") else cfg.subarray.rows)
                raise ConfigError(file, key, value,
                                  f"a mapping of layer {op.name!r} that fits: {exc}") from None
            used += mp.subarrays
            # the digital unit: this stage's ops on the layer's output and on the tensors of
            # earlier layers they read (held in the layer's shortcut bank)
            rest = stage.ops[1:]
            local = {o.name for o in stage.ops}
            remote: dict[str, float | None] = {}
            for o in rest:
                for name in o.inputs:
                    if name not in local and name not in remote:
                        g = grids[name]
                        remote[name] = None if g is None else g[2]
            passed = tuple(o.name for o in stage.ops if last_use.get(o.name, -1) > j)
            carry = tuple(n for n in order if made[n] < j and last_use.get(n, -2) > j)
            is_last = j == len(stages) - 1
            last_grid = grids[stage.output]
            out_bits = None if last_grid is None else last_grid[0]
            bn = {o.name: self.weights.batchnorm[o.name] for o in rest
                  if isinstance(o, BatchNorm)}
            held = {n: (int(np.prod(wl.shape_of(n))),
                        cfg.digital_word_bits if (g := grids[n]) is None else g[0])
                    for n in remote}
            digital = DigitalOps(tuple(rest), bn, out_bits, layer=op.name, remote=remote,
                                 passed=passed, held=held)
            blocks = make_blocks(op.name, mp, cfg, tc, tb, int(np.prod(op.in_shape)) * k_bits,
                                 digital.shortcut_bits())
            lay = PimLayerModel(op, params.codes, keep, u, alpha, beta, params.step, params.b,
                                step_x, (1 << k_bits) - 1, mp, digital, blocks,
                                cfg.digital_latency_cycles, is_last, cfg.faults.and_error,
                                cfg.seed, k_bits, carry=carry)
            self.layers.append(lay)
            self.mappings.append(mp)
            if not is_last:
                dead[stage.output] = _dead_outputs(op, mp, digital, params.b)
        if used > cfg.organisation.subarrays:
            raise ConfigError(file, "organisation", used,
                              f"a chip with at least {used} sub-arrays for this mapping (it "
                              f"has {cfg.organisation.subarrays} = banks x mats_per_bank x "
                              "subarrays_per_mat); or fewer replicas / more filters per "
                              "sub-array")
        self.subarrays_used = used
        self.input_blocks: dict[str, Block] = {}
        self.input_tokens = 1

    def _grids(self, wl: Workload) -> dict[str, Grid]:
        """The integer grid of every tensor (module docstring): the input pixels (8-bit),
        a quantize op's codes, kept by maxpool, relu, flatten and none; None for the rest
        (batch norm, average pool, add and the layers' outputs are the digital unit's
        values). The ops before the first layer must keep the input on a grid."""
        k_bits, step_x = _input_grid(wl)
        grids: dict[str, Grid] = {INPUT: (k_bits, step_x, 255.0 if step_x != 1.0 else 1.0)}
        pre = {op.name for op in self.pre_ops}
        for op in wl.ops:
            g: Grid = None
            if isinstance(op, Quantize):
                g = (self._act_bits(wl, op), 1.0 / op.levels, float(op.levels))
            elif isinstance(op, _GRID_OPS):
                g = grids[op.input]
            elif op.name in pre:
                raise ConfigError(wl.origin("ops", op.index), f"ops[{op.index}].op", op.kind,
                                  "before the first layer only quantize, maxpool, relu, "
                                  "flatten or none (the input must stay integer codes)")
            grids[op.name] = g
        return grids

    @staticmethod
    def _act_bits(wl: Workload, op: Quantize) -> int:
        if not 1 <= op.bits <= MAX_BITS:
            raise ConfigError(wl.origin("ops", op.index, "bits"), f"ops[{op.index}].bits",
                              op.bits, f"activation bits 1..{MAX_BITS} (the bit-plane fabric)")
        return op.bits

    # ---------------------------------------------------------------- the input stage
    def encode(self, pixels: np.ndarray) -> dict[str, np.ndarray]:
        """The first layer's input: the codes of the input pixels through the ops before the
        first layer, by name (those the layers read)."""
        codes = np.asarray(pixels).astype(np.int64)
        x = map_input(np.asarray(pixels)[None], self.workload.input.mapping)
        tensors = {INPUT: codes}
        for op in self.pre_ops:
            if isinstance(op, Quantize):
                codes = quantize_activation_codes(x, op.bits)[0]
                x = codes[None] / float(op.levels)
            elif isinstance(op, MaxPool):
                codes, x = pool(op, codes[None])[0], pool(op, x)
            elif isinstance(op, Relu):
                codes, x = np.maximum(codes, 0), np.maximum(x, 0.0)
            elif isinstance(op, Flatten):
                codes, x = codes.reshape(-1), x.reshape(1, -1)
            tensors[op.name] = codes
        return {name: tensors[name] for name in self.input_names}

    def input_token_array(self, pixels: np.ndarray) -> np.ndarray:
        token = np.empty(1, dtype=object)  # one token: the whole input, as a bundle
        token[0] = self.encode(pixels)
        return token

    def input_actions(self) -> Actions:
        return {}

    def reference(self, pixels: np.ndarray,
                  values: Sequence[np.ndarray]) -> tuple[dict[str, float], int]:
        if not self.cfg.reference_check:  # the datapath's own prediction, no per-layer error
            return {}, int(np.argmax(values[-1]))
        outs = reference_forward(self.workload, self.weights, np.asarray(pixels)[None],
                                 fixed_point=True)
        refs = layer_outputs(self.workload, outs)
        errors = {lay.name: float(np.mean(np.abs(np.asarray(v) - r[0])))
                  for lay, v, r in zip(self.layers, values, refs, strict=True)}
        return errors, int(np.argmax(refs[-1][0]))

    @property
    def workload_weights(self) -> WorkloadWeights:
        """The workload's weights as loaded (masked, quantized): what ``archsim train``
        starts from (archsim.train.registry)."""
        return self.weights

    def _weight_counts(self, name: str) -> dict[str, int]:
        """The layer's weights and how many of them its mask keeps (the storage a
        compression rate counts: ``weights_kept`` x ``weight_bits``)."""
        p = self.weights.layers[name]
        n = int(p.w.size)
        return {"weights": n,
                "weights_kept": n if p.mask is None else int(np.count_nonzero(p.mask))}

    def metadata(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "workload": self.workload.name,
            "subarrays_used": self.subarrays_used,
            "subarrays_available": self.cfg.organisation.subarrays,
            "layers": {mp.name: {"weight_bits": mp.m_bits, "activation_bits": mp.k_bits,
                                 "masked": mp.masked, "subarrays": mp.subarrays,
                                 "filters_per_subarray": mp.filters_per_subarray,
                                 "windows": mp.windows, "replicas": mp.replicas,
                                 "steps": mp.steps,
                                 "mapped_filters": int(sum(mp.f_g)),
                                 "mapped_columns": int(sum(mp.n_g)),
                                 **self._weight_counts(mp.name)}
                       for mp in self.mappings},
        }
        if self.cfg.rram is not None:
            out["rram_reference"] = rram_reference(self.mappings, self.cfg.rram)
        return out
