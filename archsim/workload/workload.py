"""A validated workload: the network (ops with shapes), its input, data set and model source.

A :class:`Workload` is what every accelerator family reads instead of raw YAML; it is built by
:func:`archsim.workload.factory.load_workload` (or ``workload_from_dict``) and is immutable.
It says *what* is computed, never *how*: no stream lengths, memories or counters.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Literal

from archsim.workload.ops import Op, Shape, WeightedOp

__all__ = [
    "INPUT",
    "DataSource",
    "InputSpec",
    "LayerMeta",
    "ModelSource",
    "Stage",
    "Workload",
]

#: The name under which ops refer to the network input.
INPUT = "input"

InputMapping = Literal["bipolar", "unipolar", "raw"]


@dataclass(frozen=True)
class InputSpec:
    """The network input: ``shape`` ``(C, H, W)`` of one image and how a pixel p (0..255)
    becomes a number: ``bipolar`` ``x = 2p/255 - 1`` (computed as ``2.0 * p / 255.0 - 1.0``,
    the order the SC fabric's former ``float_forward`` used), ``unipolar`` ``x = p / 255``,
    ``raw``
    ``x = p``."""

    shape: tuple[int, int, int]
    mapping: InputMapping


@dataclass(frozen=True)
class DataSource:
    """Where the images come from.

    ``name``: ``mnist`` / ``fashion-mnist`` / ``cifar10`` (the registry of
    :mod:`archsim.nn.datasets`,
    ``split`` ``test`` or ``train``), ``random`` (seeded uniform pixels, ``seed``) or
    ``custom`` (``path``: a folder of images in class subfolders or an ``.npz``, resolved
    against the file that names it). ``start``/``images`` are the default slice of a run
    (``images`` None: all of a finite data set).
    """

    name: Literal["mnist", "fashion-mnist", "cifar10", "random", "custom"] = "random"
    path: Path | None = None
    split: Literal["test", "train"] = "test"
    seed: int = 1
    start: int = 0
    images: int | None = None


@dataclass(frozen=True)
class LayerMeta:
    """Per-layer model metadata of a weighted op: ``bits`` (weight quantization, None =
    float weights), ``quantizer`` (``symmetric`` or ``dorefa``: how ``bits`` quantizes),
    ``mask`` (an ``.npz`` holding ``<op>_mask``, resolved path) and ``sparsity`` (magnitude
    pruning of that fraction of the weights)."""

    bits: int | None = None
    quantizer: Literal["symmetric", "dorefa"] = "symmetric"
    mask: Path | None = None
    sparsity: float | None = None


@dataclass(frozen=True)
class ModelSource:
    """Where the weights come from: ``weights`` is ``random`` (seeded with ``seed``),
    ``builtin:<name>`` (:data:`archsim.workload.models.BUILTIN_MODELS`) or the resolved path of
    an ``.npz``. ``clip``: weights and biases are clipped to ``[-clip, clip]`` at load (the SC
    workloads use 1.0: bipolar stochastic numbers); None: not clipped. ``layers``: per-layer
    metadata by op name."""

    weights: str = "random"
    seed: int = 1
    clip: float | None = None
    layers: Mapping[str, LayerMeta] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class Stage:
    """A weighted op and the ops without weights that follow it up to the next weighted op
    (its pooling, activation, normalisation...): what one SC layer of the existing engine
    computes. ``output`` is the name of the stage's last op."""

    layer: WeightedOp
    ops: tuple[Op, ...]

    @property
    def output(self) -> str:
        return self.ops[-1].name


@dataclass(frozen=True)
class Workload:
    """A network with its input, data set and model source; immutable and valid by
    construction. ``ops`` are in file order; each op reads the output of ``op.input``."""

    name: str
    description: str
    input: InputSpec
    dataset: DataSource
    model: ModelSource
    ops: tuple[Op, ...]
    source_file: Path | None = None
    #: Which file (or override) set each node of the document, by location tuple; used to
    #: name the right file in errors found after the factory (weights, data).
    origins: Mapping[tuple[str | int, ...], str] = field(
        default_factory=lambda: MappingProxyType({}), repr=False, compare=False)

    # -- lookup ------------------------------------------------------------------------------

    def op(self, name: str) -> Op:
        """The op called ``name``."""
        for op in self.ops:
            if op.name == name:
                return op
        raise KeyError(f"no op named {name!r}; ops: {[o.name for o in self.ops]}")

    @property
    def weighted_ops(self) -> tuple[WeightedOp, ...]:
        """The ops with weights (conv2d, dense), in order."""
        return tuple(op for op in self.ops if isinstance(op, WeightedOp))

    @property
    def output_shape(self) -> Shape:
        """Shape of the last op's output."""
        return self.ops[-1].out_shape

    def shape_of(self, name: str) -> Shape:
        """Output shape of op ``name`` (or of ``"input"``)."""
        return self.input.shape if name == INPUT else self.op(name).out_shape

    def stages(self) -> tuple[Stage, ...]:
        """The network cut at its weighted ops (see :class:`Stage`). Ops before the first
        weighted op (input preprocessing) belong to no stage."""
        out: list[Stage] = []
        current: list[Op] = []
        layer: WeightedOp | None = None
        for op in self.ops:
            if isinstance(op, WeightedOp):
                if layer is not None:
                    out.append(Stage(layer, tuple(current)))
                layer, current = op, [op]
            elif layer is not None:
                current.append(op)
        if layer is not None:
            out.append(Stage(layer, tuple(current)))
        return tuple(out)

    def origin(self, *loc: str | int) -> str:
        """The file (or override) that set the node at ``loc`` (or its nearest parent)."""
        for n in range(len(loc), -1, -1):
            if loc[:n] in self.origins:
                return self.origins[loc[:n]]
        return str(self.source_file) if self.source_file else "<workload>"

    # -- reporting ---------------------------------------------------------------------------

    def summary(self) -> str:
        """A plain-text table: one line per op with its shapes, weights and MACs."""
        lines = [f"workload {self.name}: input {self.input.shape} ({self.input.mapping})"]
        for op in self.ops:
            src = "" if op.index and op.input == self.ops[op.index - 1].name else f" <- {op.input}"
            if op.index == 0 and op.input == INPUT:
                src = ""
            extra = f" + {op.other}" if hasattr(op, "other") else ""
            weights = f" w{op.weight_shape} macs {op.macs}" if op.weight_shape else ""
            lines.append(f"  {op.key:<8} {op.name:<12} {op.kind:<9} {op.in_shape} -> "
                         f"{op.out_shape}{weights}{src}{extra}")
        return "\n".join(lines)
