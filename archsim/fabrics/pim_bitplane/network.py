"""Elaboration of a ``pim_bitplane`` design: its workload onto sub-arrays, every load-time check.

The workload must be a chain of stages (a conv2d or dense op and the ops after it) whose
weighted ops read integer codes (docs/pim-bitplane.md): the 8-bit input pixels (``unipolar``
or ``raw`` mapping) or the codes of a ``quantize`` op, passed through ``maxpool``, ``relu``,
``flatten`` or ``none``. Weight widths come from ``model.layers.<op>.bits`` (1..8) and the
quantizer from ``model.layers.<op>.quantizer``; activation widths from the ``quantize`` ops
(1..8); masks from the model or ``model.layers.<op>.mask``. Every problem is a
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
_STAGE_OPS = (BatchNorm, Relu, Quantize, MaxPool, Flatten, Identity)
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


def _check_chain(wl: Workload) -> None:
    prev = INPUT
    for op in wl.ops:
        if op.input != prev:
            raise ConfigError(wl.origin("ops", op.index, "input"), f"ops[{op.index}].input",
                              op.input, f"the previous op {prev!r}: the bit-plane fabric runs "
                              "a chain of layers")
        if not isinstance(op, (Conv2d, Dense, *_STAGE_OPS)):
            raise ConfigError(wl.origin("ops", op.index), f"ops[{op.index}].op", op.kind,
                              "an op the bit-plane fabric computes: conv2d, dense, batchnorm, "
                              "relu, quantize, maxpool, flatten, none")
        prev = op.name


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
    into code 0. None when every filter is mapped."""
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
        _check_chain(wl)
        k_bits, step_x = _input_grid(wl)
        stages = wl.stages()
        first = stages[0].layer.index
        self.pre_ops = wl.ops[:first]
        for op in self.pre_ops:
            if isinstance(op, Quantize):
                k_bits, step_x = self._act_bits(wl, op), 1.0 / op.levels
            elif not isinstance(op, _GRID_OPS):
                raise ConfigError(wl.origin("ops", op.index), f"ops[{op.index}].op", op.kind,
                                  "before the first layer only quantize, maxpool, relu, "
                                  "flatten or none (the input must stay integer codes)")
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
        dead: np.ndarray | None = None  # per input element of the next layer: always code 0
        for j, stage in enumerate(stages):
            op = stage.layer
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
                    _dead_fan_in(op, dead))
            except ValueError as exc:
                key = (f"{where}.filters_per_subarray" if entry is not None
                       and entry.filters_per_subarray is not None
                       and "cannot hold" not in str(exc) else "subarray.rows")
                value = (entry.filters_per_subarray if entry is not None
                         and key.endswith("filters_per_subarray") else cfg.subarray.rows)
                raise ConfigError(file, key, value,
                                  f"a mapping of layer {op.name!r} that fits: {exc}") from None
            used += mp.subarrays
            # the digital unit: this stage's ops, and the grid of the next layer's input
            rest = stage.ops[1:]
            out_bits = None
            grid_ok = False
            for o in rest:
                if isinstance(o, Quantize):
                    out_bits, grid_ok = self._act_bits(wl, o), True
                elif isinstance(o, _GRID_OPS):
                    pass
                else:
                    grid_ok = False
            is_last = j == len(stages) - 1
            if not is_last and not grid_ok:
                nxt = stages[j + 1].layer
                raise ConfigError(wl.origin("ops", nxt.index), f"ops[{nxt.index}]", nxt.name,
                                  "a layer whose input is integer codes: a quantize op (then "
                                  "only maxpool, relu, flatten or none) after the previous "
                                  "layer")
            bn = {o.name: self.weights.batchnorm[o.name] for o in rest
                  if isinstance(o, BatchNorm)}
            digital = DigitalOps(tuple(rest), bn, out_bits)
            blocks = make_blocks(op.name, mp, cfg, tc, tb, int(np.prod(op.in_shape)) * k_bits)
            lay = PimLayerModel(op, params.codes, keep, u, alpha, beta, params.step, params.b,
                                step_x, (1 << k_bits) - 1, mp, digital, blocks,
                                cfg.digital_latency_cycles, is_last, cfg.faults.and_error,
                                cfg.seed, k_bits)
            self.layers.append(lay)
            self.mappings.append(mp)
            dead = None if is_last else _dead_outputs(op, mp, digital, params.b)
            if out_bits is not None:
                k_bits, step_x = out_bits, 1.0 / ((1 << out_bits) - 1)
        if used > cfg.organisation.subarrays:
            raise ConfigError(file, "organisation", used,
                              f"a chip with at least {used} sub-arrays for this mapping (it "
                              f"has {cfg.organisation.subarrays} = banks x mats_per_bank x "
                              "subarrays_per_mat); or fewer replicas / more filters per "
                              "sub-array")
        self.subarrays_used = used
        self.input_blocks: dict[str, Block] = {}
        self.input_tokens = 1

    @staticmethod
    def _act_bits(wl: Workload, op: Quantize) -> int:
        if not 1 <= op.bits <= MAX_BITS:
            raise ConfigError(wl.origin("ops", op.index, "bits"), f"ops[{op.index}].bits",
                              op.bits, f"activation bits 1..{MAX_BITS} (the bit-plane fabric)")
        return op.bits

    # ---------------------------------------------------------------- the input stage
    def encode(self, pixels: np.ndarray) -> np.ndarray:
        codes = np.asarray(pixels).astype(np.int64)
        x = map_input(np.asarray(pixels)[None], self.workload.input.mapping)
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
        return codes

    def input_token_array(self, pixels: np.ndarray) -> np.ndarray:
        return self.encode(pixels)[None]

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
