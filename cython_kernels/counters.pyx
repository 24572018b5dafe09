# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled counter kernels (``archsim._kernels_counters``): the per-cycle stages of a neuron.

The hardware modelled: the parallel counters of the SC neurons (the exact PC and Kim's APC,
alone or fused with the XNOR multipliers of an FC or conv neuron), the Btanh up/down counter
of the activation, and the segment accumulators and comparators of the causal max pool. These
are the separate kernels of the probed path (every per-cycle count is written out); the fused
fast paths are conv_pool.pyx and mux_fc.pyx. Same functions, signatures and bits as the NumPy
oracle ``archsim.sc.reference``; the argument checks are shared with it.

The parallel counters are bit-sliced (``_hs_counter.pxd``): the counts of a block of 1024
cycles are added as bit-planes by a Harley-Seal carry-save adder network, then read out of the
bit-planes by 8x8 bit-matrix transposes. The counters add mismatch words ``x ^ w`` (the
complement of the XNOR product) and subtract at the end; the APC combines input pairs first
(OR of products = NOT AND of mismatches for an even pair, AND of products = NOT OR for an odd
pair) and returns ``2 * count + x[n-1]``.
"""

import sys

import numpy as np

from libc.stdint cimport int64_t, uint8_t, uint16_t, uint64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy

from archsim.sc import reference as _ref
from archsim.sc.rng import n_words

from _common cimport (
    _bit_length,
    _filter_rows,
    _ones_row,
    _window_offsets,
    _window_rows,
    cwordp,
)
from _hs_counter cimport BLK, MAXPLANES, _count_lanes, _mis

cdef bint _LITTLE_ENDIAN = sys.byteorder == "little"
# b * _SPREAD_BITS4 (b < 16) puts bit i of b at bit 16 * i (the shifted copies do not overlap)
cdef uint64_t _SPREAD_BITS4 = 0x0000200040008001


# ============================================================================ counter read-out


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


# ============================================================================ PC, APC


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
