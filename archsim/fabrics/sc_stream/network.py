"""An elaborated accelerator: every layer's weight store, weight streams and hardware blocks.

Built once per run from a ``NetworkSpec`` and the float weights; shared by the fast and the
per-cycle engines, so both simulate exactly the same hardware.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from archsim.blocks.misalignment import FaultDraw, FaultTable, TrackStreams, draw_faults
from archsim.blocks.specs import NetworkSpec
from archsim.blocks.streams import LayerWeights, input_streams
from archsim.blocks.weight_store import WeightStore
from archsim.engine.fabric import FabricNetwork, Probe
from archsim.engine.ledger import Block
from archsim.fabrics.sc_stream.datapath import btanh_states
from archsim.fabrics.sc_stream.faults import FAULTS
from archsim.fabrics.sc_stream.hardware import LayerHardware, input_blocks
from archsim.fabrics.sc_stream.layer import ElaboratedLayer
from archsim.fabrics.sc_stream.mapping import FloatReference
from archsim.fabrics.sc_stream.probes import parse_probes
from archsim.sc import kernels as K
from archsim.seeds import derive_seed


class Network(FabricNetwork):
    """The hardware of one run: layers mapped to blocks, ready for either engine."""

    def __init__(self, spec: NetworkSpec, float_weights: dict[str, tuple[np.ndarray, np.ndarray]]):
        self.spec = spec
        self.float_weights = float_weights
        # the one float reference (archsim.workload) of the network these layers compute
        self.float_reference = FloatReference(spec, float_weights)
        self.name, self.seed, self.clock_mhz = spec.name, spec.seed, spec.clock_mhz
        L = self.input_tokens = spec.stream_length
        self.layers: list[ElaboratedLayer] = []
        for i, lay in enumerate(spec.layers):
            store = WeightStore(lay, L, spec.cycle_ns)
            w, b = float_weights[lay.name]
            lw = LayerWeights(lay, w, b, store.address, L, spec.comparator,
                              derive_seed(spec.seed, "weights"))
            r = btanh_states(lay)[0] if lay.activation == "btanh" else 0
            hw = LayerHardware(lay, store, spec, r, is_last=i == len(spec.layers) - 1)
            if lay.pool_first >= 0:
                first = lay.pool_first
            else:  # "random": a seeded choice, fixed for the run
                first = int(np.random.default_rng(derive_seed(spec.seed, "pool", lay.name))
                            .integers(0, lay.pool ** 2 if lay.pooled else 4))
            el = ElaboratedLayer(lay, store, lw, hw, r, first, L=L, seed=spec.seed)
            for fault in FAULTS:  # the fault models of this layer (faults.py)
                if fault.active(lay):
                    fault.attach(el, spec.seed)
                    el.fault_models.append(fault)
            self.layers.append(el)
        self.input_blocks = input_blocks(spec)

    # ------------------------------------------------------------ fabric interface
    def encode(self, pixels: np.ndarray) -> np.ndarray:
        """The input SNG streams of one image (one comparator SNG per pixel)."""
        spec = self.spec
        return input_streams(pixels.reshape(spec.input_shape), spec.input_rng,
                             spec.stream_length, spec.comparator)

    def input_token_array(self, pixels: np.ndarray) -> np.ndarray:
        s = self.encode(pixels)
        return K.unpack_bits(s.reshape(-1, s.shape[-1]), self.spec.stream_length).T

    def input_actions(self) -> dict[str, dict[str, int]]:
        L = self.spec.stream_length
        return {name: {action: self.input_blocks[name].instances * L}
                for name, action in (("sng", "generate"), ("rng", "step"))}

    def reference(self, pixels: np.ndarray,
                  values: Sequence[np.ndarray]) -> tuple[dict[str, float], int]:
        """Mean |SC - float| per layer and the float reference's prediction for one image."""
        ref = self.float_reference.layers(pixels)
        errors = {el.spec.name: float(np.mean(np.abs(sc.ravel() - fl.ravel())))
                  for el, sc, fl in zip(self.layers, values, ref, strict=True)}
        return errors, int(np.argmax(ref[-1]))

    def parse_probes(self, names: Sequence[str]) -> list[Probe]:
        return list(parse_probes(list(names), list(self.spec.layers)))

    def metadata(self) -> dict[str, Any]:
        return {
            "btanh_r": {el.spec.name: el.r for el in self.layers if el.r},
            "depth_cycles": {el.spec.name: el.spec.depth_cycles for el in self.layers},
            "comparator": self.spec.comparator,
        }

    def block(self, layer: str, name: str) -> Block:
        if layer == "input":
            return self.input_blocks[name]
        for el in self.layers:
            if el.spec.name == layer:
                return el.hw.blocks[name]
        raise KeyError(f"{layer}.{name}")


def _fault_model(el: ElaboratedLayer, seed: int) -> FaultDraw:
    """image -> (fault table, track -> weight streams) for a layer's misaligning tracks."""
    store, mem = el.store, el.spec.memory
    streams = store.nanowires
    tracks = int(store.track_of_stream(np.array([streams - 1]))[0]) + 1
    cache: dict[int, tuple[FaultTable, TrackStreams]] = {}

    streams_of = TrackStreams(mem.ports if store.zone_mode else 1, streams)

    def faults(image: int) -> tuple[FaultTable, TrackStreams]:
        if image not in cache:
            if len(cache) > 4:
                cache.clear()
            cache[image] = (draw_faults(store.nominal_steps(), tracks, mem.misalignment, seed,
                                        el.spec.name, image), streams_of)
        return cache[image]
    return faults


def random_weights(spec: NetworkSpec, seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Random weights in [-1, 1] with a fan-in-scaled spread (until a trained model is given)."""
    rng = np.random.default_rng(derive_seed(seed, "random-weights"))
    out = {}
    for lay in spec.layers:
        shape = ((lay.filters, lay.in_channels, lay.kernel, lay.kernel) if lay.kind == "conv"
                 else (lay.outputs, lay.inputs))
        scale = 2.0 / np.sqrt(lay.fan_in)
        w = np.clip(rng.normal(0, scale, size=shape), -1, 1)
        b = np.clip(rng.normal(0, 0.1, size=shape[0]), -1, 1)
        out[lay.name] = (w, b)
    return out
