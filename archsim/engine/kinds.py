"""The registry of component kinds and the roles they play.

Every hardware component (a :class:`~archsim.engine.ledger.Block`) has a *kind* (what it is:
``memory``, ``apc``, ``btanh``, a fabric's ``mac`` ...) and each kind has a *role*, the part
it plays in a datapath, which plots and breakdowns group by:

| role | what the component does |
|---|---|
| ``storage`` | holds weights or activations: memory arrays, access ports, registers, buffers |
| ``compute`` | arithmetic and logic on data: multipliers, counters, adders, pooling, activations |
| ``conversion`` | changes a number's representation: SNGs, RNGs, ADCs/DACs, sense amplifiers |
| ``control`` | sequencing: controllers, address generators |
| ``interconnect`` | moves or selects data: MUXes, buses, NoC links |

A fabric adds its own kinds with :func:`register_block_kind` (one call; no other module
changes).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ROLES", "BlockKind", "block_kind", "block_kinds", "register_block_kind"]

ROLES = ("storage", "compute", "conversion", "control", "interconnect")


@dataclass(frozen=True)
class BlockKind:
    """A kind of component: its name, role and a one-line description."""

    name: str
    role: str
    description: str = ""

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"role(={self.role!r}) of block kind {self.name!r} must be one of "
                             f"{ROLES}")


_KINDS: dict[str, BlockKind] = {}


def register_block_kind(name: str, role: str, description: str = "") -> BlockKind:
    """Register a component kind (re-registering the same definition is allowed)."""
    kind = BlockKind(name, role, description)
    known = _KINDS.get(name)
    if known is not None and known != kind:
        raise ValueError(f"block kind {name!r} is already registered as {known}")
    _KINDS[name] = kind
    return kind


def block_kind(name: str) -> BlockKind:
    """The registered kind ``name``; ValueError listing the known kinds otherwise."""
    try:
        return _KINDS[name]
    except KeyError:
        raise ValueError(f"kind(={name!r}) must be one of {sorted(_KINDS)} (or registered with "
                         "archsim.engine.kinds.register_block_kind)") from None


def block_kinds() -> dict[str, BlockKind]:
    return dict(_KINDS)


# the kinds of the shared hardware, the SC stream fabric and the MRAM sense amplifiers
for _name, _role, _what in (
    ("memory", "storage", "weight memory cells and read/write circuitry (SRAM, DWM, MRAM)"),
    ("ports", "storage", "DWM access ports (sense amplifier and access transistor per port)"),
    ("register", "storage", "DFF registers holding binary weights"),
    ("sng", "conversion", "stochastic number generators: comparator (+ value register)"),
    ("rng", "conversion", "random number sources (LFSR / Sobol) shared by SNGs"),
    ("xnor", "compute", "bipolar multipliers"),
    ("apc", "compute", "approximate parallel counters (inner-product adder trees)"),
    ("counter", "compute", "exact parallel counters (inner-product adder trees)"),
    ("pool", "compute", "segment max-pooling units (segment counters, comparator, MUX)"),
    ("btanh", "compute", "Btanh up/down counters"),
    ("accumulator", "compute", "output counters of the last layer"),
    ("mux", "interconnect", "input-selection multiplexers of the shared FC layer"),
    # shared by the MRAM fabrics (BNN: single-cell reads or the 2T-2MTJ XNOR; bit-plane PIM:
    # single-row reads and dual-row AND sensing)
    ("sense_amp", "conversion", "sense amplifiers of memory columns (reads, XNOR or AND sensing)"),
):
    register_block_kind(_name, _role, _what)
