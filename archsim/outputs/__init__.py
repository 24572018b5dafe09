"""Writers: turn a :class:`~archsim.engine.results.RunResult` into a run folder of files.

The writers know file formats and nothing of the model's insides; they read only the
result objects and the event ledger.  :func:`write_run_folder` writes everything.
"""

from archsim.outputs.console import console_summary, console_summary_of_folder
from archsim.outputs.run_folder import INCOMPLETE, is_complete_run_folder, write_run_folder
from archsim.outputs.summary import build_summary

__all__ = [
    "INCOMPLETE",
    "build_summary",
    "console_summary",
    "console_summary_of_folder",
    "is_complete_run_folder",
    "write_run_folder",
]
