# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Declarations and inline helpers shared by the compiled SC kernel modules.

Not a module of its own: every kernel module cimports what it needs and gets its own inlined
copy (nothing here is looked up at run time). Holds the compiler builtins, the packed-row
pointer type, the C headers shared by several modules (``hs_simd.h``: the vector Harley-Seal
step, the XNOR + popcount floor and the 64 x 64 bit transpose; ``bs_btanh.h``: the bit-sliced
Btanh step of 8 x 64 neurons) and the operand helpers of a conv layer's neurons (the input and
weight rows of one window).
"""

from libc.stdint cimport int64_t, uint64_t
from libc.stdlib cimport malloc
from libc.string cimport memset


cdef extern from *:
    int __builtin_popcountll(unsigned long long) nogil
    int __builtin_parityll(unsigned long long) nogil
    int __builtin_ctzll(unsigned long long) nogil


ctypedef const uint64_t* cwordp  # one packed row (stream) of words

cdef extern from "hs_simd.h" nogil:
    enum: ZROW "ARCHSIM_ZROW"  # words of the all-zero row that pads a short group of inputs
    const uint64_t* archsim_zero_row
    void archsim_hs16_pc(const cwordp* xp, const cwordp* wp, Py_ssize_t i, Py_ssize_t w0,
                         uint64_t* st, Py_ssize_t blk, uint64_t* s16, int nvec) noexcept
    void archsim_hs16_apc(const cwordp* xp, const cwordp* wp, Py_ssize_t p, Py_ssize_t w0,
                          uint64_t* st, Py_ssize_t blk, uint64_t* s16, int nvec) noexcept
    int64_t archsim_mismatch_popcount(const cwordp* xp, const cwordp* wp, Py_ssize_t n,
                                      Py_ssize_t nwords) noexcept
    void archsim_transpose64(uint64_t* a) noexcept

cdef extern from "bs_btanh.h" nogil:
    enum: MAXB "ARCHSIM_MAXB"  # bit-planes of the bit-sliced counts, Btanh states, accumulators
    enum: LANES "ARCHSIM_BS_LANES"  # neuron words (64 neurons each) stepped together
    void bs_btanh_lanes_c(uint64_t* st, const uint64_t* v, int ns, int nv, int nt, uint64_t nbt,
                          uint64_t rr, uint64_t* out) noexcept


cdef inline int _bit_length(Py_ssize_t m) noexcept nogil:
    cdef int nb = 0
    while m > 0:
        nb += 1
        m >>= 1
    return nb


cdef inline uint64_t* _ones_row(Py_ssize_t nwords) noexcept nogil:
    """A malloc'ed all-ones row (the bias input's stream; XNOR with it is the identity)."""
    cdef uint64_t* row = <uint64_t*>malloc((nwords if nwords > 0 else 1) * sizeof(uint64_t))
    if row != NULL:
        memset(row, 0xFF, (nwords if nwords > 0 else 1) * sizeof(uint64_t))
    return row


cdef inline void _window_offsets(Py_ssize_t C, Py_ssize_t H, Py_ssize_t Wd, Py_ssize_t k,
                                 Py_ssize_t W, Py_ssize_t* off) noexcept nogil:
    """Word offset of conv input i = (c, ky, kx) (row-major) from its window's top-left input
    row, in a contiguous ``inp [C, H, Wd, W]``."""
    cdef Py_ssize_t c, ky, kx, i = 0
    for c in range(C):
        for ky in range(k):
            for kx in range(k):
                off[i] = ((c * H + ky) * Wd + kx) * W
                i += 1


cdef inline void _filter_rows(const uint64_t* filt, const uint64_t* bias_row, Py_ssize_t nk,
                              Py_ssize_t W, cwordp* wp) noexcept nogil:
    """The weight rows of one filter (nk contiguous rows of W words), then its bias row."""
    cdef Py_ssize_t i
    for i in range(nk):
        wp[i] = filt + i * W
    wp[nk] = bias_row


cdef inline void _window_rows(const uint64_t* org, const Py_ssize_t* off, Py_ssize_t nk,
                              cwordp* xp) noexcept nogil:
    """The input rows of the conv window whose top-left row is ``org``."""
    cdef Py_ssize_t i
    for i in range(nk):
        xp[i] = org + off[i]
