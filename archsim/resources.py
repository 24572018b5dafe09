"""The YAML files archsim ships: designs, technologies, sweeps and reproduction studies.

The checkout's top-level ``arch_configs/`` is the one copy of these files. The build installs it
as the package ``archsim.arch_configs`` (``package_dir`` in ``setup.py``), so
:mod:`importlib.resources` finds it the same way in a source checkout installed editable
(``pip install -e .``) and in an installed wheel (``pip install .``)::

    arch_configs/dwcnn/*.yaml       design points         -> archsim/arch_configs/dwcnn/
    arch_configs/tech/*.yaml        technology files      -> archsim/arch_configs/tech/
    arch_configs/sweeps/*.yaml      sweep files           -> archsim/arch_configs/sweeps/
    arch_configs/reproduce/*.yaml   `archsim reproduce`   -> archsim/arch_configs/reproduce/

The files ``include:`` each other by relative paths (``../tech/generic45.yaml``), so they are
always handed out as real files in their folder tree: :func:`configs_dir` is a directory on the
file system.

Where a command or a file takes a config path, a shipped file can be named without a checkout:

* ``builtin:<name>``, ``<name>`` relative to ``arch_configs/``
  (``archsim run builtin:dwcnn/lenet5_dwm_sn128_fc-shared_pc_sc.yaml``,
  ``include: builtin:tech/generic45.yaml`` in a design of one's own) -- the prefix
  ``model.weights`` uses for the shipped models;
* ``arch_configs/<name>``, the path the README's commands use: the file below the working
  directory when there is one (a checkout, or a copy being edited), else the shipped file.
"""

from __future__ import annotations

import atexit
import functools
import importlib.resources
import os
import shutil
import tempfile
from pathlib import Path, PurePosixPath

__all__ = ["BUILTIN", "PACKAGE", "builtin_path", "configs_dir", "resolve", "shipped_configs"]

#: The package the ``arch_configs/`` tree is installed as.
PACKAGE = "archsim.arch_configs"
#: The prefix that names a shipped file.
BUILTIN = "builtin:"
#: The folder name a path names the shipped tree by (``arch_configs/dwcnn/...``).
_TREE = "arch_configs"


@functools.cache
def configs_dir() -> Path:
    """The directory holding the shipped configs (``dwcnn/``, ``tech/``, ``sweeps/``,
    ``reproduce/``), on the file system.

    In a checkout (editable install) it is the checkout's ``arch_configs/``; in an installed
    wheel ``site-packages/archsim/arch_configs/``. If the package is not on the file system
    (imported from a zip) the tree is copied once into a temporary folder for the process.
    """
    root = importlib.resources.files(PACKAGE)
    if isinstance(root, Path):
        return root
    tmp = Path(tempfile.mkdtemp(prefix="archsim-configs-"))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)

    def copy(node, dest: Path) -> None:  # node: importlib.resources.abc.Traversable
        dest.mkdir(exist_ok=True)
        for child in node.iterdir():
            if child.is_dir():
                copy(child, dest / child.name)
            elif child.name.endswith(".yaml"):
                (dest / child.name).write_bytes(child.read_bytes())

    copy(root, tmp)
    return tmp


def shipped_configs(folder: str | None = None) -> list[str]:
    """Every shipped YAML file as its name below ``arch_configs/`` (``"dwcnn/small_conv_fc.yaml"``),
    sorted; only those in ``folder`` (``"dwcnn"``, ``"tech"``, ``"sweeps"``, ``"reproduce"``)
    when given."""
    root = configs_dir()
    base = root / folder if folder else root
    return sorted(p.relative_to(root).as_posix() for p in base.rglob("*.yaml") if p.is_file())


def builtin_path(name: str, file: str | None = None, key_path: str = "") -> Path:
    """The shipped file ``name`` (below ``arch_configs/``; a leading ``builtin:`` is dropped).

    Raises :class:`ConfigError` naming ``file`` and ``key_path`` (where the name was written;
    default the name itself) and listing the shipped files of that folder when there is no such
    file.
    """
    from archsim.config.errors import ConfigError  # archsim.config imports this module

    text = name
    rel = PurePosixPath(name.removeprefix(BUILTIN).replace("\\", "/"))
    where = file if file is not None else text
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise ConfigError(where, key_path, text,
                          f"{BUILTIN}<path below arch_configs/>, e.g. "
                          f"{BUILTIN}dwcnn/small_conv_fc.yaml")
    path = configs_dir().joinpath(*rel.parts)
    if path.is_file():
        return path
    top = rel.parts[0]
    folder = top if len(rel.parts) > 1 and (configs_dir() / top).is_dir() else None
    known = shipped_configs(folder)
    raise ConfigError(where, key_path, text,
                      "a shipped file: one of " + ", ".join(BUILTIN + k for k in known))


def resolve(path: str | os.PathLike[str]) -> Path:
    """The file a config path given by a user names.

    ``builtin:<name>`` is the shipped file (:func:`builtin_path`, an error if there is none);
    a relative ``arch_configs/<name>`` that does not exist from the working directory is the
    shipped file of that name when there is one; any other path is returned as given (a missing
    file is reported by whoever reads it).
    """
    text = os.fspath(path)
    if text.startswith(BUILTIN):
        return builtin_path(text)
    p = Path(text)
    if not p.is_absolute() and not p.exists():
        parts = p.parts
        if len(parts) > 1 and parts[0] == _TREE:
            candidate = configs_dir().joinpath(*parts[1:])
            if candidate.is_file():
                return candidate
    return p
