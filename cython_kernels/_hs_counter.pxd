# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
# The bit-sliced parallel counter of the SC neurons (PC and Kim's APC), shared by counters.pyx
# (the per-cycle counts of FC and conv neurons) and conv_pool.pyx (the counts of the 4 members
# of a pooling window, kept as bit-planes). Inline only: each module that cimports it compiles
# its own specialised copy.
#
# For a block of up to 16 cycle-words (1024 cycles, two cache lines of every input row) the
# product words of all inputs are added into a vertical binary counter, one ``uint64`` bit-plane
# per count bit, with a Harley-Seal carry-save adder network (16 words per step, and the same
# network again on the carries of 16 steps), so one word operation adds 64 cycles at once.
#
# The counters add "mismatch" words e = x ^ w, the complement of the XNOR product, which saves
# a NOT per input: PC = n - count(e). For the APC, an even pair's OR of products is
# ~(e0 & e1) and an odd pair's AND is ~(e0 | e1), so APC = 2 * (m - count(h)) + (product of
# the odd last input), where h is the AND (even pair) / OR (odd pair) of the two mismatches.

from libc.string cimport memset
from libc.stdint cimport uint64_t

from _common cimport ZROW, archsim_hs16_apc, archsim_hs16_pc, archsim_zero_row, cwordp

cdef enum:
    BLK = 16       # cycle-words counted together (two 64-byte lines of every input row)
    MAXPLANES = 16 # count bit-planes (uint16 counts)


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
                            px[q] = archsim_zero_row
                            pw[q] = archsim_zero_row
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
