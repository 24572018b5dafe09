# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled bit kernels of the SC datapath (``archsim._kernels_sc``).

Same functions, signatures and bits as the NumPy oracle ``archsim.sc.reference``; the argument
checks are shared with it. Streams are packed ``uint64`` words, LSB first, tail bits zero.

The parallel counters (PC, Kim's APC, and the fused XNOR + counter of FC and conv neurons) are
bit-sliced: for a block of up to 16 cycle-words (1024 cycles, two cache lines of every input
row) the product words of all inputs are added into a vertical binary counter, one ``uint64``
bit-plane per count bit, with a Harley-Seal carry-save adder network (16 words per step, and
the same network again on the carries of 16 steps), so one word operation adds 64 cycles at
once. The per-cycle counts are then read out of the bit-planes by 8x8 bit-matrix transposes.
The counters add mismatch words ``x ^ w`` (the complement of the XNOR product) and subtract at
the end; the APC combines input pairs first (OR of products = NOT AND of mismatches for an
even pair, AND of products = NOT OR for an odd pair) and returns ``2 * count + x[n-1]``.
"""

import sys

import numpy as np

from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport calloc, free, malloc
from libc.string cimport memcpy, memset

from archsim.sc import reference as _ref
from archsim.sc.rng import (
    _check_lfsr_seed,
    lfsr_tap_mask,
    n_words,
    sobol_direction_vectors,
    tail_mask,
)


cdef extern from *:
    int __builtin_popcountll(unsigned long long) nogil
    int __builtin_parityll(unsigned long long) nogil
    int __builtin_ctzll(unsigned long long) nogil


ctypedef const uint64_t* cwordp

cdef extern from "hs_simd.h" nogil:
    void archsim_hs16_pc(const cwordp* xp, const cwordp* wp, Py_ssize_t i, Py_ssize_t w0,
                         uint64_t* st, Py_ssize_t blk, uint64_t* s16, int nvec) noexcept
    void archsim_hs16_apc(const cwordp* xp, const cwordp* wp, Py_ssize_t p, Py_ssize_t w0,
                          uint64_t* st, Py_ssize_t blk, uint64_t* s16, int nvec) noexcept
    int64_t archsim_mismatch_popcount(const cwordp* xp, const cwordp* wp, Py_ssize_t n,
                                      Py_ssize_t nwords) noexcept
    void archsim_transpose64(uint64_t* a) noexcept

cdef bint _LITTLE_ENDIAN = sys.byteorder == "little"
# b * _SPREAD_BITS4 (b < 16) puts bit i of b at bit 16 * i (the shifted copies do not overlap)
cdef uint64_t _SPREAD_BITS4 = 0x0000200040008001

cdef enum:
    BLK = 16       # cycle-words counted together (two 64-byte lines of every input row)
    MAXPLANES = 16 # count bit-planes (uint16 counts)
    ZROW = 4096    # words of the all-zero row that pads a short group of inputs

cdef uint64_t _ZEROS[ZROW]  # static storage: all zero


# ============================================================================ sequences


def lfsr_sequence(width, length, seed=1, taps=None):
    """Fibonacci LFSR states ``uint32[length]`` (first = seed); see ``archsim.sc.rng``."""
    cdef int w = int(width)
    cdef Py_ssize_t n = int(length)
    if n < 0:
        raise ValueError(f"length={n} must be >= 0")
    cdef uint64_t mask = lfsr_tap_mask(w, taps)
    cdef uint64_t state = _check_lfsr_seed(w, seed)
    cdef uint64_t full = (<uint64_t>1 << w) - 1
    out = np.empty(n, dtype=np.uint32)
    cdef uint32_t[::1] o = out
    cdef Py_ssize_t t
    with nogil:
        for t in range(n):
            o[t] = <uint32_t>state
            state = ((state << 1) | <uint64_t>__builtin_parityll(state & mask)) & full
    return out


def sobol_sequence(width, length, dim=0):
    """First ``length`` Sobol points of dimension ``dim`` on ``width`` bits (Gray-code order)."""
    cdef int w = int(width)
    cdef Py_ssize_t n = int(length)
    if not 1 <= w <= 32:
        raise ValueError(f"Sobol width={w} must be in 1..32")
    if not 0 <= n <= 4294967296:
        raise ValueError(f"Sobol length={n} must be in 0..2**32")
    cdef uint32_t[::1] v = sobol_direction_vectors(dim)
    out = np.empty(n, dtype=np.uint32)
    cdef uint32_t[::1] o = out
    cdef uint32_t x = 0
    cdef int shift = 32 - w
    cdef Py_ssize_t k
    with nogil:
        for k in range(n):
            if k:
                x ^= v[__builtin_ctzll(<unsigned long long>k)]
            o[k] = x >> shift
    return out


def counter_sequence(width, length):
    """Ascending counter ``t mod 2**width`` as ``uint32[length]``."""
    cdef int w = int(width)
    if not 1 <= w <= 32:
        raise ValueError(f"counter width={w} must be in 1..32")
    cdef Py_ssize_t n = int(length)
    out = np.empty(n, dtype=np.uint32)
    cdef uint32_t[::1] o = out
    cdef uint64_t m = (<uint64_t>1 << w) - 1
    cdef Py_ssize_t t
    with nogil:
        for t in range(n):
            o[t] = <uint32_t>(<uint64_t>t & m)
    return out


# ============================================================================ SNG


def sng(values, rng, length, rule="gt", offsets=None):
    """Comparator SNG ``uint64[N, W]``: bit t of stream i is ``values[i] > rng[(t+off[i]) % P]``."""
    cdef Py_ssize_t L = _ref._length(length)
    vals = np.ascontiguousarray(np.asarray(values, dtype=np.int64).reshape(-1))
    r = np.ascontiguousarray(np.asarray(rng, dtype=np.uint32).reshape(-1))
    if r.size == 0:
        raise ValueError("rng sequence is empty")
    if rule not in ("gt", "ge"):
        raise ValueError(f"SNG rule={rule!r} must be 'gt' or 'ge'")
    off = np.zeros(vals.shape, np.int64) if offsets is None else np.asarray(offsets, np.int64)
    off = np.ascontiguousarray(np.broadcast_to(off.reshape(-1) if off.ndim else off, vals.shape))
    cdef Py_ssize_t N = vals.shape[0], W = n_words(L), P = r.shape[0]
    out = np.zeros((N, W), dtype=np.uint64)
    if N == 0 or W == 0:
        return out
    # the sequence unrolled cyclically to P + L entries: every stream reads a contiguous run
    # (rule ge: v >= r is v + 1 > r), so each word is 64 independent compares that vectorise
    r2 = np.resize(r.astype(np.int64), P + L)
    cdef const int64_t[::1] v = vals
    cdef const int64_t[::1] o = off
    cdef const int64_t[::1] rr = r2
    cdef uint64_t[:, ::1] res = out
    cdef bint ge = rule == "ge"
    cdef Py_ssize_t i, j, w, idx, nb
    cdef int64_t vi
    cdef uint64_t word
    cdef const int64_t* seq
    with nogil:
        for i in range(N):
            vi = v[i] + 1 if ge else v[i]
            idx = o[i] % P
            if idx < 0:
                idx += P
            for w in range(W):
                seq = &rr[idx + 64 * w]
                word = 0
                nb = L - 64 * w
                if nb >= 64:
                    for j in range(64):
                        word |= (<uint64_t>(vi > seq[j])) << j
                else:
                    for j in range(nb):
                        word |= (<uint64_t>(vi > seq[j])) << j
                res[i, w] = word
    return out


# ============================================================================ gates


cdef _binary_gate(a, b, length, bint is_xnor):
    cdef Py_ssize_t L = _ref._length(length)
    a = _ref._words(a, L, "a")
    b = _ref._words(b, L, "b")
    shape = np.broadcast_shapes(a.shape, b.shape)
    cdef Py_ssize_t W = n_words(L)
    aa = np.ascontiguousarray(np.broadcast_to(a, shape)).reshape(-1, W)
    bb = np.ascontiguousarray(np.broadcast_to(b, shape)).reshape(-1, W)
    out = np.empty(aa.shape, dtype=np.uint64)
    if out.size == 0:
        return out.reshape(shape)
    cdef const uint64_t[:, ::1] x = aa
    cdef const uint64_t[:, ::1] y = bb
    cdef uint64_t[:, ::1] z = out
    cdef uint64_t tm = <uint64_t>tail_mask(L)
    cdef Py_ssize_t i, j, N = aa.shape[0]
    with nogil:
        for i in range(N):
            if is_xnor:
                for j in range(W):
                    z[i, j] = ~(x[i, j] ^ y[i, j])
            else:
                for j in range(W):
                    z[i, j] = x[i, j] & y[i, j]
            z[i, W - 1] &= tm
    return out.reshape(shape)


def xnor(a, b, length):
    """Bipolar multiply: bitwise XNOR of two packed streams (broadcasting), tail bits 0."""
    return _binary_gate(a, b, length, True)


def and_(a, b, length):
    """Unipolar multiply: bitwise AND of two packed streams (broadcasting), tail bits 0."""
    return _binary_gate(a, b, length, False)


# ============================================================================ bit-sliced counter
#
# The counters add "mismatch" words e = x ^ w, the complement of the XNOR product, which saves
# a NOT per input: PC = n - count(e). For the APC, an even pair's OR of products is
# ~(e0 & e1) and an odd pair's AND is ~(e0 | e1), so APC = 2 * (m - count(h)) + (product of
# the odd last input), where h is the AND (even pair) / OR (odd pair) of the two mismatches.


cdef inline void _csa(uint64_t* h, uint64_t* l, uint64_t a, uint64_t b, uint64_t c) noexcept nogil:
    """Carry-save (full) adder on 64 lanes: a + b + c = 2*h + l."""
    cdef uint64_t u = a ^ b
    h[0] = (a & b) | (u & c)
    l[0] = u ^ c


cdef inline void _hs16(uint64_t* st, uint64_t* s16, Py_ssize_t j,
                       uint64_t d0, uint64_t d1, uint64_t d2, uint64_t d3,
                       uint64_t d4, uint64_t d5, uint64_t d6, uint64_t d7,
                       uint64_t d8, uint64_t d9, uint64_t d10, uint64_t d11,
                       uint64_t d12, uint64_t d13, uint64_t d14, uint64_t d15) noexcept nogil:
    """Harley-Seal step: add 16 words to planes 0-3 (ones..eights) of lane j.

    ``st[k * BLK + j]`` is bit-plane k of lane j; the carry out (the sixteens) goes to s16[j].
    """
    cdef uint64_t ones = st[j], twos = st[BLK + j], fours = st[2 * BLK + j]
    cdef uint64_t eights = st[3 * BLK + j]
    cdef uint64_t twos_a, twos_b, fours_a, fours_b, eights_a, eights_b, sixteens
    _csa(&twos_a, &ones, ones, d0, d1)
    _csa(&twos_b, &ones, ones, d2, d3)
    _csa(&fours_a, &twos, twos, twos_a, twos_b)
    _csa(&twos_a, &ones, ones, d4, d5)
    _csa(&twos_b, &ones, ones, d6, d7)
    _csa(&fours_b, &twos, twos, twos_a, twos_b)
    _csa(&eights_a, &fours, fours, fours_a, fours_b)
    _csa(&twos_a, &ones, ones, d8, d9)
    _csa(&twos_b, &ones, ones, d10, d11)
    _csa(&fours_a, &twos, twos, twos_a, twos_b)
    _csa(&twos_a, &ones, ones, d12, d13)
    _csa(&twos_b, &ones, ones, d14, d15)
    _csa(&fours_b, &twos, twos, twos_a, twos_b)
    _csa(&eights_b, &fours, fours, fours_a, fours_b)
    _csa(&sixteens, &eights, eights, eights_a, eights_b)
    st[j] = ones
    st[BLK + j] = twos
    st[2 * BLK + j] = fours
    st[3 * BLK + j] = eights
    s16[j] = sixteens


cdef inline void _ripple(uint64_t* st, uint64_t* carry, int first, int nplanes,
                         Py_ssize_t nl) noexcept nogil:
    """Ripple-add the carry words (weight 2**first) into planes first.. of lanes j < nl."""
    cdef int k
    cdef Py_ssize_t j
    cdef uint64_t t
    for k in range(first, nplanes):
        for j in range(nl):
            t = st[k * BLK + j] & carry[j]
            st[k * BLK + j] ^= carry[j]
            carry[j] = t


cdef inline uint64_t _mis(const cwordp* xp, const cwordp* wp, Py_ssize_t i,
                          Py_ssize_t w) noexcept nogil:
    """Mismatch word of input i: ~XNOR product."""
    return xp[i][w] ^ wp[i][w]


cdef inline void _fill16_pc(const cwordp* xp, const cwordp* wp, Py_ssize_t i, Py_ssize_t cnt,
                            Py_ssize_t w0, Py_ssize_t lanes, Py_ssize_t nl, uint64_t* d) noexcept nogil:
    """d[q * BLK + j] = mismatch word w0 + j of input i + q for q < cnt, j < lanes; else 0."""
    cdef Py_ssize_t q, j
    cdef const uint64_t* a
    cdef const uint64_t* b
    for q in range(cnt):
        a = xp[i + q] + w0
        b = wp[i + q] + w0
        for j in range(lanes):
            d[q * BLK + j] = a[j] ^ b[j]
        for j in range(lanes, nl):
            d[q * BLK + j] = 0
    for q in range(cnt, 16):
        for j in range(nl):
            d[q * BLK + j] = 0


cdef inline void _fill16_apc(const cwordp* xp, const cwordp* wp, Py_ssize_t p, Py_ssize_t cnt,
                             Py_ssize_t w0, Py_ssize_t lanes, Py_ssize_t nl, uint64_t* d) noexcept nogil:
    """d[q * BLK + j] = pair word w0 + j of pair p + q (p even) for q < cnt, j < lanes; else 0.

    Lanes ``lanes <= j < nl`` are zero-filled; ``nl`` is the lane count of the block."""
    cdef Py_ssize_t q, j
    cdef const uint64_t* a0
    cdef const uint64_t* b0
    cdef const uint64_t* a1
    cdef const uint64_t* b1
    q = 0
    while q < cnt:  # pairs alternate: even pair -> AND of mismatches, odd pair -> OR
        a0 = xp[2 * (p + q)] + w0
        b0 = wp[2 * (p + q)] + w0
        a1 = xp[2 * (p + q) + 1] + w0
        b1 = wp[2 * (p + q) + 1] + w0
        for j in range(lanes):
            d[q * BLK + j] = (a0[j] ^ b0[j]) & (a1[j] ^ b1[j])
        q += 1
        if q == cnt:
            break
        a0 = xp[2 * (p + q)] + w0
        b0 = wp[2 * (p + q)] + w0
        a1 = xp[2 * (p + q) + 1] + w0
        b1 = wp[2 * (p + q) + 1] + w0
        for j in range(lanes):
            d[q * BLK + j] = (a0[j] ^ b0[j]) | (a1[j] ^ b1[j])
        q += 1
    for q in range(cnt):
        for j in range(lanes, nl):
            d[q * BLK + j] = 0
    for q in range(cnt, 16):
        for j in range(nl):
            d[q * BLK + j] = 0


cdef inline void _step16(const uint64_t* d, uint64_t* st, uint64_t* s16, Py_ssize_t nl) noexcept nogil:
    """Add the 16 words d[q * BLK + j] of lanes j < nl to the counter."""
    cdef Py_ssize_t j
    for j in range(nl):
        _hs16(st, s16, j,
              d[j], d[BLK + j], d[2 * BLK + j], d[3 * BLK + j],
              d[4 * BLK + j], d[5 * BLK + j], d[6 * BLK + j], d[7 * BLK + j],
              d[8 * BLK + j], d[9 * BLK + j], d[10 * BLK + j], d[11 * BLK + j],
              d[12 * BLK + j], d[13 * BLK + j], d[14 * BLK + j], d[15 * BLK + j])


cdef inline uint64_t _transpose8(uint64_t x) noexcept nogil:
    """Transpose the 8x8 bit matrix held in x (row r = byte r, column c = bit c)."""
    cdef uint64_t t
    t = (x ^ (x >> 7)) & <uint64_t>0x00AA00AA00AA00AA
    x = x ^ t ^ (t << 7)
    t = (x ^ (x >> 14)) & <uint64_t>0x0000CCCC0000CCCC
    x = x ^ t ^ (t << 14)
    t = (x ^ (x >> 28)) & <uint64_t>0x00000000F0F0F0F0
    x = x ^ t ^ (t << 28)
    return x


cdef inline void _swap_bytes(uint64_t* p, int a, int b, int s, uint64_t m) noexcept nogil:
    cdef uint64_t t = ((p[a] >> s) ^ p[b]) & m
    p[a] ^= t << s
    p[b] ^= t


cdef inline void _planes_to_bytes(uint64_t* p) noexcept nogil:
    """8 bit-planes p[0..7] of 64 lanes -> byte r of p[j] = sum_k (bit 8j+r of p[k]) << k."""
    cdef int k, j
    # transpose the 8x8 byte matrix (row k = plane k, column j = byte j) ...
    for k in range(4):
        _swap_bytes(p, k, k + 4, 32, <uint64_t>0x00000000FFFFFFFF)
    for k in range(0, 8, 4):
        _swap_bytes(p, k, k + 2, 16, <uint64_t>0x0000FFFF0000FFFF)
        _swap_bytes(p, k + 1, k + 3, 16, <uint64_t>0x0000FFFF0000FFFF)
    for k in range(0, 8, 2):
        _swap_bytes(p, k, k + 1, 8, <uint64_t>0x00FF00FF00FF00FF)
    # ... then byte k of p[j] is byte j of plane k: transpose the bits of each p[j]
    for j in range(8):
        p[j] = _transpose8(p[j])


cdef inline uint64_t _spread4(uint64_t x) noexcept nogil:
    """The 4 low bytes of x -> the low bytes of 4 16-bit lanes."""
    x &= <uint64_t>0x00000000FFFFFFFF
    x = (x | (x << 16)) & <uint64_t>0x0000FFFF0000FFFF
    x = (x | (x << 8)) & <uint64_t>0x00FF00FF00FF00FF
    return x


cdef inline void _extract(const uint64_t* planes, int nplanes, bint approx, bint odd,
                          uint64_t m, uint16_t* out, Py_ssize_t nvalid) noexcept nogil:
    """Read the per-lane counts of one cycle-word out of its bit-planes and write the result.

    ``planes[0..nplanes)`` hold c = the mismatch (PC) or pair-word (APC) count per lane; for the
    APC with odd n, ``planes[nplanes]`` holds the product of the unpaired last input. Writes
    ``out[b] = m - c`` (PC) or ``2 * (m - c) + last`` (APC) for lanes b < nvalid. The lanes
    are handled four at a time as 16-bit fields of a uint64 (no field over- or underflows:
    c <= m and 2 * m + 1 <= 65535).
    """
    cdef uint64_t lo[8]
    cdef uint64_t hi[8]
    cdef uint64_t res[16]
    cdef uint64_t x, c
    cdef uint64_t ones4 = <uint64_t>0x0001000100010001
    cdef uint64_t m4 = m * ones4
    cdef uint64_t mask4 = ((<uint64_t>1 << nplanes) - 1) * ones4
    cdef int ntot = nplanes + 1 if odd else nplanes  # APC, odd n: the last-input plane
    cdef int k, j
    cdef Py_ssize_t b
    for k in range(8):
        lo[k] = planes[k] if k < ntot else 0
    _planes_to_bytes(lo)
    if ntot > 10:
        for k in range(8):
            hi[k] = planes[8 + k] if 8 + k < ntot else 0
        _planes_to_bytes(hi)
    for j in range(16):
        x = _spread4(lo[j >> 1] >> (32 * (j & 1)))
        if ntot > 10:
            x |= _spread4(hi[j >> 1] >> (32 * (j & 1))) << 8
        else:  # one or two high planes: spread their 4 bits of this quad directly
            for k in range(8, ntot):
                x |= (((planes[k] >> (4 * j)) & 15) * _SPREAD_BITS4 & ones4) << k
        if approx:
            c = x & mask4
            x = ((m4 - c) << 1) + ((x >> nplanes) & ones4)
        else:
            x = m4 - x
        res[j] = x
    if nvalid == 64 and _LITTLE_ENDIAN:
        for j in range(16):
            memcpy(out + 4 * j, &res[j], 8)
    else:
        for b in range(nvalid):
            out[b] = <uint16_t>(res[b >> 2] >> (16 * (b & 3)))


cdef inline int _bit_length(Py_ssize_t m) noexcept nogil:
    cdef int nb = 0
    while m > 0:
        nb += 1
        m >>= 1
    return nb


cdef inline void _count_block(const cwordp* xp, const cwordp* wp, Py_ssize_t n, int ncand,
                              Py_ssize_t w0, Py_ssize_t lanes, Py_ssize_t nl, bint approx,
                              uint64_t* st, int nplanes) noexcept nogil:
    """Mismatch (PC) or pair-word (APC) counts at words w0.. of ``ncand`` (1..4) neurons that
    share the weight rows wp: neuron c's inputs are ``xp[c * n + i]``, its planes ``st + c *
    MAXPLANES * BLK``.

    ``lanes`` valid lanes are counted in a block of ``nl >= lanes`` lanes (the rest are zero).
    Called with literal ``nl``, ``ncand`` and ``approx`` so that the compiler specialises (and
    vectorises) the loops; inputs past the last group of 16 are padded with zero words. The
    neurons advance in lockstep, 16 inputs at a time, so the weight words and the input rows
    that neighbouring conv windows share are read again while they are in L1.

    Level 1 adds 16 words at a time into planes 0-3. With more than 64 words its carries (the
    sixteens) are collected and added 16 at a time by the same adder network into planes 4-7
    (level 2), whose carries ripple into planes 8..; with few words the sixteens ripple into
    planes 4.. directly. Each ``st`` block must have its planes 0-3 (m <= 64; else 0-7) and up
    to nplanes zeroed.
    """
    cdef uint64_t carry[BLK]
    cdef uint64_t d[16 * BLK]
    cdef uint64_t s16[4 * 16 * BLK]
    cdef Py_ssize_t m = n // 2 if approx else n
    cdef Py_ssize_t i = 0, cnt, q2 = 0, q, j
    cdef bint two_level = m > 64, flush
    cdef int c
    cdef uint64_t* sc
    cdef uint64_t* s1
    cdef uint64_t* dst
    cdef cwordp px[32]
    cdef cwordp pw[32]
    cdef Py_ssize_t k2
    while i < m:
        cnt = m - i if m - i < 16 else 16
        flush = two_level and (q2 == 15 or i + 16 >= m)
        for c in range(ncand):
            sc = st + c * (MAXPLANES * BLK)
            s1 = s16 + c * (16 * BLK)
            if lanes == nl and (nl & 3) == 0 and (cnt == 16 or w0 + nl <= ZROW):
                # the XNORs feed the adder network directly (hs_simd.h); a short last group
                # is padded with zero rows (mismatch 0, pair word 0: they add nothing)
                dst = s1 + q2 * BLK if two_level else carry
                if cnt == 16:
                    if approx:
                        archsim_hs16_apc(xp + c * n, wp, i, w0, sc, BLK, dst, <int>(nl >> 2))
                    else:
                        archsim_hs16_pc(xp + c * n, wp, i, w0, sc, BLK, dst, <int>(nl >> 2))
                else:
                    k2 = 2 * cnt if approx else cnt  # rows of the group
                    for q in range(32):
                        if q < k2:
                            px[q] = xp[c * n + (2 * i if approx else i) + q]
                            pw[q] = wp[(2 * i if approx else i) + q]
                        else:
                            px[q] = _ZEROS
                            pw[q] = _ZEROS
                    # group i starts at an even pair (i is a multiple of 16): same parities
                    if approx:
                        archsim_hs16_apc(px, pw, 0, w0, sc, BLK, dst, <int>(nl >> 2))
                    else:
                        archsim_hs16_pc(px, pw, 0, w0, sc, BLK, dst, <int>(nl >> 2))
                if not two_level:
                    _ripple(sc, carry, 4, nplanes, nl)
                elif flush:
                    for q in range(q2 + 1, 16):
                        for j in range(nl):
                            s1[q * BLK + j] = 0
                    _step16(s1, sc + 4 * BLK, carry, nl)
                    _ripple(sc, carry, 8, nplanes, nl)
                continue
            if approx:
                _fill16_apc(xp + c * n, wp, i, cnt, w0, lanes, nl, d)
            else:
                _fill16_pc(xp + c * n, wp, i, cnt, w0, lanes, nl, d)
            if not two_level:
                _step16(d, sc, carry, nl)
                _ripple(sc, carry, 4, nplanes, nl)
                continue
            _step16(d, sc, s1 + q2 * BLK, nl)
            if flush:
                for q in range(q2 + 1, 16):
                    for j in range(nl):
                        s1[q * BLK + j] = 0
                _step16(s1, sc + 4 * BLK, carry, nl)
                _ripple(sc, carry, 8, nplanes, nl)
        i += 16
        if two_level:
            q2 = 0 if flush else q2 + 1


cdef inline Py_ssize_t _count_lanes(const cwordp* xp, const cwordp* wp, Py_ssize_t n,
                                     int ncand, Py_ssize_t w0, Py_ssize_t nwords, bint approx,
                                     uint64_t* st, int nst) noexcept nogil:
    """Count the next block of cycle-words from w0 for ``ncand`` neurons (``_count_block``),
    their planes zeroed first; returns the block's lane count. Full blocks of 16 and 8 lanes
    get specialised code; the last < 8 lanes are padded."""
    cdef Py_ssize_t lanes = nwords - w0
    cdef int c
    for c in range(ncand):
        memset(st + c * (MAXPLANES * BLK), 0, nst * BLK * sizeof(uint64_t))
    if lanes >= 16:
        if approx:
            _count_block(xp, wp, n, ncand, w0, 16, 16, True, st, nst)
        else:
            _count_block(xp, wp, n, ncand, w0, 16, 16, False, st, nst)
        return 16
    if lanes >= 8:
        if approx:
            _count_block(xp, wp, n, ncand, w0, 8, 8, True, st, nst)
        else:
            _count_block(xp, wp, n, ncand, w0, 8, 8, False, st, nst)
        return 8
    _count_block(xp, wp, n, ncand, w0, lanes, 8, approx, st, nst)
    return lanes


cdef void _count_neuron(const cwordp* xp, const cwordp* wp, Py_ssize_t n, Py_ssize_t nwords,
                        Py_ssize_t length, bint approx, uint16_t* out) noexcept nogil:
    """Per-cycle PC/APC count of the n products XNOR(*xp[i], *wp[i]) into out[0..length)."""
    cdef uint64_t st[MAXPLANES * BLK]
    cdef uint64_t planes[MAXPLANES + 1]
    cdef Py_ssize_t m = n // 2 if approx else n
    cdef int nplanes = _bit_length(m)
    cdef bint odd = approx and (n & 1)
    cdef Py_ssize_t w0, lanes, nvalid
    cdef int j, k, nst = nplanes if nplanes > 8 else 8
    w0 = 0
    while w0 < nwords:
        lanes = _count_lanes(xp, wp, n, 1, w0, nwords, approx, st, nst)
        for j in range(lanes):
            for k in range(nplanes):
                planes[k] = st[k * BLK + j]
            # APC: the product of the unpaired last input rides above the count planes
            planes[nplanes] = ~_mis(xp, wp, n - 1, w0 + j) if odd else 0
            nvalid = length - (w0 + j) * 64
            if nvalid > 64:
                nvalid = 64
            if approx:
                _extract(planes, nplanes, True, odd, <uint64_t>m, out + (w0 + j) * 64, nvalid)
            else:
                _extract(planes, nplanes, False, False, <uint64_t>m, out + (w0 + j) * 64, nvalid)
        w0 += lanes


cdef uint64_t* _ones_row(Py_ssize_t nwords) noexcept nogil:
    cdef uint64_t* row = <uint64_t*>malloc((nwords if nwords > 0 else 1) * sizeof(uint64_t))
    if row != NULL:
        memset(row, 0xFF, (nwords if nwords > 0 else 1) * sizeof(uint64_t))
    return row


def _counts_plain(x, length, bint approx):
    cdef Py_ssize_t L = _ref._length(length)
    x = _ref._words(x, L)
    if x.ndim != 2:
        raise ValueError(f"x must be uint64[n, W], got shape {x.shape}")
    _ref._check_count_range(x.shape[0])
    out = np.zeros(L, dtype=np.uint16)
    cdef Py_ssize_t n = x.shape[0], W = x.shape[1], i
    if n == 0 or L == 0:
        return out
    xc = np.ascontiguousarray(x)
    cdef const uint64_t[:, ::1] xv = xc
    cdef uint16_t[::1] ov = out
    cdef cwordp* xp = <cwordp*>malloc(n * sizeof(cwordp))
    cdef cwordp* wp = <cwordp*>malloc(n * sizeof(cwordp))
    cdef uint64_t* ones = _ones_row(W)
    try:
        if xp == NULL or wp == NULL or ones == NULL:
            raise MemoryError()
        with nogil:
            for i in range(n):
                xp[i] = &xv[i, 0]
                wp[i] = ones  # XNOR with the all-ones stream is the identity
            _count_neuron(xp, wp, n, W, L, approx, &ov[0])
    finally:
        free(xp)
        free(wp)
        free(ones)
    return out


def pc_counts(x, length):
    """Exact parallel count per cycle of ``x: uint64[n, W]`` -> ``uint16[length]``."""
    return _counts_plain(x, length, False)


def apc_counts(x, length):
    """Kim APC count per cycle of ``x: uint64[n, W]`` -> ``uint16[length]``."""
    return _counts_plain(x, length, True)


def xnor_counts(x, w, length, approx, x_period=None):
    """Fused XNOR + PC/APC per cycle for B neurons: ``x [B, n, W]``, ``w [n, W] | [B, n, W]``;
    with ``x_period = P``, x is ``[B, n, P]``, periodic streams by their first P words, which
    are expanded one neuron at a time into a buffer that stays in cache (the weight streams of
    an unshared FC layer are then read from memory 4x less)."""
    cdef Py_ssize_t L = _ref._length(length)
    cdef Py_ssize_t P = 0, W = n_words(L)
    if x_period is not None:
        if L % 64:  # a partial last word: the reference's expansion clears its tail bits
            x = _ref.expand_periodic(x, L, x_period)
        else:
            P = int(x_period)
            x = np.asarray(x)
            if x.dtype != np.uint64 or x.ndim != 3 or x.shape[2] != P or not 1 <= P <= W:
                raise ValueError(f"x_period={P}: x must be uint64[B, n, {P}] with 1 <= {P} <= "
                                 f"{W}; got {x.dtype} {x.shape}")
    if P == 0:
        x = _ref._words(x, L, "x")
    w = _ref._words(w, L, "w")
    if x.ndim != 3 or w.ndim not in (2, 3) or w.shape[w.ndim - 2] != x.shape[1]:
        raise ValueError(f"x must be [B, n, W] and w [n, W] or [B, n, W]; got {x.shape}, {w.shape}")
    if w.ndim == 3 and w.shape[0] != x.shape[0]:
        raise ValueError(f"x has {x.shape[0]} neurons but w has {w.shape[0]}")
    _ref._check_count_range(x.shape[1])
    cdef Py_ssize_t B = x.shape[0], n = x.shape[1], b, i, k, j
    out = np.zeros((B, L), dtype=np.uint16)
    if B == 0 or n == 0 or L == 0:
        return out
    cdef bint shared = w.ndim == 2
    xc = np.ascontiguousarray(x)
    wc = np.ascontiguousarray(w).reshape(-1, n, W)
    cdef const uint64_t[:, :, ::1] xv = xc
    cdef const uint64_t[:, :, ::1] wv = wc
    cdef uint16_t[:, ::1] ov = out
    cdef bint ap = bool(approx)
    cdef cwordp* xp = <cwordp*>malloc(n * sizeof(cwordp))
    cdef cwordp* wp = <cwordp*>malloc(n * sizeof(cwordp))
    cdef uint64_t* xbuf = <uint64_t*>malloc((n * W if P else 1) * sizeof(uint64_t))
    cdef const uint64_t* src
    cdef uint64_t* dst
    try:
        if xp == NULL or wp == NULL or xbuf == NULL:
            raise MemoryError()
        with nogil:
            for b in range(B):
                for i in range(n):
                    if P:  # expand the periodic row into the buffer
                        src = &xv[b, i, 0]
                        dst = xbuf + i * W
                        if P == 4 and W % 4 == 0:
                            for k in range(0, W, 4):
                                dst[k] = src[0]
                                dst[k + 1] = src[1]
                                dst[k + 2] = src[2]
                                dst[k + 3] = src[3]
                        elif P == 1:  # 64-bit streams re-read in rewind order
                            for k in range(W):
                                dst[k] = src[0]
                        elif P == 2 and W % 2 == 0:  # 128-bit streams re-read in rewind order
                            for k in range(0, W, 2):
                                dst[k] = src[0]
                                dst[k + 1] = src[1]
                        else:  # period by period (no division per word); P may not divide W
                            k = 0
                            while k < W:
                                for j in range(P if k + P <= W else W - k):
                                    dst[k + j] = src[j]
                                k += P
                        xp[i] = dst
                    else:
                        xp[i] = &xv[b, i, 0]
                    wp[i] = &wv[0 if shared else b, i, 0]
                _count_neuron(xp, wp, n, W, L, ap, &ov[b, 0])
    finally:
        free(xp)
        free(wp)
        free(xbuf)
    return out


cdef void _window_offsets(Py_ssize_t C, Py_ssize_t H, Py_ssize_t Wd, Py_ssize_t k,
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


def conv_counts(inp, wts, bias, length, approx):
    """Fused valid stride-1 convolution counts ``uint16[F, Ho, Wo, length]`` (see reference)."""
    length, inp, wts, bias = _ref._conv_operands(inp, wts, bias, length)
    cdef Py_ssize_t L = length
    cdef Py_ssize_t C = inp.shape[0], H = inp.shape[1], Wd = inp.shape[2], W = inp.shape[3]
    cdef Py_ssize_t F = wts.shape[0], k = wts.shape[2]
    cdef Py_ssize_t Ho = H - k + 1, Wo = Wd - k + 1, n = C * k * k + 1
    _ref._check_count_range(n)
    out = np.zeros((F, Ho, Wo, L), dtype=np.uint16)
    if F == 0 or L == 0:
        return out
    ic = np.ascontiguousarray(inp)
    wc = np.ascontiguousarray(wts)
    bc = np.ascontiguousarray(bias)
    cdef const uint64_t[:, :, :, ::1] iv = ic
    cdef const uint64_t[:, :, :, :, ::1] wv = wc
    cdef const uint64_t[:, ::1] bv = bc
    cdef uint16_t[:, :, :, ::1] ov = out
    cdef bint ap = bool(approx)
    cdef Py_ssize_t f, y, xx
    cdef cwordp* xp = <cwordp*>malloc(n * sizeof(cwordp))
    cdef cwordp* wp = <cwordp*>malloc(n * sizeof(cwordp))
    cdef Py_ssize_t* xoff = <Py_ssize_t*>malloc(n * sizeof(Py_ssize_t))
    cdef uint64_t* ones = _ones_row(W)
    try:
        if xp == NULL or wp == NULL or xoff == NULL or ones == NULL:
            raise MemoryError()
        with nogil:
            _window_offsets(C, H, Wd, k, W, xoff)
            xp[n - 1] = ones  # the bias input is the all-ones stream: XNOR(1, bias) = bias
            for f in range(F):
                _filter_rows(&wv[f, 0, 0, 0, 0], &bv[f, 0], n - 1, W, wp)
                for y in range(Ho):
                    for xx in range(Wo):
                        _window_rows(&iv[0, y, xx, 0], xoff, n - 1, xp)
                        _count_neuron(xp, wp, n, W, L, ap, &ov[f, y, xx, 0])
    finally:
        free(xp)
        free(wp)
        free(xoff)
        free(ones)
    return out


# ============================================================================ conv -> pool -> Btanh
#
# The fast path of a pooled conv layer never writes the per-cycle counts of all neurons: for
# each 2x2 window the 4 members' counts are kept as bit-planes (the counter's own form), the
# segment sums that the causal max pool compares are popcounts of those planes, only the
# forwarded member's counts are read out of the planes, and the Btanh steps through them.


cdef void _count_planes(const cwordp* xp, const cwordp* wp, Py_ssize_t n, Py_ssize_t nwords,
                        bint approx, uint64_t* planes, Py_ssize_t pstride,
                        uint64_t* st) noexcept nogil:
    """Bit-planes of the per-cycle mismatch (PC) / pair-word (APC) counts of the 4 members of a
    pooling window, which share the weights wp (member c's inputs: ``xp[c * n + i]``): member c's
    plane k at ``planes[c * pstride + k * nwords + w]`` for k < nplanes, and for the APC with
    odd n the product of the unpaired last input at k = nplanes. ``st`` is scratch of
    4 * MAXPLANES * BLK words."""
    cdef Py_ssize_t m = n // 2 if approx else n
    cdef int nplanes = _bit_length(m)
    cdef bint odd = approx and (n & 1)
    # planes the counter touches: 0-3 and the ripple up to nplanes (one level, m <= 64), or
    # 0-7 and up (two levels)
    cdef int nst = nplanes if nplanes > (8 if m > 64 else 4) else (8 if m > 64 else 4)
    cdef Py_ssize_t w0 = 0, lanes, j
    cdef int k, c
    while w0 < nwords:
        lanes = _count_lanes(xp, wp, n, 4, w0, nwords, approx, st, nst)
        for c in range(4):
            for k in range(nplanes):
                for j in range(lanes):
                    planes[c * pstride + k * nwords + w0 + j] = st[c * (MAXPLANES * BLK) + k * BLK + j]
            if odd:
                for j in range(lanes):
                    planes[c * pstride + nplanes * nwords + w0 + j] = ~_mis(xp + c * n, wp, n - 1, w0 + j)
        w0 += lanes


cdef inline int64_t _plane_range_sum(const uint64_t* planes, Py_ssize_t nwords, int nplanes,
                                     bint approx, bint odd, int64_t m, Py_ssize_t lo,
                                     Py_ssize_t hi) noexcept nogil:
    """Sum of the per-cycle counts over cycles lo..hi-1, from the bit-planes (popcounts)."""
    cdef int64_t sc = 0, sl = 0
    cdef Py_ssize_t w, a, b
    cdef uint64_t mask
    cdef int k
    for w in range(lo >> 6, ((hi - 1) >> 6) + 1):
        a = lo - 64 * w if lo > 64 * w else 0
        b = hi - 64 * w if hi < 64 * w + 64 else 64
        mask = (~(<uint64_t>0) >> (64 - (b - a))) << a
        for k in range(nplanes):
            sc += (<int64_t>__builtin_popcountll(planes[k * nwords + w] & mask)) << k
        if odd:
            sl += __builtin_popcountll(planes[nplanes * nwords + w] & mask)
    if approx:
        return 2 * (m * (hi - lo) - sc) + sl
    return m * (hi - lo) - sc


cdef inline uint64_t _pc16(uint64_t x) noexcept nogil:
    """Popcount of each 16-bit field of x, in that field (SWAR)."""
    x = x - ((x >> 1) & <uint64_t>0x5555555555555555)
    x = (x & <uint64_t>0x3333333333333333) + ((x >> 2) & <uint64_t>0x3333333333333333)
    x = (x + (x >> 4)) & <uint64_t>0x0F0F0F0F0F0F0F0F
    return (x + (x >> 8)) & <uint64_t>0x00FF00FF00FF00FF


cdef inline void _aligned_segment_sums(const uint64_t* planes, Py_ssize_t nwords, int nplanes,
                                       bint approx, bint odd, int64_t m, Py_ssize_t seg,
                                       Py_ssize_t L, int64_t* out) noexcept nogil:
    """Sums of the per-cycle counts over every segment, for segments that divide 64 cycles
    (the tail segment may be short): masked popcounts of the planes, word by word.

    Segments of 16, 32 or 64 cycles with m * seg < 2**16 take the SWAR path: per word, the
    count sum of each 16-cycle field is sum_k popcount16(plane k) << k (at most 16 m, so the
    fields never carry into each other; a segment's fields are then summed into its lowest),
    fixed-length loops over words that vectorise."""
    cdef Py_ssize_t w, j, per = 64 // seg, s, lo, hi, nfull = L // 64, w0, wn, f, fper
    cdef uint64_t mask0 = (~(<uint64_t>0)) if seg == 64 else (((<uint64_t>1) << seg) - 1)
    cdef uint64_t mask, p
    cdef int64_t sc[64]
    cdef int64_t sl[64]
    cdef uint64_t acc[64]
    cdef uint64_t accl[64]
    cdef int64_t span2 = 2 * m * seg, span1 = m * seg, a, b
    cdef int64_t* o4
    cdef int k
    if seg >= 16 and m * seg < 65536:
        fper = seg // 16  # 16-bit fields per segment
        w0 = 0
        while w0 < nfull:
            wn = nfull - w0 if nfull - w0 < 64 else 64
            for w in range(wn):
                acc[w] = 0
                accl[w] = 0
            for k in range(nplanes):
                for w in range(wn):
                    acc[w] += _pc16(planes[k * nwords + w0 + w]) << k
            if odd:
                for w in range(wn):
                    accl[w] = _pc16(planes[nplanes * nwords + w0 + w])
            if fper > 1:  # sum the fields of each segment into the low field
                for w in range(wn):
                    acc[w] += acc[w] >> 16
                    accl[w] += accl[w] >> 16
                    if fper > 2:
                        acc[w] += acc[w] >> 32
                        accl[w] += accl[w] >> 32
            if per == 4 and not approx:  # 16-cycle segments, PC: one field each
                for w in range(wn):
                    p = acc[w]
                    o4 = out + (w0 + w) * 4
                    o4[0] = span1 - <int64_t>(p & 0xFFFF)
                    o4[1] = span1 - <int64_t>((p >> 16) & 0xFFFF)
                    o4[2] = span1 - <int64_t>((p >> 32) & 0xFFFF)
                    o4[3] = span1 - <int64_t>(p >> 48)
            elif approx:
                for w in range(wn):
                    for j in range(per):
                        a = <int64_t>((acc[w] >> (16 * fper * j)) & 0xFFFF)
                        b = <int64_t>((accl[w] >> (16 * fper * j)) & 0xFFFF)
                        out[(w0 + w) * per + j] = span2 - 2 * a + b
            else:
                for w in range(wn):
                    for j in range(per):
                        out[(w0 + w) * per + j] = span1 - <int64_t>((acc[w] >> (16 * fper * j)) & 0xFFFF)
            w0 += wn
    else:
        for w in range(nfull):  # whole words: every segment full, masks fixed
            for j in range(per):
                sc[j] = 0
                sl[j] = 0
            for k in range(nplanes):
                p = planes[k * nwords + w]
                for j in range(per):
                    sc[j] += (<int64_t>__builtin_popcountll(p & (mask0 << (j * seg)))) << k
            if odd:
                p = planes[nplanes * nwords + w]
                for j in range(per):
                    sl[j] = __builtin_popcountll(p & (mask0 << (j * seg)))
            for j in range(per):
                out[w * per + j] = (span2 - 2 * sc[j] + sl[j]) if approx else (span1 - sc[j])
    for w in range(nfull, nwords):  # the tail word
        for j in range(per):
            s = w * per + j
            lo = s * seg
            if lo >= L:
                break
            hi = lo + seg if lo + seg < L else L
            mask = (mask0 if hi - lo == seg else (((<uint64_t>1) << (hi - lo)) - 1)) << (j * seg)
            sc[0] = 0
            for k in range(nplanes):
                sc[0] += (<int64_t>__builtin_popcountll(planes[k * nwords + w] & mask)) << k
            if approx:
                sl[0] = __builtin_popcountll(planes[nplanes * nwords + w] & mask) if odd else 0
                out[s] = 2 * (m * (hi - lo) - sc[0]) + sl[0]
            else:
                out[s] = m * (hi - lo) - sc[0]


cdef extern from "bs_btanh.h":
    enum: MAXB "ARCHSIM_MAXB"  # bit-planes of the bit-sliced counts, Btanh states, accumulators
    enum: LANES "ARCHSIM_BS_LANES"  # neuron words (64 neurons each) stepped together


cdef inline void _bs_btanh_init(uint64_t* st, int ns, int64_t st0) noexcept nogil:
    """Every lane's Btanh state = st0 (planes past ns zero)."""
    cdef int p, q
    for p in range(MAXB):
        for q in range(LANES):
            st[p * LANES + q] = ((~(<uint64_t>0)) if (st0 >> p) & 1 else 0) if p < ns else 0


cdef void _conv_groups_btanh(uint64_t* gb, Py_ssize_t gstride, int ngroups, Py_ssize_t nlast,
                             int nk, int nplanes, bint approx, bint odd, int64_t m,
                             Py_ssize_t W, Py_ssize_t L, int ns, int nt, uint64_t nbt,
                             uint64_t rr, int64_t st0, uint64_t* out) noexcept nogil:
    """Btanh of up to LANES groups of 64 pooled neurons, neuron-sliced and group-parallel.

    Group g's count bit-planes are at ``gb + g * gstride``, already transposed so that one
    word holds one cycle of 64 neurons: ``[(k * W + w) * 64 + t]`` bit b is plane k at cycle
    64w + t of the counts neuron b forwards. The count value (PC: m - c; APC: 2 (m - c) +
    last) is formed bit-sliced and stepped through ``bs_btanh_step8`` (the vector Btanh step
    shared with the MUX-shared FC).
    Output bits are transposed back into ``out[(64 g + b) * W + w]``; group g has 64 neurons,
    the last one ``nlast``."""
    cdef uint64_t sp[MAXB * LANES]
    cdef uint64_t v[MAXB * LANES]
    cdef uint64_t a[LANES]
    cdef uint64_t carry[LANES]
    cdef uint64_t ob[LANES][64]
    cdef uint64_t obt[LANES]
    cdef uint64_t ones = ~(<uint64_t>0), kc = <uint64_t>(m + 1), bb
    cdef int k, g, nd = nplanes + 1, nv, off
    cdef Py_ssize_t w, t, j, nvalid, nl
    _bs_btanh_init(sp, ns, st0)
    nv = nd + 1 if approx else nd
    off = 1 if approx else 0
    for w in range(W):
        nvalid = L - 64 * w if L - 64 * w < 64 else 64
        for t in range(nvalid):
            # D = m - c = ~c + (m + 1) mod 2**nd (c <= m), into v planes off..
            for g in range(LANES):
                carry[g] = 0
            for k in range(nd):
                bb = ones if (kc >> k) & 1 else 0
                if k < nplanes:
                    for g in range(LANES):
                        a[g] = ~gb[g * gstride + (k * W + w) * 64 + t] if g < ngroups else 0
                else:
                    for g in range(LANES):
                        a[g] = ones
                for g in range(LANES):
                    v[(k + off) * LANES + g] = a[g] ^ bb ^ carry[g]
                    carry[g] = (a[g] & bb) | (carry[g] & (a[g] ^ bb))
            if approx:
                for g in range(LANES):
                    v[g] = gb[g * gstride + (nplanes * W + w) * 64 + t] if (odd and g < ngroups) else 0
            bs_btanh_lanes_c(sp, v, ns, nv, nt, nbt, rr, obt)
            for g in range(LANES):
                ob[g][t] = obt[g]
        for g in range(ngroups):
            for t in range(nvalid, 64):
                ob[g][t] = 0
            archsim_transpose64(ob[g])
            nl = 64 if g < ngroups - 1 else nlast
            for j in range(nl):
                out[(64 * g + j) * W + w] = ob[g][j]


cdef void _stage_group(const uint64_t* stg, int nk, Py_ssize_t W, Py_ssize_t cnt,
                       uint64_t* dst) noexcept nogil:
    """Rows b < cnt of the staging block (``stg[b * nk * W + k * W + w]``: plane k, cycle-word
    w of neuron b's forwarded counts) -> the group's transposed blocks: ``dst[(k * W + w) *
    64 + t]`` bit b = plane k at cycle 64w + t of neuron b (neurons past cnt are zero)."""
    cdef Py_ssize_t w, b
    cdef int kk
    cdef uint64_t* blk
    for kk in range(nk):
        for w in range(W):
            blk = dst + (kk * W + w) * 64
            for b in range(cnt):
                blk[b] = stg[b * (nk * W) + kk * W + w]
            for b in range(cnt, 64):
                blk[b] = 0
            archsim_transpose64(blk)


def conv_pool_btanh(inp, wts, bias, length, approx, segment, first, n_btanh, r, s0):
    """Conv -> 2x2 causal segment max pool -> Btanh, fused (see reference)."""
    length, inp, wts, bias = _ref._conv_operands(inp, wts, bias, length)
    cdef Py_ssize_t L = length
    cdef Py_ssize_t C = inp.shape[0], H = inp.shape[1], Wd = inp.shape[2], W = inp.shape[3]
    cdef Py_ssize_t F = wts.shape[0], k = wts.shape[2]
    cdef Py_ssize_t Ho = H - k + 1, Wo = Wd - k + 1, n = C * k * k + 1
    cdef Py_ssize_t Hp = Ho // 2, Wp = Wo // 2
    _ref._check_count_range(n)
    cdef Py_ssize_t seg = int(segment), fst = int(first)
    if seg < 1:
        raise ValueError(f"segment={seg} must be >= 1")
    if not 0 <= fst < 4:
        raise ValueError(f"first={fst} must be in 0..3")
    cdef int64_t nbt = int(n_btanh), rr = int(r), st0 = int(s0)
    if rr < 2 or not 0 <= st0 < rr:
        raise ValueError(f"Btanh needs r >= 2 and 0 <= s0 < r; got r={rr}, s0={st0}")
    cdef Py_ssize_t nseg = (L + seg - 1) // seg if L > 0 else 0
    if _bit_length(max(rr - 1 + 2 * n + 2, nbt, rr)) + 1 > MAXB:
        raise ValueError(f"counts too wide for the bit-sliced Btanh (n={n}, r={rr})")
    out = np.zeros((F, Hp, Wp, W), dtype=np.uint64)
    selected = np.zeros((F * Hp * Wp, nseg), dtype=np.uint8)
    if F == 0 or L == 0 or Hp == 0 or Wp == 0:
        return out, selected
    ic = np.ascontiguousarray(inp)
    wc = np.ascontiguousarray(wts)
    bc = np.ascontiguousarray(bias)
    cdef const uint64_t[:, :, :, ::1] iv = ic
    cdef const uint64_t[:, :, :, :, ::1] wv = wc
    cdef const uint64_t[:, ::1] bv = bc
    cdef uint8_t[:, ::1] sv = selected
    cdef bint ap = bool(approx)
    cdef int64_t m = n // 2 if ap else n
    cdef int nplanes = _bit_length(m)
    cdef bint odd = ap and (n & 1)
    cdef Py_ssize_t pstride = (nplanes + 1) * W  # words of one candidate's planes
    cdef Py_ssize_t f, py, px, cd, s, lo, hi, w, t, best, pidx
    cdef int kk
    cdef int64_t tot, best_tot
    cdef cwordp* xp = <cwordp*>malloc(4 * n * sizeof(cwordp))
    cdef cwordp* wp = <cwordp*>malloc(n * sizeof(cwordp))
    cdef Py_ssize_t* xoff = <Py_ssize_t*>malloc(n * sizeof(Py_ssize_t))
    cdef uint64_t* ones = _ones_row(W)
    cdef uint64_t* planes = <uint64_t*>malloc(4 * pstride * sizeof(uint64_t))
    cdef uint64_t* scratch = <uint64_t*>malloc(4 * MAXPLANES * BLK * sizeof(uint64_t))
    cdef uint64_t* selm = <uint64_t*>malloc(4 * W * sizeof(uint64_t))
    cdef uint8_t* segsel = <uint8_t*>malloc(nseg * sizeof(uint8_t))
    cdef uint8_t* segwin = <uint8_t*>malloc(nseg * sizeof(uint8_t))
    cdef int64_t* segsum = <int64_t*>malloc(4 * nseg * sizeof(int64_t))
    cdef int nk = nplanes + 1 if odd else nplanes
    cdef Py_ssize_t gstride = nk * W * 64
    cdef uint64_t* gb = <uint64_t*>calloc(LANES * gstride, sizeof(uint64_t))
    cdef uint64_t* stg = <uint64_t*>malloc(64 * nk * W * sizeof(uint64_t))
    cdef uint64_t* row
    cdef int64_t vmax = 2 * m + 1 if ap else m
    cdef int ns = _bit_length(rr - 1)
    cdef int nt = _bit_length(max(rr - 1 + 2 * vmax, nbt, rr)) + 1
    cdef Py_ssize_t q = 0
    cdef uint64_t[::1] of = out.reshape(-1)
    cdef bint aligned = 64 % seg == 0
    try:
        if (xp == NULL or wp == NULL or xoff == NULL or ones == NULL or planes == NULL
                or scratch == NULL or selm == NULL or segsel == NULL or segwin == NULL
                or segsum == NULL
                or gb == NULL or stg == NULL):
            raise MemoryError()
        with nogil:
            _window_offsets(C, H, Wd, k, W, xoff)
            for cd in range(4):
                xp[cd * n + n - 1] = ones  # bias input: XNOR(1, bias) = bias
            for f in range(F):
                _filter_rows(&wv[f, 0, 0, 0, 0], &bv[f, 0], n - 1, W, wp)
                for py in range(Hp):
                    for px in range(Wp):
                        pidx = (f * Hp + py) * Wp + px
                        for cd in range(4):  # window members in (dy, dx) order
                            _window_rows(&iv[0, 2 * py + (cd >> 1), 2 * px + (cd & 1), 0], xoff,
                                         n - 1, xp + cd * n)
                        _count_planes(xp, wp, n, W, ap, planes, pstride, scratch)
                        # segment sums of the 4 members, from the planes
                        if aligned:  # segments tile the words: per word, masked popcounts
                            for cd in range(4):
                                _aligned_segment_sums(planes + cd * pstride, W, nplanes, ap,
                                                      odd, m, seg, L, segsum + cd * nseg)
                        else:
                            for cd in range(4):
                                for s in range(nseg):
                                    lo = s * seg
                                    hi = lo + seg if lo + seg < L else L
                                    segsum[cd * nseg + s] = _plane_range_sum(
                                        planes + cd * pstride, W, nplanes, ap, odd, m, lo, hi)
                        # causal segment max pool (ties: the last maximal index)
                        # segment s forwards the winner of segment s - 1 (the first: fst);
                        # the winners are independent of each other: a loop that vectorises
                        for s in range(nseg):
                            best = 0
                            best_tot = segsum[s]
                            for cd in range(1, 4):
                                tot = segsum[cd * nseg + s]
                                best = cd if tot >= best_tot else best
                                best_tot = tot if tot >= best_tot else best_tot
                            segwin[s] = <uint8_t>best
                        segsel[0] = <uint8_t>fst
                        for s in range(1, nseg):
                            segsel[s] = segwin[s - 1]
                        for s in range(nseg):
                            sv[pidx, s] = segsel[s]
                        # the cycles each member forwards, as word masks
                        memset(selm, 0, 4 * W * sizeof(uint64_t))
                        if aligned:  # each segment lies in one word
                            for s in range(nseg):
                                t = s * seg
                                hi = t + seg if t + seg < L else L
                                selm[segsel[s] * W + (t >> 6)] |= (
                                    ((~(<uint64_t>0)) >> (64 - (hi - t))) << (t & 63))
                        else:
                            for s in range(nseg):
                                cd = segsel[s]
                                t = s * seg
                                hi = t + seg if t + seg < L else L
                                while t < hi:
                                    w = t >> 6
                                    lo = 64 * w + 64 if 64 * w + 64 < hi else hi
                                    selm[cd * W + w] |= ((~(<uint64_t>0)) >> (64 - (lo - t))) << (t - 64 * w)
                                    t = lo
                        # the forwarded planes, into row q of the group's staging block
                        row = stg + (q & 63) * (nk * W)
                        for kk in range(nk):
                            for w in range(W):
                                row[kk * W + w] = (
                                    (planes[kk * W + w] & selm[w])
                                    | (planes[pstride + kk * W + w] & selm[W + w])
                                    | (planes[2 * pstride + kk * W + w] & selm[2 * W + w])
                                    | (planes[3 * pstride + kk * W + w] & selm[3 * W + w]))
                        q += 1
                        if (q & 63) == 0:
                            _stage_group(stg, nk, W, 64, gb + ((q - 1) >> 6) * gstride)
                        if q == 64 * LANES:
                            _conv_groups_btanh(gb, gstride, LANES, 64, nk, nplanes, ap, odd, m, W,
                                               L, ns, nt, <uint64_t>nbt, <uint64_t>rr, st0,
                                               &of[(pidx + 1 - 64 * LANES) * W])
                            q = 0
            if q > 0:
                if q & 63:
                    _stage_group(stg, nk, W, q & 63, gb + (q >> 6) * gstride)
                _conv_groups_btanh(gb, gstride, <int>((q + 63) // 64), q - 64 * ((q - 1) // 64),
                                   nk, nplanes, ap, odd, m, W, L, ns, nt, <uint64_t>nbt,
                                   <uint64_t>rr, st0, &of[(F * Hp * Wp - q) * W])
    finally:
        free(xp)
        free(wp)
        free(xoff)
        free(ones)
        free(planes)
        free(scratch)
        free(selm)
        free(segsel)
        free(segwin)
        free(segsum)
        free(gb)
        free(stg)
    return out, selected


# ============================================================================ Btanh


cdef inline void _btanh_rows(const uint16_t* counts, Py_ssize_t L, Py_ssize_t W, int64_t n,
                             int64_t top, int64_t half, int64_t* s, uint64_t* out,
                             int nrows) noexcept nogil:
    """Btanh of ``nrows`` (<= 4) neurons: rows of ``counts`` (stride L) -> rows of ``out``.

    Each neuron's state machine steps sequentially through its cycles; the (up to) four
    neurons are interleaved so that their independent update chains overlap in the CPU.
    """
    cdef Py_ssize_t wi, t, t0, t1
    cdef int h
    cdef int64_t v
    cdef uint64_t word[4]
    for wi in range(W):
        t0 = wi * 64
        t1 = t0 + 64 if t0 + 64 < L else L
        for h in range(4):
            word[h] = 0
        for t in range(t0, t1):
            for h in range(nrows):
                v = s[h] + 2 * <int64_t>counts[h * L + t] - n
                if v < 0:
                    v = 0
                if v > top:
                    v = top
                s[h] = v
                word[h] |= (<uint64_t>(v >= half)) << (t - t0)
        for h in range(nrows):
            out[h * W + wi] = word[h]


def btanh(counts, n, r, s0=None):
    """Btanh up/down counter on per-cycle counts ``uint16[B, L]`` -> ``uint64[B, W]``."""
    v = np.asarray(counts)
    if v.ndim != 2:
        raise ValueError(f"counts must be [B, length], got shape {v.shape}")
    cdef int64_t nn = int(n), rr = int(r)
    if rr < 2:
        raise ValueError(f"Btanh state count r={rr} must be >= 2")
    cdef Py_ssize_t B = v.shape[0], L = v.shape[1], W = n_words(L), b, t
    s_init = np.ascontiguousarray(
        np.broadcast_to(np.asarray(rr // 2 if s0 is None else s0, dtype=np.int64), (B,))
    )
    if np.any(s_init < 0) or np.any(s_init >= rr):
        raise ValueError(f"Btanh initial state s0={s0} must be in 0..{rr - 1}")
    out = np.zeros((B, W), dtype=np.uint64)
    if B == 0 or L == 0:
        return out
    vc = np.ascontiguousarray(v, dtype=np.uint16)
    cdef const uint16_t[:, ::1] cv = vc
    cdef const int64_t[::1] sv = s_init
    cdef uint64_t[:, ::1] ov = out
    cdef int64_t top = rr - 1, half = (rr + 1) // 2  # S >= r/2  <=>  S >= ceil(r/2)
    cdef int64_t s4[4]
    cdef int h
    with nogil:
        b = 0
        while b < B:
            for h in range(4):
                s4[h] = sv[b + h] if b + h < B else 0
            if b + 4 <= B:
                _btanh_rows(&cv[b, 0], L, W, nn, top, half, s4, &ov[b, 0], 4)
            else:
                _btanh_rows(&cv[b, 0], L, W, nn, top, half, s4, &ov[b, 0], <int>(B - b))
            b += 4
    return out


# ============================================================================ max pooling


def segment_maxpool(values, segment, first=0):
    """Causal segment max pool of ``uint16[K, B, L]`` -> ``(uint16[B, L], uint8[B, nseg])``."""
    v = np.asarray(values)
    if v.ndim != 3:
        raise ValueError(f"values must be [K, B, length], got shape {v.shape}")
    cdef Py_ssize_t K = v.shape[0], B = v.shape[1], L = v.shape[2]
    cdef Py_ssize_t seg = int(segment), fst = int(first)
    if seg < 1:
        raise ValueError(f"segment={seg} must be >= 1")
    if not 1 <= K <= 256:
        raise ValueError(f"K={K} candidates must be in 1..256")
    if not 0 <= fst < K:
        raise ValueError(f"first={fst} must be in 0..{K - 1}")
    cdef Py_ssize_t nseg = (L + seg - 1) // seg
    out = np.zeros((B, L), dtype=np.uint16)
    selected = np.zeros((B, nseg), dtype=np.uint8)
    if B == 0 or L == 0:
        return out, selected
    vc = np.ascontiguousarray(v, dtype=np.uint16)
    cdef const uint16_t[:, :, ::1] vv = vc
    cdef uint16_t[:, ::1] ov = out
    cdef uint8_t[:, ::1] sv = selected
    cdef Py_ssize_t b, s, t, kk, lo, hi, cur, best
    cdef int64_t total, best_total
    with nogil:
        for b in range(B):
            cur = fst
            for s in range(nseg):
                lo = s * seg
                hi = lo + seg
                if hi > L:
                    hi = L
                sv[b, s] = <uint8_t>cur
                for t in range(lo, hi):
                    ov[b, t] = vv[cur, b, t]
                best = 0
                best_total = -1
                for kk in range(K):
                    total = 0
                    for t in range(lo, hi):
                        total += vv[kk, b, t]
                    if total >= best_total:  # ties: the last maximal index wins
                        best_total = total
                        best = kk
                cur = best
    return out, selected


# ============================================================================ MUX


def mux_select(x, select, length):
    """MUX: output bit t is bit t of ``x[select[t]]``; ``x: uint64[n, W]`` -> ``uint64[W]``."""
    cdef Py_ssize_t L = _ref._length(length)
    x = _ref._words(x, L)
    if x.ndim != 2:
        raise ValueError(f"x must be uint64[n, W], got shape {x.shape}")
    sel = np.asarray(select, dtype=np.int64).reshape(-1)
    if sel.size < L:
        raise ValueError(f"select has {sel.size} entries, need {L}")
    sel = np.ascontiguousarray(sel[:L])
    if sel.size and (sel.min() < 0 or sel.max() >= x.shape[0]):
        raise ValueError(f"select entries must be in 0..{x.shape[0] - 1}")
    cdef Py_ssize_t W = n_words(L), t
    out = np.zeros(W, dtype=np.uint64)
    if L == 0:
        return out
    xc = np.ascontiguousarray(x)
    cdef const uint64_t[:, ::1] xv = xc
    cdef const int64_t[::1] se = sel
    cdef uint64_t[::1] ov = out
    with nogil:
        for t in range(L):
            ov[t >> 6] |= ((xv[se[t], t >> 6] >> (t & 63)) & 1) << (t & 63)
    return out


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

cdef extern from "mux_fc.h":
    ctypedef struct mux_csa:
        pass
    void mux_csa_init(mux_csa* c) noexcept nogil
    void bs_btanh_lanes_c(uint64_t* st, const uint64_t* v, int ns, int nv, int nt, uint64_t nbt,
                          uint64_t rr, uint64_t* out) noexcept nogil
    void mux_fc_masks_c(const uint64_t* x, Py_ssize_t w, const int64_t* se, Py_ssize_t s,
                        Py_ssize_t g, Py_ssize_t n, Py_ssize_t Lc, uint64_t* xm) noexcept nogil
    void mux_fc_btanh_block_c(const uint64_t* x, Py_ssize_t w, const uint64_t* xb,
                              Py_ssize_t nwx, const int64_t* se,
                              const uint64_t* tab, const int64_t* rw, Py_ssize_t S,
                              Py_ssize_t g, Py_ssize_t n, Py_ssize_t Lc, Py_ssize_t nl,
                              Py_ssize_t q0, Py_ssize_t nq, int apx, int nv, int ns, int nt,
                              uint64_t nbt, uint64_t rr, int64_t st0, uint64_t* xm,
                              uint64_t* ov, Py_ssize_t wo, Py_ssize_t no) noexcept nogil
    int mux_fc_sums_c(const uint64_t* x, Py_ssize_t w, const uint64_t* xb, Py_ssize_t nwx,
                      const int64_t* se, const uint64_t* tab,
                      const int64_t* rw, Py_ssize_t S, Py_ssize_t g, Py_ssize_t n, Py_ssize_t Lc,
                      Py_ssize_t nl, int apx, uint64_t* xm, int64_t* out,
                      Py_ssize_t no) noexcept nogil
    void mux_fc_count_step(const uint64_t* row, Py_ssize_t nl, Py_ssize_t nq,
                           const uint64_t* xm, Py_ssize_t g, int apx, int nv,
                           uint64_t* v, mux_csa* c) noexcept nogil


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


# ============================================================================ stream reordering


def gather_streams(x, length, index):
    """Packed streams whose bit t is bit ``index[t]`` of ``x: uint64[n, W]`` -> ``uint64[n, W']``."""
    cdef Py_ssize_t L = _ref._length(length)
    x = _ref._words(x, L)
    idx = np.ascontiguousarray(np.asarray(index, dtype=np.int64).reshape(-1))
    if x.ndim != 2:
        raise ValueError(f"x must be uint64[n, W], got shape {x.shape}")
    if idx.size and (idx.min() < 0 or idx.max() >= L):
        raise ValueError(f"index entries must be in 0..{L - 1}")
    cdef Py_ssize_t n = x.shape[0], T = idx.size, r, t, w
    out = np.zeros((n, (T + 63) // 64), dtype=np.uint64)
    if n == 0 or T == 0:
        return out
    xc = np.ascontiguousarray(x)
    cdef const uint64_t[:, ::1] xv = xc
    cdef const int64_t[::1] iv = idx
    cdef uint64_t[:, ::1] ov = out
    cdef uint64_t word
    cdef int64_t j
    with nogil:
        for r in range(n):
            for w in range(0, T, 64):
                word = 0
                for t in range(w, w + 64 if w + 64 < T else T):
                    j = iv[t]
                    word |= ((xv[r, j >> 6] >> (j & 63)) & 1) << (t - w)
                ov[r, w >> 6] = word
    return out


def mark_gaps(out, length, gaps, last):
    """Set the bits of ``out`` at ``last + cumsum(gaps)`` in place (see reference)."""
    cdef Py_ssize_t L = _ref._length(length)
    out = _ref._words(out, L, "out")
    if out.ndim != 2:
        raise ValueError(f"out must be uint64[rows, W], got shape {out.shape}")
    if not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError("out must be a writeable C-contiguous array (it is set in place)")
    g = np.ascontiguousarray(np.asarray(gaps, dtype=np.int64).reshape(-1))
    if g.size and g.min() < 1:
        raise ValueError("gaps must be >= 1")
    cdef int64_t pos = int(last)
    cdef Py_ssize_t n = g.size, i, W = out.shape[1]
    cdef int64_t total = out.shape[0] * L, row, t
    if n == 0:
        return int(pos)
    cdef const int64_t[::1] gv = g
    cdef uint64_t[:, ::1] ov = out
    with nogil:
        for i in range(n):
            pos += gv[i]
            if 0 <= pos < total:
                row = pos // L
                t = pos - row * L
                ov[row, t >> 6] |= (<uint64_t>1) << (t & 63)
    return int(pos)


# ============================================================================ benchmark floor
#
# Not part of the datapath: the "XNOR + popcount" floor the benchmarks compare the simulator
# against. The same operands as conv_counts / xnor_counts, but each neuron only gets the total
# number of ones of its XNOR products (one popcount per word, no per-cycle counts, no APC).


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


# ============================================================================ decoding


def popcount(x, length):
    """Number of ones in the first ``length`` bits of each stream: ``int64[...]``."""
    cdef Py_ssize_t L = _ref._length(length)
    x = _ref._words(x, L)
    cdef Py_ssize_t W = x.shape[x.ndim - 1], i, j
    xc = np.ascontiguousarray(x).reshape(-1, W)
    out = np.zeros(xc.shape[0], dtype=np.int64)
    if out.size == 0 or W == 0:
        return out.reshape(x.shape[: x.ndim - 1])
    cdef const uint64_t[:, ::1] xv = xc
    cdef int64_t[::1] ov = out
    cdef uint64_t tm = <uint64_t>tail_mask(L)
    cdef int64_t acc
    with nogil:
        for i in range(xv.shape[0]):
            acc = 0
            for j in range(W - 1):
                acc += __builtin_popcountll(xv[i, j])
            acc += __builtin_popcountll(xv[i, W - 1] & tm)
            ov[i] = acc
    return out.reshape(x.shape[: x.ndim - 1])


def decode_bipolar(x, length):
    """Bipolar value ``2 * ones / length - 1`` of each stream: ``float64[...]``."""
    cdef Py_ssize_t L = _ref._length(length)
    if L == 0:
        raise ValueError("cannot decode a stream of length 0")
    return 2.0 * popcount(x, L) / L - 1.0
