"""A design file that names a workload: the workload's data set and model as the design's
defaults.

Every fabric's ``Fabric.expand`` that reads a ``workload:`` key merges the workload's
``dataset`` and ``model`` sections under what the design file (or an override) sets, and
records where each came from for error messages; this is that one merge.
"""

from __future__ import annotations

from typing import Any

from archsim.workload.workload import Workload

__all__ = ["merge_workload_defaults"]


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
