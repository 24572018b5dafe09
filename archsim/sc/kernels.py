"""The bit kernels of the SC datapath, as the rest of archsim calls them.

Every function of the kernel API in ``docs/design.md`` is exposed here and dispatched to one of
two back ends that return identical bits:

- ``cython``: the compiled module ``archsim._kernels_sc`` (bit-sliced counters, tight Btanh
  loops), used whenever it is built;
- ``numpy``: the reference ``archsim.sc.reference``, the oracle the compiled kernels are
  tested against, used when the extension is missing.

``ARCHSIM_KERNELS=numpy`` in the environment forces the NumPy path (``=cython`` demands the
compiled one). ``use_backend(name)`` switches at run time, and the two namespaces ``cython``
(``None`` when not built) and ``numpy`` let tests call either explicitly. ``BACKEND`` names the
active one; read it as ``kernels.BACKEND`` (it changes with ``use_backend``).
"""

from __future__ import annotations

import os
from types import ModuleType

from archsim.sc import reference as numpy
from archsim.sc.rng import kim_r, n_words, pack_bits, tail_mask, unpack_bits

try:
    from archsim import _kernels_sc as cython
except ImportError:  # built without a C compiler: the NumPy reference does the work
    cython = None

__all__ = [
    "API",
    "BACKEND",
    "and_",
    "apc_counts",
    "available_backends",
    "backend",
    "btanh",
    "conv_counts",
    "conv_pool_btanh",
    "counter_sequence",
    "cython",
    "decode_bipolar",
    "gather_streams",
    "kim_r",
    "lfsr_sequence",
    "mark_gaps",
    "mux_fc_btanh",
    "mux_fc_counts",
    "mux_fc_sums",
    "mux_fc_table",
    "mux_select",
    "n_words",
    "numpy",
    "pack_bits",
    "pc_counts",
    "popcount",
    "segment_maxpool",
    "sng",
    "sobol_sequence",
    "tail_mask",
    "unpack_bits",
    "use_backend",
    "xnor",
    "xnor_counts",
]

API = (
    "lfsr_sequence",
    "sobol_sequence",
    "counter_sequence",
    "sng",
    "xnor",
    "and_",
    "pc_counts",
    "apc_counts",
    "xnor_counts",
    "conv_counts",
    "conv_pool_btanh",
    "btanh",
    "segment_maxpool",
    "mux_select",
    "mux_fc_counts",
    "mux_fc_table",
    "mux_fc_btanh",
    "mux_fc_sums",
    "gather_streams",
    "mark_gaps",
    "popcount",
    "decode_bipolar",
)
"""Names of the dispatched kernels (both back ends implement all of them)."""

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
            "archsim._kernels_sc is not built; install archsim with a C compiler "
            '(pip install -e ".[test]" --no-build-isolation) or use the "numpy" backend'
        )
    return mod


def use_backend(name: str) -> str:
    """Make ``name`` the active back end; returns the previously active name."""
    global BACKEND, _active
    mod = backend(name)
    previous = BACKEND
    BACKEND, _active = name, mod
    return previous


def _initial_backend() -> str:
    wanted = os.environ.get("ARCHSIM_KERNELS", "").strip().lower()
    if wanted in ("", "auto"):
        return "cython" if cython is not None else "numpy"
    if wanted not in _BACKENDS:
        raise ValueError(f"ARCHSIM_KERNELS={wanted!r} must be 'cython', 'numpy' or 'auto'")
    return wanted


BACKEND: str = _initial_backend()
_active: ModuleType = backend(BACKEND)


# ----------------------------------------------------------------------------- dispatch


def lfsr_sequence(width, length, seed=1, taps=None):
    """Fibonacci LFSR states ``uint32[length]``; never 0 (see ``archsim.sc.rng``)."""
    return _active.lfsr_sequence(width, length, seed, taps)


def sobol_sequence(width, length, dim=0):
    """First ``length`` points of Sobol dimension ``dim`` scaled to ``width`` bits."""
    return _active.sobol_sequence(width, length, dim)


def counter_sequence(width, length):
    """``t mod 2**width`` as ``uint32[length]``."""
    return _active.counter_sequence(width, length)


def sng(values, rng, length, rule="gt", offsets=None):
    """Comparator SNG: bit t of stream i is ``values[i] > rng[(t + offsets[i]) % P]``."""
    return _active.sng(values, rng, length, rule, offsets)


def xnor(a, b, length):
    """Bitwise XNOR of packed streams (bipolar multiply), tail bits 0."""
    return _active.xnor(a, b, length)


def and_(a, b, length):
    """Bitwise AND of packed streams (unipolar multiply), tail bits 0."""
    return _active.and_(a, b, length)


def pc_counts(x, length):
    """Exact parallel count per cycle of ``x: uint64[n, W]`` -> ``uint16[length]``."""
    return _active.pc_counts(x, length)


def apc_counts(x, length):
    """Kim APC count per cycle of ``x: uint64[n, W]`` -> ``uint16[length]``."""
    return _active.apc_counts(x, length)


def xnor_counts(x, w, length, approx, x_period=None):
    """Fused XNOR + PC/APC per cycle for B neurons -> ``uint16[B, length]``; ``x_period``: x
    holds periodic streams by their first words (see the reference)."""
    return _active.xnor_counts(x, w, length, approx, x_period)


def conv_counts(inp, wts, bias, length, approx):
    """Fused valid stride-1 convolution counts -> ``uint16[F, Ho, Wo, length]``."""
    return _active.conv_counts(inp, wts, bias, length, approx)


def conv_pool_btanh(inp, wts, bias, length, approx, segment, first, n_btanh, r, s0):
    """Conv -> 2x2 causal segment max pool -> Btanh, fused: ``(uint64[F, Ho//2, Wo//2, W],
    uint8[F*Ho//2*Wo//2, nseg])``, the bits of the three kernels applied in turn."""
    return _active.conv_pool_btanh(inp, wts, bias, length, approx, segment, first, n_btanh,
                                   r, s0)


def btanh(counts, n, r, s0=None):
    """Btanh up/down counter on per-cycle counts -> ``uint64[B, W]``."""
    return _active.btanh(counts, n, r, s0)


def segment_maxpool(values, segment, first=0):
    """Causal segment max pool -> ``(uint16[B, length], uint8[B, nseg])``."""
    return _active.segment_maxpool(values, segment, first)


def mux_select(x, select, length):
    """MUX: output bit t is bit t of ``x[select[t]]`` -> ``uint64[W]``."""
    return _active.mux_select(x, select, length)


def mux_fc_counts(x, source, select, bit_index, G, L, approx):
    """MUX-shared FC: per-step counts of G XNOR products -> ``uint16[outputs, S]``.

    Slot k of step s multiplies input ``k + G*select[s]`` (bit s mod L of ``x: uint64[n-1, W]``,
    the bias input n-1 being 1) by bit ``bit_index[s]`` of ``source[o, i]``; slots past the
    fan-in give the bit s & 1. Exact count or Kim's APC over the G slots.
    """
    return _active.mux_fc_counts(x, source, select, bit_index, G, L, approx)


def mux_fc_table(source, select, bit_index, G):
    """Static weight table of a MUX-shared FC -> ``(tab uint64[rows, G, lanes], row int64[S])``:
    bit b of ``tab[row[s], k, q]`` is the weight bit that slot k delivers to neuron 64*q + b at
    step s (one row per distinct (select, bit_index) pair)."""
    return _active.mux_fc_table(source, select, bit_index, G)


def mux_fc_btanh(x, tab, row, select, n, G, L, approx, n_btanh, r, s0, outputs):
    """MUX-shared FC fused with its Btanh (neuron-sliced): the packed output streams of the
    last L steps, ``uint64[outputs, W]``; same bits as ``btanh(mux_fc_counts(...))``."""
    return _active.mux_fc_btanh(x, tab, row, select, n, G, L, approx, n_btanh, r, s0, outputs)


def mux_fc_sums(x, tab, row, select, n, G, L, approx, outputs):
    """MUX-shared FC output counters: each neuron's counts summed over all steps, ``int64``."""
    return _active.mux_fc_sums(x, tab, row, select, n, G, L, approx, outputs)


def gather_streams(x, length, index):
    """Packed streams whose bit t is bit ``index[t]`` of ``x: uint64[n, W]`` -> ``uint64[n, W']``."""
    return _active.gather_streams(x, length, index)


def mark_gaps(out, length, gaps, last):
    """Set the bits of ``out: uint64[rows, W]`` at ``last + cumsum(gaps)`` (flat index
    ``row * length + t``, those inside), in place; returns ``last + sum(gaps)``."""
    return _active.mark_gaps(out, length, gaps, last)


def popcount(x, length):
    """Ones in the first ``length`` bits of each stream -> ``int64[...]``."""
    return _active.popcount(x, length)


def decode_bipolar(x, length):
    """Bipolar value ``2 * ones / length - 1`` of each stream -> ``float64[...]``."""
    return _active.decode_bipolar(x, length)
