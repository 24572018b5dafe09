"""archsim's component models as an HWComponents plug-in (the Accelergy project's model API).

hwcomponents finds plug-ins by the name of their top-level package (``hwcomponents_*``); this
package is installed with archsim and needs hwcomponents (Python >= 3.12, the
``archsim[hwcomponents]`` extra).  ``hwc --list`` then shows, for 45 nm-class numbers of
archsim's shipped technology (``arch_configs/tech/generic45.yaml``, every number with its
source there):

* one array per memory kind archsim registers (``archsim_sram_array``, ``archsim_dwm_array``,
  ``archsim_stt_mram_array``, and any kind added later): ``read`` / ``write`` of a ``width``-bit
  word (the per-bit energies x width), area and leakage of ``width`` x ``depth`` bits; a kind
  with shifts (DWM nanowires) also ``shift`` (one domain step of ``width`` tracks), a kind
  with access ports also ``archsim_<kind>_port`` (the area of one port);
* the stochastic-computing blocks: ``archsim_sc_xnor`` (multiply), ``archsim_sc_sng``
  (generate one bit of a ``width``-bit comparator SNG), ``archsim_sc_lfsr`` (step),
  ``archsim_sc_apc`` and ``archsim_sc_parallel_counter`` (count ``n_inputs`` input bits),
  ``archsim_sc_btanh`` (update a ``state_bits`` counter), ``archsim_sc_pool_counter`` (count
  ``n_inputs`` pooling inputs), ``archsim_sc_mux`` (select one bit of ``n_inputs``),
  ``archsim_sc_register`` (hold ``width`` bits one cycle).

Energies are J, latencies s, areas m^2, leakage W (hwcomponents' units).  The models are
archsim's own numbers at 45 nm: another ``tech_node`` is refused rather than scaled.
"""

from __future__ import annotations

import functools
import math
from typing import Any

from hwcomponents import ActionCost, ComponentModel, action

__all__: list[str] = []  # the model classes are found by hwcomponents through dir()

NODE_M = 45e-9
PJ, NS, UM2, MW = 1e-12, 1e-9, 1e-12, 1e-3  # archsim's units in SI


@functools.lru_cache(maxsize=1)
def _technology() -> Any:
    """archsim's shipped generic45 technology (the config schema validates it)."""
    import yaml

    from archsim.config.schema import Technology
    from archsim.resources import configs_dir

    raw = yaml.safe_load((configs_dir() / "tech" / "generic45.yaml").read_text("utf-8"))
    return Technology.model_validate(raw["technology"])


def _node(tech_node: float) -> None:
    if not math.isclose(tech_node, NODE_M, rel_tol=0.12):
        raise ValueError(f"tech_node(={tech_node}) must be 45e-9: archsim's models are its 45 nm "
                         "technology numbers")


class _MemoryArray(ComponentModel):
    """A ``width`` x ``depth``-bit weight array of one archsim memory kind."""

    kind = ""
    priority = 0.4

    def __init__(self, tech_node: float = NODE_M, width: int = 1, depth: int = 1):
        _node(tech_node)
        self.t = getattr(_technology(), self.kind).as_floats()
        self.width, self.depth = int(width), int(depth)
        bits = self.width * self.depth
        super().__init__(area=self.t["cell_area"] * bits * UM2,
                         leak_power=self.t["leakage_per_bit"] * bits * MW)

    @action
    def read(self) -> ActionCost:
        """One ``width``-bit read."""
        lat = self.t["read_latency"] * NS
        return ActionCost(energy=self.t["read_energy_per_bit"] * self.width * PJ, latency=lat,
                          throughput=self.width / lat)

    @action
    def write(self) -> ActionCost:
        """One ``width``-bit write."""
        lat = self.t["write_latency"] * NS
        return ActionCost(energy=self.t["write_energy_per_bit"] * self.width * PJ, latency=lat,
                          throughput=self.width / lat)


class _ShiftedArray(_MemoryArray):
    """A memory whose tracks shift past access ports (domain-wall nanowires)."""

    @action
    def shift(self) -> ActionCost:
        """One one-domain shift step of ``width`` tracks."""
        lat = self.t["shift_latency"] * NS
        return ActionCost(energy=self.t["shift_energy_per_track_step"] * self.width * PJ,
                          latency=lat, throughput=self.width / lat)


class _Port(ComponentModel):
    """One access port of a port-accessed memory: its area (its energy is the array's)."""

    kind = ""
    priority = 0.4

    def __init__(self, tech_node: float = NODE_M):
        _node(tech_node)
        t = getattr(_technology(), self.kind).as_floats()
        super().__init__(area=t["port_area"] * UM2, leak_power=0.0)

    @action
    def read(self) -> ActionCost:
        """Sensing through the port: counted in the array's read."""
        return ActionCost(energy=0.0, latency=0.0, throughput=float("inf"))


def _memory_models() -> dict[str, type]:
    """One array class per registered memory kind (and a port class where it has ports)."""
    from archsim.config.schema import MEMORY_KINDS

    out: dict[str, type] = {}
    for name, kind in MEMORY_KINDS.items():
        fields = set(kind.tech.model_fields)
        if not {"read_energy_per_bit", "write_energy_per_bit", "cell_area"} <= fields:
            continue  # a kind with other numbers: not a per-bit array
        camel = "".join(p.capitalize() for p in name.split("_"))
        base = _ShiftedArray if "shift_energy_per_track_step" in fields else _MemoryArray
        out[f"Archsim{camel}Array"] = type(
            f"Archsim{camel}Array", (base,),
            {"kind": name, "component_name": f"archsim_{name}_array",
             "__doc__": f"archsim {kind.description}: a width x depth-bit array.",
             "__module__": __name__})
        if "port_area" in fields:
            out[f"Archsim{camel}Port"] = type(
                f"Archsim{camel}Port", (_Port,),
                {"kind": name, "component_name": f"archsim_{name}_port",
                 "__doc__": f"An access port of archsim's {name} memory.",
                 "__module__": __name__})
    return out


globals().update(_memory_models())


class _Logic(ComponentModel):
    """One SC logic unit of archsim's technology (``technology.logic.<unit>``)."""

    unit = ""
    priority = 0.4

    def _setup(self, tech_node: float, scale: float) -> None:
        _node(tech_node)
        t = getattr(_technology().logic, self.unit).as_floats()
        self.energy_j = t["energy"] * scale * PJ
        ComponentModel.__init__(self, area=t["area"] * scale * UM2,
                                leak_power=t["leakage"] * scale * MW)

    def _cost(self) -> ActionCost:
        return ActionCost(energy=self.energy_j, latency=0.0, throughput=float("inf"))


class ArchsimScXnor(_Logic):
    """A bipolar SC multiplier (2-input XNOR), per output bit."""

    component_name = "archsim_sc_xnor"
    unit = "xnor"

    def __init__(self, tech_node: float = NODE_M):
        self._setup(tech_node, 1)

    @action
    def multiply(self) -> ActionCost:
        return self._cost()


class ArchsimScSng(_Logic):
    """A comparator stochastic number generator, per generated bit (``width``-bit compare)."""

    component_name = "archsim_sc_sng"
    unit = "sng_comparator"

    def __init__(self, tech_node: float = NODE_M, width: int = 8):
        self._setup(tech_node, width / 8)

    @action
    def generate(self) -> ActionCost:
        return self._cost()


class ArchsimScLfsr(_Logic):
    """A ``width``-bit LFSR random source, per step."""

    component_name = "archsim_sc_lfsr"
    unit = "lfsr"

    def __init__(self, tech_node: float = NODE_M, width: int = 8):
        self._setup(tech_node, width / 8)

    @action
    def step(self) -> ActionCost:
        return self._cost()


class ArchsimScApc(_Logic):
    """An approximate parallel counter over ``n_inputs`` bits, per cycle."""

    component_name = "archsim_sc_apc"
    unit = "apc_per_input"

    def __init__(self, tech_node: float = NODE_M, n_inputs: int = 1):
        self._setup(tech_node, n_inputs)

    @action
    def count(self) -> ActionCost:
        return self._cost()


class ArchsimScParallelCounter(_Logic):
    """An exact parallel counter over ``n_inputs`` bits, per cycle."""

    component_name = "archsim_sc_parallel_counter"
    unit = "pc_per_input"

    def __init__(self, tech_node: float = NODE_M, n_inputs: int = 1):
        self._setup(tech_node, n_inputs)

    @action
    def count(self) -> ActionCost:
        return self._cost()


class ArchsimScBtanh(_Logic):
    """A Btanh up/down counter of ``state_bits`` bits, per update."""

    component_name = "archsim_sc_btanh"
    unit = "btanh_per_bit"

    def __init__(self, tech_node: float = NODE_M, state_bits: int = 1):
        self._setup(tech_node, state_bits)

    @action
    def update(self) -> ActionCost:
        return self._cost()


class ArchsimScPoolCounter(_Logic):
    """The segment counters of a max-pooling unit over ``n_inputs`` inputs, per cycle."""

    component_name = "archsim_sc_pool_counter"
    unit = "seg_counter"

    def __init__(self, tech_node: float = NODE_M, n_inputs: int = 1):
        self._setup(tech_node, n_inputs)

    @action
    def count(self) -> ActionCost:
        return self._cost()


class ArchsimScMux(_Logic):
    """An ``n_inputs``:1 multiplexer of the shared FC layer, per selected bit."""

    component_name = "archsim_sc_mux"
    unit = "mux_input"

    def __init__(self, tech_node: float = NODE_M, n_inputs: int = 2):
        self._setup(tech_node, n_inputs)

    @action
    def select(self) -> ActionCost:
        return self._cost()


class ArchsimScRegister(_Logic):
    """``width`` DFF bits holding a binary weight, per cycle held."""

    component_name = "archsim_sc_register"
    unit = "register_bit"

    def __init__(self, tech_node: float = NODE_M, width: int = 1):
        self._setup(tech_node, width)

    @action
    def hold(self) -> ActionCost:
        return self._cost()
