"""archsim: a cycle-accurate discrete-event simulator of stochastic-computing (SC) and
spintronic-memory DNN accelerators.

Data flows one way: YAML -> validated config -> elaborated hardware blocks -> SimPy engine
(kernels compute the bits, the ledger records every action with its cycle) -> results ->
writers and plots.

The Python API (:mod:`archsim.api`, tutorial in docs/python-api.md)::

    import archsim
    design = archsim.load("builtin:dwcnn/small_conv_fc.yaml", ["stream.length=256"])
    result = archsim.run(design, images=10)      # RunResult; result.to_frame("layers")
    report = archsim.sweep("builtin:sweeps/small_tiny.yaml", "traces/sw")  # .to_frame()
    rep = archsim.reproduce("dwcnn", "traces/rep", only=["table2"], images=5)

Names are imported when first used, so ``import archsim`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

__all__ = ["Design", "Reproduction", "RunResult", "SweepReport",
           "__version__", "load", "reproduce", "run", "sweep"]

#: name -> module that defines it
_LAZY = {
    "load": "archsim.api", "Design": "archsim.api",
    "Reproduction": "archsim.api",
    "RunResult": "archsim.engine.results", "SweepReport": "archsim.sweep.runner",
}


def __getattr__(name: str) -> Any:
    if name in ("run", "sweep", "reproduce"):  # callable modules (archsim.callmodule)
        return importlib.import_module(f"archsim.{name}")
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'archsim' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
