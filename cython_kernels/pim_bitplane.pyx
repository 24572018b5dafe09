# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled bit-plane accumulation of the SOT-MRAM sub-array (``archsim._kernels_pim_bitplane``).

The hardware it mirrors: for every filter row set and window, dual-row AND sensings of each
weight bit-plane m with each activation bit-plane k, a bit-count of the sensed row, and a
shift-add of the count by m + k; then the mask-plane (or plain activation) counts shifted by k,
subtracted with weight beta. Same arguments and result as the NumPy reference
``archsim.fabrics.pim_bitplane.bitplane._accumulate_numpy``.
"""

import numpy as np

from libc.stdint cimport int64_t, uint64_t


cdef extern from *:
    int __builtin_popcountll(unsigned long long) nogil


def accumulate(const uint64_t[:, :, ::1] wp, const uint64_t[:, ::1] qp,
               const uint64_t[:, :, ::1] ap, int64_t alpha, int64_t beta, bint masked):
    """acc (F, P) int64: ``wp`` (M, F, words) weight planes, ``qp`` (F, words) mask plane
    (used if ``masked``), ``ap`` (K, P, words) activation planes."""
    cdef Py_ssize_t m_bits = wp.shape[0], f_n = wp.shape[1], words = wp.shape[2]
    cdef Py_ssize_t k_bits = ap.shape[0], p_n = ap.shape[1]
    out = np.zeros((f_n, p_n), dtype=np.int64)
    cdef int64_t[:, ::1] acc = out
    cdef Py_ssize_t f, p, m, k, i
    cdef int64_t cnt, psum, ssum
    with nogil:
        for f in range(f_n):
            for p in range(p_n):
                psum = 0
                for m in range(m_bits):
                    for k in range(k_bits):
                        cnt = 0
                        for i in range(words):
                            cnt += __builtin_popcountll(wp[m, f, i] & ap[k, p, i])
                        psum += cnt << (m + k)
                ssum = 0
                for k in range(k_bits):
                    cnt = 0
                    if masked:
                        for i in range(words):
                            cnt += __builtin_popcountll(qp[f, i] & ap[k, p, i])
                    else:
                        for i in range(words):
                            cnt += __builtin_popcountll(ap[k, p, i])
                    ssum += cnt << k
                acc[f, p] = alpha * psum - beta * ssum
    return out
