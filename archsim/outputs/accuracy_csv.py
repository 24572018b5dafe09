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

__all__ = ["ACCURACY_CSV", "write_accuracy_csv"]

ACCURACY_CSV = "accuracy.csv"


def _opt(v: object) -> object:
    return "" if v is None else v


def write_accuracy_csv(result: RunResult, out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write ``accuracy.csv`` into ``out_dir``."""
    path = Path(out_dir) / ACCURACY_CSV
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
    with atomic_open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        for rec in result.accuracy:
            correct = rec.correct
            w.writerow(
                [
                    rec.index,
                    _opt(rec.label),
                    rec.prediction,
                    "" if correct is None else int(correct),
                    _opt(rec.float_prediction),
                    rec.latency_cycles,
                    rec.start_cycle,
                    rec.end_cycle,
                    *(
                        repr(float(rec.layer_error[n])) if n in rec.layer_error else ""
                        for n in layers
                    ),
                ]
            )
    return [path]
