"""The bit kernels of the SC datapath, as the rest of archsim calls them.

Every function of the kernel API in ``docs/design.md`` is exposed here and dispatched to one of
two back ends that return identical bits:

- ``cython``: the compiled modules ``archsim._kernels_<module>`` (``cython_kernels/*.pyx``,
  one per concern: bit-sliced counters, tight Btanh loops), used whenever they are built;
- ``numpy``: the reference ``archsim.sc.reference``, the oracle the compiled kernels are
  tested against, used when the extensions are missing.

``KERNELS`` is the one table of the kernels: name -> the compiled module that holds it and its
NumPy reference function. The public functions (``kernels.sng`` ...) are bound from it; their
signatures are typed in ``kernels.pyi``.

``ARCHSIM_KERNELS=numpy`` in the environment forces the NumPy path (``=cython`` demands the
compiled one). ``use_backend(name)`` switches at run time, and the two namespaces ``cython``
(``None`` when not built) and ``numpy`` let tests call either explicitly. ``BACKEND`` names the
active one; read it as ``kernels.BACKEND`` (it changes with ``use_backend``).
"""

from __future__ import annotations

import functools
import importlib
import os
from collections.abc import Callable
from types import ModuleType
from typing import Any, NamedTuple

from archsim.sc import reference as numpy
from archsim.sc.rng import kim_r, n_words, pack_bits, tail_mask, unpack_bits


class Kernel(NamedTuple):
    """Where a kernel lives: its compiled module ``archsim._kernels_<module>`` (source
    ``cython_kernels/<module>.pyx``) and its NumPy reference (``None``: compiled only, not
    dispatched)."""

    module: str
    reference: Callable[..., Any] | None


KERNELS: dict[str, Kernel] = {
    # streams.pyx: the SNGs' random sources and comparators, gates, stream reordering, decoding
    "lfsr_sequence": Kernel("streams", numpy.lfsr_sequence),
    "sobol_sequence": Kernel("streams", numpy.sobol_sequence),
    "counter_sequence": Kernel("streams", numpy.counter_sequence),
    "sng": Kernel("streams", numpy.sng),
    "xnor": Kernel("streams", numpy.xnor),
    "and_": Kernel("streams", numpy.and_),
    "mux_select": Kernel("streams", numpy.mux_select),
    "gather_streams": Kernel("streams", numpy.gather_streams),
    "mark_gaps": Kernel("streams", numpy.mark_gaps),
    "popcount": Kernel("streams", numpy.popcount),
    "decode_bipolar": Kernel("streams", numpy.decode_bipolar),
    # counters.pyx: the per-cycle PC/APC counters (alone and fused with the XNORs), the Btanh
    # up/down counter, the causal segment max pool
    "pc_counts": Kernel("counters", numpy.pc_counts),
    "apc_counts": Kernel("counters", numpy.apc_counts),
    "xnor_counts": Kernel("counters", numpy.xnor_counts),
    "conv_counts": Kernel("counters", numpy.conv_counts),
    "btanh": Kernel("counters", numpy.btanh),
    "segment_maxpool": Kernel("counters", numpy.segment_maxpool),
    # conv_pool.pyx: conv -> 2x2 causal segment max pool -> Btanh, fused
    "conv_pool_btanh": Kernel("conv_pool", numpy.conv_pool_btanh),
    # mux_fc.pyx: the MUX-shared FC
    "mux_fc_counts": Kernel("mux_fc", numpy.mux_fc_counts),
    "mux_fc_table": Kernel("mux_fc", numpy.mux_fc_table),
    "mux_fc_btanh": Kernel("mux_fc", numpy.mux_fc_btanh),
    "mux_fc_sums": Kernel("mux_fc", numpy.mux_fc_sums),
    # bnn.pyx: the binarized-network fabric's XNOR + popcount + accumulate + threshold lanes
    "bnn_xnor_popcount_threshold": Kernel("bnn", numpy.bnn_xnor_popcount_threshold),
    # floors.pyx: the XNOR + popcount floor of the benchmarks (compiled only)
    "floor_conv_popcount": Kernel("floors", None),
    "floor_fc_popcount": Kernel("floors", None),
}
"""Every kernel, declared once: name -> compiled module and NumPy reference."""

API = tuple(name for name, k in KERNELS.items() if k.reference is not None)
"""Names of the dispatched kernels (both back ends implement all of them)."""

COMPILED_MODULES = tuple(dict.fromkeys(f"archsim._kernels_{k.module}" for k in KERNELS.values()))
"""The compiled extension modules, in table order."""


def _compiled() -> ModuleType | None:
    """The compiled kernels gathered into one namespace, or None when any module is missing
    (built without a C compiler): then the NumPy reference does the work."""
    try:
        modules = {name: importlib.import_module(name) for name in COMPILED_MODULES}
    except ImportError:
        return None
    ns = ModuleType(f"{__name__}.cython", "The compiled kernels, from the modules of KERNELS.")
    for name, k in KERNELS.items():
        setattr(ns, name, getattr(modules[f"archsim._kernels_{k.module}"], name))
    return ns


cython = _compiled()

_BACKENDS: dict[str, ModuleType | None] = {"cython": cython, "numpy": numpy}


def available_backends() -> list[str]:
    """Names of the back ends usable in this installation."""
    return [name for name, mod in _BACKENDS.items() if mod is not None]


def backend(name: str) -> ModuleType:
    """The namespace of back end ``name`` ("cython" or "numpy")."""
    if name not in _BACKENDS:
        raise ValueError(f"unknown kernel backend {name!r}; choose 'cython' or 'numpy'")
    mod = _BACKENDS[name]
    if mod is None:
        raise ImportError(
            f"the compiled kernels ({', '.join(COMPILED_MODULES)}) are not built; install "
            'archsim with a C compiler (pip install -e ".[test]" --no-build-isolation) or use '
            'the "numpy" backend'
        )
    return mod


_active: dict[str, Callable[..., Any]] = {}
"""The active back end's function of every dispatched kernel."""


def use_backend(name: str) -> str:
    """Make ``name`` the active back end; returns the previously active name."""
    global BACKEND
    mod = backend(name)
    previous = BACKEND
    _active.update({kernel: getattr(mod, kernel) for kernel in API})
    BACKEND = name
    return previous


def _initial_backend() -> str:
    wanted = os.environ.get("ARCHSIM_KERNELS", "").strip().lower()
    if wanted in ("", "auto"):
        return "cython" if cython is not None else "numpy"
    if wanted not in _BACKENDS:
        raise ValueError(f"ARCHSIM_KERNELS={wanted!r} must be 'cython', 'numpy' or 'auto'")
    return wanted


BACKEND: str = _initial_backend()
use_backend(BACKEND)


# ----------------------------------------------------------------------------- dispatch


def _dispatcher(name: str) -> Callable[..., Any]:
    """``kernels.<name>``: calls the active back end's ``name`` (signature and docstring of
    the reference)."""

    @functools.wraps(KERNELS[name].reference)  # type: ignore[arg-type]
    def kernel(*args: Any, **kwargs: Any) -> Any:
        return _active[name](*args, **kwargs)

    kernel.__module__ = __name__
    return kernel


globals().update({name: _dispatcher(name) for name in API})

__all__ = [
    "API",
    "BACKEND",
    "COMPILED_MODULES",
    "KERNELS",
    "Kernel",
    "available_backends",
    "backend",
    "cython",
    "kim_r",
    "n_words",
    "numpy",
    "pack_bits",
    "tail_mask",
    "unpack_bits",
    "use_backend",
    *API,
]
