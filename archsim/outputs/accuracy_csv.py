"""The accuracy trace (``accuracy.csv``): one row per simulated image.

Columns: ``index`` (position in the data set), ``label`` (empty when the data set has no
labels), ``prediction`` (the SC datapath's class), ``correct`` (1/0, empty without label),
``float_prediction`` (the float reference's class, empty when not run), ``latency_cycles``
(first input bit to last output bit, inclusive), ``start_cycle`` and ``end_cycle`` (the
cycles of those two bits), and one ``err_<layer>`` column per layer: the mean |SC - float| of
that layer's outputs for this image (empty when not measured).  The file is written, header
only, when a run recorded no images, so every run folder has the same files.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from archsim.engine.results import RunResult
from archsim.outputs.atomic import atomic_open
from archsim.outputs.summary import layer_names

__all__ = ["ACCURACY_CSV", "accuracy_rows", "write_accuracy_csv"]

ACCURACY_CSV = "accuracy.csv"


def accuracy_rows(result: RunResult) -> tuple[list[str], list[list[object]]]:
    """The header and rows of ``accuracy.csv`` as Python values (``None`` for a missing
    label, float prediction or layer error; ``correct`` a bool or ``None``).
    ``RunResult.to_frame("accuracy")`` is these rows."""
    layers = list(layer_names(result))
    for rec in result.accuracy:  # layers that only appear in error records, in their order
        layers.extend(k for k in rec.layer_error if k not in layers)
    used = {k for rec in result.accuracy for k in rec.layer_error}
    layers = [n for n in layers if n in used]
    header = [
        "index",
        "label",
        "prediction",
        "correct",
        "float_prediction",
        "latency_cycles",
        "start_cycle",
        "end_cycle",
        *(f"err_{n}" for n in layers),
    ]
    rows: list[list[object]] = [
        [
            rec.index,
            rec.label,
            rec.prediction,
            rec.correct,
            rec.float_prediction,
            rec.latency_cycles,
            rec.start_cycle,
            rec.end_cycle,
            *(float(rec.layer_error[n]) if n in rec.layer_error else None for n in layers),
        ]
        for rec in result.accuracy
    ]
    return header, rows


def _csv_cell(column: str, v: object) -> object:
    if v is None:
        return ""
    if column == "correct":
        return int(bool(v))
    if column.startswith("err_"):
        return repr(float(v))  # type: ignore[arg-type]
    return v


def write_accuracy_csv(result: RunResult, out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write ``accuracy.csv`` into ``out_dir``."""
    path = Path(out_dir) / ACCURACY_CSV
    header, rows = accuracy_rows(result)
    with atomic_open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows([_csv_cell(c, v) for c, v in zip(header, row, strict=True)] for row in rows)
    return [path]
