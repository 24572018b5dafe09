# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled fused conv -> pool -> Btanh (``archsim._kernels_conv_pool``).

The hardware modelled: a pooled conv layer of SC neurons as one pipeline, the XNOR
multipliers and parallel counter (PC or Kim's APC) of each of the 4 neurons of a 2x2 pooling
window, the causal segment max pool that forwards one of them, and the Btanh up/down counter
of the pooled neuron. Same bits as ``conv_counts`` -> ``segment_maxpool`` -> ``btanh`` (the
NumPy reference ``archsim.sc.reference.conv_pool_btanh`` is that composition).

The per-cycle counts of all neurons are never written: for each 2x2 window the 4 members'
counts are kept as bit-planes (the counter's own form, ``_hs_counter.pxd``), the segment sums
that the causal max pool compares are popcounts of those planes, only the forwarded member's
counts are read out of the planes, and the Btanh steps through them bit-sliced, 512 pooled
neurons at once (``bs_btanh.h``, the vector step shared with the MUX-shared FC).
"""

import numpy as np

from libc.stdint cimport int64_t, uint8_t, uint64_t
from libc.stdlib cimport calloc, free, malloc
from libc.string cimport memset

from archsim.sc import reference as _ref

from _common cimport (
    LANES,
    MAXB,
    __builtin_popcountll,
    _bit_length,
    _filter_rows,
    _ones_row,
    _window_offsets,
    _window_rows,
    archsim_transpose64,
    bs_btanh_lanes_c,
    cwordp,
)
from _hs_counter cimport BLK, MAXPLANES, _count_lanes, _mis


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
