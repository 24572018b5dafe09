"""The one error type of configuration loading, and the key-path notation it uses.

Every problem found while reading an architecture description -- a YAML syntax error, an
unknown key, a missing unit, two layers whose shapes do not chain -- is raised as a
:class:`ConfigError` that names the file, the key path inside the merged document (for example
``layers[2].weights.memory``), the bad value and what was expected, formatted as one line::

    <file>: <key_path>: got <value!r>; expected <expected>

Nothing downstream of :mod:`archsim.config` ever sees an invalid configuration.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

__all__ = ["MISSING", "ConfigError", "format_key_path", "parse_key_path"]


class _Missing:
    """Stands for the value of a required key that is absent."""

    def __repr__(self) -> str:
        return "nothing (the key is missing)"


#: Value reported for a required key that was not given.
MISSING = _Missing()


def format_key_path(loc: Iterable[str | int]) -> str:
    """Write a location tuple such as ``("layers", 2, "weights", "memory")`` as
    ``layers[2].weights.memory``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


_TOKEN_RE = re.compile(r"\[(\d+)\]|\.?([^.\[\]]+)")


def parse_key_path(key_path: str) -> tuple[str | int, ...]:
    """Read a key path such as ``layers[2].weights.memory`` into
    ``("layers", 2, "weights", "memory")``. Raises ``ValueError`` if it is malformed."""
    out: list[str | int] = []
    pos = 0
    while pos < len(key_path):
        match = _TOKEN_RE.match(key_path, pos)
        if match is None or (match.group(0).startswith(".") and pos == 0):
            raise ValueError(f"key_path(={key_path!r}) is not a path like 'layers[2].weights'")
        index, name = match.groups()
        out.append(int(index) if index is not None else name)
        pos = match.end()
    if not out:
        raise ValueError("key_path must not be empty")
    return tuple(out)


#: The longest rendering of a bad value in a message; a longer one (a whole expanded file, say)
#: is cut in the middle so the message stays one readable line that still names the file.
BRIEF_REPR_CHARS = 160


def brief_repr(value: object, limit: int = BRIEF_REPR_CHARS) -> str:
    """``repr(value)``, cut to ``limit`` characters with `` ... `` in the middle if longer."""
    text = repr(value)
    if len(text) <= limit:
        return text
    half = (limit - 5) // 2
    return f"{text[:half]} ... {text[-half:]}"


class ConfigError(Exception):
    """An architecture description is invalid.

    Attributes: ``file`` (the file the bad value came from, or a description of its origin such
    as a command-line override), ``key_path`` (``layers[2].weights.memory``; empty for a
    problem with the whole file), ``value`` (the offending value, :data:`MISSING` for an absent
    key) and ``expected`` (what would have been accepted, in words).
    """

    def __init__(
        self,
        file: str | os.PathLike[str] | None,
        key_path: str,
        value: object,
        expected: str,
    ) -> None:
        self.file = os.fspath(file) if file is not None else None
        self.key_path = key_path
        self.value = value
        self.expected = expected
        #: Further problems found in the same validation pass (the first one is this error).
        self.others: list[ConfigError] = []
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """The one-line message ``<file>: <key_path>: got <value!r>; expected <expected>``."""
        where = [self.file or "<config>"]
        if self.key_path:
            where.append(self.key_path)
        return f"{': '.join(where)}: got {brief_repr(self.value)}; expected {self.expected}"

    def with_file(self, file: str) -> ConfigError:
        """Return this error with ``file`` filled in if it was not known where it was raised."""
        if self.file is None:
            self.file = file
            self.args = (self.message,)
        return self

    def __str__(self) -> str:
        return self.message
