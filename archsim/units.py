"""Physical quantities written with a unit, and archsim's internal units.

A configuration writes every physical number with its unit (``"200 MHz"``, ``"2.14192 ns"``,
``"0.609 pJ"``, ``"0.3 um^2"``, ``"138 nW"``). This module turns such text into a plain float in
archsim's internal unit of that dimension, once, at load time, and writes floats back as text:

=========== ============= ==========================================
dimension   internal unit accepted units
=========== ============= ==========================================
time        ns            s, ms, us, ns, ps
frequency   MHz           Hz, kHz, MHz, GHz
energy      pJ            J, mJ, uJ, nJ, pJ, fJ
power       mW            W, mW, uW, nW, pW
area        um^2          m^2, mm^2, um^2, nm^2 (also m2, mm2, um2, nm2)
=========== ============= ==========================================

``µ`` (micro sign) and ``μ`` (Greek mu) are accepted for ``u``. Scaling is done in decimal
arithmetic, so ``"138 nW"`` becomes exactly the float nearest to 0.000138 mW, and
:func:`format_quantity` followed by :func:`parse_quantity` returns the same float.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

__all__ = [
    "DIMENSIONS",
    "INTERNAL_UNITS",
    "UnitError",
    "format_quantity",
    "parse_quantity",
    "unit_dimension",
]

#: Internal unit of each dimension.
INTERNAL_UNITS: dict[str, str] = {
    "time": "ns",
    "frequency": "MHz",
    "energy": "pJ",
    "power": "mW",
    "area": "um^2",
}

DIMENSIONS: tuple[str, ...] = tuple(INTERNAL_UNITS)

#: Example quantity of each dimension, used in error messages.
_EXAMPLES: dict[str, str] = {
    "time": "2.14 ns",
    "frequency": "200 MHz",
    "energy": "0.609 pJ",
    "power": "138 nW",
    "area": "0.3 um^2",
}

# unit text -> (dimension, factor to the internal unit)
_UNITS: dict[str, tuple[str, Decimal]] = {
    "s": ("time", Decimal("1e9")),
    "ms": ("time", Decimal("1e6")),
    "us": ("time", Decimal("1e3")),
    "ns": ("time", Decimal(1)),
    "ps": ("time", Decimal("1e-3")),
    "Hz": ("frequency", Decimal("1e-6")),
    "kHz": ("frequency", Decimal("1e-3")),
    "MHz": ("frequency", Decimal(1)),
    "GHz": ("frequency", Decimal("1e3")),
    "J": ("energy", Decimal("1e12")),
    "mJ": ("energy", Decimal("1e9")),
    "uJ": ("energy", Decimal("1e6")),
    "nJ": ("energy", Decimal("1e3")),
    "pJ": ("energy", Decimal(1)),
    "fJ": ("energy", Decimal("1e-3")),
    "W": ("power", Decimal("1e3")),
    "mW": ("power", Decimal(1)),
    "uW": ("power", Decimal("1e-3")),
    "nW": ("power", Decimal("1e-6")),
    "pW": ("power", Decimal("1e-9")),
    "m^2": ("area", Decimal("1e12")),
    "mm^2": ("area", Decimal("1e6")),
    "um^2": ("area", Decimal(1)),
    "nm^2": ("area", Decimal("1e-6")),
}
for _unit in ("m", "mm", "um", "nm"):
    _UNITS[_unit + "2"] = _UNITS[_unit + "^2"]

_QUANTITY_RE = re.compile(
    r"""^\s*
    (?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)
    \s*
    (?P<unit>[^\s\d.+-].*?)?
    \s*$""",
    re.VERBOSE,
)


class UnitError(ValueError):
    """A quantity could not be read: no unit, an unknown unit, or a unit of the wrong dimension.

    ``value`` is the offending input and ``expected`` says, in words, what was wanted; the
    configuration loader turns both into a :class:`archsim.config.ConfigError` with the key path.
    """

    def __init__(self, value: object, expected: str) -> None:
        self.value = value
        self.expected = expected
        super().__init__(f"got {value!r}; expected {expected}")


def _normalise_unit(unit: str) -> str:
    return unit.replace("µ", "u").replace("μ", "u").replace(" ", "")


def unit_dimension(unit: str) -> str:
    """Return the dimension (``"time"``, ``"energy"``, ...) of a unit such as ``"ns"``."""
    key = _normalise_unit(unit)
    if key not in _UNITS:
        raise UnitError(unit, f"a known unit ({', '.join(_UNITS)})")
    return _UNITS[key][0]


def _describe(dimension: str | None) -> str:
    if dimension is None:
        return "a quantity with a unit, e.g. '200 MHz'"
    units = ", ".join(u for u, (d, _) in _UNITS.items() if d == dimension)
    article = "an" if dimension[0] in "aeiou" else "a"
    return f"{article} {dimension} with a unit ({units}), e.g. {_EXAMPLES[dimension]!r}"


def parse_quantity(text: object, dimension: str | None = None) -> float:
    """Read ``text`` such as ``"2.14 ns"`` and return its value in the internal unit.

    With ``dimension`` given (one of :data:`DIMENSIONS`), a unit of another dimension is an
    error. A bare number (``200`` or ``"200"``) is always an error: the unit is required.
    """
    if dimension is not None and dimension not in INTERNAL_UNITS:
        raise ValueError(f"dimension(={dimension!r}) must be one of {DIMENSIONS}")
    expected = _describe(dimension)
    if isinstance(text, bool) or not isinstance(text, str):
        if isinstance(text, (int, float)) and not isinstance(text, bool):
            raise UnitError(text, f"{expected} (the unit is required)")
        raise UnitError(text, expected)
    match = _QUANTITY_RE.match(text)
    if match is None:
        raise UnitError(text, expected)
    unit_text = match.group("unit")
    if not unit_text:
        raise UnitError(text, f"{expected} (the unit is required)")
    unit = _normalise_unit(unit_text)
    if unit not in _UNITS:
        raise UnitError(text, f"{expected}; {unit_text!r} is not a known unit")
    unit_dim, factor = _UNITS[unit]
    if dimension is not None and unit_dim != dimension:
        raise UnitError(text, f"{expected}; {unit_text!r} is a unit of {unit_dim}")
    try:
        number = Decimal(match.group("number"))
    except InvalidOperation:  # pragma: no cover - the regex admits only valid numbers
        raise UnitError(text, expected) from None
    return float(number * factor)


def format_quantity(value: float, dimension: str) -> str:
    """Write ``value`` (in the internal unit of ``dimension``) as text, e.g. ``"200 MHz"``.

    The number is written with Python's shortest round-tripping representation, so
    ``parse_quantity(format_quantity(v, d), d) == v`` for every finite float ``v``.
    """
    if dimension not in INTERNAL_UNITS:
        raise ValueError(f"dimension(={dimension!r}) must be one of {DIMENSIONS}")
    number = repr(float(value))
    if number.endswith(".0"):
        number = number[:-2]
    return f"{number} {INTERNAL_UNITS[dimension]}"
