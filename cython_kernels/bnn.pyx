# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled kernel of the binarized-network fabric (``archsim._kernels_bnn``).

The hardware: one XNOR + popcount lane of ``archsim.fabrics.bnn`` per (row, neuron) pair: the
neuron's weight row is XNORed with the packed input row (bit 1 = +1), the ones under the row's
valid mask are counted, the popcount becomes the +-1 dot product ``2 popcount - n_valid``, the
accumulator adds it (times the pass's scale) over the ``Q`` passes (stochastic presentations or
bit planes), and the per-neuron integer threshold gives the binary activation. The NumPy
reference is ``archsim.sc.reference.bnn_xnor_popcount_threshold``; both give the same bits.
"""

import numpy as np

from libc.stdint cimport int64_t, uint8_t, uint64_t


cdef extern from *:
    int __builtin_popcountll(unsigned long long) nogil


def bnn_xnor_popcount_threshold(x, w, valid, scale, threshold, negate):
    """``(bits uint8[R, M], sums int64[R, M])`` of the XNOR-popcount-threshold lanes.

    ``x`` uint64[Q, R, W] input rows of Q passes; ``w`` uint64[M, W] weight rows; ``valid``
    uint64[R, W] the bits of each row that count; ``scale`` int64[Q]; ``threshold`` int64[M];
    ``negate`` uint8[M]. ``sums[r, j] = sum_q scale[q] (2 popcount(~(x[q, r] ^ w[j]) &
    valid[r]) - popcount(valid[r]))``; ``bits = sums >= threshold`` (``<=`` where negate)."""
    cdef const uint64_t[:, :, ::1] xv = np.ascontiguousarray(x, dtype=np.uint64)
    cdef const uint64_t[:, ::1] wv = np.ascontiguousarray(w, dtype=np.uint64)
    cdef const uint64_t[:, ::1] mv = np.ascontiguousarray(valid, dtype=np.uint64)
    cdef const int64_t[::1] sv = np.ascontiguousarray(scale, dtype=np.int64)
    cdef const int64_t[::1] tv = np.ascontiguousarray(threshold, dtype=np.int64)
    cdef const uint8_t[::1] nv = np.ascontiguousarray(negate, dtype=np.uint8)
    cdef Py_ssize_t Q = xv.shape[0], R = xv.shape[1], W = xv.shape[2], M = wv.shape[0]
    if wv.shape[1] != W or mv.shape[0] != R or mv.shape[1] != W:
        raise ValueError(f"x {tuple(x.shape)}, w {tuple(w.shape)} and valid "
                         f"{tuple(valid.shape)} must share the row length")
    if sv.shape[0] != Q or tv.shape[0] != M or nv.shape[0] != M:
        raise ValueError("scale must have Q entries, threshold and negate M entries")
    sums = np.empty((R, M), dtype=np.int64)
    bits = np.empty((R, M), dtype=np.uint8)
    cdef int64_t[:, ::1] ov = sums
    cdef uint8_t[:, ::1] bv = bits
    cdef Py_ssize_t r, j, q, k
    cdef int64_t n_valid, pc, acc
    cdef const uint64_t* xr
    cdef const uint64_t* wr
    cdef const uint64_t* mr
    if R == 0 or M == 0:
        return bits, sums
    with nogil:
        for r in range(R):
            mr = &mv[r, 0]
            n_valid = 0
            for k in range(W):
                n_valid += __builtin_popcountll(mr[k])
            for j in range(M):
                wr = &wv[j, 0]
                acc = 0
                for q in range(Q):
                    xr = &xv[q, r, 0]
                    pc = 0
                    for k in range(W):
                        pc += __builtin_popcountll(~(xr[k] ^ wr[k]) & mr[k])
                    acc += sv[q] * (2 * pc - n_valid)
                ov[r, j] = acc
                if nv[j]:
                    bv[r, j] = acc <= tv[j]
                else:
                    bv[r, j] = acc >= tv[j]
    return bits, sums
