"""Run results as pandas DataFrames: the same tables the run folder's files hold.

Each table is built by the function its file's writer uses, so a frame and its file cannot
disagree (``tests/test_api.py`` compares them):

=============  ===========================================  ===============================
table          rows                                         same as
=============  ===========================================  ===============================
``layers``     one per layer: cycles, stalls, energy, area  ``layers.csv``
``blocks``     one per hardware block: action counts,       ``blocks.csv``
               energy per action, area, leakage
``events``     the event log (cycle, image, layer, block,   ``events.parquet``
               action, count, energy_pj)
``accuracy``   one per image: label, prediction, float      ``accuracy.csv``
               prediction, latency, per-layer SC error
=============  ===========================================  ===============================

pandas is a dependency of archsim (``pyproject.toml``): the Python API's tables are
DataFrames, and pyarrow, which pandas reads Parquet with, is one already.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from archsim.engine.results import RunResult

if TYPE_CHECKING:  # pandas is imported when a frame is asked for
    import pandas as pd

__all__ = ["FRAME_TABLES", "run_frame"]

#: The tables :func:`run_frame` (``RunResult.to_frame``) knows.
FRAME_TABLES = ("layers", "blocks", "events", "accuracy")


def run_frame(result: RunResult, table: str = "layers", *,
              events: str = "aggregated") -> pd.DataFrame:
    """One table of ``result`` as a DataFrame (module docstring); ``events`` is the event
    log's granularity, ``"aggregated"`` or ``"per-action"``, as ``archsim run --events``."""
    import pandas as pd

    if table not in FRAME_TABLES:
        raise ValueError(f"table(={table!r}) must be one of {FRAME_TABLES}")
    if table == "events":
        from archsim.outputs.events import event_columns

        return pd.DataFrame(event_columns(result, events))
    if table == "accuracy":
        from archsim.outputs.accuracy_csv import accuracy_rows

        header, rows = accuracy_rows(result)
        frame = pd.DataFrame(rows, columns=header)
        for col in ("label", "float_prediction"):  # integers with missing values
            frame[col] = frame[col].astype("Int64")
        frame["correct"] = frame["correct"].astype("boolean")
        return frame
    from archsim.outputs.reports import LAYER_COLUMNS, block_rows, layer_rows
    from archsim.outputs.summary import block_table, layer_table

    blocks = block_table(result)
    summary: dict[str, Any] = {"images": result.images, "blocks": blocks,
                               "layers": layer_table(result, blocks)}
    if table == "layers":
        frame = pd.DataFrame(layer_rows(summary), columns=list(LAYER_COLUMNS))
        for col in ("start_cycle", "end_cycle", "cycles", "busy_cycles", "stall_cycles",
                    "starve_cycles"):
            frame[col] = frame[col].astype("Int64")
        return frame
    header, rows = block_rows(summary)
    frame = pd.DataFrame(rows, columns=header)
    for col in header:
        if col.startswith("count_"):
            frame[col] = frame[col].astype("Int64")
    return frame
