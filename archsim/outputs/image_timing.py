"""Per-image layer timing (``image_timing.csv``): when each layer worked on each image.

One row per (image, layer): ``image`` (position in the run), ``layer``, ``consume_start`` and
``consume_end`` (the cycles of the layer's first and last step of that image, inclusive) and
``produce_start`` / ``produce_end`` (its first and last output token).  Drawn from the spans
the engines record for every layer (``datapath`` and ``output``), so every fabric has them;
the per-image Gantt chart (``archsim plot``) reads this file.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from archsim.engine.results import RunResult
from archsim.outputs.atomic import atomic_open

__all__ = ["IMAGE_TIMING_CSV", "image_timing_rows", "write_image_timing"]

IMAGE_TIMING_CSV = "image_timing.csv"
COLUMNS = ("image", "layer", "consume_start", "consume_end", "produce_start", "produce_end")


def image_timing_rows(result: RunResult) -> list[tuple[int, str, int, int, int, int]]:
    """``(image, layer, consume_start, consume_end, produce_start, produce_end)`` rows."""
    consume: dict[tuple[int, str], tuple[int, int]] = {}
    produce: dict[tuple[int, str], tuple[int, int]] = {}
    for sp in result.spans:
        if sp.block == "datapath":
            consume[(sp.image, sp.layer)] = (sp.start_cycle, sp.end_cycle - 1)
        elif sp.block == "output":
            produce[(sp.image, sp.layer)] = (sp.start_cycle, sp.end_cycle - 1)
    order = {t.name: i for i, t in enumerate(result.layers)}
    keys = sorted(consume, key=lambda k: (k[0], order.get(k[1], len(order))))
    return [(k[0], k[1], *consume[k], *produce.get(k, (-1, -1))) for k in keys]


def write_image_timing(result: RunResult, out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write ``image_timing.csv`` into ``out_dir``."""
    path = Path(out_dir) / IMAGE_TIMING_CSV
    with atomic_open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(COLUMNS)
        w.writerows(image_timing_rows(result))
    return [path]
