"""The event ledger: every hardware action, with its count, cycle, block and layer.

A hardware *block* here is what Accelergy calls a component: it has named actions, each
with an energy per action and a latency, an area per instance and a leakage power per
instance, and it may stand for ``instances`` identical units working in lockstep (like
Timeloop's ``mac[0..255]``).  Blocks record actions into the ledger; nothing else computes
energy.  Energy = sum(count x energy per action) + leakage x instances x time.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from archsim.engine.kinds import block_kind, block_kinds

#: the kinds registered at import (``archsim.engine.kinds`` is the open registry)
BLOCK_KINDS = tuple(block_kinds())


@dataclass(frozen=True)
class Action:
    """One kind of event a block can perform (e.g. ``read`` one bit, ``shift`` one track one
    domain)."""

    name: str
    energy_pj: float
    latency_cycles: int = 1

    def __post_init__(self) -> None:
        if self.energy_pj < 0:
            raise ValueError(f"energy_pj(={self.energy_pj}) of action {self.name!r} must be >= 0")
        if self.latency_cycles < 0:
            raise ValueError(
                f"latency_cycles(={self.latency_cycles}) of action {self.name!r} must be >= 0"
            )


@dataclass
class Block:
    """A group of ``instances`` identical hardware units of one layer."""

    name: str
    layer: str
    kind: str
    instances: int
    actions: dict[str, Action]
    area_um2: float  # per instance
    leakage_mw: float  # per instance
    description: str = ""

    def __post_init__(self) -> None:
        block_kind(self.kind)  # raises naming the registered kinds
        if self.instances < 0:
            raise ValueError(f"instances(={self.instances}) must be >= 0")
        if self.area_um2 < 0 or self.leakage_mw < 0:
            raise ValueError(f"area/leakage of block {self.name!r} must be >= 0")

    @property
    def role(self) -> str:
        """storage, compute, conversion, control or interconnect (``archsim.engine.kinds``)."""
        return block_kind(self.kind).role

    @property
    def qualified_name(self) -> str:
        return f"{self.layer}.{self.name}"

    @property
    def total_area_um2(self) -> float:
        return self.area_um2 * self.instances

    @property
    def total_leakage_mw(self) -> float:
        return self.leakage_mw * self.instances


@dataclass
class Ledger:
    """Records ``(cycle, layer, block, action, count)`` rows and sums them.

    ``per_event`` keeps every recorded row (the event log); otherwise rows are still
    kept but callers record at chunk granularity (one row per block action per image).
    """

    blocks: dict[str, Block] = field(default_factory=dict)
    _cycle: list[int] = field(default_factory=list)
    _block: list[str] = field(default_factory=list)
    _action: list[str] = field(default_factory=list)
    _count: list[int] = field(default_factory=list)
    _image: list[int] = field(default_factory=list)
    _totals: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))

    def add_block(self, block: Block) -> Block:
        key = block.qualified_name
        if key in self.blocks:
            raise ValueError(f"block {key!r} declared twice")
        self.blocks[key] = block
        return block

    def record(self, block: Block, action: str, count: int, cycle: int, image: int = -1) -> None:
        """Record ``count`` occurrences of ``block.action`` completed by ``cycle``."""
        if count == 0:
            return
        if action not in block.actions:
            raise KeyError(f"block {block.qualified_name!r} has no action {action!r}")
        key = block.qualified_name
        self._cycle.append(int(cycle))
        self._block.append(key)
        self._action.append(action)
        self._count.append(int(count))
        self._image.append(int(image))
        self._totals[(key, action)] += int(count)

    def merge(self, other: Ledger, cycle_offset: int = 0) -> None:
        """Append another ledger's rows (same block set), shifting their cycles."""
        for name, blk in other.blocks.items():
            self.blocks.setdefault(name, blk)
        for c, b, a, n, i in zip(
            other._cycle, other._block, other._action, other._count, other._image, strict=True
        ):
            self._cycle.append(c + cycle_offset)
            self._block.append(b)
            self._action.append(a)
            self._count.append(n)
            self._image.append(i)
            self._totals[(b, a)] += n

    # ----------------------------------------------------------------- queries
    def __len__(self) -> int:
        return len(self._count)

    def count(self, block: str, action: str) -> int:
        """Total count of ``action`` on the block named ``layer.block``."""
        return self._totals.get((block, action), 0)

    def action_counts(self) -> dict[str, dict[str, int]]:
        """``{qualified block name: {action: total count}}`` (every declared action listed)."""
        out: dict[str, dict[str, int]] = {}
        for name, blk in self.blocks.items():
            out[name] = {a: self._totals.get((name, a), 0) for a in blk.actions}
        return out

    def dynamic_energy_pj(self) -> dict[str, dict[str, float]]:
        """``{block: {action: count x energy per action}}``."""
        out: dict[str, dict[str, float]] = {}
        for name, counts in self.action_counts().items():
            blk = self.blocks[name]
            out[name] = {a: n * blk.actions[a].energy_pj for a, n in counts.items()}
        return out

    def leakage_energy_pj(self, time_ns: float) -> dict[str, float]:
        """Leakage energy per block over ``time_ns`` (mW x ns = pJ)."""
        return {name: blk.total_leakage_mw * time_ns for name, blk in self.blocks.items()}

    def rows(self) -> dict[str, np.ndarray]:
        """The event log as columns: cycle, image, layer, block, action, count, energy_pj."""
        blocks = self.blocks
        energy = [
            n * blocks[b].actions[a].energy_pj
            for b, a, n in zip(self._block, self._action, self._count, strict=True)
        ]
        return {
            "cycle": np.asarray(self._cycle, dtype=np.int64),
            "image": np.asarray(self._image, dtype=np.int64),
            "layer": np.asarray([blocks[b].layer for b in self._block], dtype=object),
            "block": np.asarray(self._block, dtype=object),
            "action": np.asarray(self._action, dtype=object),
            "count": np.asarray(self._count, dtype=np.int64),
            "energy_pj": np.asarray(energy, dtype=np.float64),
        }
