"""Reading an architecture description: YAML files, includes, overrides, then validation.

:func:`load_config` turns a YAML file into a validated :class:`~archsim.config.schema.ArchConfig`:

1. read the file (it must be a non-empty YAML mapping; a key repeated in one mapping is an
   error);
2. merge its ``include:`` files first, in order, recursively (paths relative to the including
   file, or ``builtin:<name>`` for a file shipped with archsim, :mod:`archsim.resources`; a
   cycle is an error); the including file wins: mappings merge recursively, lists and scalars
   replace;
3. apply ``key.path=value`` overrides (``stream.length=256``, ``layers[2].weights.length=64``,
   ``layers.fc1.weights.length=64`` selects a list item by its ``name``);
4. validate against the schema.

Technology numbers carry their sources. A number defined for the first time must be written
``{value: <quantity>, source: <text>}``; a bare quantity is accepted only where it overrides a
number an earlier (included) file defined, or as a per-memory override, and its source is then
recorded as ``"override in <file>"``. Every error is a :class:`ConfigError` naming the file the
bad value came from and its key path.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from archsim.config.errors import MISSING, ConfigError, format_key_path, parse_key_path
from archsim.config.guard import (
    Hidden,
    check_finite,
    check_included,
    include_roots,
    parse_yaml_text,
    read_yaml_file,
    safe_name,
)
from archsim.config.schema import (
    MEMORY_KINDS,
    TECH_KEYS,
    DesignConfig,
    FieldProblem,
    strip_union_tags,
)
from archsim.resources import BUILTIN, builtin_path, resolve

__all__ = ["apply_override", "display_path", "expected_from_message", "load_config", "load_raw",
           "origin_of"]

Loc = tuple[str | int, ...]
#: Which file (or override) set each node of the merged document.
Origins = dict[Loc, str]

_MEMORY_SECTIONS = tuple(MEMORY_KINDS)
_MEMORY_TECH_KEYS = frozenset(k for keys in TECH_KEYS.values() for k in keys)
_TECH_FORM = "{value: <quantity>, source: <text>}"


@dataclass
class _BareTech:
    """A technology number written without a source, waiting to find out whether it overrides
    a number defined by an earlier file (allowed) or defines it (an error)."""

    value: Any
    file: str


def _display_path(path: Path) -> str:
    """A file name for messages: relative to the working directory when below it."""
    try:
        rel = os.path.relpath(path)
    except ValueError:  # pragma: no cover - another drive on Windows
        return str(path)
    return rel if not rel.startswith("..") else str(path)


#: public names of the helpers other validators (workload files, sweeps) share
display_path = _display_path


# --------------------------------------------------------------------------------------------
# YAML reading
# --------------------------------------------------------------------------------------------


def _read_yaml(path: Path, display: str) -> dict[str, Any]:
    data = read_yaml_file(path, display, "YAML file")
    if data is None:
        raise ConfigError(display, "", None,
                          "a non-empty YAML mapping of top-level keys "
                          "(clock, memories, layers, ...)")
    if not isinstance(data, dict):
        # the content of a file that is not a mapping is never repeated (it may be a secret)
        raise ConfigError(display, "", Hidden(f"a YAML {type(data).__name__}, not a mapping"),
                          "a YAML mapping of top-level keys (clock, memories, layers, ...)")
    for key in data:
        if not isinstance(key, str):
            raise ConfigError(display, str(key)[:40], Hidden("a key that is not text"),
                              "a text key")
    check_finite(data, display)
    return data


# --------------------------------------------------------------------------------------------
# per-file preparation: sources of technology numbers, relative paths
# --------------------------------------------------------------------------------------------


def _tech_leaf_locs(raw: dict[str, Any]) -> list[Loc]:
    """Locations of the technology numbers present under ``technology:`` in ``raw``."""
    out: list[Loc] = []
    tech = raw.get("technology")
    if not isinstance(tech, dict):
        return out
    for section in _MEMORY_SECTIONS:
        keys = tech.get(section)
        if isinstance(keys, dict):
            out.extend(("technology", section, key) for key in keys)
    logic = tech.get("logic")
    if isinstance(logic, dict):
        for unit, fields in logic.items():
            if isinstance(fields, dict):
                out.extend(("technology", "logic", unit, field) for field in fields)
    return out


def _is_tech_leaf(loc: Loc) -> bool:
    if len(loc) == 3 and loc[0] == "technology" and loc[1] in _MEMORY_SECTIONS:
        return True
    return len(loc) == 4 and loc[0] == "technology" and loc[1] == "logic"


def _is_memory_tech_leaf(loc: Loc) -> bool:
    return len(loc) == 3 and loc[0] == "memories" and loc[2] in _MEMORY_TECH_KEYS


def _without_source(value: Any) -> bool:
    """A technology number written bare, or as a mapping with a value but no source."""
    if isinstance(value, dict):
        return "source" not in value and set(value) <= {"value"} and "value" in value
    return value is not None


def _bare_value(value: Any) -> Any:
    return value["value"] if isinstance(value, dict) else value


def _get(raw: Any, loc: Loc) -> Any:
    node = raw
    for part in loc:
        node = node[part]
    return node


def _set(raw: Any, loc: Loc, value: Any) -> None:
    _get(raw, loc[:-1])[loc[-1]] = value


def _prepare(raw: dict[str, Any], path: Path, display: str) -> None:
    """Mark unsourced technology numbers, source per-memory overrides, anchor relative paths."""
    for loc in _tech_leaf_locs(raw):
        value = _get(raw, loc)
        if _without_source(value):
            _set(raw, loc, _BareTech(_bare_value(value), display))
    memories = raw.get("memories")
    if isinstance(memories, dict):
        for entry in memories.values():
            if not isinstance(entry, dict):
                continue
            for key in _MEMORY_TECH_KEYS & set(entry):
                value = entry[key]
                if _without_source(value):
                    entry[key] = {"value": _bare_value(value), "source": f"override in {display}"}
    model = raw.get("model")
    if isinstance(model, dict):
        weights = model.get("weights")
        if (isinstance(weights, str) and weights.endswith(".npz")
                and not Path(weights).is_absolute()):
            model["weights"] = str((path.parent / weights).resolve())


def _origins_of(node: Any, file: str, loc: Loc = ()) -> Origins:
    out: Origins = {loc: file}
    if isinstance(node, dict):
        for key, value in node.items():
            out.update(_origins_of(value, file, (*loc, key)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out.update(_origins_of(value, file, (*loc, i)))
    return out


def _drop_below(origins: Origins, loc: Loc) -> None:
    n = len(loc)
    for key in [k for k in origins if len(k) > n and k[:n] == loc]:
        del origins[key]


# --------------------------------------------------------------------------------------------
# merging
# --------------------------------------------------------------------------------------------


def _merge(base: dict[str, Any], over: dict[str, Any], origins: Origins,
           over_origins: Origins, loc: Loc = ()) -> None:
    """Merge ``over`` into ``base`` in place: mappings recursively, everything else replaces.
    A mapping keeps the origin of the file that first defined it (it answers for a missing
    key); a replaced value takes the origin of ``over``."""
    for key, value in over.items():
        here = (*loc, key)
        old = base.get(key)
        if isinstance(value, dict) and isinstance(old, dict):
            _merge(old, value, origins, over_origins, here)
            continue
        if isinstance(value, _BareTech) and old is not None and not isinstance(old, _BareTech):
            value = {"value": value.value, "source": f"override in {value.file}"}
        base[key] = copy.deepcopy(value)
        _drop_below(origins, here)
        origins.update({k: f for k, f in over_origins.items() if k[: len(here)] == here})


def _include_list(raw: dict[str, Any], display: str) -> list[tuple[str, str]]:
    """The ``include:`` entries of a file as (key path, path text)."""
    inc = raw.pop("include", None)
    if inc is None:
        return []
    if isinstance(inc, str):
        return [("include", inc)]
    if isinstance(inc, list):
        out = []
        for i, item in enumerate(inc):
            if not isinstance(item, str):
                raise ConfigError(display, f"include[{i}]", item, "a file path (text)")
            out.append((f"include[{i}]", item))
        return out
    raise ConfigError(display, "include", inc, "a file path or a list of file paths")


def _load_tree(path: Path, stack: tuple[Path, ...]) -> tuple[dict[str, Any], Origins]:
    display = _display_path(path)
    raw = _read_yaml(path, display)
    includes = _include_list(raw, display)
    _prepare(raw, path, display)
    merged: dict[str, Any] = {}
    origins: Origins = {(): display}
    for key_path, text in includes:
        if text.startswith(BUILTIN):
            target = builtin_path(text, display, key_path).resolve()
        else:
            target = check_included(path.parent / text, display, key_path, text)
        if target in stack or target == path:
            chain = " -> ".join(_display_path(p) for p in (*stack, path, target))
            raise ConfigError(display, key_path, text,
                              f"a file that does not include itself (cycle: {chain})")
        if not target.is_file():
            raise ConfigError(display, key_path, text,
                              f"an existing regular file (looked for {_display_path(target)})")
        sub, sub_origins = _load_tree(target, (*stack, path))
        sub_origins.pop((), None)
        _merge(merged, sub, origins, sub_origins)
    own = _origins_of(raw, display)
    own.pop((), None)
    _merge(merged, raw, origins, own)
    return merged, origins


# --------------------------------------------------------------------------------------------
# overrides
# --------------------------------------------------------------------------------------------


def _select(node: list[Any], token: str | int, loc: Loc, label: str) -> int:
    """Index of the list item named by ``token``: an index, or the item's ``name``."""
    if isinstance(token, str) and token.isdigit():
        token = int(token)
    if isinstance(token, int):
        if not 0 <= token < len(node):
            raise ConfigError(label, format_key_path((*loc, token)), token,
                              f"an index in 0..{len(node) - 1} of {format_key_path(loc)}")
        return token
    names = [item.get("name") for item in node if isinstance(item, dict)]
    for i, item in enumerate(node):
        if isinstance(item, dict) and item.get("name") == token:
            return i
    raise ConfigError(label, format_key_path((*loc, token)), token,
                      f"an index or the name of an item of {format_key_path(loc)} "
                      f"({', '.join(map(repr, names))})")


def apply_override(raw: dict[str, Any], text: str, origins: Origins | None = None) -> None:
    """Apply one ``key.path=value`` override to a merged raw document, in place.

    The value is read as a YAML scalar or flow collection (``64``, ``200 MHz``, ``[0, 1]``,
    ``{value: 2 ns, source: x}``). Path parts select mapping keys, list indices (``[2]`` or
    ``.2``) or list items by their ``name``. Missing intermediate mappings are created (an
    unknown key is then reported by validation, naming the override).
    """
    label = f"override {text!r}"
    key_text, sep, value_text = text.partition("=")
    key_text = key_text.strip()
    if not sep or not key_text:
        raise ConfigError(label, "", text, "an override 'key.path=value'")
    try:
        tokens = parse_key_path(key_text)
    except ValueError:
        raise ConfigError(label, "", key_text, "a key path like 'layers[2].weights.length' "
                          "or 'layers.fc1.weights.length'") from None
    value = parse_yaml_text(value_text, label, key_text) if value_text.strip() else None
    check_finite(value, label, tokens)
    node: Any = raw
    loc: Loc = ()
    for j, token in enumerate(tokens):
        last = j == len(tokens) - 1
        if isinstance(node, list):
            token = _select(node, token, loc, label)
        elif isinstance(node, dict):
            if isinstance(token, int):
                raise ConfigError(label, format_key_path((*loc, token)), token,
                                  f"a key of the mapping {format_key_path(loc) or '(top level)'}")
            if not last and not isinstance(node.get(token), (dict, list)):
                if node.get(token) is not None:
                    raise ConfigError(label, format_key_path((*loc, token)), node[token],
                                      "a mapping or list to descend into")
                node[token] = {}
                if origins is not None:
                    origins[loc + (token,)] = label
        else:
            raise ConfigError(label, format_key_path(loc), node,
                              "a mapping or list to descend into")
        loc = (*loc, token)
        if last:
            old = node.get(token) if isinstance(node, dict) else node[token]
            if _is_tech_leaf(loc) and _without_source(value):
                if old is not None and not isinstance(old, _BareTech):
                    value = {"value": _bare_value(value), "source": label}
                else:
                    value = _BareTech(_bare_value(value), label)
            elif _is_memory_tech_leaf(loc) and _without_source(value):
                value = {"value": _bare_value(value), "source": label}
            node[token] = value
            if origins is not None:
                _drop_below(origins, loc)
                origins.update(_origins_of(value, label, loc))
        else:
            node = node[token]


# --------------------------------------------------------------------------------------------
# validation errors -> ConfigError
# --------------------------------------------------------------------------------------------


def _origin(origins: Mapping[Loc, str], loc: Loc, fallback: str) -> str:
    for n in range(len(loc), -1, -1):
        if loc[:n] in origins:
            return origins[loc[:n]]
    return fallback


def _expected_from_msg(msg: str) -> str:
    for prefix in ("Input should be ", "Value error, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix):]
    if msg.startswith(("greater", "less")):
        msg = "a number " + msg
    return msg


origin_of = _origin
expected_from_message = _expected_from_msg


_TAGS = {"layers": "'conv', 'fc'", "memories": ", ".join(map(repr, sorted(MEMORY_KINDS)))}


def _convert(err: Any, origins: Origins, fallback: str) -> ConfigError:
    loc: Loc = strip_union_tags(tuple(err["loc"]))
    kind = err["type"]
    ctx = err.get("ctx") or {}
    problem = ctx.get("error")
    value: object = err.get("input")
    if isinstance(problem, FieldProblem):
        loc = (*loc, *problem.subpath)
        value, expected = problem.value, problem.expected
    elif problem is not None and hasattr(problem, "expected") and hasattr(problem, "value"):
        value, expected = problem.value, problem.expected
    elif kind == "missing":
        value, expected = MISSING, f"a value for the required key {loc[-1]!r}"
    elif kind == "union_tag_invalid":
        loc = (*loc, "kind")
        given = err.get("input")
        value = given.get("kind") if isinstance(given, dict) else ctx.get("tag")
        expected = f"one of {ctx.get('expected_tags')}"
    elif kind == "too_short":
        expected = f"at least {ctx.get('min_length')} item(s)"
    elif kind == "union_tag_not_found":
        loc = (*loc, "kind")
        value, expected = MISSING, f"a 'kind' key, one of {_TAGS.get(str(loc[0]), '...')}"
    elif kind in ("model_type", "model_attributes_type", "dict_type"):
        expected = "a mapping"
    elif kind == "list_type":
        expected = "a list"
    elif kind == "extra_forbidden":
        expected = "no such key here"
    else:
        expected = _expected_from_msg(err["msg"])
    return ConfigError(_origin(origins, loc, fallback), format_key_path(loc), value, expected)


def _check_no_bare_tech(raw: dict[str, Any], origins: Origins) -> None:
    for loc in _tech_leaf_locs(raw):
        value = _get(raw, loc)
        if isinstance(value, _BareTech):
            raise ConfigError(
                value.file, format_key_path(loc), value.value,
                f"a mapping {_TECH_FORM}: a technology number defined here for the first time "
                "needs its source (a bare quantity may only override a number defined by an "
                "included file, or a memory's technology number)",
            )


# --------------------------------------------------------------------------------------------
# entry points
# --------------------------------------------------------------------------------------------


def load_raw(path: str | os.PathLike[str],
             overrides: Iterable[str] = ()) -> tuple[dict[str, Any], Origins]:
    """The merged, overridden raw document and the origin (file or override) of each node,
    before validation. ``path`` as :func:`archsim.resources.resolve` reads it (``builtin:<name>``
    names a shipped file)."""
    path = resolve(path)
    try:
        top = path.resolve()
    except (RuntimeError, OSError):
        raise ConfigError(_display_path(path), "", str(path),
                          "a file path without a symlink loop") from None
    with include_roots(top) as roots:
        if roots.top != top and not roots.allows(top):  # a nested load: a design's workload
            check_included(top, _display_path(roots.top), "", os.fspath(path))
        raw, origins = _load_tree(top, ())
    origins[()] = _display_path(top)
    raw.setdefault("name", safe_name(path.stem))
    for text in overrides:
        apply_override(raw, text, origins)
    _check_no_bare_tech(raw, origins)
    return raw, origins


def config_model_of(raw: dict[str, Any], origins: Origins) -> type[DesignConfig]:
    """The config class of the document's fabric (top-level key ``fabric``), after the fabric
    expanded the document (``Fabric.expand``: e.g. the workload file it names)."""
    from archsim.fabrics import DEFAULT_FABRIC, fabric_names, get_fabric

    name = raw.get("fabric", DEFAULT_FABRIC)
    if isinstance(name, str) and name in fabric_names():
        fabric = get_fabric(name)
        fabric().expand(raw, origins)
        model: type[DesignConfig] = fabric.config_model()
        return model
    raise ConfigError(_origin(origins, ("fabric",), origins[()]), "fabric", name,
                      f"one of the registered fabrics {fabric_names()}")


def load_config(path: str | os.PathLike[str], overrides: Sequence[str] = ()) -> Any:
    """Load, merge, override and validate a design description; returns the validated config
    of its fabric (:class:`~archsim.config.schema.ArchConfig` for the SC stream fabric).

    Raises :class:`~archsim.config.errors.ConfigError` naming the file, key path, value and
    what was expected; the first problem is raised, the others are listed in its ``others``.
    """
    if isinstance(overrides, str):
        overrides = [overrides]
    path = resolve(path)
    try:
        real = path.resolve()
    except (RuntimeError, OSError):
        raise ConfigError(_display_path(path), "", str(path),
                          "a file path without a symlink loop") from None
    with include_roots(real):  # a workload the design names is confined as its includes
        return _load_config(path, overrides)


def _load_config(path: Path, overrides: Sequence[str]) -> Any:
    raw, origins = load_raw(path, overrides)
    top = origins[()]
    model = config_model_of(raw, origins)
    try:
        config = model.model_validate(raw)
    except ValidationError as exc:
        errors = [_convert(e, origins, top) for e in exc.errors()]
        first = errors[0]
        first.others = errors[1:]
        raise first from None
    except ConfigError as exc:
        if exc.file is None:
            try:
                loc = parse_key_path(exc.key_path)
            except ValueError:
                loc = ()
            exc.with_file(_origin(origins, loc, top))
        raise
    config._source_file = path
    return config
