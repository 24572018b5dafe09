"""DW-CNN's tables beside ours: for every quantity the paper's value, ours and ours / paper.

A :class:`Table` is rows of labelled cells; each quantity contributes three columns
(``<q> paper``, ``<q> ours``, ``<q> ratio``). Written as CSV and Markdown, atomically.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from archsim.outputs.atomic import write_text

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Table", "ratio"]


def ratio(ours: float | None, paper: float | None) -> float | None:
    """ours / paper (None when either is missing or the paper's value is 0)."""
    if ours is None or paper is None or paper == 0 or math.isnan(ours):
        return None
    return ours / paper


@dataclass
class Table:
    """A paper-vs-ours table: ``rows`` of (label cells, {quantity: (paper, ours)})."""

    title: str
    label_columns: list[str]
    quantities: list[str]
    rows: list[tuple[list[str], dict[str, tuple[float | None, float | None]]]] = \
        field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # printed beside the table (report.html, the Markdown): e.g. that its numbers come from a
    # technology fitted to this same table
    caveat: str | None = None

    def add(self, labels: list[str], values: dict[str, tuple[float | None, float | None]]
            ) -> None:
        if len(labels) != len(self.label_columns):
            raise ValueError(f"row labels {labels} do not match {self.label_columns}")
        self.rows.append((labels, values))

    def header(self) -> list[str]:
        cols = list(self.label_columns)
        for q in self.quantities:
            cols += [f"{q} paper", f"{q} ours", f"{q} ratio"]
        return cols

    def records(self) -> list[list[float | str | None]]:
        out: list[list[float | str | None]] = []
        for labels, values in self.rows:
            rec: list[float | str | None] = list(labels)
            for q in self.quantities:
                p, o = values.get(q, (None, None))
                rec += [p, o, ratio(o, p)]
            out.append(rec)
        return out

    def to_csv(self) -> str:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(self.header())
        for rec in self.records():
            w.writerow(["" if v is None else (f"{v:.6g}" if isinstance(v, float) else v)
                        for v in rec])
        return buf.getvalue()

    def to_markdown(self) -> str:
        def fmt(v: float | str | None, is_ratio: bool) -> str:
            if v is None:
                return "-"
            if isinstance(v, str):
                return v
            return f"{v:.2f}" if is_ratio else f"{v:.4g}"

        head = self.header()
        lines = [f"### {self.title}", ""]
        if self.caveat:
            lines += [f"> **Caveat:** {self.caveat}", ""]
        lines += ["Ratio = ours / paper.", "", "| " + " | ".join(head) + " |",
                  "|" + "---|" * len(head)]
        for rec in self.records():
            cells = [fmt(v, head[i].endswith(" ratio")) for i, v in enumerate(rec)]
            lines.append("| " + " | ".join(cells) + " |")
        if self.notes:
            lines.append("")
            lines += [f"* {n}" for n in self.notes]
        return "\n".join(lines) + "\n"

    def to_frame(self) -> pd.DataFrame:
        """The table as a pandas DataFrame, the columns of :meth:`header` (as the CSV)."""
        import pandas as pd

        return pd.DataFrame(self.records(), columns=self.header())

    def write(self, folder: Path, stem: str) -> list[Path]:
        """``<stem>.csv``, ``<stem>.md`` and ``<stem>.json`` (title, caveat, notes: what
        report.html prints beside the table) in ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        meta = {"title": self.title, "caveat": self.caveat, "notes": list(self.notes)}
        return [write_text(folder / f"{stem}.csv", self.to_csv()),
                write_text(folder / f"{stem}.md", self.to_markdown()),
                write_text(folder / f"{stem}.json", json.dumps(meta, indent=1) + "\n")]
