# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled stream kernels (``archsim._kernels_streams``): the SNGs and the gates on streams.

The hardware modelled: the random number sources of the stochastic number generators (LFSR,
Sobol, counter), the comparator SNG, the XNOR / AND multipliers and the MUX, the wiring that
re-reads stored streams in another order, the read-error bits of a memory, and the output
counters that decode a stream (popcount). Same functions, signatures and bits as the NumPy
oracle ``archsim.sc.reference``; the argument checks are shared with it. Streams are packed
``uint64`` words, LSB first, tail bits zero.
"""

import numpy as np

from libc.stdint cimport int64_t, uint32_t, uint64_t

from archsim.sc import reference as _ref
from archsim.sc.rng import (
    _check_lfsr_seed,
    lfsr_tap_mask,
    n_words,
    sobol_direction_vectors,
    tail_mask,
)

from _common cimport __builtin_ctzll, __builtin_parityll, __builtin_popcountll


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
