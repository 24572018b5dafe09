"""The simulation engine: integer-cycle SimPy environment, event ledger, result objects."""

from archsim.engine.env import CycleEnvironment
from archsim.engine.ledger import BLOCK_KINDS, Action, Block, Ledger
from archsim.engine.results import ImageRecord, LayerTiming, ProbeTrace, RunResult, Span

__all__ = [
    "BLOCK_KINDS",
    "Action",
    "Block",
    "CycleEnvironment",
    "ImageRecord",
    "LayerTiming",
    "Ledger",
    "ProbeTrace",
    "RunResult",
    "Span",
]
