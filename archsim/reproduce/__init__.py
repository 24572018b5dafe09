"""Reproducing published designs with archsim (``archsim reproduce``).

DW-CNN (Ma et al., ISQED 2018): :mod:`archsim.reproduce.studies` runs the design points
(sweep files in ``arch_configs/reproduce/``) through the normal sweep machinery,
:mod:`~archsim.reproduce.collect` turns run summaries into the paper's tables,
:mod:`~archsim.reproduce.figures` redraws its figures, :mod:`~archsim.reproduce.trends`
checks its stated trends, :mod:`~archsim.reproduce.calibrate` fits a technology to Table II,
and :mod:`~archsim.reproduce.main` is the command. See ``docs/reproducing-dwcnn.md``.

The package is also the API function: ``archsim.reproduce("dwcnn", out, ...)`` is
:func:`archsim.api.reproduce` (:mod:`archsim.callmodule`).
"""

from archsim.callmodule import make_callable

make_callable(__name__, "reproduce")
