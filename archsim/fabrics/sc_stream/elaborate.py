"""Elaboration: a validated ``ArchConfig`` becomes the plain hardware specs the blocks use.

This is the only module that reads the config schema's objects; everything after it works on
``archsim.blocks.specs``.  It also resolves the model weights named by the config.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from archsim.blocks.specs import LayerSpec, LogicCost, MemorySpec, NetworkSpec, RngSpec
from archsim.config.errors import ConfigError
from archsim.config.loader import display_path
from archsim.config.schema import MEMORY_KINDS, ArchConfig, ConvLayer, LogicTech, Rng
from archsim.fabrics.sc_stream.budget import check_memory
from archsim.fabrics.sc_stream.datapath import btanh_states
from archsim.fabrics.sc_stream.faults import FAULTS
from archsim.fabrics.sc_stream.network import random_weights
from archsim.seeds import derive_seed
from archsim.workload.npz import read_npz
from archsim.workload.weights import numeric_array, read_metadata

#: the SC logic units: every unit of the technology file's logic section
LOGIC_UNITS = tuple(LogicTech.model_fields)


def _rng(r: Rng, seed: int, *name: str) -> RngSpec:
    return RngSpec(
        kind=r.kind,
        width=int(r.width or 10),
        seed=int(r.seed) if r.seed is not None else derive_seed(seed, "rng", *name, bits=31),
        taps=tuple(r.taps) if r.taps else None,
        share=r.share,
        rotate=r.offset == "rotate",
    )


def _memory(cfg: ArchConfig, name: str) -> MemorySpec:
    mem = cfg.memories[name]
    t = cfg.memory_tech(name).as_floats()
    kind = MEMORY_KINDS[mem.kind]
    return MemorySpec(
        name=name, kind=mem.kind, volatile=kind.volatile,
        read_energy_pj=t["read_energy_per_bit"], write_energy_pj=t["write_energy_per_bit"],
        leakage_mw_per_bit=t["leakage_per_bit"], cell_area_um2=t["cell_area"],
        read_latency_ns=t["read_latency"], write_latency_ns=t["write_latency"],
        shift_energy_pj=t.get("shift_energy_per_track_step", 0.0),
        shift_latency_ns=t.get("shift_latency", 0.0), port_area_um2=t.get("port_area", 0.0),
        **mem.spec_fields(),
    )


def network_spec(cfg: ArchConfig) -> NetworkSpec:
    """The hardware specs of a validated configuration."""
    layers = []
    for i, lay in enumerate(cfg.layers):
        w = lay.weights
        here = f"layers[{i}]"
        mem = _memory(cfg, w.memory)
        common: dict[str, Any] = dict(
            name=lay.name, memory=mem, weight_format=w.format,
            weight_length=int(w.length or 0), weight_bits=int(w.bits or 0),
            weight_rounding=w.rounding,
            weight_rng=_rng(w.rng, cfg.seed, lay.name) if w.rng else RngSpec(),
            counter=lay.counter, btanh_s=lay.btanh.s, btanh_r=lay.btanh.r,
            btanh_s0=lay.btanh.s0, activation=lay.activation,
            pipeline_depth=lay.pipeline_depth, output_flip=lay.output_flip,
        )
        if isinstance(lay, ConvLayer):
            in_h, in_w = lay.in_hw
            spec = LayerSpec(kind="conv", in_channels=lay.in_channels, in_size=in_h,
                             in_width=0 if in_w == in_h else in_w, stride=lay.stride,
                             padding=lay.padding, pool_stride=lay.pool_stride or 0,
                             filters=lay.filters, kernel=lay.kernel, pool=lay.pool,
                             sharing=lay.sharing, pool_segment=lay.pool_segment,
                             pool_first=-1 if lay.pool_first == "random" else lay.pool_first,
                             **common)
        else:
            spec = LayerSpec(kind="fc", inputs=lay.inputs, outputs=lay.outputs,
                             mux_groups=lay.mux_groups, mux_passes=lay.mux_passes, **common)
        if spec.weight_format == "stochastic" and mem.is_dwm:
            period = (spec.mux_phases if spec.shared_fc else 1) * spec.weight_length
            if period > mem.domains * 4096:
                raise ConfigError(cfg.source_file, f"{here}.weights.length", spec.weight_length,
                                  "a stream that fits in 4096 tracks of the memory's domains")
        if spec.activation == "btanh":
            _check_btanh(cfg, spec, here)
        for fault in FAULTS:  # each fault model says where it is simulated
            if fault.rate(spec) > 0 and not fault.supported(spec):
                raise ConfigError(cfg.source_file, fault.key_path(i, w.memory), fault.rate(spec),
                                  fault.expected(spec))
        layers.append(spec)
    first = cfg.layers[0]
    if isinstance(first, ConvLayer):
        shape = (first.in_channels, *first.in_hw)
    else:
        shape = (1, 1, first.inputs)
    logic = {}
    for unit in LOGIC_UNITS:
        u = getattr(cfg.technology.logic, unit)
        logic[unit] = LogicCost(u.energy.value, u.area.value, u.leakage.value)
    net = NetworkSpec(
        name=cfg.name, clock_mhz=cfg.clock, stream_length=cfg.stream.length,
        input_shape=shape, input_rng=_rng(cfg.stream.rng, cfg.seed, "input"),
        comparator=cfg.stream.comparator, layers=tuple(layers), logic=logic, seed=cfg.seed,
    )
    check_memory(net, cfg.source_file)
    return net


#: Most Btanh counter states simulated (a 20-bit up/down counter).
MAX_BTANH_STATES = 1 << 20


def _check_btanh(cfg: ArchConfig, spec: LayerSpec, here: str) -> None:
    """The layer's Btanh state count r (given, or Kim's r(n, s)) must be a counter archsim
    can build: 2..MAX_BTANH_STATES states."""
    try:
        r, _ = btanh_states(spec)
    except ValueError:
        r = None
    if r is None or not 2 <= r <= MAX_BTANH_STATES:
        key = f"{here}.btanh.r" if spec.btanh_r is not None else f"{here}.btanh.s"
        value = spec.btanh_r if spec.btanh_r is not None else spec.btanh_s
        raise ConfigError(cfg.source_file, key, value,
                          f"a Btanh gain whose state count r(n={spec.btanh_n}, s) lies in "
                          f"2..{MAX_BTANH_STATES} (Kim's r = 2 round(n + (1/s - 1)(n - 1)/"
                          f"(1 - q)) gives {r})")


def model_weights(cfg: ArchConfig, spec: NetworkSpec) -> tuple[dict, dict]:
    """Float weights per layer name, and metadata of where they came from.

    ``random``: seeded random weights.  ``builtin:<name>`` or a path: an .npz holding
    ``<layer>_w`` and ``<layer>_b`` for every layer of the config (the format
    ``archsim train`` writes).
    """
    src = cfg.model.weights
    if src == "random":
        return random_weights(spec, cfg.seed), {"weights": "random", "seed": cfg.seed}
    if src.startswith("builtin:"):
        name = src.split(":", 1)[1]
        from archsim.workload.models import BUILTIN_MODELS, builtin_model_path

        if name not in BUILTIN_MODELS:  # the one registry of shipped models
            raise ConfigError(cfg.source_file, "model.weights", src, "a shipped model: one of "
                              f"{['builtin:' + k for k in sorted(BUILTIN_MODELS)]}")
        path = builtin_model_path(name)
    else:
        path = Path(src)
    out = {}
    label = display_path(path)
    arrays = read_npz(path, label, str(cfg.source_file or "<config>"), "model.weights")
    meta = read_metadata(label, arrays["metadata"]) if "metadata" in arrays else {}
    clipped = 0
    for i, lay in enumerate(spec.layers):
        want_w = ((lay.filters, lay.in_channels, lay.kernel, lay.kernel)
                  if lay.kind == "conv" else (lay.outputs, lay.inputs))
        pair = []
        for key, shape in ((f"{lay.name}_w", want_w), (f"{lay.name}_b", want_w[:1])):
            if key not in arrays:
                raise ConfigError(cfg.source_file, "model.weights", src,
                                  f"an .npz with array {key!r} for layers[{i}] "
                                  f"(has {sorted(arrays)})")
            if tuple(arrays[key].shape) != shape:
                raise ConfigError(cfg.source_file, f"layers[{i}]", lay.name,
                                  f"a layer matching the model's {key} of shape "
                                  f"{tuple(arrays[key].shape)} (config gives {shape})")
            a = numeric_array(label, key, arrays[key])  # float64, finite
            outside = np.abs(a) > 1.0
            if outside.any():
                if not cfg.model.clip:
                    where = tuple(int(j) for j in np.argwhere(outside)[0])
                    raise ConfigError(label, key, f"{a[where]} at index {where}",
                                      "weights in [-1, 1], the range of a bipolar stochastic "
                                      "number (or model.clip: true in the design to clip them)")
                clipped += int(outside.sum())
                a = np.clip(a, -1.0, 1.0)
            pair.append(a)
        out[lay.name] = (pair[0], pair[1])
    info: dict[str, Any] = {"weights": src, "path": str(path), "model_metadata": meta}
    if cfg.model.clip:
        info["clipped_on_load"] = clipped
    return out, info
