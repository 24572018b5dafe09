# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled MUX-shared FC kernels (``archsim._kernels_mux_fc``).

The hardware modelled: an FC layer whose neurons share G multipliers through MUXes (each step
s, slot k of every neuron takes input ``k + G*select[s]``, XNORed with one bit of that
weight's stored stream), the per-step G-input parallel counter (PC or Kim's APC), and either
the Btanh up/down counter of each neuron (``mux_fc_btanh``) or the output counters of a last
layer (``mux_fc_sums``). Same functions, signatures and bits as the NumPy oracle
``archsim.sc.reference``.

``mux_fc_counts`` works one neuron at a time across the steps; the fast paths
(``mux_fc_table`` + ``mux_fc_btanh`` / ``mux_fc_sums``) are neuron-sliced, with their per-step
loops in C (``mux_fc.h``).
"""

import numpy as np

from libc.stdint cimport int64_t, uint8_t, uint16_t, uint64_t
from libc.stdlib cimport free, malloc

from archsim.sc import reference as _ref
from archsim.sc.rng import n_words

from _common cimport LANES, MAXB, _bit_length, archsim_transpose64


# ============================================================================ MUX-shared FC
#
# Per step s the table holds, for each valid slot k (i = k + G*m < n, a prefix of the slots),
# one uint64 entry: word offset of weight bit j in a neuron's source rows (i * Wsrc + j/64) << 7,
# the input bit x[i] at s mod L at bit 6, and j mod 64 in bits 0..5. The mismatch of the slot is
# ((row[off] >> (j mod 64)) ^ x) & 1, computed once per neuron; the slots past the fan-in carry
# the constant product s & 1. Neurons are the outer loop so one neuron's source rows stay in
# cache while its S counts are produced.


def mux_fc_counts(x, source, select, bit_index, G, L, approx):
    """Per-step G-input counts of the MUX-shared FC -> ``uint16[outputs, S]`` (see reference)."""
    x, source, sel, bi, G, L = _ref._mux_fc_args(x, source, select, bit_index, G, L)
    cdef Py_ssize_t outputs = source.shape[0], n = source.shape[1], wsrc = source.shape[2]
    cdef Py_ssize_t S = sel.size, g = G, Lc = L, nx = n - 1
    cdef bint apx = bool(approx)
    out = np.empty((outputs, S), dtype=np.uint16)
    if S == 0 or outputs == 0:
        return out
    xc = np.ascontiguousarray(x)
    src = np.ascontiguousarray(source)
    tab = np.empty(S * g, dtype=np.uint64)
    nvalid = np.empty(S, dtype=np.int64)
    cdef const uint64_t[:, ::1] xv = xc
    cdef const uint64_t[:, :, ::1] sv = src
    cdef const int64_t[::1] se = sel
    cdef const int64_t[::1] bv = bi
    cdef uint64_t[::1] tv = tab
    cdef int64_t[::1] nv = nvalid
    cdef uint16_t[:, ::1] ov = out
    cdef Py_ssize_t s, k, o, i, base, t, nval, m, half = g // 2
    cdef int64_t j
    cdef uint64_t xb, e, pa, pb, const_p
    cdef int64_t c
    cdef const uint64_t* row
    cdef const uint64_t* tp
    cdef uint8_t* prod = <uint8_t*>malloc(g if g > 0 else 1)
    if prod == NULL:
        raise MemoryError()
    try:
        with nogil:
            for s in range(S):
                m = se[s]
                base = g * m if m <= n else n
                nval = n - base
                if nval < 0:
                    nval = 0
                if nval > g:
                    nval = g
                nv[s] = nval
                j = bv[s]
                t = s % Lc
                for k in range(nval):
                    i = base + k
                    if i == nx:
                        xb = 1
                    else:
                        xb = (xv[i, t >> 6] >> (t & 63)) & 1
                    tv[s * g + k] = (<uint64_t>(i * wsrc + (j >> 6)) << 7) | (xb << 6) | <uint64_t>(j & 63)
            for o in range(outputs):
                row = &sv[o, 0, 0]
                for s in range(S):
                    tp = &tv[s * g]
                    nval = nv[s]
                    const_p = s & 1
                    if not apx:
                        c = 0
                        for k in range(nval):
                            e = tp[k]
                            c += ((row[e >> 7] >> (e & 63)) ^ (e >> 6)) & 1
                        ov[o, s] = <uint16_t>(nval - c + (g - nval) * <int64_t>const_p)
                    else:
                        for k in range(nval):
                            e = tp[k]
                            prod[k] = <uint8_t>((((row[e >> 7] >> (e & 63)) ^ (e >> 6)) & 1) ^ 1)
                        for k in range(nval, g):
                            prod[k] = <uint8_t>const_p
                        c = 0
                        for k in range(half):
                            pa = prod[2 * k]
                            pb = prod[2 * k + 1]
                            if k & 1:
                                c += pa & pb
                            else:
                                c += pa | pb
                        c *= 2
                        if g & 1:
                            c += prod[g - 1]
                        ov[o, s] = <uint16_t>c
    finally:
        free(prod)
    return out


# ============================================================================ MUX-shared FC, neuron-sliced
#
# The fast path of the MUX-shared FC works across neurons instead of across cycles: at step s
# every neuron sees the same G input bits (the MUX selects are shared), so bit b of one uint64
# holds neuron 64*q + b. The weight bits come from a static per-layer table (``mux_fc_table``:
# tab[u, k, q], one row u per distinct (select, bit_index) pair, step s reading row[s]); the
# product of slot k is tab ^ xm with xm = 0 when the input bit is 1 and ~0 when it is 0 (XNOR),
# or the constant s & 1 past the fan-in (tab = 0 there). The masks come from the inputs
# transposed once per image (one bit extract per step). The G products are carry-saved into a
# bit-sliced count (APC: the pairs first; about one full adder per word), and the Btanh up/down
# counter itself is bit-sliced: its state is held as bit-planes and updated with ripple adders
# and constant comparators, so one word operation steps 64 neurons. The per-step loops are C
# with GCC vector extensions (8 lanes = two 4 x 64-bit vectors). Only the last L steps' output
# bits are written out, 64 steps at a time through a bit transpose.


cdef extern from "mux_fc.h" nogil:
    void mux_fc_btanh_block_c(const uint64_t* x, Py_ssize_t w, const uint64_t* xb,
                              Py_ssize_t nwx, const int64_t* se,
                              const uint64_t* tab, const int64_t* rw, Py_ssize_t S,
                              Py_ssize_t g, Py_ssize_t n, Py_ssize_t Lc, Py_ssize_t nl,
                              Py_ssize_t q0, Py_ssize_t nq, int apx, int nv, int ns, int nt,
                              uint64_t nbt, uint64_t rr, int64_t st0, uint64_t* xm,
                              uint64_t* ov, Py_ssize_t wo, Py_ssize_t no) noexcept
    int mux_fc_sums_c(const uint64_t* x, Py_ssize_t w, const uint64_t* xb, Py_ssize_t nwx,
                      const int64_t* se, const uint64_t* tab,
                      const int64_t* rw, Py_ssize_t S, Py_ssize_t g, Py_ssize_t n, Py_ssize_t Lc,
                      Py_ssize_t nl, int apx, uint64_t* xm, int64_t* out,
                      Py_ssize_t no) noexcept


def _mux_fc_xbits(x, Py_ssize_t n, Py_ssize_t L):
    """The inputs transposed for the masks: ``uint64[L, nwx]``, bit i of row t = bit t of input
    i (``x: uint64[n-1, W]``), bit n - 1 (the bias input) set, a spare zero word at the end."""
    cdef Py_ssize_t nwx = (n + 63) // 64 + 1, W = (L + 63) // 64
    xb = np.zeros((W * 64, nwx), dtype=np.uint64)
    cdef uint64_t[:, ::1] bv = xb
    cdef const uint64_t[:, ::1] xv = x
    cdef uint64_t a[64]
    cdef Py_ssize_t ib, w, r, c
    with nogil:
        for ib in range(0, n - 1, 64):
            for w in range(W):
                for r in range(64):
                    a[r] = xv[ib + r, w] if ib + r < n - 1 else 0
                archsim_transpose64(a)
                for c in range(64):
                    bv[w * 64 + c, ib >> 6] = a[c]
        for r in range(W * 64):
            bv[r, (n - 1) >> 6] |= (<uint64_t>1) << ((n - 1) & 63)
    return xb


def mux_fc_table(source, select, bit_index, G):
    """Weight bits per (phase, weight bit) pair, slot and neuron lane and the pair of every step:
    ``(tab uint64[rows, G, lanes], row int64[S])`` (see reference)."""
    source = np.asarray(source)
    if source.dtype != np.uint64 or source.ndim != 3:
        raise ValueError(f"source must be uint64[outputs, n, Wsrc], got {source.dtype} {source.shape}")
    cdef Py_ssize_t g = int(G)
    if g < 1:
        raise ValueError(f"G={g} must be >= 1")
    cdef Py_ssize_t outputs = source.shape[0], n = source.shape[1], wsrc = source.shape[2]
    sel = np.ascontiguousarray(np.asarray(select, dtype=np.int64).reshape(-1))
    bi = np.ascontiguousarray(np.asarray(bit_index, dtype=np.int64).reshape(-1))
    if sel.size != bi.size:
        raise ValueError(f"select has {sel.size} entries but bit_index {bi.size}")
    if sel.size and (sel.min() < 0 or bi.min() < 0 or bi.max() >= 64 * wsrc):
        raise ValueError(f"select must be >= 0 and bit_index in 0..{64 * wsrc - 1}")
    pm, pj, row = _ref._mux_fc_table_rows(sel, bi, n, g)
    cdef Py_ssize_t U = pm.size, nl = (outputs + 63) // 64
    tab = np.zeros((U, g, nl), dtype=np.uint64)
    if U == 0 or outputs == 0:
        return tab, row
    src = np.ascontiguousarray(source)
    cdef const uint64_t[:, :, ::1] sv = src
    cdef const int64_t[::1] se = np.ascontiguousarray(pm, dtype=np.int64)
    cdef const int64_t[::1] bv = np.ascontiguousarray(pj, dtype=np.int64)
    cdef uint64_t[:, :, ::1] tv = tab
    cdef Py_ssize_t u, k, o, i, base, wj
    cdef int64_t j
    cdef uint64_t word
    cdef Py_ssize_t q, o_end
    with nogil:
        for q in range(nl):  # one lane (64 neurons) at a time: its source rows stay in cache
            o_end = 64 * q + 64 if 64 * q + 64 < outputs else outputs
            for u in range(U):
                base = g * se[u]  # the phase is clamped to ceil(n/G): base <= n + g
                j = bv[u]
                wj = j >> 6
                for k in range(g):
                    i = base + k
                    if i >= n:
                        break
                    word = 0
                    for o in range(64 * q, o_end):
                        word |= ((sv[o, i, wj] >> (j & 63)) & 1) << (o - 64 * q)
                    tv[u, k, q] = word
    return tab, row


def mux_fc_btanh(x, tab, row, select, n, G, L, approx, n_btanh, r, s0, outputs):
    """MUX-shared FC + Btanh, neuron-sliced -> ``uint64[outputs, W]`` (see reference)."""
    x, tab, row, sel, n, G, L, outputs = _ref._mux_fc_table_args(x, tab, row, select, n, G, L,
                                                                 outputs)
    cdef Py_ssize_t S = sel.size, Lc = L, g = G, nn = n, no = outputs
    if S < Lc:
        raise ValueError(f"{S} steps cannot emit a stream of length {Lc}")
    cdef int64_t rr = int(r), nbt = int(n_btanh), st0 = int(s0)
    if rr < 2 or not 0 <= st0 < rr:
        raise ValueError(f"Btanh needs r >= 2 and 0 <= s0 < r; got r={rr}, s0={st0}")
    cdef Py_ssize_t W = n_words(Lc), nl = (no + 63) // 64
    out = np.zeros((no, W), dtype=np.uint64)
    if no == 0 or Lc == 0:
        return out
    cdef bint apx = bool(approx)
    cdef int64_t vmax = (2 * (g // 2) + (g & 1)) if apx else g
    cdef int nv = _bit_length(vmax) + 1
    cdef int ns = _bit_length(rr - 1)
    cdef int64_t tmax = max(rr - 1 + 2 * vmax, nbt, rr)
    cdef int nt = _bit_length(tmax) + 1
    if nt > MAXB or nv > MAXB:
        raise ValueError(f"counts too wide for the bit-sliced Btanh ({nt} bits)")
    xc = np.ascontiguousarray(x)
    cdef const uint64_t[:, ::1] xv = xc
    cdef const int64_t[::1] se = np.ascontiguousarray(sel)
    cdef const uint64_t[:, :, ::1] tv = tab
    cdef const int64_t[::1] rv = row
    cdef uint64_t[:, ::1] ov = out
    cdef uint64_t* xm = <uint64_t*>malloc(g * sizeof(uint64_t))
    if xm == NULL:
        raise MemoryError()
    cdef Py_ssize_t q0
    cdef const uint64_t* xp = &xv[0, 0] if xv.shape[0] > 0 else NULL
    xb = _mux_fc_xbits(xc, nn, Lc) if g <= 64 else None
    cdef const uint64_t[:, ::1] xbv = xb
    cdef const uint64_t* xbp = &xbv[0, 0] if xb is not None else NULL
    cdef Py_ssize_t nwx = xb.shape[1] if xb is not None else 0
    try:
        with nogil:
            q0 = 0
            while q0 < nl:
                mux_fc_btanh_block_c(xp, xv.shape[1], xbp, nwx, &se[0], &tv[0, 0, 0], &rv[0],
                                     S, g, nn, Lc, nl, q0, nl - q0 if nl - q0 < LANES else LANES, apx,
                                     nv, ns, nt, <uint64_t>nbt, <uint64_t>rr, st0, xm,
                                     &ov[0, 0], W, no)
                q0 += LANES
    finally:
        free(xm)
    return out


def mux_fc_sums(x, tab, row, select, n, G, L, approx, outputs):
    """MUX-shared FC output counters, neuron-sliced -> ``int64[outputs]`` (see reference)."""
    x, tab, row, sel, n, G, L, outputs = _ref._mux_fc_table_args(x, tab, row, select, n, G, L,
                                                                 outputs)
    cdef Py_ssize_t S = sel.size, Lc = L, g = G, nn = n, no = outputs
    out = np.zeros(no, dtype=np.int64)
    if no == 0 or S == 0:
        return out
    cdef Py_ssize_t nl = (no + 63) // 64
    cdef bint apx = bool(approx)
    cdef int64_t vmax = (2 * (g // 2) + (g & 1)) if apx else g
    cdef int na = _bit_length(vmax * S) + 1
    if na > MAXB:
        raise ValueError(f"sums too wide for the bit-sliced accumulator ({na} bits)")
    xc = np.ascontiguousarray(x)
    cdef const uint64_t[:, ::1] xv = xc
    cdef const int64_t[::1] se = np.ascontiguousarray(sel)
    cdef const uint64_t[:, :, ::1] tv = tab
    cdef const int64_t[::1] rv = row
    cdef int64_t[::1] ov = out
    cdef uint64_t* xm = <uint64_t*>malloc(g * sizeof(uint64_t))
    if xm == NULL:
        raise MemoryError()
    cdef const uint64_t* xp = &xv[0, 0] if xv.shape[0] > 0 else NULL
    xb = _mux_fc_xbits(xc, nn, Lc) if g <= 64 else None
    cdef const uint64_t[:, ::1] xbv = xb
    cdef const uint64_t* xbp = &xbv[0, 0] if xb is not None else NULL
    cdef Py_ssize_t nwx = xb.shape[1] if xb is not None else 0
    cdef int rc
    try:
        with nogil:
            rc = mux_fc_sums_c(xp, xv.shape[1], xbp, nwx, &se[0], &tv[0, 0, 0], &rv[0], S, g,
                               nn, Lc, nl, apx, xm, &ov[0], no)
    finally:
        free(xm)
    if rc != 0:
        raise MemoryError()
    return out
