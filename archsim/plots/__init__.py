"""Figures drawn from run folders: energy/activity/area breakdowns, timelines, accuracy,
and side-by-side comparisons of several designs.  ``plot_main`` is ``archsim plot``."""

from archsim.plots.main import plot_main, plot_run
from archsim.plots.rundata import NotARunFolder, RunData, load_run

__all__ = ["NotARunFolder", "RunData", "load_run", "plot_main", "plot_run"]
