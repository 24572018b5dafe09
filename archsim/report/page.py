"""The pieces of a self-contained HTML page: tables, inlined figures, preformatted text.

Nothing is loaded from outside the file: figures are PNG data URIs, the style sheet is inline.
Numbers are written with thousands separators and a sensible number of digits
(:func:`fmt_number`); every table has named column headers.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["Page", "fmt_number"]

_CSS = """
body { font-family: sans-serif; max-width: 75em; margin: 1em auto; padding: 0 1em;
       color: #222; line-height: 1.4; }
h1 { font-size: 1.6em; } h2 { font-size: 1.3em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.9em; }
th, td { border: 1px solid #bbb; padding: 0.2em 0.5em; }
th { background: #eef; text-align: left; } td.num { text-align: right;
       font-variant-numeric: tabular-nums; }
img { max-width: 100%; border: 1px solid #ddd; margin: 0.3em 0; }
pre { background: #f6f6f6; padding: 0.6em; overflow-x: auto; font-size: 0.85em; }
.caveat { background: #fff3cd; border-left: 4px solid #E69F00; padding: 0.4em 0.8em; }
.ok { color: #009E73; font-weight: bold; } .bad { color: #D55E00; font-weight: bold; }
figure { margin: 0.5em 0 1.2em; } figcaption { font-size: 0.85em; color: #555; }
"""


def fmt_number(v: Any, digits: int = 4) -> str:
    """``1234567.8`` -> ``'1,234,568'``, ``0.012345`` -> ``'0.01235'``; text unchanged."""
    if v is None or v == "":
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, str):
        try:
            v = float(v) if any(c in v for c in ".eE") else int(v)
        except ValueError:
            return v
    if isinstance(v, int):
        return f"{v:,}"
    if math.isnan(v) or math.isinf(v):
        return str(v)
    if v != 0 and abs(v) < 10 ** -(digits - 1):
        return f"{v:.{digits}g}"  # tiny: keep the significant digits
    if abs(v) >= 10 ** (digits - 1):
        return f"{v:,.0f}"
    decimals = max(0, digits - 1 - int(math.floor(math.log10(abs(v))))) if v else 0
    return f"{v:,.{decimals}f}"


def _is_number(v: Any) -> bool:
    if isinstance(v, bool) or v is None:
        return False
    if isinstance(v, (int, float)):
        return True
    try:
        float(str(v).replace(",", ""))
    except ValueError:
        return False
    return True


class Page:
    """An HTML page built section by section; :meth:`html` gives the whole document."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.parts: list[str] = [f"<h1>{html.escape(title)}</h1>"]

    def heading(self, text: str, level: int = 2) -> None:
        self.parts.append(f"<h{level}>{html.escape(text)}</h{level}>")

    def paragraph(self, text: str, cls: str | None = None) -> None:
        attr = f' class="{cls}"' if cls else ""
        self.parts.append(f"<p{attr}>{html.escape(text)}</p>")

    def caveat(self, text: str) -> None:
        self.parts.append(f'<p class="caveat"><b>Caveat:</b> {html.escape(text)}</p>')

    def table(self, header: Sequence[str], rows: Sequence[Sequence[Any]],
              caption: str | None = None) -> None:
        out = ["<table>"]
        if caption:
            out.append(f"<caption>{html.escape(caption)}</caption>")
        out.append("<tr>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
                   + "</tr>")
        for row in rows:
            cells = []
            for v in row:
                text = fmt_number(v)
                cls = ' class="num"' if _is_number(v) else ""
                cells.append(f"<td{cls}>{html.escape(text)}</td>")
            out.append("<tr>" + "".join(cells) + "</tr>")
        out.append("</table>")
        self.parts.append("\n".join(out))

    def figure(self, png: Path, caption: str) -> None:
        data = base64.b64encode(png.read_bytes()).decode("ascii")
        self.parts.append(
            f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(caption)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")

    def pre(self, text: str, summary: str | None = None) -> None:
        block = f"<pre>{html.escape(text)}</pre>"
        if summary:
            block = f"<details><summary>{html.escape(summary)}</summary>{block}</details>"
        self.parts.append(block)

    def html(self) -> str:
        body = "\n".join(self.parts)
        return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
                f"<title>{html.escape(self.title)}</title><style>{_CSS}</style></head>\n"
                f"<body>\n{body}\n</body></html>\n")
