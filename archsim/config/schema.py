"""The validated architecture description: pydantic models for every mapping of docs/config.md.

An :class:`ArchConfig` is what the rest of archsim reads; it is built by
:func:`archsim.config.load_config` from YAML (includes merged, overrides applied) and is valid
by construction: units are normalised, defaults filled, and shapes, memory references and
technology sources checked. Nothing downstream touches raw dictionaries.

Internal units (see :mod:`archsim.units`): time in **ns**, frequency in **MHz**, energy in
**pJ**, power in **mW**, area in **um^2**. A quantity field holds a plain ``float`` in that
unit; a technology number is a :class:`TechValue` (``value`` in the internal unit plus the
``source`` it came from).

Every model forbids unknown keys. A check that fails raises a ``ValueError`` subclass that
carries the sub-path and the expected value (:class:`FieldProblem`), or, for checks that span
several parts of the document, a :class:`~archsim.config.errors.ConfigError` with the key
path; the loader adds the file name.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    create_model,
    field_validator,
    model_validator,
)

from archsim.config.errors import MISSING, ConfigError, format_key_path
from archsim.config.guard import SAFE_NAME_EXPECTED, is_safe_name
from archsim.units import INTERNAL_UNITS, UnitError, format_quantity, parse_quantity

__all__ = [
    "ArchConfig",
    "Btanh",
    "ConvLayer",
    "Dataset",
    "DwmMemory",
    "DwmTech",
    "FcLayer",
    "FieldProblem",
    "Layer",
    "LogicTech",
    "LogicUnit",
    "Memory",
    "MemoryTech",
    "Misalignment",
    "ModelSpec",
    "Rng",
    "SramMemory",
    "SramTech",
    "Stream",
    "SttMramMemory",
    "SttMramTech",
    "TECH_KEYS",
    "Technology",
    "TechValue",
    "UnknownKeyError",
    "Weights",
]


# --------------------------------------------------------------------------------------------
# Errors raised inside validators (pydantic wraps them; the loader unwraps them)
# --------------------------------------------------------------------------------------------


class FieldProblem(ValueError):
    """A value failed a check. ``subpath`` extends the location pydantic reports (for example
    ``("ports",)`` when a memory-level check blames its ``ports`` key)."""

    def __init__(self, value: object, expected: str, subpath: tuple[str | int, ...] = ()) -> None:
        self.value = value
        self.expected = expected
        self.subpath = subpath
        super().__init__(f"got {value!r}; expected {expected}")


class UnknownKeyError(FieldProblem):
    """A mapping holds a key its model does not know (usually a typo)."""

    def __init__(self, key: str, value: object, allowed: list[str], what: str) -> None:
        close = difflib.get_close_matches(key, allowed, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        super().__init__(
            value,
            f"no key {key!r} in {what}{hint}; known keys: {', '.join(allowed)}",
            (key,),
        )


# --------------------------------------------------------------------------------------------
# Base model
# --------------------------------------------------------------------------------------------


class Strict(BaseModel):
    """Base of every configuration mapping: unknown keys are errors, with a suggestion."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True,
                              allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _reject_unknown_keys(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            allowed = list(cls.model_fields)
            for key, value in data.items():
                if key not in cls.model_fields:
                    raise UnknownKeyError(str(key), value, allowed, cls._what())
        return data

    @classmethod
    def _what(cls) -> str:
        return _WHAT.get(cls.__name__, f"a {cls.__name__} mapping")


_WHAT = {
    "ArchConfig": "the top level (include is read by the loader)",
    "ConvLayer": "a conv layer",
    "FcLayer": "an fc layer",
    "Weights": "a layer's weights",
    "Btanh": "a layer's btanh",
    "Stream": "stream",
    "Rng": "an rng mapping",
    "Dataset": "dataset",
    "ModelSpec": "model",
    "Technology": "technology",
    "SramTech": "technology.sram",
    "DwmTech": "technology.dwm",
    "SttMramTech": "technology.stt_mram",
    "LogicTech": "technology.logic",
    "LogicUnit": "a logic unit (energy, area, leakage)",
    "Misalignment": "a dwm misalignment mapping",
}


# --------------------------------------------------------------------------------------------
# Quantities and technology values
# --------------------------------------------------------------------------------------------


#: The range every quantity of a dimension must lie in (internal units).  Beyond it the
#: simulator's arithmetic is no longer exact (a shift latency of 1e30 ns is more cycles than
#: an int64 holds) or the number is a typo: times up to 1 s, clocks from 1 kHz to 1 THz
#: (a time of 1 s at 1 THz is 1e12 cycles, far inside int64), energies up to 1 J per event,
#: powers up to 1 kW, areas up to 1 m^2 (docs/config.md, "Limits").
QUANTITY_RANGES: dict[str, tuple[float, float]] = {
    "time": (0.0, 1e9),  # ns
    "frequency": (1e-3, 1e6),  # MHz
    "energy": (0.0, 1e12),  # pJ
    "power": (0.0, 1e6),  # mW
    "area": (0.0, 1e12),  # um^2
}


#: Most images one run or sweep point may ask for (the MNIST test set has 10,000).
MAX_IMAGES = 1_000_000


def _check_sign(value: float, raw: object, dimension: str, positive: bool) -> float:
    low, high = QUANTITY_RANGES[dimension]
    unit = INTERNAL_UNITS[dimension]
    if not math.isfinite(value):
        raise UnitError(raw, f"a finite {dimension}")
    if positive and not value > 0:
        raise UnitError(raw, f"a positive {dimension}")
    if not positive and value < 0:
        raise UnitError(raw, f"a non-negative {dimension}")
    if value > high or (positive and value < low):
        raise UnitError(raw, f"a {dimension} in {low:g}..{high:g} {unit}")
    return value


def _quantity_parser(dimension: str, positive: bool) -> Callable[[object], float]:
    def parse(raw: object) -> float:
        try:
            value = parse_quantity(raw, dimension)
        except UnitError as exc:
            raise FieldProblem(exc.value, exc.expected) from None
        try:
            return _check_sign(value, raw, dimension, positive)
        except UnitError as exc:
            raise FieldProblem(exc.value, exc.expected) from None

    return parse


def _quantity_serializer(dimension: str) -> PlainSerializer:
    return PlainSerializer(
        lambda v: format_quantity(v, dimension), return_type=str, when_used="json"
    )


# Each quantity type is written out as an ``Annotated`` alias (not built by a function) so
# that type checkers see a float.
#: A time in ns, > 0 (written e.g. ``"2.14 ns"``).
Time = Annotated[
    float, BeforeValidator(_quantity_parser("time", True)), _quantity_serializer("time")
]
#: A frequency in MHz, > 0 (written e.g. ``"200 MHz"``).
Frequency = Annotated[
    float,
    BeforeValidator(_quantity_parser("frequency", True)),
    _quantity_serializer("frequency"),
]
#: An energy in pJ, >= 0.
Energy = Annotated[
    float, BeforeValidator(_quantity_parser("energy", False)), _quantity_serializer("energy")
]
#: A power in mW, >= 0.
Power = Annotated[
    float, BeforeValidator(_quantity_parser("power", False)), _quantity_serializer("power")
]
#: An area in um^2, >= 0.
Area = Annotated[
    float, BeforeValidator(_quantity_parser("area", False)), _quantity_serializer("area")
]


class TechValue(BaseModel):
    """One technology number and where it comes from.

    ``value`` is in the internal unit of its dimension (ns, pJ, mW, um^2); ``source`` names
    the paper, tool or file it was read from, or says how it was estimated (or
    ``"override in <file>"`` for a value replaced by a design file).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    value: float
    source: str


_TECH_FORM = "{value: <quantity>, source: <text>}"


def _tech_parser(dimension: str, positive: bool) -> Callable[[object], TechValue]:
    parse_value = _quantity_parser(dimension, positive)

    def parse(raw: object) -> TechValue:
        if isinstance(raw, TechValue):
            return raw
        if not isinstance(raw, Mapping):
            raise FieldProblem(
                raw, f"a mapping {_TECH_FORM} (a technology number needs its source)"
            )
        # estimated by an installed model; it replaces a value and source merged in from an
        # included file (the technology file the design builds on)
        if "hwcomponents" in raw and set(raw) <= {"hwcomponents", "value", "source"}:
            from archsim.tech.hwcomponents import HwcProblem, estimate

            try:
                value, source = estimate(raw["hwcomponents"], dimension)
            except HwcProblem as exc:
                where = ("hwcomponents",) + ((exc.key,) if exc.key else ())
                spec = raw["hwcomponents"]
                bad = spec.get(exc.key, MISSING) if exc.key and isinstance(spec, Mapping) \
                    else spec
                raise FieldProblem(bad, str(exc), where) from None
            return TechValue(value=value, source=source)
        for key in raw:
            if key not in ("value", "source"):
                raise FieldProblem(raw[key], f"only the keys 'value' and 'source' ({_TECH_FORM})"
                                   " or 'hwcomponents' (docs/hwcomponents.md)", (str(key),))
        if "value" not in raw:
            raise FieldProblem(MISSING, f"a {dimension} with a unit", ("value",))
        source = raw.get("source", MISSING)
        if not isinstance(source, str) or not source.strip():
            raise FieldProblem(
                source,
                "a non-empty text naming where the number comes from (paper, tool, file, "
                "or how it was estimated)",
                ("source",),
            )
        try:
            value = parse_value(raw["value"])
        except FieldProblem as exc:
            raise FieldProblem(exc.value, exc.expected, ("value",)) from None
        return TechValue(value=value, source=source)

    return parse


def _tech_serializer(dimension: str) -> PlainSerializer:
    return PlainSerializer(
        lambda v: {"value": format_quantity(v.value, dimension), "source": v.source},
        return_type=dict,
        when_used="json",
    )


# written out as ``Annotated`` aliases, as the quantity types above
TechTime = Annotated[
    TechValue, BeforeValidator(_tech_parser("time", True)), _tech_serializer("time")
]
TechEnergy = Annotated[
    TechValue, BeforeValidator(_tech_parser("energy", False)), _tech_serializer("energy")
]
TechPower = Annotated[
    TechValue, BeforeValidator(_tech_parser("power", False)), _tech_serializer("power")
]
TechArea = Annotated[
    TechValue, BeforeValidator(_tech_parser("area", False)), _tech_serializer("area")
]


# --------------------------------------------------------------------------------------------
# technology
# --------------------------------------------------------------------------------------------


class TechSection(Strict):
    """A group of technology numbers (one memory kind, or one logic unit)."""

    def as_dict(self) -> dict[str, TechValue]:
        """The section's numbers by key."""
        return {name: getattr(self, name) for name in type(self).model_fields}

    def as_floats(self) -> dict[str, float]:
        """The section's numbers by key, without their sources (internal units)."""
        return {name: tv.value for name, tv in self.as_dict().items()}


class SramTech(TechSection):
    """Per-bit costs of an SRAM weight array (cell plus its share of the periphery)."""

    read_energy_per_bit: TechEnergy
    """Energy to read one bit, pJ."""
    write_energy_per_bit: TechEnergy
    """Energy to write one bit, pJ."""
    leakage_per_bit: TechPower
    """Leakage power of one stored bit while powered, mW."""
    cell_area: TechArea
    """Area of one bit, um^2."""
    read_latency: TechTime
    """Read access time, ns."""
    write_latency: TechTime
    """Write access time, ns."""


class SttMramTech(SramTech):
    """Per-bit costs of an STT-MRAM weight array."""


class SotMramTech(TechSection):
    """Per-bit costs of a spin-orbit-torque MRAM array (2T-1MTJ cell): the write current flows
    through the heavy-metal (spin-Hall) strip under the MTJ, the read current through the MTJ,
    so the two paths have their own energy and latency. A dual-row read (two word lines on,
    the sense amplifier's reference shifted) senses AND (or OR) of two cells of a bit-line."""

    read_energy_per_bit: TechEnergy
    """Energy to sense one cell through its MTJ (single-row read), pJ."""
    write_energy_per_bit: TechEnergy
    """Energy to switch one cell: the write pulse through the heavy-metal strip, pJ."""
    and_energy_per_bit: TechEnergy
    """Energy of a dual-row (AND/OR) sensing of one bit-line, pJ."""
    leakage_per_bit: TechPower
    """Standby power of one stored bit, mW: 0 for the MTJ cell (non-volatile, no standby
    current path); periphery leakage is charged on the periphery blocks."""
    cell_area: TechArea
    """Area of one 2T-1MTJ cell, um^2."""
    read_latency: TechTime
    """Read (sense) time of a row through the MTJs, ns."""
    write_latency: TechTime
    """Write pulse of a row through the heavy-metal strips, ns."""
    and_latency: TechTime
    """Dual-row sensing time, ns."""

    @model_validator(mode="after")
    def _no_standby(self) -> SotMramTech:
        if self.leakage_per_bit.value != 0.0:
            raise FieldProblem(self.leakage_per_bit.value,
                               "0 W: an SOT-MRAM cell has no standby leakage (the periphery's "
                               "leakage belongs to the periphery blocks)",
                               ("leakage_per_bit", "value"))
        return self


class DwmTech(SramTech):
    """Per-bit costs of a domain-wall (racetrack) memory: access through ports, plus shifts."""

    shift_energy_per_track_step: TechEnergy
    """Energy to shift one track (nanowire) by one domain, pJ."""
    port_area: TechArea
    """Area of one access port (access transistor plus share of the sense amplifier), um^2."""
    shift_latency: TechTime
    """Time of a one-domain shift step (all tracks of a word shift together), ns."""


class LogicUnit(TechSection):
    """Cost of one SC logic unit: energy per action, area and leakage per instance."""

    energy: TechEnergy
    """Energy per action, pJ."""
    area: TechArea
    """Area per instance, um^2."""
    leakage: TechPower
    """Leakage power per instance, mW."""


class LogicTech(Strict):
    """Costs of the stochastic-computing logic units (see docs/config.md for each action)."""

    xnor: LogicUnit
    """One 2-input XNOR, per output bit."""
    sng_comparator: LogicUnit
    """One 8-bit comparator, per generated bit (scaled by w/8 for a w-bit SNG)."""
    lfsr: LogicUnit
    """One 8-bit LFSR, per step (scaled by width/8)."""
    apc_per_input: LogicUnit
    """APC adder tree, per input per cycle."""
    pc_per_input: LogicUnit
    """Exact parallel counter, per input per cycle."""
    btanh_per_bit: LogicUnit
    """Btanh up/down counter, per state bit per update."""
    seg_counter: LogicUnit
    """Segment counter + comparator share of a pooling unit, per input per cycle."""
    mux_input: LogicUnit
    """One MUX input, per selected bit."""
    register_bit: LogicUnit
    """One DFF bit, per cycle held."""




class _TechnologyBase(Strict):
    """Technology numbers for memories and logic. A memory kind's section is needed only if a
    memory of that kind is declared (one optional section per registered memory kind, named
    as the kind: see :data:`MEMORY_KINDS`)."""

    name: str = ""
    """Name of the technology (informational)."""
    node: str | None = None
    """Process node (informational text, e.g. ``45 nm``)."""
    logic: LogicTech

    @field_validator("node", mode="before")
    @classmethod
    def _node_text(cls, v: Any) -> Any:
        return v if v is None else str(v)


# --------------------------------------------------------------------------------------------
# stream, rng, dataset, model
# --------------------------------------------------------------------------------------------


class Rng(Strict):
    """A random-number source feeding comparator SNGs."""

    kind: Literal["lfsr", "sobol", "counter"] = "lfsr"
    width: int | None = Field(None, ge=3, le=32)
    """Bits of each random number; filled at load (input SNGs: ceil(log2 stream length);
    binary weights: ``bits``, at least 3)."""
    taps: list[int] | None = None
    """LFSR tap positions (1..width); default the maximal-length table of the kernels."""
    seed: int | None = Field(None, ge=0, le=2**63 - 1)
    """Seed; default derived from the run seed."""
    share: int | None = Field(None, ge=1)
    """How many SNGs share one RNG; None = all."""
    offset: Literal["rotate", "none"] = "rotate"
    """``rotate``: each SNG reads the shared sequence at its own phase; ``none``: same phase."""

    @model_validator(mode="after")
    def _check_taps(self) -> Rng:
        if self.taps is not None and self.kind != "lfsr":
            raise FieldProblem(self.taps, "no taps unless kind is 'lfsr'", ("taps",))
        if self.width is not None:
            self.check_taps(())
        return self

    def check_taps(self, prefix: tuple[str | int, ...]) -> None:
        """Check the tap positions against the (possibly just filled-in) width."""
        top = self.width if self.width is not None else 32
        for i, tap in enumerate(self.taps or ()):
            if not 1 <= tap <= top:
                raise FieldProblem(tap, f"a tap position in 1..{top} (width {top})",
                                   (*prefix, "taps", i))
        if self.taps is not None and self.width is not None:
            if self.width not in self.taps:
                raise FieldProblem(self.taps, f"taps that include the width {self.width} (the "
                                   "register's last stage feeds back in every LFSR)",
                                   (*prefix, "taps"))
            if len(set(self.taps)) != len(self.taps):
                raise FieldProblem(self.taps, "distinct tap positions", (*prefix, "taps"))


def _default_width(length: int) -> int:
    return min(32, max(3, math.ceil(math.log2(length))))


class Stream(Strict):
    """Generation of the input bit streams."""

    length: int = Field(1024, ge=8, le=65536)
    """Input stream length L: cycles per image per layer."""
    rng: Rng = Field(default_factory=Rng)
    comparator: Literal["gt", "ge"] = "gt"
    """SNG rule: bit = value > R (``gt``) or value >= R (``ge``)."""

    @model_validator(mode="after")
    def _fill_width(self) -> Stream:
        if self.rng.width is None:
            self.rng = self.rng.model_copy(update={"width": _default_width(self.length)})
            self.rng.check_taps(("rng",))
        return self


class Dataset(Strict):
    """The images fed to the network."""

    name: Literal["mnist", "fashion-mnist", "cifar10", "random", "custom"] = "mnist"
    path: str | None = None
    """``custom``: a folder of images in class subfolders, or an ``.npz`` with ``images``
    (N, C, H, W) or (N, H, W) uint8 and optional ``labels`` (docs/workloads.md)."""
    start: int = Field(0, ge=0, le=MAX_IMAGES)
    """Index of the first image."""
    images: int = Field(10, ge=1, le=MAX_IMAGES)
    """Number of images."""

    @model_validator(mode="after")
    def _check_path(self) -> Dataset:
        if self.name == "custom":
            if not self.path or not Path(self.path).exists():
                raise FieldProblem(self.path, "an existing image folder or .npz for a custom "
                                   "data set", ("path",))
        elif self.path is not None:
            raise FieldProblem(self.path, f"no path for the {self.name!r} data set "
                               "(name: custom takes one)", ("path",))
        return self


class ModelSpec(Strict):
    """Where the network's trained weights come from."""

    weights: str = "random"
    """``random``, ``builtin:<name>`` (a model in ``archsim/models/``), or a path to an .npz
    (relative paths are resolved against the file that wrote them)."""

    @field_validator("weights")
    @classmethod
    def _check_weights(cls, v: str) -> str:
        if v == "random":
            return v
        if v.startswith("builtin:"):
            if not v[len("builtin:"):].strip():
                raise FieldProblem(v, "'builtin:<name>' with a model name")
            return v
        if v.endswith(".npz"):
            if not Path(v).is_file():
                raise FieldProblem(v, "an existing .npz file")
            return v
        raise FieldProblem(v, "'random', 'builtin:<name>' or a path to an .npz file")

    clip: bool = False
    """``false``: a model weight or bias outside [-1, 1] (the range of a bipolar stochastic
    number) is an error naming the file, array and index; ``true``: such values are clipped
    to [-1, 1] at load and their count recorded in the run's ``model_metadata``
    (``clipped_on_load``)."""


# --------------------------------------------------------------------------------------------
# memories
# --------------------------------------------------------------------------------------------


class Misalignment(Strict):
    """Per shift-step over/under-shift fault of a racetrack (NetDrift model)."""

    probability: float = Field(0.0, ge=0.0, le=1.0)
    edge: Literal["saturate", "random"] = "saturate"


class _MemoryBase(Strict):
    kind: str

    def spec_fields(self) -> dict[str, Any]:
        """The kind's own organisation and fault parameters, as ``MemorySpec`` fields."""
        return {}

    def tech_overrides(self) -> dict[str, TechValue]:
        """The technology numbers this memory overrides."""
        return {
            key: getattr(self, key)
            for key in TECH_KEYS[self.kind]
            if getattr(self, key) is not None
        }

    @classmethod
    def _what(cls) -> str:
        return "a memory"


class SramMemory(_MemoryBase):
    """An SRAM weight memory (volatile: weights are reloaded at every power-up)."""

    kind: Literal["sram"]
    power_cycles: int = Field(1, ge=0, le=1_000_000)
    """Power-ups during the run; each reloads all weights (write)."""
    read_energy_per_bit: TechEnergy | None = None
    write_energy_per_bit: TechEnergy | None = None
    leakage_per_bit: TechPower | None = None
    cell_area: TechArea | None = None
    read_latency: TechTime | None = None
    write_latency: TechTime | None = None

    def spec_fields(self) -> dict[str, Any]:
        return {"power_cycles": self.power_cycles}

    @classmethod
    def _what(cls) -> str:
        return "an sram memory"


class SttMramMemory(_MemoryBase):
    """An STT-MRAM weight memory (non-volatile)."""

    kind: Literal["stt_mram"]
    read_error: float = Field(0.0, ge=0.0, le=1.0)
    """Per-bit read-error probability."""
    read_energy_per_bit: TechEnergy | None = None
    write_energy_per_bit: TechEnergy | None = None
    leakage_per_bit: TechPower | None = None
    cell_area: TechArea | None = None
    read_latency: TechTime | None = None
    write_latency: TechTime | None = None

    def spec_fields(self) -> dict[str, Any]:
        return {"read_error": self.read_error}

    @classmethod
    def _what(cls) -> str:
        return "an stt_mram memory"


class SotMramMemory(_MemoryBase):
    """A spin-orbit-torque MRAM array (non-volatile; separate read and write paths)."""

    kind: Literal["sot_mram"]
    read_error: float = Field(0.0, ge=0.0, le=1.0)
    """Per-bit read-error probability of a single-row read (a weight store's reads)."""
    read_energy_per_bit: TechEnergy | None = None
    write_energy_per_bit: TechEnergy | None = None
    and_energy_per_bit: TechEnergy | None = None
    leakage_per_bit: TechPower | None = None
    cell_area: TechArea | None = None
    read_latency: TechTime | None = None
    write_latency: TechTime | None = None
    and_latency: TechTime | None = None

    def spec_fields(self) -> dict[str, Any]:
        return {"read_error": self.read_error}

    @classmethod
    def _what(cls) -> str:
        return "a sot_mram memory"


class DwmMemory(_MemoryBase):
    """A domain-wall (racetrack) weight memory: nanowires of ``domains`` bits shifted past
    ``ports`` access ports (RTSim organisation)."""

    kind: Literal["dwm"]
    domains: int = Field(64, ge=1, le=1 << 20)
    """Domains per nanowire (track)."""
    ports: int = Field(1, ge=1, le=1024)
    """Access ports per track; ``domains % ports == 0``."""
    rw_ports: list[int] = Field(default_factory=lambda: [0])
    """Ports that can write (``all`` in YAML is expanded to every port)."""
    port_select: Literal["static", "nearest"] = "static"
    port_update: Literal["lazy", "eager"] = "lazy"
    layout: Literal["interleaved", "serial"] = "interleaved"
    word_tracks: int = Field(32, ge=1, le=4096)
    """Tracks per nanowire group (DBC word width)."""
    shift_overlaps_read: bool = False
    reread: Literal["rewind", "pingpong"] = "rewind"
    preshift: bool = True
    """Idle tracks of a chain realign in the background (latency hidden, energy paid)."""
    misalignment: Misalignment = Field(default_factory=Misalignment)
    read_energy_per_bit: TechEnergy | None = None
    write_energy_per_bit: TechEnergy | None = None
    shift_energy_per_track_step: TechEnergy | None = None
    leakage_per_bit: TechPower | None = None
    cell_area: TechArea | None = None
    port_area: TechArea | None = None
    read_latency: TechTime | None = None
    write_latency: TechTime | None = None
    shift_latency: TechTime | None = None

    @field_validator("rw_ports", mode="before")
    @classmethod
    def _all_ports(cls, v: Any) -> Any:
        if v == "all":
            return [-1]  # marker, expanded once ``ports`` is known
        if not isinstance(v, list):
            raise FieldProblem(v, "a list of port indices or 'all'")
        return v

    @model_validator(mode="after")
    def _check_ports(self) -> DwmMemory:
        if self.domains % self.ports != 0:
            raise FieldProblem(
                self.ports, f"a divisor of domains ({self.domains}): domains % ports == 0",
                ("ports",),
            )
        if self.rw_ports == [-1]:
            self.rw_ports = list(range(self.ports))
        if not self.rw_ports:
            raise FieldProblem(self.rw_ports, "at least one writable port", ("rw_ports",))
        for i, port in enumerate(self.rw_ports):
            if not 0 <= port < self.ports:
                raise FieldProblem(port, f"a port index in 0..{self.ports - 1}", ("rw_ports", i))
        if len(set(self.rw_ports)) != len(self.rw_ports):
            raise FieldProblem(self.rw_ports, "distinct port indices", ("rw_ports",))
        self.rw_ports = sorted(self.rw_ports)
        return self

    def spec_fields(self) -> dict[str, Any]:
        return dict(
            domains=self.domains, ports=self.ports, rw_ports=tuple(self.rw_ports),
            port_select=self.port_select, port_update=self.port_update, layout=self.layout,
            word_tracks=self.word_tracks, shift_overlaps_read=self.shift_overlaps_read,
            reread=self.reread, preshift=self.preshift,
            misalignment=self.misalignment.probability, misalignment_edge=self.misalignment.edge,
        )

    @classmethod
    def _what(cls) -> str:
        return "a dwm memory"


@dataclass(frozen=True)
class MemoryKind:
    """A memory technology design files can name: ``kind:`` of a ``memories`` entry and the
    name of its ``technology`` section."""

    name: str
    memory: type[_MemoryBase]  # the schema of a memories.<m> entry (kind: Literal[name])
    tech: type[TechSection]  # the schema of technology.<name>
    volatile: bool  # loses its contents at power-off (reloaded at every power-up)
    description: str


#: The registry of memory kinds.  Adding one is one entry here (with its technology section
#: class and its memory class: ``kind: Literal[...]``, its own keys and checks, and
#: ``spec_fields``); the union of memory schemas, the technology sections, the technology keys
#: a memory may override and the loader's error messages all follow from it.
MEMORY_KINDS: dict[str, MemoryKind] = {k.name: k for k in (
    MemoryKind("sram", SramMemory, SramTech, True, "SRAM arrays (6T cells)"),
    MemoryKind("dwm", DwmMemory, DwmTech, False,
               "domain-wall (racetrack) nanowires shifted past access ports"),
    MemoryKind("stt_mram", SttMramMemory, SttMramTech, False,
               "spin-transfer-torque MRAM arrays (1T-1MTJ)"),
    MemoryKind("sot_mram", SotMramMemory, SotMramTech, False,
               "spin-orbit-torque MRAM arrays (2T-1MTJ: heavy-metal write path, MTJ read "
               "path; dual-row AND/OR sensing)"),
)}

if TYPE_CHECKING:  # the union is built from the registry; to a type checker it is the base
    Memory = _MemoryBase
else:
    Memory = Annotated[Union[tuple(k.memory for k in MEMORY_KINDS.values())],  # noqa: UP007
                       Field(discriminator="kind")]

#: Technology numbers: the logic units and one optional section per memory kind.
Technology = create_model(
    "Technology", __base__=_TechnologyBase, __module__=__name__,
    **{name: (k.tech | None, None) for name, k in MEMORY_KINDS.items()},  # type: ignore[call-overload]
)

#: The technology keys of each memory kind (a memory entry may override any of them).
TECH_KEYS: dict[str, tuple[str, ...]] = {
    name: tuple(k.tech.model_fields) for name, k in MEMORY_KINDS.items()}

#: A memory kind's technology section (the base of every registered one).
MemoryTech = TechSection

#: Technology sections by memory kind.
_TECH_SECTIONS: dict[str, type[TechSection]] = {
    name: k.tech for name, k in MEMORY_KINDS.items()}


# --------------------------------------------------------------------------------------------
# layers
# --------------------------------------------------------------------------------------------


class Btanh(Strict):
    """Btanh activation: an up/down counter with ``r`` states (Kim et al., DAC 2016)."""

    s: float = Field(1.0, gt=0.0)
    """Gain: output ~ tanh(t / s)."""
    r: int | None = Field(None, ge=2, le=1 << 20)
    """Number of states (even); None = Kim r(n, s), computed by the simulator from the
    counter's input count n."""
    s0: Literal["half", "half_minus_one"] = "half"
    """Initial state: r/2 or r/2 - 1."""

    @field_validator("r")
    @classmethod
    def _even(cls, v: int | None) -> int | None:
        if v is not None and v % 2:
            raise FieldProblem(v, "an even number of states >= 2")
        return v


class Weights(Strict):
    """How and where a layer's weights are stored."""

    memory: str
    """Name of a memory in ``memories``."""
    format: Literal["stochastic", "binary"] = "stochastic"
    """``stochastic``: the weight's bit stream is stored; ``binary``: a ``bits``-bit word is
    stored and turned into a stream by an SNG."""
    length: int | None = Field(None, ge=8, le=65536)
    """Stored stream length (stochastic; ignored for binary)."""
    bits: int | None = Field(None, ge=1, le=16)
    """Binary precision (binary; ignored for stochastic)."""
    rounding: Literal["nearest", "floor"] = "nearest"
    """How a float weight becomes the ``bits``-bit word v of DW-CNN eq. (1),
    v = R((x+1)/2 * 2^bits): ``nearest`` rounds, ``floor`` truncates as eq. (1) is printed
    (``int``). Truncation lowers every weight by half an LSB on average, which a fan-in of
    hundreds turns into a shift of every pre-activation (binary only)."""
    rng: Rng | None = None
    """SNG source of binary weights (default: an LFSR as wide as the input SNGs' source,
    ceil(log2 stream length), and at least ``bits``). When the source is wider than ``bits``,
    the word is compared in the source's range (v shifted left by the difference), so an LFSR,
    which never outputs 0, biases the stream by 2^-width instead of 2^-bits."""

    @model_validator(mode="after")
    def _check_format(self) -> Weights:
        if self.format == "stochastic" and self.length is None:
            raise FieldProblem(MISSING, "a stream length (8..65536) for stochastic weights",
                               ("length",))
        if self.format == "binary":
            if self.bits is None:
                raise FieldProblem(MISSING, "a precision in bits (1..16) for binary weights",
                                   ("bits",))
            # the width, if not given, is filled by the design (ArchConfig): at least the
            # input streams' width, so the LFSR's missing 0 costs 2^-width, not 2^-bits
            self.rng = self.rng if self.rng is not None else Rng()
        return self


class _LayerBase(Strict):
    name: str = Field(min_length=1)
    """Unique layer name."""
    weights: Weights
    counter: Literal["apc", "pc"] = "apc"
    """Inner-product counter: approximate (APC) or exact parallel counter (PC)."""
    btanh: Btanh = Field(default_factory=Btanh)
    activation: Literal["btanh", "none"] = "btanh"
    """``none`` only on the last layer: its per-cycle counts are accumulated and decoded."""
    pipeline_depth: int | None = Field(None, ge=1, le=65536)
    """Pipeline registers of the layer; None = the simulator's default."""
    output_flip: float = Field(0.0, ge=0.0, le=1.0)
    """Probability that a bit of the layer's output streams arrives inverted at the next layer
    (transient faults on the inter-layer wires); only for ``activation: btanh``."""


class ConvLayer(_LayerBase):
    """A convolution of ``filters`` k x k filters over C x H x W inputs (stride, zero padding),
    with optional segment max pooling over pool x pool windows (SC-DCNN feature-extraction
    block; DW-CNN uses stride 1, no padding and 2x2 pooling)."""

    kind: Literal["conv"]
    in_channels: int = Field(ge=1)
    in_size: int | tuple[int, int]
    """Input side H (square), or ``[H, W]``."""
    filters: int = Field(ge=1)
    kernel: int = Field(ge=1)
    stride: int = Field(1, ge=1, le=16)
    """Convolution stride."""
    padding: int = Field(0, ge=0, le=16)
    """Zero padding on every side; a padded input is the bipolar zero stream 0101..."""
    pool: int = Field(1, ge=1, le=8)
    """Segment max pooling over pool x pool windows (2: DW-CNN's 2x2), 1 for none."""
    pool_stride: int | None = Field(None, ge=1, le=8)
    """Stride of the pooling windows (default: ``pool``, non-overlapping)."""
    sharing: Literal["filter", "none"] = "none"
    """``filter``: one weight block per filter broadcast to all inner products of its feature
    map (DW-CNN Fig. 9)."""
    pool_segment: int = Field(16, ge=1)
    """Segment length c of the max pooling."""
    pool_first: int | Literal["random"] = 0
    """Pooling input (0 .. pool^2 - 1, row-major in the window) forwarded during segment 0,
    or ``random``."""

    @field_validator("pool_first", mode="before")
    @classmethod
    def _check_pool_first(cls, v: Any) -> Any:
        if v == "random":
            return v
        if isinstance(v, int) and not isinstance(v, bool) and v >= 0:
            return v
        raise FieldProblem(v, "an input index of the pooling window (0 .. pool^2 - 1), or "
                           "'random'")

    @field_validator("in_size", mode="before")
    @classmethod
    def _check_in_size(cls, v: Any) -> Any:
        ok = (lambda x: isinstance(x, int) and not isinstance(x, bool) and x >= 1)  # noqa: E731
        if ok(v) or (isinstance(v, (list, tuple)) and len(v) == 2 and all(map(ok, v))):
            return v
        raise FieldProblem(v, "a positive input side H, or [H, W]")

    @model_validator(mode="after")
    def _check_shape(self) -> ConvLayer:
        h, w = self.in_hw
        if self.kernel > min(h, w) + 2 * self.padding:
            raise FieldProblem(self.kernel, f"a kernel no larger than the padded input "
                               f"({h + 2 * self.padding} x {w + 2 * self.padding})",
                               ("kernel",))
        ch, cw = self.conv_hw
        if self.pool_stride is None and (ch % self.pool or cw % self.pool):
            raise FieldProblem(
                self.pool,
                f"a pool that divides the convolution output size {ch} x {cw} "
                "((in_size + 2 padding - kernel) / stride + 1), or a pool_stride",
                ("pool",),
            )
        if self.pool > min(ch, cw):
            raise FieldProblem(self.pool, f"a pool no larger than the convolution output "
                               f"({ch} x {cw})", ("pool",))
        if isinstance(self.pool_first, int) and self.pool_first >= self.pool * self.pool:
            raise FieldProblem(self.pool_first, f"an input index 0..{self.pool ** 2 - 1} of the "
                               f"{self.pool}x{self.pool} pooling window, or 'random'",
                               ("pool_first",))
        return self

    @property
    def in_hw(self) -> tuple[int, int]:
        """(H, W) of the input."""
        if isinstance(self.in_size, int):
            return self.in_size, self.in_size
        return int(self.in_size[0]), int(self.in_size[1])

    @property
    def conv_hw(self) -> tuple[int, int]:
        """(H, W) of the convolution output before pooling:
        (in + 2 padding - kernel) // stride + 1."""
        h, w = self.in_hw
        k, p, s = self.kernel, self.padding, self.stride
        return (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1

    @property
    def out_hw(self) -> tuple[int, int]:
        """(H, W) of the layer output (after pooling)."""
        ps = self.pool_stride or self.pool
        h, w = self.conv_hw
        return (h - self.pool) // ps + 1, (w - self.pool) // ps + 1

    @property
    def conv_size(self) -> int:
        """Height of the convolution output before pooling."""
        return self.conv_hw[0]

    @property
    def out_size(self) -> int:
        """Height of the layer output (after pooling)."""
        return self.out_hw[0]

    @property
    def out_channels(self) -> int:
        return self.filters

    @property
    def input_count(self) -> int:
        """Number of input values: in_channels * H * W."""
        h, w = self.in_hw
        return self.in_channels * h * w

    @property
    def output_count(self) -> int:
        """Number of output values: filters * out H * out W."""
        h, w = self.out_hw
        return self.filters * h * w

    @property
    def fan_in(self) -> int:
        """Products per inner product, bias excluded: in_channels * kernel^2."""
        return self.in_channels * self.kernel**2

    @property
    def weight_count(self) -> int:
        """Weights, bias excluded: filters * in_channels * kernel^2."""
        return self.filters * self.fan_in

    @property
    def bias_count(self) -> int:
        return self.filters


class FcLayer(_LayerBase):
    """A fully connected layer of ``outputs`` neurons over ``inputs`` values, optionally with
    MUX-shared inputs (DW-CNN Fig. 10)."""

    kind: Literal["fc"]
    inputs: int = Field(ge=1)
    outputs: int = Field(ge=1)
    mux_groups: int | None = Field(None, ge=1)
    """G: MUX-shared FC with a G-input APC; None = unshared."""
    mux_passes: int = Field(1, ge=1, le=64)
    """Shared FC: passes over the buffered input streams per image; the Btanh counts through
    all of them and the last pass is emitted (more samples per product, P times longer)."""

    @model_validator(mode="after")
    def _check_groups(self) -> FcLayer:
        if self.mux_groups is not None and self.mux_groups > self.inputs + 1:
            raise FieldProblem(
                self.mux_groups, f"at most inputs + 1 (bias) = {self.inputs + 1} groups",
                ("mux_groups",),
            )
        return self

    @property
    def input_count(self) -> int:
        return self.inputs

    @property
    def output_count(self) -> int:
        return self.outputs

    @property
    def fan_in(self) -> int:
        """Products per inner product, bias excluded."""
        return self.inputs

    @property
    def weight_count(self) -> int:
        return self.inputs * self.outputs

    @property
    def bias_count(self) -> int:
        return self.outputs


Layer = Annotated[ConvLayer | FcLayer, Field(discriminator="kind")]


# --------------------------------------------------------------------------------------------
# the whole description
# --------------------------------------------------------------------------------------------


class DesignConfig(Strict):
    """What every design file has, whatever its fabric: a name, the fabric, the clock, the
    run seed, the technology, the data set, the model and the probes.  A fabric's config
    class (``Fabric.config_model()``) extends it with its own sections."""

    name: str = Field(min_length=1)
    """Design name (default: the file stem)."""
    description: str = ""
    fabric: str = "sc_stream"
    """The family of datapaths (``archsim.fabrics``): ``sc_stream`` is the DW-CNN SC datapath."""
    clock: Frequency
    """Clock of the datapath, MHz."""
    seed: int = Field(1, ge=0, le=2**63 - 1)
    """Run seed; every RNG seed is derived from it."""
    technology: Technology
    dataset: Dataset = Field(default_factory=Dataset)
    model: ModelSpec = Field(default_factory=ModelSpec)
    probes: list[str] = Field(default_factory=list)
    """Waveform probes (signal names the fabric declares)."""

    @field_validator("name")
    @classmethod
    def _safe_name(cls, v: str) -> str:
        if not is_safe_name(v):
            raise FieldProblem(v, SAFE_NAME_EXPECTED)
        return v

    _source_file: Path | None = PrivateAttr(default=None)

    @property
    def source_file(self) -> Path | None:
        """The top-level file this configuration was loaded from (None if built in code)."""
        return self._source_file

    @property
    def clock_period(self) -> float:
        """Clock period in ns."""
        return 1000.0 / self.clock

    def resolved_dict(self) -> dict[str, Any]:
        """The whole description as plain data: includes inlined, overrides applied, defaults
        filled, quantities written with their internal unit (``"200 MHz"``). Writing it as
        YAML and loading it again gives an equal configuration."""
        return self.model_dump(mode="json", exclude_none=True)

    def __eq__(self, other: object) -> bool:
        # The file a configuration was read from is not part of its value.
        if not isinstance(other, DesignConfig):
            return NotImplemented
        return type(self) is type(other) and self.__dict__ == other.__dict__

    # unhashable, as __eq__ is value equality (typeshed types object.__hash__ as a method)
    __hash__ = None  # type: ignore[assignment]


class ArchConfig(DesignConfig):
    """A validated SC stream (``fabric: sc_stream``) architecture description.

    Build it with :func:`archsim.config.load_config`. Quantities are floats in internal units
    (``clock`` in MHz); technology numbers are :class:`TechValue`; use :meth:`memory_tech` for
    a memory's technology numbers with its own overrides applied.
    """

    fabric: Literal["sc_stream"] = "sc_stream"
    workload_file: str | None = None
    """The workload file the layers' network came from (set at load from ``workload:``)."""
    stream: Stream = Field(default_factory=Stream)
    memories: dict[str, Memory] = Field(min_length=1)
    """Weight memories by name."""
    layers: list[Layer] = Field(min_length=1)
    """The network, in order."""

    # -- cross-field checks ----------------------------------------------------------------

    @model_validator(mode="after")
    def _check_design(self) -> ArchConfig:
        self._check_memories()
        self._check_layers()
        return self

    def _check_memories(self) -> None:
        for name, memory in self.memories.items():
            if getattr(self.technology, memory.kind) is None:
                raise ConfigError(
                    None,
                    f"technology.{memory.kind}",
                    MISSING,
                    f"a technology.{memory.kind} section (memory {name!r} is of kind "
                    f"{memory.kind})",
                )

    def _check_layers(self) -> None:
        seen: dict[str, int] = {}
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            here = f"layers[{i}]"
            if layer.name in seen:
                raise ConfigError(None, f"{here}.name", layer.name,
                                  f"a unique layer name (layers[{seen[layer.name]}] is also "
                                  f"named {layer.name!r})")
            seen[layer.name] = i
            w = layer.weights
            if w.format == "binary" and w.rng is not None and w.rng.width is None:
                width = max(3, w.bits or 0, _default_width(self.stream.length))
                w.rng = w.rng.model_copy(update={"width": width})
                try:
                    w.rng.check_taps(())
                except FieldProblem as e:
                    raise ConfigError(None, f"{here}.weights.rng.{'.'.join(map(str, e.subpath))}",
                                      e.value, e.expected) from e
            if layer.weights.memory not in self.memories:
                raise ConfigError(
                    None, f"{here}.weights.memory", layer.weights.memory,
                    f"the name of a memory in 'memories' ({', '.join(map(repr, self.memories))})",
                )
            if layer.activation == "none" and i != last:
                raise ConfigError(None, f"{here}.activation", "none",
                                  "'btanh' ('none' is allowed only on the last layer)")
            if (isinstance(layer, ConvLayer) and layer.pool > 1
                    and layer.pool_segment > self.stream.length):
                raise ConfigError(None, f"{here}.pool_segment", layer.pool_segment,
                                  f"a segment no longer than the stream ({self.stream.length})")
            if i > 0:
                self._check_chain(i, self.layers[i - 1], layer)

    @staticmethod
    def _check_chain(i: int, prev: ConvLayer | FcLayer, layer: ConvLayer | FcLayer) -> None:
        here = f"layers[{i}]"
        if isinstance(layer, ConvLayer):
            if not isinstance(prev, ConvLayer):
                raise ConfigError(None, f"{here}.kind", "conv",
                                  f"'fc' (a conv layer cannot follow the fc layer {prev.name!r})")
            if layer.in_channels != prev.out_channels:
                raise ConfigError(
                    None, f"{here}.in_channels", layer.in_channels,
                    f"{prev.out_channels}, the filters of the previous layer {prev.name!r}",
                )
            if layer.in_hw != prev.out_hw:
                h, w = prev.out_hw
                raise ConfigError(
                    None, f"{here}.in_size", layer.in_size,
                    f"{h if h == w else [h, w]}, the output size of the previous layer "
                    f"{prev.name!r}",
                )
        elif layer.inputs != prev.output_count:
            raise ConfigError(
                None, f"{here}.inputs", layer.inputs,
                f"{prev.output_count}, the output count of the previous layer {prev.name!r}",
            )

    # -- access ------------------------------------------------------------------------------

    def layer(self, name: str) -> ConvLayer | FcLayer:
        """The layer called ``name``."""
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(f"no layer named {name!r}; layers: {[x.name for x in self.layers]}")

    def layer_memory(self, layer: ConvLayer | FcLayer | str) -> _MemoryBase:
        """The memory that holds a layer's weights."""
        if isinstance(layer, str):
            layer = self.layer(layer)
        return self.memories[layer.weights.memory]

    def memory_tech(self, name: str) -> MemoryTech:
        """Technology numbers of memory ``name``: its kind's section of ``technology`` with the
        memory's own overrides applied. Use e.g. ``cfg.memory_tech("dwm0").shift_latency.value``
        (ns)."""
        memory = self.memories[name]
        section = getattr(self.technology, memory.kind)
        return section.model_copy(update=memory.tech_overrides())


def loc_to_key_path(loc: tuple[str | int, ...]) -> str:
    """Write a pydantic location as a key path, dropping discriminated-union tags."""
    return format_key_path(strip_union_tags(loc))


def strip_union_tags(loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
    """Remove the tag pydantic inserts after ``layers[i]`` and ``memories.<name>``."""
    out: list[str | int] = []
    i = 0
    while i < len(loc):
        out.append(loc[i])
        if (
            len(out) == 2
            and out[0] in ("layers", "memories")
            and i + 1 < len(loc)
            and loc[i + 1] in (("conv", "fc") if out[0] == "layers" else tuple(MEMORY_KINDS))
        ):
            i += 1  # skip the tag
        i += 1
    return tuple(out)
