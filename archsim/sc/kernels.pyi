# Type stubs of archsim.sc.kernels: the dispatched kernels are bound at import time from the
# KERNELS table, so their signatures are declared here (the same parameters and defaults as
# the NumPy reference archsim.sc.reference; tests/test_kernel_table.py holds them to it).

from collections.abc import Callable
from types import ModuleType
from typing import Any, NamedTuple, SupportsIndex

import numpy as _np
import numpy.typing as _npt

from archsim.sc import reference as numpy
from archsim.sc.rng import kim_r as kim_r
from archsim.sc.rng import n_words as n_words
from archsim.sc.rng import pack_bits as pack_bits
from archsim.sc.rng import tail_mask as tail_mask
from archsim.sc.rng import unpack_bits as unpack_bits

__all__ = [
    "API",
    "BACKEND",
    "COMPILED_MODULES",
    "KERNELS",
    "Kernel",
    "and_",
    "apc_counts",
    "available_backends",
    "backend",
    "bnn_xnor_popcount_threshold",
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

_Int = SupportsIndex
_Words = _npt.NDArray[_np.uint64]  # packed streams uint64[..., W]
_Seq = _npt.ArrayLike  # integer sequences (values, selects, indices, gaps)

class Kernel(NamedTuple):
    module: str
    reference: Callable[..., Any] | None

KERNELS: dict[str, Kernel]
API: tuple[str, ...]
COMPILED_MODULES: tuple[str, ...]
BACKEND: str
cython: ModuleType | None

def available_backends() -> list[str]: ...
def backend(name: str) -> ModuleType: ...
def use_backend(name: str) -> str: ...

# streams.pyx
def lfsr_sequence(
    width: _Int, length: _Int, seed: _Int = 1, taps: tuple[int, ...] | list[int] | None = None
) -> _npt.NDArray[_np.uint32]: ...
def sobol_sequence(width: _Int, length: _Int, dim: _Int = 0) -> _npt.NDArray[_np.uint32]: ...
def counter_sequence(width: _Int, length: _Int) -> _npt.NDArray[_np.uint32]: ...
def sng(
    values: _Seq, rng: _Seq, length: _Int, rule: str = "gt", offsets: _Seq | None = None
) -> _Words: ...
def xnor(a: _Words, b: _Words, length: _Int) -> _Words: ...
def and_(a: _Words, b: _Words, length: _Int) -> _Words: ...
def mux_select(x: _Words, select: _Seq, length: _Int) -> _Words: ...
def gather_streams(x: _Words, length: _Int, index: _Seq) -> _Words: ...
def mark_gaps(out: _Words, length: _Int, gaps: _Seq, last: _Int) -> int: ...
def popcount(x: _Words, length: _Int) -> _npt.NDArray[_np.int64]: ...
def decode_bipolar(x: _Words, length: _Int) -> _npt.NDArray[_np.float64]: ...

# counters.pyx
def pc_counts(x: _Words, length: _Int) -> _npt.NDArray[_np.uint16]: ...
def apc_counts(x: _Words, length: _Int) -> _npt.NDArray[_np.uint16]: ...
def xnor_counts(
    x: _Words, w: _Words, length: _Int, approx: bool, x_period: _Int | None = None
) -> _npt.NDArray[_np.uint16]: ...
def conv_counts(
    inp: _Words, wts: _Words, bias: _Words, length: _Int, approx: bool
) -> _npt.NDArray[_np.uint16]: ...
def btanh(
    counts: _npt.ArrayLike, n: _Int, r: _Int, s0: _npt.ArrayLike | None = None
) -> _Words: ...
def segment_maxpool(
    values: _npt.ArrayLike, segment: _Int, first: _Int = 0
) -> tuple[_npt.NDArray[_np.uint16], _npt.NDArray[_np.uint8]]: ...

# conv_pool.pyx
def conv_pool_btanh(
    inp: _Words,
    wts: _Words,
    bias: _Words,
    length: _Int,
    approx: bool,
    segment: _Int,
    first: _Int,
    n_btanh: _Int,
    r: _Int,
    s0: _Int,
) -> tuple[_Words, _npt.NDArray[_np.uint8]]: ...

# mux_fc.pyx
def mux_fc_counts(
    x: _Words,
    source: _Words,
    select: _Seq,
    bit_index: _Seq,
    G: _Int,
    L: _Int,
    approx: bool,
) -> _npt.NDArray[_np.uint16]: ...
def mux_fc_table(
    source: _Words, select: _Seq, bit_index: _Seq, G: _Int
) -> tuple[_Words, _npt.NDArray[_np.int64]]: ...
def mux_fc_btanh(
    x: _Words,
    tab: _Words,
    row: _npt.NDArray[_np.int64],
    select: _Seq,
    n: _Int,
    G: _Int,
    L: _Int,
    approx: bool,
    n_btanh: _Int,
    r: _Int,
    s0: _Int,
    outputs: _Int,
) -> _Words: ...
def mux_fc_sums(
    x: _Words,
    tab: _Words,
    row: _npt.NDArray[_np.int64],
    select: _Seq,
    n: _Int,
    G: _Int,
    L: _Int,
    approx: bool,
    outputs: _Int,
) -> _npt.NDArray[_np.int64]: ...
def bnn_xnor_popcount_threshold(
    x: _Words,
    w: _Words,
    valid: _Words,
    scale: _npt.NDArray[_np.int64],
    threshold: _npt.NDArray[_np.int64],
    negate: _npt.ArrayLike,
) -> tuple[_npt.NDArray[_np.uint8], _npt.NDArray[_np.int64]]: ...
