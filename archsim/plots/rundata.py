"""Reading a run folder back: the files plots are drawn from (never the model).

A run folder is what :func:`archsim.outputs.write_run_folder` wrote: ``summary.json``,
``layers.csv``, ``blocks.csv`` and ``accuracy.csv``, and no ``INCOMPLETE`` marker.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["NotARunFolder", "RunData", "load_run"]

INCOMPLETE = "INCOMPLETE"  # same name as archsim.outputs.run_folder.INCOMPLETE


class NotARunFolder(ValueError):
    """The path is not a finished archsim run folder; the message says why."""


def _number(text: str) -> int | float | str | None:
    if text == "":
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


_TEXT_COLUMNS = frozenset({"layer", "block", "kind", "blocks"})


def _read_csv(path: Path) -> list[dict[str, Any]]:
    """Rows as dicts; numbers parsed, empty cells ``None``, name columns kept as text."""
    with open(path, encoding="utf-8", newline="") as f:
        return [
            {k: (v if k in _TEXT_COLUMNS else _number(v)) for k, v in row.items()}
            for row in csv.DictReader(f)
        ]


@dataclass
class RunData:
    """The tables of one run folder."""

    path: Path
    summary: dict[str, Any]
    layers: list[dict[str, Any]]
    blocks: list[dict[str, Any]]
    accuracy: list[dict[str, Any]] = field(default_factory=list)
    label: str = ""  # how figures name this run: the design's name
    image_timing: list[dict[str, Any]] = field(default_factory=list)  # image_timing.csv

    @property
    def images(self) -> int:
        return max(int(self.summary.get("images") or 0), 1)

    @property
    def has_labels(self) -> bool:
        return any(r.get("label") is not None for r in self.accuracy)

    def block_actions(self) -> list[str]:
        """Action names that have a ``count_<action>`` column in ``blocks.csv``."""
        if not self.blocks:
            return []
        return [k[len("count_") :] for k in self.blocks[0] if k.startswith("count_")]


def load_run(path: str | os.PathLike[str]) -> RunData:
    """Read a run folder; raise :class:`NotARunFolder` with the reason if it is not one."""
    p = Path(path)
    if not p.is_dir():
        raise NotARunFolder(f"{p}: not a folder")
    if (p / INCOMPLETE).exists():
        raise NotARunFolder(
            f"{p}: the folder is marked INCOMPLETE (its run or writers were interrupted); "
            "re-run the simulation"
        )
    missing = [n for n in ("summary.json", "layers.csv", "blocks.csv") if not (p / n).is_file()]
    if missing:
        raise NotARunFolder(f"{p}: not an archsim run folder (missing {', '.join(missing)})")
    try:
        with open(p / "summary.json", encoding="utf-8") as f:
            summary = json.load(f)
        layers = _read_csv(p / "layers.csv")
        blocks = _read_csv(p / "blocks.csv")
        acc = _read_csv(p / "accuracy.csv") if (p / "accuracy.csv").is_file() else []
        per_image = (_read_csv(p / "image_timing.csv") if (p / "image_timing.csv").is_file()
                     else [])
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise NotARunFolder(f"{p}: unreadable run folder ({e})") from e
    if not isinstance(summary, dict) or "energy_pj" not in summary:
        raise NotARunFolder(f"{p}: summary.json is not an archsim run summary")
    label = str(summary.get("design") or summary.get("config") or p.name)
    return RunData(p, summary, layers, blocks, acc, label=label, image_timing=per_image)
