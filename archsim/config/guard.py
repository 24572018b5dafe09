"""The load-time guard of every YAML input file: where archsim may read from, how much, and
what a document may contain before it is parsed into Python objects.

archsim reads design, workload and sweep files written by people it does not have to trust
(docs/security.md).  Every such file goes through :func:`read_yaml_file`, which

* reads **regular files only** (no directory, device, FIFO, socket, nothing below ``/proc``,
  ``/sys`` or ``/dev``; a symlink loop is an error), at most :data:`MAX_FILE_BYTES`, checked
  before parsing and again while reading (a file that grows is cut off and refused);
* refuses NUL bytes and text that is not UTF-8;
* parses with a safe loader (no Python objects) that refuses a key repeated in one mapping;
* measures the composed YAML graph *before* building any Python object: at most
  :data:`MAX_YAML_NODES` nodes counted with every alias expanded (a 1 KB "billion laughs" is
  refused in milliseconds), nesting at most :data:`MAX_YAML_DEPTH` deep, no recursive alias,
  integers of at most :data:`MAX_INT_DIGITS` digits;
* never echoes the content of a file it refuses: an error names the file, the line and column
  of a syntax error and what was expected, never the text.

:class:`IncludeRoots` confines the files a document pulls in (``include:``, ``workload:``,
a sweep's ``base:``) to the top-level file's directory tree, the shipped ``arch_configs/``
tree (and the ``arch_configs/`` folder the top-level file lies in, if any: a checkout, a copy
of the tree), and the directories listed in the environment variable :data:`INCLUDE_PATH_ENV`
(``os.pathsep``-separated).
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import math
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from archsim.config.errors import ConfigError, format_key_path

__all__ = [
    "INCLUDE_PATH_ENV",
    "MAX_FILE_BYTES",
    "MAX_INT_DIGITS",
    "MAX_YAML_DEPTH",
    "MAX_YAML_NODES",
    "Hidden",
    "IncludeRoots",
    "check_finite",
    "include_roots",
    "parse_yaml_text",
    "read_bytes",
    "read_yaml_file",
    "safe_name",
]

#: Largest YAML file read (bytes).  The shipped designs are 1-4 KB; a workload with every op
#: written out is below 100 KB.
MAX_FILE_BYTES = 4 * 1024 * 1024
#: Largest YAML document, in nodes, counted with every alias expanded.
MAX_YAML_NODES = 200_000
#: Deepest nesting of mappings and lists in a YAML document.
MAX_YAML_DEPTH = 64
#: Most digits of a YAML integer (a 64-bit seed has 20).
MAX_INT_DIGITS = 40
#: Environment variable listing further directories ``include:`` may read from.
INCLUDE_PATH_ENV = "ARCHSIM_INCLUDE_PATH"

_SPECIAL_TREES = (Path("/proc"), Path("/sys"), Path("/dev"))
_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"


class Hidden:
    """Stands for file content an error message must not repeat."""

    def __init__(self, what: str) -> None:
        self.what = what

    def __repr__(self) -> str:
        return f"<{self.what}>"


# --------------------------------------------------------------------------------------------
# where includes may come from
# --------------------------------------------------------------------------------------------


class IncludeRoots:
    """The directories a document's ``include:`` and ``workload:`` files must lie in."""

    def __init__(self, top: Path, extra: tuple[Path, ...] = ()) -> None:
        from archsim.resources import configs_dir

        self.top = top
        roots = [top.parent, configs_dir(), *extra]
        # a file inside a copy of the shipped tree (a checkout's arch_configs/, a copy being
        # edited) may include across that tree, as the shipped files do (../tech/...)
        roots += [p for p in top.parents if p.name == "arch_configs"][:1]
        env = os.environ.get(INCLUDE_PATH_ENV, "")
        roots += [Path(p) for p in env.split(os.pathsep) if p.strip()]
        self.roots = tuple(dict.fromkeys(_real(r) for r in roots))

    def allows(self, target: Path) -> bool:
        """Whether the (resolved) ``target`` lies below one of the roots."""
        return any(target == r or r in target.parents for r in self.roots)

    def describe(self) -> str:
        return ", ".join(str(r) for r in self.roots)


_ROOTS: contextvars.ContextVar[IncludeRoots | None] = contextvars.ContextVar(
    "archsim_include_roots", default=None)


@contextlib.contextmanager
def include_roots(top: Path, extra: tuple[Path, ...] = ()) -> Iterator[IncludeRoots]:
    """The include roots of the document being loaded: set by the outermost load (its top-level
    file), inherited by nested loads (a design's workload file and its includes)."""
    current = _ROOTS.get()
    if current is not None:
        yield current
        return
    roots = IncludeRoots(top, extra)
    token = _ROOTS.set(roots)
    try:
        yield roots
    finally:
        _ROOTS.reset(token)


def current_roots() -> IncludeRoots | None:
    """The include roots of the load in progress, if any."""
    return _ROOTS.get()


def _real(path: Path) -> Path:
    return Path(os.path.realpath(path))


def check_included(target: Path, display: str, key_path: str, text: str) -> Path:
    """``target`` (a file named by ``include:`` or ``workload:``), resolved, if the current
    include roots allow it; else a :class:`ConfigError`."""
    real = _resolve(target, display, key_path, text)
    roots = current_roots()
    if roots is not None and not roots.allows(real):
        raise ConfigError(
            display, key_path, text,
            f"a file below the top-level file's folder or the shipped arch_configs/ "
            f"({roots.describe()}); add a folder to {INCLUDE_PATH_ENV} to allow it")
    return real


def _resolve(path: Path, display: str, key_path: str, text: object) -> Path:
    try:
        return path.resolve(strict=False)
    except (RuntimeError, OSError):  # a symlink loop (RuntimeError before Python 3.13)
        raise ConfigError(display, key_path, text, "a file path without a symlink loop") from None


# --------------------------------------------------------------------------------------------
# names that become folder names
# --------------------------------------------------------------------------------------------

#: What a design or sweep ``name`` may be: it names output folders (``traces/<name>-<time>``),
#: so no separator, no ``..``, no leading dot or dash, at most 100 characters.
SAFE_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+=-]{0,99}$")
SAFE_NAME_EXPECTED = ("a name of letters, digits and _ . + = - (at most 100, not starting "
                      "with . or -, no '..'): it names output folders")


def is_safe_name(name: object) -> bool:
    """Whether ``name`` can name an output folder (see :data:`SAFE_NAME_RE`)."""
    return isinstance(name, str) and bool(SAFE_NAME_RE.match(name)) and ".." not in name


def safe_name(text: str) -> str:
    """``text`` (a file stem) made a safe name: other characters become ``_``."""
    out = re.sub(r"[^A-Za-z0-9_.+=-]", "_", text)[:100].replace("..", "_")
    if not out or not is_safe_name(out):
        out = "_" + out[:99]
    return out if is_safe_name(out) else "design"


# --------------------------------------------------------------------------------------------
# reading bytes
# --------------------------------------------------------------------------------------------


def read_bytes(path: Path, display: str, what: str, limit: int = MAX_FILE_BYTES,
               key_path: str = "") -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them; otherwise a
    :class:`ConfigError` naming ``display`` (never the content)."""
    shown = str(path)
    try:
        st = os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ConfigError(display, key_path, shown,
                              f"a {what} (the path is a symlink loop)") from None
        raise ConfigError(display, key_path, shown,
                          f"an existing {what} ({exc.strerror})") from None
    real = _resolve(path, display, key_path, shown)
    if not stat.S_ISREG(st.st_mode) or any(t == real or t in real.parents
                                           for t in _SPECIAL_TREES):
        raise ConfigError(display, key_path, shown,
                          f"a {what} that is a regular file (not a directory, device, FIFO, "
                          "socket or a file under /proc, /sys, /dev)")
    if st.st_size > limit:
        raise ConfigError(display, key_path, Hidden(f"{st.st_size} bytes"),
                          f"a {what} of at most {limit} bytes")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise ConfigError(display, key_path, shown,
                          f"a readable {what} ({exc.strerror})") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ConfigError(display, key_path, shown, f"a {what} that is a regular file")
        chunks: list[bytes] = []
        total = 0
        while total <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    finally:
        os.close(fd)
    if total > limit:
        raise ConfigError(display, key_path, Hidden(f"more than {limit} bytes"),
                          f"a {what} of at most {limit} bytes")
    return b"".join(chunks)


# --------------------------------------------------------------------------------------------
# parsing YAML
# --------------------------------------------------------------------------------------------


class DuplicateKey(Exception):
    """A key repeated within one mapping (raised while constructing)."""

    def __init__(self, key: object, line: int) -> None:
        self.key = key
        self.line = line


class UniqueKeyLoader(yaml.SafeLoader):
    """A safe YAML loader that refuses a key repeated within one mapping."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set[object] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
            except TypeError:
                continue
            if duplicate:
                raise DuplicateKey(key, key_node.start_mark.line + 1)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _where(node: yaml.Node) -> str:
    mark = node.start_mark
    return f"line {mark.line + 1}, column {mark.column + 1}"


def _check_graph(root: yaml.Node, display: str) -> None:
    """Refuse a composed document that is too large once aliases are expanded, too deep,
    recursive, or holds an oversized integer -- without expanding anything."""
    memo: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded nodes, depth)
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        nid = id(node)
        if done:
            on_path.discard(nid)
            kids = _children(node)
            size = 1 + sum(memo[id(k)][0] for k in kids)
            depth = 1 + max((memo[id(k)][1] for k in kids), default=0)
            if size > MAX_YAML_NODES:
                raise ConfigError(display, "", Hidden(f"a document of more than {size} nodes "
                                                      "with aliases expanded"),
                                  f"at most {MAX_YAML_NODES} YAML nodes with every alias "
                                  "expanded (an alias bomb?)")
            if depth > MAX_YAML_DEPTH:
                raise ConfigError(display, "", Hidden(f"nesting {depth} deep at {_where(node)}"),
                                  f"mappings and lists nested at most {MAX_YAML_DEPTH} deep")
            memo[nid] = (size, depth)
            continue
        if nid in memo:
            continue
        if nid in on_path:
            raise ConfigError(display, "", Hidden(f"a recursive alias at {_where(node)}"),
                              "a YAML document without recursive aliases")
        if isinstance(node, yaml.ScalarNode):
            if node.tag == _INT_TAG and len(node.value) > MAX_INT_DIGITS:
                raise ConfigError(display, "", Hidden(f"an integer of {len(node.value)} "
                                                      f"characters at {_where(node)}"),
                                  f"an integer of at most {MAX_INT_DIGITS} digits")
            memo[nid] = (1, 1)
            continue
        on_path.add(nid)
        stack.append((node, True))
        stack.extend((k, False) for k in _children(node))


def _check_flow_depth(text: str, display: str, key_path: str) -> None:
    """Refuse flow collections (``[[[...`` / ``{a: {a: ...``) nested past the depth limit
    before PyYAML sees them: its scanner keeps a list of possible simple keys per flow level
    and takes quadratic time in the depth.  Brackets are counted as written (inside quoted
    text too), an upper bound of the real depth."""
    raw = np.frombuffer(text.encode("utf-8", "replace"), dtype=np.uint8)
    delta = (np.isin(raw, _OPEN).astype(np.int32) - np.isin(raw, _CLOSE).astype(np.int32))
    if len(delta) and int(np.cumsum(delta).max()) > MAX_YAML_DEPTH:
        raise ConfigError(display, key_path, Hidden("deeply nested flow collections"),
                          f"mappings and lists nested at most {MAX_YAML_DEPTH} deep")


_OPEN = np.frombuffer(b"[{", dtype=np.uint8)
_CLOSE = np.frombuffer(b"]}", dtype=np.uint8)


def parse_yaml_text(text: str, display: str, key_path: str = "") -> Any:
    """Parse one YAML document with every check of the module docstring; errors name
    ``display`` and, for a syntax error, its line and column (never the text)."""
    if "\x00" in text:
        raise ConfigError(display, key_path, Hidden("a NUL byte"), "text without NUL bytes")
    if len(text) > MAX_FILE_BYTES:
        raise ConfigError(display, key_path, Hidden(f"{len(text)} characters"),
                          f"at most {MAX_FILE_BYTES} characters of YAML")
    _check_flow_depth(text, display, key_path)
    loader: UniqueKeyLoader | None = None
    try:
        loader = UniqueKeyLoader(text)  # its reader refuses non-printable characters
        node = loader.get_single_node()
        if node is None:
            return None
        _check_graph(node, display)
        return loader.construct_document(node)
    except DuplicateKey as exc:
        raise ConfigError(display, key_path, exc.key,
                          f"each key once per mapping (repeated at line {exc.line})") from None
    except RecursionError:
        raise ConfigError(display, key_path, Hidden("deeply nested YAML"),
                          f"mappings and lists nested at most {MAX_YAML_DEPTH} deep") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or type(exc).__name__
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigError(display, key_path, Hidden(f"invalid YAML{where}"),
                          f"valid YAML ({problem}{where})") from None
    except ValueError as exc:  # e.g. a date or number the constructor cannot build
        raise ConfigError(display, key_path, Hidden("a value YAML cannot build"),
                          f"valid YAML values ({type(exc).__name__})") from None
    finally:
        if loader is not None:
            loader.dispose()


def read_yaml_file(path: Path, display: str, what: str = "YAML file") -> Any:
    """Read and parse the YAML file ``path`` with every check of the module docstring."""
    data = read_bytes(path, display, what)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(display, "", Hidden("binary data"),
                          f"a UTF-8 {what}") from None
    return parse_yaml_text(text, display)


def check_finite(data: Any, display: str, loc: tuple[str | int, ...] = ()) -> None:
    """Refuse a non-finite number (``1e400``, ``.inf``, ``.nan``) anywhere in ``data``."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(data, loc)]
    while stack:
        node, here = stack.pop()
        if isinstance(node, float) and not math.isfinite(node):
            raise ConfigError(display, format_key_path(here), node,
                              "a finite number (1e400 and .inf overflow to infinity)")
        if isinstance(node, dict):
            stack.extend((v, (*here, str(k))) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((v, (*here, i)) for i, v in enumerate(node))
