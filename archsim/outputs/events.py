"""The event log: the ledger's rows as a columnar file (``events.parquet``).

Columns: ``cycle`` (the cycle by which the actions completed), ``image`` (-1 when not tied
to one image), ``layer``, ``block`` (the block's name within its layer), ``action``,
``count`` and ``energy_pj`` (count x energy per action; leakage is not an event and is not
in this file).  Per-cycle CSV traces are what makes other simulators' outputs huge, so the
default is Parquet with dictionary-encoded names; ``events.csv`` (same columns) is written
only when pyarrow cannot be imported.

Two granularities:

- ``"per-action"``: every row the ledger recorded, in recording order;
- ``"aggregated"`` (default): one row per (image, layer, block, action), counts and energy
  summed, ``cycle`` the last cycle of the group; rows sorted by cycle.  The group key holds
  the layer: blocks of one name in different layers (every layer has a ``mem`` or an
  ``apc``) are different hardware and stay different rows.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

import numpy as np

from archsim.engine.results import RunResult
from archsim.outputs.atomic import atomic_open, atomic_path

__all__ = ["EVENT_COLUMNS", "EVENTS_CSV", "EVENTS_PARQUET", "event_columns", "write_events"]

EVENTS_PARQUET = "events.parquet"
EVENTS_CSV = "events.csv"
EVENT_COLUMNS = ("cycle", "image", "layer", "block", "action", "count", "energy_pj")
GRANULARITIES = ("aggregated", "per-action")


def _aggregate(cols: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    n = len(cols["count"])
    if n == 0:
        return cols
    # Integer codes for the string columns, then group on (image, layer, block, action).
    codes = [np.unique(cols[c].astype(str), return_inverse=True)[1].ravel()
             for c in ("layer", "block", "action")]
    keys = np.stack([cols["image"], *codes], axis=1)
    uniq, first, group = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    group = group.ravel()
    g = len(uniq)
    count = np.bincount(group, weights=cols["count"], minlength=g).astype(np.int64)
    energy = np.bincount(group, weights=cols["energy_pj"], minlength=g)
    cycle = np.full(g, np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(cycle, group, cols["cycle"])
    out = {
        "cycle": cycle,
        "image": cols["image"][first],
        "layer": cols["layer"][first],
        "block": cols["block"][first],
        "action": cols["action"][first],
        "count": count,
        "energy_pj": energy,
    }
    order = np.lexsort((first, out["image"], out["cycle"]))  # by cycle, image, first seen
    return {k: v[order] for k, v in out.items()}


def event_columns(result: RunResult, events: str = "aggregated") -> dict[str, np.ndarray]:
    """The event table as NumPy columns (see module docstring)."""
    if events not in GRANULARITIES:
        raise ValueError(f"events(={events!r}) must be one of {GRANULARITIES}")
    cols = result.ledger.rows()
    # The ledger keys blocks by "layer.block"; here the layer has its own column.
    short = {q: b.name for q, b in result.ledger.blocks.items()}
    cols["block"] = np.asarray([short[q] for q in cols["block"]], dtype=object)
    if events == "aggregated":
        cols = _aggregate(cols)
    return {k: cols[k] for k in EVENT_COLUMNS}


def _write_parquet(cols: dict[str, np.ndarray], path: Path, meta: dict[str, str]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrays = {
        "cycle": pa.array(cols["cycle"], type=pa.int64()),
        "image": pa.array(cols["image"], type=pa.int64()),
        "layer": pa.array(cols["layer"].tolist(), type=pa.string()).dictionary_encode(),
        "block": pa.array(cols["block"].tolist(), type=pa.string()).dictionary_encode(),
        "action": pa.array(cols["action"].tolist(), type=pa.string()).dictionary_encode(),
        "count": pa.array(cols["count"], type=pa.int64()),
        "energy_pj": pa.array(cols["energy_pj"], type=pa.float64()),
    }
    table = pa.table(arrays).replace_schema_metadata({f"archsim.{k}": v for k, v in meta.items()})
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    return path


def _write_csv(cols: dict[str, np.ndarray], path: Path) -> Path:
    with atomic_open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(EVENT_COLUMNS)
        lists = [cols[k].tolist() for k in EVENT_COLUMNS]
        for row in zip(*lists, strict=True):
            w.writerow([*row[:-1], repr(float(row[-1]))])
    return path


def write_events(
    result: RunResult, out_dir: str | os.PathLike[str], *, events: str = "aggregated"
) -> list[Path]:
    """Write ``events.parquet`` (or ``events.csv`` without pyarrow); remove the other one.

    The stale file of the other format is removed so a folder never holds two event logs
    of different runs.
    """
    out = Path(out_dir)
    cols = event_columns(result, events)
    meta: dict[str, Any] = {
        "granularity": events,
        "clock_mhz": repr(result.clock_mhz),
        "design": result.design,
        "energy_unit": "pJ",
    }
    try:
        import pyarrow  # noqa: F401
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        path = _write_csv(cols, out / EVENTS_CSV)
        stale = out / EVENTS_PARQUET
    else:
        path = _write_parquet(cols, out / EVENTS_PARQUET, meta)
        stale = out / EVENTS_CSV
    stale.unlink(missing_ok=True)
    return [path]
