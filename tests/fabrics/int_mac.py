"""A minimal second fabric: a binary integer MAC array with its weights in SRAM.

It exists to prove that the fabric interface is real: it plugs into archsim with one
registration and runs end to end (fast and per-cycle engines, worker pool, ledger, writers,
plots) without a line changed in any engine module.  It imports only these public modules:

* ``archsim.engine.fabric`` (the interface), ``archsim.engine.ledger`` (Action, Block),
  ``archsim.engine.kinds`` (to register its ``mac`` component kind);
* ``archsim.fabrics`` (the registry), ``archsim.config.schema`` (the shared config pieces)
  and ``archsim.seeds`` (seed derivation).

The hardware: ``macs`` multiply-accumulate units read ``macs`` weights of ``weight_bits`` bits
per step from an SRAM (one step per SRAM read, ``ceil(read_latency / clock period)`` cycles)
and add the products into one accumulator per output neuron.  A dense layer of ``n`` inputs
and ``m`` outputs takes ``ceil(n m / macs)`` steps over the products in (output, input) order;
it waits for its whole input vector (``waits_for = "image"``) and emits the output vector at
its last step: ``relu`` outputs are ``min(max(z, 0) >> shift, 2^activation_bits - 1)``, the
last layer's accumulators are the class scores.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field

from archsim.config.schema import DesignConfig, LogicUnit, SramMemory, Strict
from archsim.engine.fabric import (
    Actions,
    Fabric,
    FabricNetwork,
    LayerModel,
    LayerOutput,
    PerCycleModel,
    Schedule,
    Stage,
)
from archsim.engine.kinds import register_block_kind
from archsim.engine.ledger import Action, Block
from archsim.fabrics import register_fabric
from archsim.seeds import derive_seed

register_block_kind("mac", "compute", "integer multiply-accumulate units")


# ------------------------------------------------------------------------------ config
class MacLayer(Strict):
    name: str
    outputs: int = Field(ge=1)
    shift: int = Field(4, ge=0, le=30)
    """Right shift of the relu output (the re-quantization to activation_bits)."""


class IntMacConfig(DesignConfig):
    fabric: Literal["int_mac"] = "int_mac"
    input_shape: tuple[int, int, int] = (1, 4, 4)
    macs: int = Field(8, ge=1)
    weight_bits: int = Field(4, ge=2, le=8)
    activation_bits: int = Field(4, ge=1, le=8)
    weight_memory: SramMemory
    mac: LogicUnit
    layers: list[MacLayer] = Field(min_length=1)


# ------------------------------------------------------------------------------ layer
class MacLayerModel(LayerModel):
    waits_for = "image"

    def __init__(self, lay: MacLayer, w: np.ndarray, cfg: IntMacConfig, is_last: bool,
                 read_cycles: int) -> None:
        self.name, self.w, self.cfg, self.is_last = lay.name, w, cfg, is_last
        self.shift = lay.shift
        self.depth_cycles = 1  # the accumulator register
        self.memory_block = "weights"
        self.products = w.size
        self.steps = -(-self.products // cfg.macs)
        tech = cfg.technology.sram
        assert tech is not None
        self.read_cycles = read_cycles
        bits = w.size * cfg.weight_bits
        self.blocks = {
            "weights": Block("weights", lay.name, "memory", bits,
                             {"read": Action("read", tech.read_energy_per_bit.value),
                              "write": Action("write", tech.write_energy_per_bit.value)},
                             tech.cell_area.value, tech.leakage_per_bit.value, "SRAM weights"),
            "mac": Block("mac", lay.name, "mac", cfg.macs,
                         {"mac": Action("mac", cfg.mac.energy.value)}, cfg.mac.area.value,
                         cfg.mac.leakage.value, "integer MAC units"),
            "acc": Block("acc", lay.name, "accumulator", w.shape[0], {}, 0.0, 0.0,
                         "output accumulators"),
        }
        interval = np.full(self.steps, read_cycles, dtype=np.int64)
        self._sched = Schedule(interval=interval, cum_interval=np.cumsum(interval),
                               stall_cycles=int((interval - 1).sum()), emit_from=self.steps - 1)

    def activate(self, z: np.ndarray) -> np.ndarray:
        if self.is_last:
            return z
        return np.minimum(np.maximum(z, 0) >> self.shift, (1 << self.cfg.activation_bits) - 1)

    def stages(self) -> list[Stage]:
        return [Stage("mac", 0), Stage("acc", 1)]  # MACs add into the registered accumulators

    def load_actions(self) -> Actions:
        return {"weights": {"write": self.blocks["weights"].instances}}

    def schedule(self) -> Schedule:
        return self._sched

    def compute(self, data: Any, image: int, detail: bool = False) -> LayerOutput:
        y = self.activate(self.w @ data)
        return LayerOutput(data=y, value=y.astype(np.float64),
                           scores=y if self.is_last else None, trace_bits=y)

    def image_actions(self, sched: Schedule, out: LayerOutput) -> Actions:
        return {"mac": {"mac": self.products},
                "weights": {"read": self.products * self.cfg.weight_bits}}

    def percycle(self) -> PerCycleModel:
        return MacPerCycle(self)


class MacPerCycle(PerCycleModel):
    """Plain integer arithmetic, one step (``macs`` products) per call."""

    def __init__(self, lay: MacLayerModel) -> None:
        self.lay = lay
        self.steps, self.emit_from = lay.steps, lay.steps - 1
        self.w = [[int(v) for v in row] for row in lay.w]

    def reset(self, image: int) -> None:
        self.acc = [0] * len(self.w)

    def access(self, s: int) -> tuple[int, Actions]:
        n = min(self.lay.cfg.macs, self.lay.products - s * self.lay.cfg.macs)
        return self.lay.read_cycles, {"mac": {"mac": n},
                                      "weights": {"read": n * self.lay.cfg.weight_bits}}

    def stage(self, i: int, s: int, data: Any) -> Any:
        if i == 0:  # the MAC units: this step's products into the accumulators
            n_in = len(self.w[0])
            for p in range(s * self.lay.cfg.macs,
                           min((s + 1) * self.lay.cfg.macs, self.lay.products)):
                o, j = divmod(p, n_in)
                self.acc[o] += self.w[o][j] * int(data[j])
            return list(self.acc) if s == self.emit_from else None
        if data is None:  # the accumulator register: the output vector after the last step
            return None
        return self.lay.activate(np.array(data, dtype=np.int64))

    def finish(self, tokens: list[np.ndarray]) -> LayerOutput:
        y = tokens[-1]
        return LayerOutput(value=y.astype(np.float64), scores=y if self.lay.is_last else None,
                           trace_bits=y)


# ------------------------------------------------------------------------------ network
class IntMacNetwork(FabricNetwork):
    def __init__(self, cfg: IntMacConfig) -> None:
        self.cfg = cfg
        self.name, self.seed, self.clock_mhz = cfg.name, cfg.seed, cfg.clock
        tech = cfg.technology.sram
        assert tech is not None
        read_cycles = max(1, int(np.ceil(tech.read_latency.value / cfg.clock_period)))
        rng = np.random.default_rng(derive_seed(cfg.seed, "int-mac-weights"))
        lo, hi = -(1 << (cfg.weight_bits - 1)), (1 << (cfg.weight_bits - 1))
        n_in = int(np.prod(cfg.input_shape))
        self.layers = []
        for i, lay in enumerate(cfg.layers):
            w = rng.integers(lo, hi, size=(lay.outputs, n_in), dtype=np.int64)
            self.layers.append(MacLayerModel(lay, w, cfg, i == len(cfg.layers) - 1,
                                             read_cycles))
            n_in = lay.outputs
        self.input_blocks = {"input_reg": Block("input_reg", "input", "register",
                                                int(np.prod(cfg.input_shape)),
                                                {"load": Action("load", 0.001)}, 1.0, 0.0)}
        self.input_tokens = 1

    def encode(self, pixels: np.ndarray) -> np.ndarray:
        return (pixels.astype(np.int64) >> (8 - self.cfg.activation_bits)).ravel()

    def input_token_array(self, pixels: np.ndarray) -> np.ndarray:
        return self.encode(pixels)[None, :]

    def input_actions(self) -> Actions:
        return {"input_reg": {"load": self.input_blocks["input_reg"].instances}}

    def reference(self, pixels, values):
        x = self.encode(pixels).astype(np.float64)
        errors = {}
        for lay, v in zip(self.layers, values, strict=True):
            z = lay.w.astype(np.float64) @ x
            x = z if lay.is_last else np.minimum(
                np.floor(np.maximum(z, 0) / 2 ** lay.shift), 2 ** self.cfg.activation_bits - 1)
            errors[lay.name] = float(np.mean(np.abs(v - x)))
        return errors, int(np.argmax(x))


@register_fabric
class IntMacFabric(Fabric):
    name = "int_mac"
    description = "binary integer MAC array with SRAM weights (test fabric)"

    @classmethod
    def config_model(cls) -> type:
        return IntMacConfig

    def elaborate(self, cfg: Any) -> tuple[FabricNetwork, dict[str, Any]]:
        return IntMacNetwork(cfg), {"weights": "random", "seed": cfg.seed}

    def input_shape(self, cfg: Any) -> tuple[int, ...]:
        return tuple(cfg.input_shape)
