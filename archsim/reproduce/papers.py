"""The registry of reproductions: one entry per paper ``archsim reproduce <name>`` knows.

Each entry names the command function (``module:function``, imported on demand, taking the
parsed command-line arguments and returning the exit code), the paper it reproduces and the
document that compares our numbers with the paper's. The command line's choices and help come
from here, so a new reproduction is one entry, not a branch in the CLI.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["PAPERS", "Paper"]


@dataclass(frozen=True)
class Paper:
    name: str
    entry: str  # "module:function"
    title: str  # the paper, as the help text cites it
    doc: str  # the document comparing our numbers with the paper's

    def command(self) -> Callable[[Any], int]:
        module, function = self.entry.split(":")
        fn: Callable[[Any], int] = getattr(importlib.import_module(module), function)
        return fn


PAPERS: dict[str, Paper] = {p.name: p for p in (
    Paper("dwcnn", "archsim.reproduce.main:reproduce_dwcnn",
          "DW-CNN: SC LeNet-5 with domain-wall memory (Ma et al., ISQED 2018)",
          "docs/reproducing-dwcnn.md"),
    Paper("imce", "archsim.reproduce.imce:reproduce_imce",
          "IMCE on SOT-MRAM, AlexNet, beside an RRAM crossbar design (He et al., 2018)",
          "docs/reproducing-imce.md"),
    Paper("scbnn", "archsim.reproduce.scbnn:scbnn_main",
          "SC-BNN on ST-MRAM (Hirtzlin et al., IEEE Access 2019)",
          "docs/reproducing-scbnn.md"),
    Paper("pim-admm", "archsim.reproduce.pim_admm:reproduce_pim_admm",
          "ADMM-compressed DNNs on the SOT-MRAM PIM engine (Yuan et al., 2019)",
          "docs/reproducing-pim-admm.md"),
)}
