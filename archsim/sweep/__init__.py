"""Design-space sweeps (docs/sweeps.md): the sweep file (:mod:`archsim.sweep.spec`), running
its points (:mod:`archsim.sweep.runner`) and their plots (:mod:`archsim.sweep.plots`).

The package is also the API function: ``archsim.sweep(sweep_file, out, ...)`` is
:func:`archsim.api.sweep` (:mod:`archsim.callmodule`).
"""

from archsim.callmodule import make_callable

make_callable(__name__, "sweep")
