"""A design file that names a workload: where the workload file is, and the workload's data
set and model as the design's defaults.

Every fabric's ``Fabric.expand`` that reads a ``workload:`` key finds the file relative to
the file that names it (:func:`workload_path`) and merges the workload's ``dataset`` and
``model`` sections under what the design file (or an override) sets, recording where each came
from for error messages (:func:`merge_workload_defaults`); these are those two steps, once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from archsim.config.errors import ConfigError
from archsim.workload.workload import Workload

__all__ = ["merge_workload_defaults", "workload_path"]


def workload_path(ref: object, file: str) -> Path:
    """The workload file that ``workload: <ref>`` in ``file`` names: relative to ``file``'s
    folder (a command-line override, which has no file: to the working directory). A ref that
    is not a non-empty string or names no file is a :class:`ConfigError` on ``workload``."""
    if not isinstance(ref, str) or not ref:
        raise ConfigError(file, "workload", ref, "the path of a workload file (docs/workloads.md)")
    anchor = Path(file).parent if Path(file).is_file() else Path.cwd()
    path = Path(ref) if Path(ref).is_absolute() else anchor / ref
    if not path.is_file():
        raise ConfigError(file, "workload", ref, f"an existing workload file ({path})")
    return path


def merge_workload_defaults(raw: dict[str, Any], origins: dict[tuple[Any, ...], str],
                            wl: Workload, label: str) -> None:
    """Put ``wl``'s data set and model under ``raw``'s ``dataset`` / ``model`` (in place): a
    key the design sets wins; a section the design leaves out is attributed to ``label`` in
    ``origins``. A section that is not a mapping is left for the schema to reject."""
    ds = wl.dataset
    base: dict[str, Any] = {"name": ds.name, "start": ds.start}
    if ds.name == "custom":
        base["path"] = str(ds.path)
    if ds.images is not None:
        base["images"] = ds.images
    for key, default in (("dataset", base), ("model", {"weights": str(wl.model.weights)})):
        given = raw.get(key)
        if given is None:
            origins[(key,)] = label
        if given is None or isinstance(given, dict):
            raw[key] = {**default, **(given or {})}
