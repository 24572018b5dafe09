# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled benchmark floors (``archsim._kernels_floors``): not part of the datapath.

No hardware of the accelerator: the "XNOR + popcount" floor the benchmarks compare the
simulator against, i.e. every bit-product of every neuron touched once and counted. The same
operands as ``conv_counts`` / ``xnor_counts``, but each neuron only gets the total number of
ones of its XNOR products (a vector Harley-Seal popcount of the mismatch words, ``hs_simd.h``;
no per-cycle counts, no APC). Compiled only: there is no NumPy reference of these.
"""

import numpy as np

from libc.stdint cimport int64_t, uint64_t
from libc.stdlib cimport free, malloc

from archsim.sc import reference as _ref

from _common cimport (
    _filter_rows,
    _ones_row,
    _window_offsets,
    _window_rows,
    archsim_mismatch_popcount,
    cwordp,
)


cdef inline int64_t _xnor_popcount(const cwordp* xp, const cwordp* wp, Py_ssize_t n,
                                   Py_ssize_t nwords) noexcept nogil:
    """Ones of the XNOR products of n rows of nwords words (tail bits included): the vector
    Harley-Seal popcount of the mismatch words (hs_simd.h)."""
    return 64 * n * nwords - archsim_mismatch_popcount(xp, wp, n, nwords)


def floor_conv_popcount(inp, wts, bias):
    """XNOR + popcount floor of a conv layer: ``int64[F, Ho, Wo]`` ones of all products."""
    inp = np.asarray(inp)  # (no negative indices: this module turns wraparound off)
    _, inp, wts, bias = _ref._conv_operands(inp, wts, bias, 64 * inp.shape[inp.ndim - 1])
    cdef const uint64_t[:, :, :, ::1] iv = np.ascontiguousarray(inp, dtype=np.uint64)
    cdef const uint64_t[:, :, :, :, ::1] wv = np.ascontiguousarray(wts, dtype=np.uint64)
    cdef const uint64_t[:, ::1] bv = np.ascontiguousarray(bias, dtype=np.uint64)
    cdef Py_ssize_t C = iv.shape[0], H = iv.shape[1], Wd = iv.shape[2], W = iv.shape[3]
    cdef Py_ssize_t F = wv.shape[0], k = wv.shape[2], Ho = H - k + 1, Wo = Wd - k + 1
    cdef Py_ssize_t n = C * k * k + 1
    out = np.zeros((F, Ho, Wo), dtype=np.int64)
    cdef int64_t[:, :, ::1] ov = out
    cdef cwordp* xp = <cwordp*>malloc(n * sizeof(cwordp))
    cdef cwordp* wp = <cwordp*>malloc(n * sizeof(cwordp))
    cdef Py_ssize_t* xoff = <Py_ssize_t*>malloc(n * sizeof(Py_ssize_t))
    cdef uint64_t* ones = _ones_row(W)
    cdef Py_ssize_t f, y, x
    try:
        if xp == NULL or wp == NULL or xoff == NULL or ones == NULL:
            raise MemoryError()
        with nogil:
            _window_offsets(C, H, Wd, k, W, xoff)
            xp[n - 1] = ones
            for f in range(F):
                _filter_rows(&wv[f, 0, 0, 0, 0], &bv[f, 0], n - 1, W, wp)
                for y in range(Ho):
                    for x in range(Wo):
                        _window_rows(&iv[0, y, x, 0], xoff, n - 1, xp)
                        ov[f, y, x] = _xnor_popcount(xp, wp, n, W)
    finally:
        free(xp)
        free(wp)
        free(xoff)
        free(ones)
    return out


def floor_fc_popcount(x, w):
    """XNOR + popcount floor of an FC layer: ``x [n, W]``, ``w [B, n, W]`` -> ``int64[B]``."""
    if np.ndim(x) != 2 or np.ndim(w) != 3 or np.shape(w)[1:] != np.shape(x):
        raise ValueError(f"expected x [n, W] and w [B, n, W]; got {np.shape(x)}, {np.shape(w)}")
    cdef const uint64_t[:, ::1] xv = np.ascontiguousarray(x, dtype=np.uint64)
    cdef const uint64_t[:, :, ::1] wv = np.ascontiguousarray(w, dtype=np.uint64)
    cdef Py_ssize_t B = wv.shape[0], n = wv.shape[1], W = wv.shape[2], b, i
    out = np.zeros(B, dtype=np.int64)
    cdef int64_t[::1] ov = out
    cdef cwordp* xp = <cwordp*>malloc(n * sizeof(cwordp))
    cdef cwordp* wp = <cwordp*>malloc(n * sizeof(cwordp))
    try:
        if xp == NULL or wp == NULL:
            raise MemoryError()
        with nogil:
            for i in range(n):
                xp[i] = &xv[i, 0]
            for b in range(B):
                for i in range(n):
                    wp[i] = &wv[b, i, 0]
                ov[b] = _xnor_popcount(xp, wp, n, W)
    finally:
        free(xp)
        free(wp)
    return out
