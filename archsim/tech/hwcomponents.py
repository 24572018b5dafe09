"""Technology numbers taken from installed HWComponents models (the Accelergy project).

A technology number in a YAML file may name an hwcomponents model instead of a value:

    read_energy_per_bit:
      hwcomponents: {component: sram, attributes: {tech_node: 45e-9, width: 64, depth: 1024},
                     action: read, per: 64}

``component``, ``attributes`` (and for an action ``arguments``) are the query hwcomponents
answers with its best model (``hwcomponents.get_action_cost`` / ``get_area`` /
``get_leak_power``); ``action`` is an action name (its energy or latency, by the dimension the
key needs) or ``area`` / ``leak_power``; ``per`` divides the estimate (bits per access, for a
per-bit number).  The number is estimated when the file is loaded and kept with a source that
names hwcomponents' version, the model class that answered and the query, so the resolved
config records where it came from (and re-runs without hwcomponents installed).

hwcomponents needs Python >= 3.12: ``pip install "archsim[hwcomponents]"`` there.  Units:
hwcomponents answers in J, s, m^2 and W; archsim keeps pJ, ns, um^2 and mW.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["SPEC_KEYS", "HwcProblem", "estimate", "version"]

SPEC_KEYS = ("component", "attributes", "action", "arguments", "per")
# hwcomponents' SI unit -> archsim's internal unit, per dimension
_TO_INTERNAL = {"energy": 1e12, "time": 1e9, "area": 1e12, "power": 1e3}
_UNIT = {"energy": "J", "time": "s", "area": "m^2", "power": "W"}


class HwcProblem(ValueError):
    """A query hwcomponents cannot answer; ``key`` is the spec key at fault (or None)."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


def _query(spec: Mapping[str, Any], dimension: str) -> tuple[float, str]:
    import hwcomponents as hwc

    comp = str(spec["component"])
    attrs = dict(spec.get("attributes") or {})
    what = str(spec.get("action") or "")
    if what == "area":
        if dimension != "area":
            raise HwcProblem(f"'area' gives an area, but this key needs a {dimension}", "action")
        model = hwc.get_model(comp, attrs)
        return float(hwc.get_area(comp, attrs)), _model_name(model)
    if what == "leak_power":
        if dimension != "power":
            raise HwcProblem(f"'leak_power' gives a power, but this key needs a {dimension}",
                             "action")
        model = hwc.get_model(comp, attrs)
        return float(hwc.get_leak_power(comp, attrs)), _model_name(model)
    if dimension not in ("energy", "time"):
        raise HwcProblem(f"an action gives an energy or a latency, but this key needs a "
                         f"{dimension} (use action: area or leak_power)", "action")
    args = dict(spec.get("arguments") or {})
    model = hwc.get_model(comp, attrs, required_actions=[what])
    cost = hwc.get_action_cost(comp, attrs, what, args)
    return float(cost.energy if dimension == "energy" else cost.latency), _model_name(model)


def _model_name(wrapper: Any) -> str:
    cls = getattr(wrapper, "model_cls", None) or getattr(wrapper, "model", None)
    if isinstance(cls, type):
        return f"{cls.__module__}.{cls.__qualname__}"
    name = getattr(wrapper, "class_name", None) or type(wrapper).__name__
    return str(name)


def version() -> str:
    """The installed hwcomponents distribution's version."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("hwcomponents")
    except PackageNotFoundError:
        return "?"


def estimate(spec: object, dimension: str) -> tuple[float, str]:
    """``(value in archsim's unit, source text)`` of a ``hwcomponents:`` technology spec."""
    if not isinstance(spec, Mapping):
        raise HwcProblem("a mapping {component, attributes, action, [arguments], [per]}")
    for key in spec:
        if key not in SPEC_KEYS:
            raise HwcProblem(f"one of the keys {', '.join(SPEC_KEYS)}", str(key))
    for key in ("component", "action"):
        if not isinstance(spec.get(key), str) or not spec[key]:
            raise HwcProblem("a non-empty name", key)
    for key in ("attributes", "arguments"):
        if spec.get(key) is not None and not isinstance(spec[key], Mapping):
            raise HwcProblem("a mapping of names to values", key)
    per = spec.get("per", 1)
    if isinstance(per, bool) or not isinstance(per, (int, float)) or per <= 0:
        raise HwcProblem("a positive number to divide the estimate by", "per")
    try:
        import hwcomponents  # noqa: F401
    except ImportError:
        raise HwcProblem("hwcomponents installed (Python >= 3.12: pip install "
                         "'archsim[hwcomponents]')") from None
    try:
        raw, model = _query(spec, dimension)
    except HwcProblem:
        raise
    except Exception as exc:  # hwcomponents explains at length; keep its first line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise HwcProblem(f"a query an installed hwcomponents model answers ({first})") from None
    value = raw * _TO_INTERNAL[dimension] / float(per)
    attrs = ", ".join(f"{k}={v}" for k, v in (spec.get("attributes") or {}).items())
    per_text = f" / {per:g}" if per != 1 else ""
    source = (f"hwcomponents {version()}: {model}, "
              f"{spec['component']}({attrs}).{spec['action']} = {raw:.6g} "
              f"{_UNIT[dimension]}{per_text}")
    return value, source
