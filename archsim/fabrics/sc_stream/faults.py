"""Fault models of the SC stream fabric, as plug-ins: one class per fault, one registry.

A fault model is attached to a memory (its stored or read bits) or to the wires between two
layers.  Each says on which layers it is active and on which it is simulated (anything else
is a config error naming the key path, raised at load time by elaboration), which action of
which block counts its events, how it corrupts an image's bits (memory faults act through the
weight bits the XNOR array reads, ``archsim.blocks.streams.LayerWeights``; wire faults on the
layer's output streams), and how many events an image (fast engine) or a step (per-cycle
engine) has.  The engines know none of them: the layer model (``archsim.fabrics.sc_stream.layer``)
asks every registered model.

Adding a fault: a subclass of :class:`FaultModel` and ``register_fault(...)``.  Its randomness
must come from the run seed, the layer and the image only (``archsim.seeds.derive_seed``,
``archsim.blocks.bit_errors``), so results do not depend on ``--jobs``; its per-step event
counts may not depend on the data (the per-cycle engine counts them with the memory access,
before the step is computed).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from archsim.blocks.specs import LayerSpec
from archsim.engine.ledger import Action
from archsim.fabrics.sc_stream.datapath import LayerOutput, flip_outputs, output_flip_mask
from archsim.sc import kernels as K

if TYPE_CHECKING:
    from archsim.fabrics.sc_stream.layer import ElaboratedLayer

__all__ = ["FAULTS", "FaultModel", "register_fault"]


class FaultModel:
    """One fault model (see the module docstring)."""

    name: str = ""
    target: str = "memory"  # memory | wire
    block: str = "weight_mem"  # the block whose action counts the events
    action: str = ""
    description: str = ""

    def rate(self, lay: LayerSpec) -> float:
        """The fault's probability on this layer (0: off)."""
        raise NotImplementedError

    def supported(self, lay: LayerSpec) -> bool:
        """Whether the fault is simulated for this kind of layer."""
        return True

    def key_path(self, index: int, memory: str) -> str:
        """Where the rate is set in a design file (for errors)."""
        raise NotImplementedError

    def expected(self, lay: LayerSpec) -> str:
        """What an error on an unsupported layer expects instead."""
        return f"0 for layer {lay.name!r}"

    def active(self, lay: LayerSpec) -> bool:
        return self.rate(lay) > 0

    def attach(self, el: ElaboratedLayer, seed: int) -> None:
        """Declare the event action on the block (faults cost no energy of their own)."""
        el.hw.blocks[self.block].actions[self.action] = Action(self.action, 0.0)

    def corrupt_output(self, el: ElaboratedLayer, out: LayerOutput, image: int) -> int:
        """Corrupt the layer's output streams in place (wire faults); their event count."""
        return 0

    def image_events(self, el: ElaboratedLayer, image: int, applied: int) -> int:
        """Events of one image (``applied``: what ``corrupt_output`` returned)."""
        return applied

    def percycle(self, el: ElaboratedLayer, image: int) -> Any:
        """Per-image state of the per-cycle model (masks), given to :meth:`step_events` and
        :meth:`corrupt_token`."""
        return None

    def step_events(self, el: ElaboratedLayer, state: Any, s: int, emitting: bool) -> int:
        """Events of datapath step ``s`` (per-cycle engine)."""
        return 0

    def corrupt_token(self, state: Any, bits: np.ndarray, t: int) -> np.ndarray:
        """An output token (bit t of every output stream) as the next layer receives it."""
        return bits


class Misalignment(FaultModel):
    """DWM racetrack over- and under-shifts (NetDrift model): per shift step, with probability
    p, a track ends one domain off, so the accesses that follow read neighbouring bits
    (``archsim.blocks.misalignment``)."""

    name, target, action = "misalignment", "memory", "misalign"
    description = "DWM over/under-shift per shift step; later reads of the track are misaligned"

    def rate(self, lay: LayerSpec) -> float:
        return lay.memory.misalignment if lay.memory.is_dwm else 0.0

    def active(self, lay: LayerSpec) -> bool:
        return self.rate(lay) > 0 and lay.weight_format == "stochastic"

    def supported(self, lay: LayerSpec) -> bool:
        return (lay.weight_format == "stochastic" and not lay.shared_fc
                and not (lay.kind == "conv" and lay.sharing == "none"))

    def key_path(self, index: int, memory: str) -> str:
        return f"memories.{memory}.misalignment.probability"

    def expected(self, lay: LayerSpec) -> str:
        return (f"0 for layer {lay.name!r}: misalignment faults are simulated for stochastic "
                "weights of unshared fc and filter-shared conv layers")

    def attach(self, el: ElaboratedLayer, seed: int) -> None:
        from archsim.fabrics.sc_stream.network import _fault_model

        super().attach(el, seed)
        el.faults = _fault_model(el, seed)
        el.weights.faults = el.faults

    def image_events(self, el: ElaboratedLayer, image: int, applied: int) -> int:
        assert el.faults is not None
        return int(el.faults(image)[0].per_step.sum())

    def percycle(self, el: ElaboratedLayer, image: int) -> Any:
        return image  # the per-cycle model reads the same fault table as the fast engine

    def step_events(self, el: ElaboratedLayer, state: Any, s: int, emitting: bool) -> int:
        assert el.faults is not None
        return int(el.faults(state)[0].per_step[s])


class ReadErrors(FaultModel):
    """MRAM read errors: every read of a stored weight bit comes out inverted with
    probability p, independently per read (``archsim.blocks.bit_errors``)."""

    name, target, action = "read_error", "memory", "read_error"
    description = "each read of a stored weight bit inverted with probability p"

    def rate(self, lay: LayerSpec) -> float:
        return lay.memory.read_error

    def supported(self, lay: LayerSpec) -> bool:
        return not (lay.weight_format == "stochastic"
                    and (lay.shared_fc or (lay.kind == "conv" and lay.sharing == "none")))

    def key_path(self, index: int, memory: str) -> str:
        return f"memories.{memory}.read_error"

    def expected(self, lay: LayerSpec) -> str:
        return (f"0 for layer {lay.name!r}: read errors of stochastic weights are simulated for "
                "unshared fc and filter-shared conv layers (and for binary weights at their "
                "power-up load)")

    def image_events(self, el: ElaboratedLayer, image: int, applied: int) -> int:
        return el.weights.read_errors(image)

    def percycle(self, el: ElaboratedLayer, image: int) -> Any:
        if el.weights.read_error <= 0:  # binary weights: errors strike at the power-up load
            return None
        mask = el.weights.read_error_mask(image)
        return K.unpack_bits(mask.reshape(-1, mask.shape[-1]), el.L).sum(axis=0)

    def step_events(self, el: ElaboratedLayer, state: Any, s: int, emitting: bool) -> int:
        return 0 if state is None else int(state[s % el.L])


class StreamFlips(FaultModel):
    """Transient faults on the wires between layers: each output stream bit arrives inverted
    at the next layer with probability p (``layers[i].output_flip``)."""

    name, target, block, action = "stream_flip", "wire", "btanh", "flip"
    description = "each output stream bit inverted on the way to the next layer"

    def rate(self, lay: LayerSpec) -> float:
        return lay.output_flip

    def supported(self, lay: LayerSpec) -> bool:
        return lay.activation == "btanh"

    def key_path(self, index: int, memory: str) -> str:
        return f"layers[{index}].output_flip"

    def expected(self, lay: LayerSpec) -> str:
        return "0 for a layer without output streams (activation: none)"

    def corrupt_output(self, el: ElaboratedLayer, out: LayerOutput, image: int) -> int:
        return flip_outputs(el.spec, out, el.L, el.seed, image)

    def percycle(self, el: ElaboratedLayer, image: int) -> Any:
        return K.unpack_bits(output_flip_mask(el.spec, el.L, el.seed, image), el.L)

    def step_events(self, el: ElaboratedLayer, state: Any, s: int, emitting: bool) -> int:
        return int(state[:, s % el.L].sum()) if emitting else 0

    def corrupt_token(self, state: Any, bits: np.ndarray, t: int) -> np.ndarray:
        return bits ^ state[:, t]


#: The registry, in the order their events are reported.
FAULTS: list[FaultModel] = []


def register_fault(model: FaultModel) -> FaultModel:
    if any(f.name == model.name for f in FAULTS):
        raise ValueError(f"fault model {model.name!r} is already registered")
    FAULTS.append(model)
    return model


for _model in (Misalignment(), ReadErrors(), StreamFlips()):
    register_fault(_model)
