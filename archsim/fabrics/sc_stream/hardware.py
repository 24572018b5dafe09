"""Hardware blocks of a layer: instance counts, actions, area and leakage, and the actions
each stream bit costs.

Unit costs come from the technology file (``LogicCost`` per logic cell, ``MemorySpec`` per
bit).  Scaling rules (stated so users can check them):

* SNG comparator energy/area scale with its width w as w/8 of the 8-bit figure; an LFSR
  likewise with width/8.
* An n-input APC or PC costs n x the per-input figure per cycle (adder-tree size ~ n).
* A Btanh counter costs ceil(log2 r) x the per-bit figure per update.
* An M:1 MUX costs M x the per-input figure per selection.
* The segment max-pooling unit of a k x k window costs k^2 x ``seg_counter`` per cycle.
* Binary weights sit in DFF registers (w bits each), clocked every cycle.
"""

from __future__ import annotations

import math

from archsim.blocks.specs import LayerSpec, LogicCost, NetworkSpec
from archsim.blocks.weight_store import WeightStore
from archsim.engine.ledger import Action, Block


def _block(name: str, layer: str, kind: str, instances: int, cost: LogicCost, action: str,
           description: str) -> Block:
    return Block(name, layer, kind, instances, {action: Action(action, cost.energy_pj)},
                 cost.area_um2, cost.leakage_mw, description)


class LayerHardware:
    """The blocks of one SC layer and the action counts of its work."""

    def __init__(self, layer: LayerSpec, store: WeightStore, net: NetworkSpec, r: int,
                 is_last: bool) -> None:
        self.layer, self.store = layer, store
        lg = net.logic
        lay, mem = layer, layer.memory
        name = lay.name
        blocks: list[Block] = []
        # -- weight memory
        blocks.append(Block(
            "weight_mem", name, "memory", store.cell_bits,
            {"read": Action("read", mem.read_energy_pj),
             "write": Action("write", mem.write_energy_pj),
             "shift": Action("shift", mem.shift_energy_pj)},
            mem.cell_area_um2, mem.leakage_mw_per_bit,
            f"{mem.kind} weight storage ({lay.weight_format}), cells incl. periphery"))
        if mem.is_dwm:
            blocks.append(Block("ports", name, "ports", store.port_count, {}, mem.port_area_um2,
                                0.0, "DWM access ports (access transistor + sense share)"))
        # -- binary weights: registers + SNGs + a shared RNG
        self.sngs = 0
        if lay.weight_format == "binary":
            w = lay.weight_bits
            if lay.shared_fc:
                self.sngs = lay.outputs * lay.groups
            else:
                self.sngs = store.weights
            blocks.append(_block("weight_reg", name, "register", store.weights * w,
                                 lg["register_bit"], "hold", "DFFs holding the binary weights"))
            blocks.append(_block("weight_sng", name, "sng", self.sngs,
                                 lg["sng_comparator"].scaled(w / 8), "generate",
                                 f"{w}-bit comparator SNGs of the binary weights"))
            share = lay.weight_rng.share or self.sngs
            self.weight_rngs = -(-self.sngs // share)
            blocks.append(_block("weight_rng", name, "rng", self.weight_rngs,
                                 lg["lfsr"].scaled(lay.weight_rng.width / 8), "step",
                                 f"{lay.weight_rng.kind} sources shared by the weight SNGs"))
        # -- XNOR array and counters
        if lay.kind == "conv":
            self.xnors = lay.neurons * (lay.fan_in - 1)
            self.counters = lay.neurons
        elif lay.shared_fc:
            self.xnors = lay.outputs * lay.groups
            self.counters = lay.outputs
        else:
            self.xnors = lay.outputs * (lay.fan_in - 1)
            self.counters = lay.outputs
        blocks.append(_block("xnor", name, "xnor", self.xnors, lg["xnor"], "multiply",
                             "bipolar XNOR multipliers"))
        per_input = lg["apc_per_input" if lay.counter == "apc" else "pc_per_input"]
        blocks.append(_block(lay.counter, name, "apc" if lay.counter == "apc" else "counter",
                             self.counters,
                             per_input.scaled(lay.counter_inputs), "count",
                             f"{lay.counter_inputs}-input {lay.counter.upper()}"))
        self.buffer_bits = lay.inputs * store.L if lay.passes > 1 else 0
        if self.buffer_bits:
            blocks.append(Block(
                "input_buf", name, "memory", self.buffer_bits,
                {"write": Action("write", mem.write_energy_pj),
                 "read": Action("read", mem.read_energy_pj)},
                mem.cell_area_um2, mem.leakage_mw_per_bit,
                f"buffer of the {lay.inputs} input streams for {lay.passes} passes "
                f"({mem.kind} per-bit costs, shifts not modelled)"))
        if lay.shared_fc:
            self.muxes = lay.outputs * lay.groups
            blocks.append(_block("mux", name, "mux", self.muxes,
                                 lg["mux_input"].scaled(lay.mux_phases), "select",
                                 f"{lay.mux_phases}:1 input MUXes (G={lay.mux_groups})"))
        else:
            self.muxes = 0
        self.pools = lay.out_count if lay.pooled else 0
        if self.pools:
            k = lay.pool
            blocks.append(_block("pool", name, "pool", self.pools,
                                 lg["seg_counter"].scaled(k * k), "count",
                                 f"{k}x{k} segment max pooling (counters, comparator, MUX)"))
        self.btanhs = lay.out_count if lay.activation == "btanh" else 0
        if self.btanhs:
            bits = max(1, math.ceil(math.log2(r)))
            blocks.append(_block("btanh", name, "btanh", self.btanhs,
                                 lg["btanh_per_bit"].scaled(bits), "update",
                                 f"Btanh up/down counters, r={r} ({bits} bits)"))
        self.accs = lay.out_count if lay.activation == "none" else 0
        if self.accs:
            bits = max(1, math.ceil(math.log2(lay.counter_inputs * store.L + 1)))
            blocks.append(_block("acc", name, "accumulator", self.accs,
                                 lg["register_bit"].scaled(bits), "add",
                                 f"{bits}-bit output counters"))
        self.blocks = {b.name: b for b in blocks}

    # ------------------------------------------------------------- actions
    def load_actions(self, read_errors: int = 0) -> dict[str, dict[str, int]]:
        """Once per run: SRAM power-up reloads and the binary weight load into registers
        (``read_errors``: bits that load inverted, MRAM read errors)."""
        lay, st, mem = self.layer, self.store, self.layer.memory
        acts: dict[str, dict[str, int]] = {"weight_mem": {}}
        if mem.volatile:
            acts["weight_mem"]["write"] = st.stored_bits * mem.power_cycles
        if lay.weight_format == "binary":
            acts["weight_mem"]["read"] = st.stored_bits
            if read_errors:
                acts["weight_mem"]["read_error"] = read_errors
            steps = int(st.load_steps().sum())
            if steps:
                acts["weight_mem"]["shift"] = steps * st.shifting_tracks
        return acts

    def cycle_actions(self, steps: int, s: int = 0) -> dict[str, dict[str, int]]:
        """Actions of datapath step ``s`` whose weight access needed ``steps`` shifts."""
        st = self.store
        a: dict[str, dict[str, int]] = {
            "xnor": {"multiply": self.xnors},
            self.layer.counter: {"count": self.counters},
        }
        if st.stochastic:
            a["weight_mem"] = {"read": st.reads_per_cycle}
            if steps:
                a["weight_mem"]["shift"] = steps * st.shifting_tracks
        else:
            a["weight_reg"] = {"hold": self.blocks["weight_reg"].instances}
            a["weight_sng"] = {"generate": self.sngs}
            a["weight_rng"] = {"step": self.weight_rngs}
        if self.muxes:
            a["mux"] = {"select": self.muxes}
        if self.pools:
            a["pool"] = {"count": self.pools}
        if self.btanhs:
            a["btanh"] = {"update": self.btanhs}
        if self.accs:
            a["acc"] = {"add": self.accs}
        if self.buffer_bits:
            # pass 0 writes the arriving input bits; later passes read the G selected ones
            if s < st.L:
                a["input_buf"] = {"write": self.layer.inputs}
            else:
                a["input_buf"] = {"read": self.layer.groups}
        return a

    def image_actions(self, bits: int, total_steps: int) -> dict[str, dict[str, int]]:
        """Actions of consuming ``bits`` stream bits needing ``total_steps`` shifts in all."""
        one = self.cycle_actions(0)
        one.pop("input_buf", None)
        out = {b: {a: n * bits for a, n in acts.items()} for b, acts in one.items()}
        if self.buffer_bits:
            L = self.store.L
            out["input_buf"] = {"write": self.layer.inputs * L,
                                "read": self.layer.groups * (bits - L)}
        if self.store.stochastic and total_steps:
            out["weight_mem"]["shift"] = total_steps * self.store.shifting_tracks
        return out


def input_blocks(net: NetworkSpec) -> dict[str, Block]:
    """The input SNGs (one per pixel) and their shared RNGs."""
    lg = net.logic
    pixels = int(math_prod(net.input_shape))
    spec = net.input_rng
    share = spec.share or pixels
    rngs = -(-pixels // share)
    return {
        "sng": _block("sng", "input", "sng", pixels, lg["sng_comparator"].scaled(spec.width / 8),
                      "generate", f"{spec.width}-bit comparator SNGs, one per pixel"),
        "rng": _block("rng", "input", "rng", rngs, lg["lfsr"].scaled(spec.width / 8), "step",
                      f"{spec.kind} sources shared by the input SNGs"),
    }


def math_prod(shape: tuple[int, ...]) -> int:
    out = 1
    for s in shape:
        out *= int(s)
    return out
