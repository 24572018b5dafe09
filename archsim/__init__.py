"""archsim: a cycle-accurate discrete-event simulator of stochastic-computing (SC) and
spintronic-memory DNN accelerators.

Data flows one way: YAML -> validated config -> elaborated hardware blocks -> SimPy engine
(kernels compute the bits, the ledger records every action with its cycle) -> results ->
writers and plots.
"""

__version__ = "0.1.0"
