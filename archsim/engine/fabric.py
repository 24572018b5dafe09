"""The fabric interface: what a family of accelerator datapaths gives the engines.

A *fabric* is a family of datapaths (stochastic-computing streams, binarized XNOR arrays,
bit-plane processing in memory, ...).  The engines (``archsim.simulator`` for the fast mode,
``archsim.engine.percycle`` for the per-cycle reference), the worker pool, the ledger,
probes and writers talk only to the classes below; nothing in them names a family, a layer
kind or a fault model.

The time model every fabric shares
----------------------------------
A layer processes an image as ``steps`` datapath steps.  It receives *tokens* from the layer
before it (an SC layer: stream bit t of every output stream; a layer that needs its whole
input first: one token per image) and emits tokens to the layer after it.  With
``p_in[j]`` the cycle at which input token j was produced, step s is consumed at

    consume[s] = max(ready(s), consume[s-1] + interval[s])

where ``ready(s)`` is ``p_in[s mod tokens_in]`` for a layer that waits for token by token
(``waits_for = "token"``: pass q of a multi-pass layer re-reads the buffered tokens), or the
last input token for one that waits for the whole image (``waits_for = "image"``).  Steps
``emit_from .. steps-1`` each emit one output token at ``consume[s] + depth_cycles``.
Between two layers there is a buffer of one image: the step emitting the first token of
image k+1 is consumed no earlier than one cycle after the next layer consumed the last step
of image k (backpressure).  ``interval[s] >= 1`` is how many cycles the layer's memories
need to deliver step s (weight-memory latency, shifts, stalls); ``stall = sum(interval - 1)``.

What a layer model gives
------------------------
* its components (``blocks``: :class:`~archsim.engine.ledger.Block`, with actions, energy per
  action, area, leakage) and the actions of loading it at power-up;
* its pipeline: the block whose accesses set each step's interval (``memory_block``) and the
  datapath blocks a step passes through (:meth:`LayerModel.stages`, each with its latency;
  the latencies add up to ``depth_cycles``);
* its :class:`Schedule` per image (the memories' state may carry over between images, so the
  engine asks for the images in order);
* :meth:`LayerModel.compute`: the output of one image, bit-exact, on packed data (this may run
  in a worker process, so it must depend only on the image and the elaborated layer);
* :meth:`LayerModel.image_actions`: the action counts of one image (incl. fault events);
* :meth:`LayerModel.percycle`: a per-cycle reference model whose blocks the per-cycle engine
  runs as SimPy processes, one step per cycle per block;
* probe-able signals: :meth:`LayerModel.probe_width` and :meth:`LayerModel.sample_probe`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np

from archsim.engine.ledger import Block, Ledger

WaitsFor = Literal["token", "image"]
Actions = dict[str, dict[str, int]]  # {block name: {action: count}}


@dataclass(frozen=True)
class Stage:
    """One datapath block of a layer's pipeline: a step enters it, is worked on, and leaves
    ``latency_cycles`` later (0: combinational with the next block)."""

    block: str
    latency_cycles: int


@dataclass
class Schedule:
    """When one image's steps of a layer may run (see the module docstring)."""

    interval: np.ndarray  # int64[steps]: cycles between step s-1 and step s (>= 1)
    cum_interval: np.ndarray  # int64[steps]: running sum of ``interval``
    stall_cycles: int  # sum(interval - 1)
    emit_from: int  # first step that emits an output token
    passes: int = 1  # steps = passes x tokens_in for a token-waiting layer
    detail: Any = None  # fabric-private (e.g. the weight memory's shift steps per step)

    @property
    def steps(self) -> int:
        return len(self.interval)


@dataclass
class LayerOutput:
    """What one layer computed for one image.

    ``data`` is what the next layer consumes (``None`` when a worker process computed it and
    only the summary came back); ``value`` the decoded output compared with the float
    reference; ``scores`` the class scores of a last layer; ``events`` data-dependent action
    counts (fault events, ...); ``trace_bits`` the packed output bits kept for verification;
    ``detail`` fabric-private signals for probes.
    """

    data: Any = None
    value: np.ndarray | None = None
    scores: np.ndarray | None = None
    events: Actions = field(default_factory=dict)
    trace_bits: np.ndarray | None = None
    detail: Any = None

    def summary(self) -> LayerOutput:
        """The part a worker process sends back: the scores and the events. The payload and
        the decoded values stay in the worker, which reduces the values to the float
        reference's errors itself (the values are 34 kB of the 34.3 kB of a LeNet-5 image)."""
        return LayerOutput(scores=self.scores, events=self.events)


class Probe(ABC):
    """A named signal of one layer, sampled cycle by cycle into the waveforms."""

    name: str
    layer: str


class ProbeError(ValueError):
    """A probe name that does not name a signal of the network."""

    def __init__(self, index: int, value: str, expected: str) -> None:
        super().__init__(f"probes[{index}]: got {value!r}; expected {expected}")
        self.index, self.value, self.expected = index, value, expected


class PerCycleModel(ABC):
    """A layer's per-cycle reference: one datapath step per :meth:`step` call.

    After :meth:`reset`, ``steps`` is the image's step count and ``emit_from`` its first
    emitting step (as in the fast engine's :class:`Schedule`)."""

    steps: int
    emit_from: int

    @abstractmethod
    def reset(self, image: int) -> None:
        """Start a new image (sets ``steps`` and ``emit_from``)."""

    @abstractmethod
    def access(self, s: int) -> tuple[int, Actions]:
        """The memory block's access for step ``s``: (cycles from the previous step's
        consumption until its data is delivered, the actions of the step, fault events
        included)."""

    @abstractmethod
    def stage(self, i: int, s: int, data: Any) -> Any:
        """The work of pipeline stage ``i`` (``LayerModel.stages()[i]``) on step ``s``: stage 0
        takes the input token, each stage passes its result to the next; the last stage
        returns the output token when the step emits one (``s >= emit_from``), else None."""

    def watch(self, probes: Sequence[Probe]) -> None:
        """Record the signals of ``probes`` while the blocks step (per-cycle engine)."""
        if probes:
            raise NotImplementedError("this fabric's per-cycle model records no signals")

    def probe_samples(self, probe: Probe, consume: np.ndarray,
                      produce: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(cycles, values) of a watched probe over the image, from what the blocks recorded."""
        raise NotImplementedError("this fabric's per-cycle model records no signals")

    @abstractmethod
    def finish(self, tokens: list[np.ndarray]) -> LayerOutput:
        """The image's output from its emitted tokens (``value``, ``scores``, ``trace_bits``)."""


class LayerModel(ABC):
    """One layer of a fabric, elaborated onto its hardware."""

    name: str
    blocks: dict[str, Block]
    depth_cycles: int
    memory_block: str  # the block whose accesses set each step's interval
    waits_for: WaitsFor = "token"

    @abstractmethod
    def stages(self) -> list[Stage]:
        """The datapath blocks a step passes through, in order (latencies sum to
        ``depth_cycles``)."""

    def load_actions(self) -> Actions:
        """Actions of loading the layer at power-up (weight writes, register loads)."""
        return {}

    def load_cycles(self) -> int:
        """Cycles the power-up load takes before the layer can start."""
        return 0

    @abstractmethod
    def schedule(self) -> Schedule:
        """The schedule of the next image (images are asked for in order)."""

    @abstractmethod
    def compute(self, data: Any, image: int, detail: bool = False) -> LayerOutput:
        """One image through the layer, on packed data (``detail``: keep probe signals)."""

    @abstractmethod
    def image_actions(self, sched: Schedule, out: LayerOutput) -> Actions:
        """Action counts of one image run with ``sched``, ``out.events`` included."""

    @abstractmethod
    def percycle(self) -> PerCycleModel:
        """A fresh per-cycle reference model of this layer."""

    def probe_width(self, probe: Probe) -> int:
        raise NotImplementedError(f"layer {self.name!r} has no probe-able signals")

    def sample_probe(self, probe: Probe, out: LayerOutput, sched: Schedule,
                     consume: np.ndarray | None,
                     produce: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(cycles, values) of ``probe`` over one image."""
        raise NotImplementedError(f"layer {self.name!r} has no probe-able signals")


class FabricNetwork(ABC):
    """An elaborated accelerator of one fabric: the input stage and the layer models."""

    name: str
    seed: int
    clock_mhz: float
    layers: Sequence[LayerModel]
    input_blocks: dict[str, Block]
    input_tokens: int  # tokens of an image's input, all available at the image's start

    @abstractmethod
    def encode(self, pixels: np.ndarray) -> Any:
        """The first layer's input data for one image (e.g. the input SNG streams)."""

    @abstractmethod
    def input_token_array(self, pixels: np.ndarray) -> np.ndarray:
        """The input as per-cycle tokens: ``array[j]`` is input token j (per-cycle engine)."""

    @abstractmethod
    def input_actions(self) -> Actions:
        """Actions of the input stage per image."""

    @abstractmethod
    def reference(self, pixels: np.ndarray,
                  values: Sequence[np.ndarray]) -> tuple[dict[str, float], int]:
        """Per-layer error of ``values`` against the float reference, and its prediction."""

    def parse_probes(self, names: Sequence[str]) -> list[Probe]:
        """Probes by name; raise :class:`ProbeError` naming the first bad one."""
        if names:
            raise ProbeError(0, names[0], "no probe: this fabric declares no signals")
        return []

    def metadata(self) -> dict[str, Any]:
        """Fabric facts recorded in the run's metadata."""
        return {}

    def all_blocks(self) -> Iterable[Block]:
        yield from self.input_blocks.values()
        for lay in self.layers:
            yield from lay.blocks.values()

    def new_ledger(self) -> Ledger:
        led = Ledger()
        for b in self.all_blocks():
            led.add_block(b)
        return led

    def load_cycles(self) -> dict[str, int]:
        return {lay.name: lay.load_cycles() for lay in self.layers}


class Fabric(ABC):
    """A family of datapaths: its config schema and how a config becomes a network."""

    name: ClassVar[str]
    description: ClassVar[str] = ""

    @classmethod
    @abstractmethod
    def config_model(cls) -> type:
        """The pydantic model of this fabric's design files (a subclass of DesignConfig)."""

    def expand(self, raw: dict[str, Any], origins: dict[tuple[Any, ...], str]) -> None:
        """Rewrite a design document in place before validation (e.g. merge the workload
        file it names into its layers), recording where each node came from in ``origins``.
        Errors are ConfigErrors naming the file and key path.  The default changes nothing."""
        return None

    @abstractmethod
    def elaborate(self, cfg: Any) -> tuple[FabricNetwork, dict[str, Any]]:
        """Every load-time check, the model weights and the hardware: (network, where the
        weights came from).  Raises ConfigError naming the file and key path."""

    @abstractmethod
    def input_shape(self, cfg: Any) -> tuple[int, ...]:
        """The (C, H, W) shape of one input image."""
