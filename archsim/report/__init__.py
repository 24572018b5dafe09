"""``report.html``: one self-contained page per run, sweep or reproduction folder."""

from archsim.report.build import report_main, write_report

__all__ = ["report_main", "write_report"]
