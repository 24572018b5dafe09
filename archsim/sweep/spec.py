"""The sweep file: a base architecture description and the axes to vary.

A sweep file is YAML::

    name: dwcnn_memory_format        # optional (default: the file name)
    base: ../dwcnn/lenet5_dwm_sn128_fc-unshared.yaml  # relative to the sweep file, or builtin:
    mode: product                    # product (every combination) or zip (i-th with i-th)
    images: 5                        # per point (optional; default dataset.images)
    seed: fixed                      # fixed (the base seed) | per-point | an integer
    axes:
      layers.fc1.weights.length: [32, 128]
      memories.weights: [{kind: sram}, {kind: dwm, domains: 128}]

Axis keys are the ``key.path`` notation of ``archsim run --set`` (list items by name or by
index, ``layers[2].weights.length``); values are any YAML value, mappings included (a mapping
replaces the whole sub-tree).  :func:`load_sweep` checks every axis value against the base
description (``load_config(base, [override])``) so a misspelled key or an invalid value is a
:class:`~archsim.config.errors.ConfigError` naming the sweep file and the axis before anything
runs.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from archsim.config.errors import ConfigError, format_key_path, parse_key_path
from archsim.config.guard import (
    SAFE_NAME_EXPECTED,
    Hidden,
    check_finite,
    check_included,
    include_roots,
    is_safe_name,
    read_yaml_file,
    safe_name,
)
from archsim.config.loader import display_path as _display
from archsim.config.schema import MAX_IMAGES
from archsim.resources import BUILTIN, builtin_path, resolve

__all__ = ["Sweep", "SweepSpec", "load_sweep", "override_text"]


class SweepSpec(BaseModel):
    """The schema of a sweep file (unknown keys are errors)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: str | None = None
    base: str
    mode: Literal["product", "zip"] = "product"
    axes: dict[str, list[Any]] = Field(min_length=1)
    images: int | None = Field(None, ge=1, le=MAX_IMAGES)
    seed: int | Literal["fixed", "per-point"] = "fixed"

    @field_validator("name")
    @classmethod
    def _safe_name(cls, v: str | None) -> str | None:
        if v is not None and not is_safe_name(v):
            raise ValueError(SAFE_NAME_EXPECTED)
        return v

    @field_validator("axes")
    @classmethod
    def _check_axes(cls, axes: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for key, values in axes.items():
            try:
                parse_key_path(key)
            except ValueError:
                raise ValueError(f"axis {key!r} is not a key path like "
                                 "'layers.fc1.weights.length'") from None
            if not values:
                raise ValueError(f"axis {key!r} has no values")
        return axes


def override_text(key: str, value: Any) -> str:
    """The ``key.path=value`` override that sets ``key`` to ``value`` (JSON is YAML flow)."""
    return f"{key}={json.dumps(value, ensure_ascii=False)}"


@dataclass
class Sweep:
    """A validated sweep file."""

    spec: SweepSpec
    path: Path
    base: Path
    name: str
    combos: list[dict[str, Any]] = field(default_factory=list)
    """The points as ``{axis key: value}``, in sweep order."""


def _check_axis_value(label: str, base: Path, overrides: list[str], key: str,
                      value: Any) -> None:
    from archsim.config import load_config

    try:
        load_config(base, [*overrides, override_text(key, value)])
    except ConfigError as e:
        raise ConfigError(label, f"axes.{key}", value,
                          f"a key and value the base {_display(base)} accepts ({e})") from None


def load_sweep(path: str | os.PathLike[str], overrides: list[str] | tuple[str, ...] = ()
               ) -> Sweep:
    """Read and validate a sweep file; raise :class:`ConfigError` naming it on any problem.

    ``overrides`` (``key.path=value``, applied to every point) are checked with each axis.
    ``path`` as :func:`archsim.resources.resolve` reads it (``builtin:sweeps/<name>`` names a
    shipped sweep file).
    """
    p = resolve(path)
    label = _display(p)
    try:
        top = p.resolve()
    except (RuntimeError, OSError):
        raise ConfigError(label, "", str(p), "a file path without a symlink loop") from None
    with include_roots(top):  # the base and its includes: below the sweep file's folder
        return _load_sweep(p, label, list(overrides))


def _load_sweep(p: Path, label: str, overrides: list[str]) -> Sweep:
    from archsim.config import load_config

    raw = read_yaml_file(p, label, "YAML sweep file")
    if not isinstance(raw, dict):
        raise ConfigError(label, "", Hidden(f"a YAML {type(raw).__name__}, not a mapping"),
                          "a YAML mapping with base, mode and axes")
    check_finite(raw, label)
    try:
        spec = SweepSpec.model_validate(raw)
    except ValidationError as exc:
        e = exc.errors()[0]
        loc = format_key_path(tuple(e["loc"]))
        value = raw if not e["loc"] else e.get("input")
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = f"no key {e['loc'][-1]!r}; known keys: " + ", ".join(SweepSpec.model_fields)
        raise ConfigError(label, loc, value, msg) from None
    if spec.base.startswith(BUILTIN):
        base = builtin_path(spec.base, label, "base").resolve()
    else:
        base = check_included(p.parent / spec.base, label, "base", spec.base)
    if not base.is_file():
        raise ConfigError(label, "base", spec.base,
                          f"an architecture description relative to the sweep file ({base})")
    try:
        load_config(base, list(overrides))
    except ConfigError as e:
        raise ConfigError(label, "base", spec.base, f"a valid description ({e})") from None
    lengths = {k: len(v) for k, v in spec.axes.items()}
    if spec.mode == "zip" and len(set(lengths.values())) > 1:
        raise ConfigError(label, "axes", lengths,
                          "axes of equal length in zip mode")
    # every axis value on its own against the base: unknown keys and bad values fail here
    for key, values in spec.axes.items():
        for value in values:
            _check_axis_value(label, base, list(overrides), key, value)
    keys = list(spec.axes)
    if spec.mode == "zip":
        combos = [dict(zip(keys, vals, strict=True))
                  for vals in zip(*spec.axes.values(), strict=True)]
    else:
        import itertools

        combos = [dict(zip(keys, vals, strict=True))
                  for vals in itertools.product(*spec.axes.values())]
    return Sweep(spec=spec, path=p, base=base, name=spec.name or safe_name(p.stem), combos=combos)
