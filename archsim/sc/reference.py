"""NumPy reference of every bit kernel of the SC datapath: the oracle.

Each function here states the SC definition it implements (docs/dwcnn-model.md) as
directly as NumPy allows: streams are unpacked to one ``uint8`` per bit, combined with
element-wise operations and summed. Speed is secondary; the compiled kernels in
``archsim._kernels_*`` (``cython_kernels/*.pyx``) must return the same bits, and the tests check
that they do.

Streams are packed as described in ``docs/design.md``: ``uint64[..., W]``, ``W = ceil(L/64)``,
bit t in bit ``t % 64`` of word ``t // 64``, bits past L zero.
"""

from __future__ import annotations

import numpy as np

from archsim.sc.rng import (
    counter_sequence,
    lfsr_sequence,
    n_words,
    pack_bits,
    sobol_sequence,
    tail_mask,
    unpack_bits,
)

__all__ = [
    "and_",
    "apc_counts",
    "btanh",
    "conv_counts",
    "counter_sequence",
    "decode_bipolar",
    "lfsr_sequence",
    "mux_fc_counts",
    "mux_select",
    "pc_counts",
    "popcount",
    "segment_maxpool",
    "sng",
    "sobol_sequence",
    "xnor",
    "xnor_counts",
]

# Peak bytes of unpacked bits per chunk, to bound the reference's memory on large layers.
_CHUNK_BITS = 1 << 25


# ----------------------------------------------------------------------------- helpers


def _length(length) -> int:
    length = int(length)
    if length < 0:
        raise ValueError(f"length={length} must be >= 0")
    return length


def _words(x, length: int, name: str = "x") -> np.ndarray:
    a = np.asarray(x)
    if a.dtype != np.uint64:
        raise TypeError(f"{name} must be uint64 words, got dtype {a.dtype}")
    if a.ndim < 1 or a.shape[-1] != n_words(length):
        raise ValueError(
            f"{name} has shape {a.shape}; a stream of length {length} needs "
            f"{n_words(length)} words in the last axis"
        )
    return a


def _clear_tail(x: np.ndarray, length: int) -> np.ndarray:
    if x.shape[-1]:
        x[..., -1] &= np.uint64(tail_mask(length))
    return x


def _check_count_range(n: int) -> None:
    if n > np.iinfo(np.uint16).max:
        raise ValueError(f"n={n} inputs do not fit the uint16 counts")


def _pc_bits(bits: np.ndarray) -> np.ndarray:
    """Exact parallel count over axis -2 of unpacked bits ``[..., n, L]``."""
    return bits.sum(axis=-2, dtype=np.uint16)


def _apc_packed(p: np.ndarray, length: int) -> np.ndarray:
    """Kim's APC over axis -2 of packed streams ``[..., n, W]`` -> ``uint16[..., L]``.

    Pair j = (input 2j, input 2j+1) is ORed for even j and ANDed for odd j (bitwise on the
    packed words, which is the same gate applied to every cycle); the pair outputs are counted
    exactly and doubled, and for odd n the last input is added at weight 1.
    """
    n = p.shape[-2]
    m = n // 2
    first = p[..., 0 : 2 * m : 2, :]
    second = p[..., 1 : 2 * m : 2, :]
    pair_is_or = (np.arange(m) % 2 == 0)[:, None]
    gates = np.where(pair_is_or, first | second, first & second)
    counts = 2 * _pc_bits(unpack_bits(gates, length))
    if n % 2:
        counts += unpack_bits(p[..., n - 1, :], length)
    return counts.astype(np.uint16)


def _count_packed(p: np.ndarray, length: int, approx: bool) -> np.ndarray:
    """PC or APC over axis -2 of packed streams ``[..., n, W]`` -> ``uint16[..., L]``."""
    _check_count_range(p.shape[-2])
    if approx:
        return _apc_packed(p, length)
    return _pc_bits(unpack_bits(p, length))


# ----------------------------------------------------------------------------- SNG


def sng(values, rng, length, rule="gt", offsets=None) -> np.ndarray:
    """Comparator SNG: bit t of stream i is ``values[i] > rng[(t + offsets[i]) % P]``.

    ``rule="ge"`` compares with ``>=``. Returns ``uint64[N, W]``.
    """
    length = _length(length)
    v = np.asarray(values, dtype=np.int64).reshape(-1)
    r = np.asarray(rng, dtype=np.uint32).reshape(-1)
    if r.size == 0:
        raise ValueError("rng sequence is empty")
    if rule not in ("gt", "ge"):
        raise ValueError(f"SNG rule={rule!r} must be 'gt' or 'ge'")
    off = np.zeros(v.shape, np.int64) if offsets is None else np.asarray(offsets, np.int64)
    off = np.broadcast_to(off.reshape(-1) if off.ndim else off, v.shape)
    idx = (np.arange(length, dtype=np.int64)[None, :] + off[:, None]) % r.size
    threshold = r[idx].astype(np.int64)
    bits = v[:, None] > threshold if rule == "gt" else v[:, None] >= threshold
    return pack_bits(bits)


# ----------------------------------------------------------------------------- gates


def xnor(a, b, length) -> np.ndarray:
    """Bipolar multiply: bitwise XNOR of two packed streams (broadcasting), tail bits 0."""
    length = _length(length)
    a = _words(a, length, "a")
    b = _words(b, length, "b")
    return _clear_tail(np.asarray(~(a ^ b), dtype=np.uint64), length)


def and_(a, b, length) -> np.ndarray:
    """Unipolar multiply: bitwise AND of two packed streams (broadcasting), tail bits 0."""
    length = _length(length)
    a = _words(a, length, "a")
    b = _words(b, length, "b")
    return _clear_tail(np.asarray(a & b, dtype=np.uint64), length)


# ----------------------------------------------------------------------------- counters


def pc_counts(x, length) -> np.ndarray:
    """Exact parallel count per cycle of ``x: uint64[n, W]`` -> ``uint16[length]``."""
    length = _length(length)
    x = _words(x, length)
    if x.ndim != 2:
        raise ValueError(f"x must be uint64[n, W], got shape {x.shape}")
    return _count_packed(x, length, approx=False)


def apc_counts(x, length) -> np.ndarray:
    """Kim APC count per cycle of ``x: uint64[n, W]`` -> ``uint16[length]``."""
    length = _length(length)
    x = _words(x, length)
    if x.ndim != 2:
        raise ValueError(f"x must be uint64[n, W], got shape {x.shape}")
    return _count_packed(x, length, approx=True)


def expand_periodic(x, length, period) -> np.ndarray:
    """Streams given by their first ``period`` words, word w being word ``w mod period`` (a
    periodic re-read order), expanded to ``n_words(length)`` words (tail bits cleared)."""
    length = _length(length)
    a = np.asarray(x)
    W, p = n_words(length), int(period)
    if a.dtype != np.uint64 or a.ndim < 1:
        raise TypeError(f"x must be uint64 words, got {a.dtype} {a.shape}")
    if not 1 <= p <= max(W, 1) or a.shape[-1] != p:
        raise ValueError(f"x_period={p} must be in 1..{W} and equal x's last axis {a.shape}")
    return _clear_tail(np.ascontiguousarray(a[..., np.arange(W) % p]), length)


def xnor_counts(x, w, length, approx, x_period=None) -> np.ndarray:
    """Fused XNOR + PC/APC for B neurons.

    ``x: uint64[B, n, W]`` input streams, ``w: uint64[B, n, W]`` or ``uint64[n, W]`` (shared)
    weight streams. Returns ``uint16[B, length]``: per cycle, the (approximate) count of the
    n products ``XNOR(x[b, i], w[b, i])``. With ``x_period = P``, x is ``uint64[B, n, P]``,
    periodic streams given by their first P words (``expand_periodic``): a layer's stored
    weights read in a re-read order that repeats every 64 P cycles.
    """
    length = _length(length)
    if x_period is not None:
        x = expand_periodic(x, length, x_period)
    x = _words(x, length, "x")
    w = _words(w, length, "w")
    if x.ndim != 3 or w.ndim not in (2, 3) or w.shape[-2] != x.shape[1]:
        raise ValueError(f"x must be [B, n, W] and w [n, W] or [B, n, W]; got {x.shape}, {w.shape}")
    if w.ndim == 3 and w.shape[0] != x.shape[0]:
        raise ValueError(f"x has {x.shape[0]} neurons but w has {w.shape[0]}")
    nb, n = x.shape[0], x.shape[1]
    out = np.zeros((nb, length), dtype=np.uint16)
    step = max(1, _CHUNK_BITS // max(1, n * length))
    for b0 in range(0, nb, step):
        wb = w if w.ndim == 2 else w[b0 : b0 + step]
        products = ~(x[b0 : b0 + step] ^ wb)
        out[b0 : b0 + step] = _count_packed(products, length, bool(approx))
    return out


def _conv_operands(inp, wts, bias, length):
    """``(length, inp, wts, bias)`` of a valid stride-1 convolution, checked: packed words
    ``inp [C, H, Wd, W]``, ``wts [F, C, k, k, W]``, ``bias [F, W]``, 1 <= k <= min(H, Wd)."""
    length = _length(length)
    inp = _words(inp, length, "inp")
    wts = _words(wts, length, "wts")
    bias = _words(bias, length, "bias")
    if inp.ndim != 4 or wts.ndim != 5 or bias.ndim != 2:
        raise ValueError(
            f"expected inp [C, H, Wd, W], wts [F, C, k, k, W], bias [F, W]; got "
            f"{inp.shape}, {wts.shape}, {bias.shape}"
        )
    c, h, wd, _ = inp.shape
    f, cw, k, k2, _ = wts.shape
    if cw != c or k != k2 or bias.shape[0] != f or not (1 <= k <= min(h, wd)):
        raise ValueError(f"inconsistent conv shapes {inp.shape}, {wts.shape}, {bias.shape}")
    return length, inp, wts, bias


def conv_counts(inp, wts, bias, length, approx) -> np.ndarray:
    """Fused valid stride-1 convolution: XNOR products counted per cycle for every neuron.

    ``inp: uint64[C, H, Wd, W]``, ``wts: uint64[F, C, k, k, W]``, ``bias: uint64[F, W]``.
    The n = C*k*k + 1 inputs of neuron (f, y, x) are the window products in ``c, ky, kx``
    row-major order, then the bias stream (the XNOR of the all-ones stream with the bias).
    Returns ``uint16[F, Ho, Wo, length]`` with ``Ho = H - k + 1``, ``Wo = Wd - k + 1``.
    """
    length, inp, wts, bias = _conv_operands(inp, wts, bias, length)
    c, h, wd, nw = inp.shape
    f, _, k, _, _ = wts.shape
    ho, wo = h - k + 1, wd - k + 1
    n = c * k * k + 1
    # windows[y, x, c*k*k] in c, ky, kx order (the im2col matrix of packed streams)
    win = np.lib.stride_tricks.sliding_window_view(inp, (k, k), axis=(1, 2))  # C,Ho,Wo,W,k,k
    win = win.transpose(1, 2, 0, 4, 5, 3).reshape(ho * wo, c * k * k, nw)
    out = np.zeros((f, ho * wo, length), dtype=np.uint16)
    step = max(1, _CHUNK_BITS // max(1, n * length))
    for fi in range(f):
        wf = wts[fi].reshape(c * k * k, nw)
        for p0 in range(0, ho * wo, step):
            prod = ~(win[p0 : p0 + step] ^ wf)
            bias_prod = np.broadcast_to(bias[fi], (prod.shape[0], 1, nw))  # XNOR(1, b) = b
            prod = np.concatenate([prod, bias_prod], axis=1)
            out[fi, p0 : p0 + step] = _count_packed(prod, length, bool(approx))
    return out.reshape(f, ho, wo, length)


# ----------------------------------------------------------------------------- Btanh


def btanh(counts, n, r, s0=None) -> np.ndarray:
    """Btanh up/down counter (Kim et al., DAC 2016) applied to per-cycle counts.

    ``counts: uint16[B, L]``; each cycle ``S <- clamp(S + 2 v - n, 0, r - 1)`` and the output
    bit is ``S >= r/2`` of the updated state. ``s0`` (scalar or per neuron) defaults to
    ``r // 2``. Returns ``uint64[B, W]``.
    """
    v = np.asarray(counts)
    if v.ndim != 2:
        raise ValueError(f"counts must be [B, length], got shape {v.shape}")
    n, r = int(n), int(r)
    if r < 2:
        raise ValueError(f"Btanh state count r={r} must be >= 2")
    nb, length = v.shape
    s = np.broadcast_to(np.asarray(r // 2 if s0 is None else s0, dtype=np.int64), (nb,)).copy()
    if np.any(s < 0) or np.any(s >= r):
        raise ValueError(f"Btanh initial state s0={s0} must be in 0..{r - 1}")
    step = 2 * v.astype(np.int64) - n
    bits = np.zeros((nb, length), dtype=np.uint8)
    for t in range(length):  # the state machine is sequential in t
        s = np.clip(s + step[:, t], 0, r - 1)
        bits[:, t] = 2 * s >= r
    return pack_bits(bits)


# ----------------------------------------------------------------------------- max pooling


def segment_maxpool(values, segment, first=0):
    """Causal segment max pool (SC-DCNN hardware-oriented max pooling).

    ``values: uint16[K, B, L]`` are the K candidates of each of B pooling windows. The stream
    is cut into segments of ``segment`` cycles. During segment 0 input ``first`` is forwarded;
    at the end of each segment the input whose values summed over that segment are largest
    (ties: the last such index) is forwarded during the next segment.

    Returns ``(out: uint16[B, L], selected: uint8[B, nseg])`` where ``selected[b, s]`` is the
    index forwarded during segment s.
    """
    v = np.asarray(values)
    if v.ndim != 3:
        raise ValueError(f"values must be [K, B, length], got shape {v.shape}")
    kk, nb, length = v.shape
    segment, first = int(segment), int(first)
    if segment < 1:
        raise ValueError(f"segment={segment} must be >= 1")
    if not 1 <= kk <= 256:
        raise ValueError(f"K={kk} candidates must be in 1..256")
    if not 0 <= first < kk:
        raise ValueError(f"first={first} must be in 0..{kk - 1}")
    nseg = -(-length // segment)
    out = np.zeros((nb, length), dtype=np.uint16)
    selected = np.zeros((nb, nseg), dtype=np.uint8)
    cur = np.full(nb, first, dtype=np.int64)
    rows = np.arange(nb)
    for s in range(nseg):
        lo, hi = s * segment, min((s + 1) * segment, length)
        selected[:, s] = cur
        out[:, lo:hi] = v[cur, rows, lo:hi]
        sums = v[:, :, lo:hi].sum(axis=2, dtype=np.int64)  # [K, B]
        cur = kk - 1 - np.argmax(sums[::-1], axis=0)  # last maximal index
    return out, selected


def conv_pool_btanh(inp, wts, bias, length, approx, segment, first, n_btanh, r, s0):
    """Conv -> 2x2 causal segment max pool -> Btanh in one call (the fast path of a pooled
    conv layer): ``(uint64[F, Ho//2, Wo//2, W] output streams, uint8[F*Ho//2*Wo//2, nseg]
    forwarded candidate per segment)``.

    By definition the composition of ``conv_counts``, ``segment_maxpool`` over the 4 members of
    each window in (dy, dx) order, and ``btanh(counts, n_btanh, r, s0)``.
    """
    counts = conv_counts(inp, wts, bias, length, approx)
    f, ho, wo, L = counts.shape
    hp, wp = ho // 2, wo // 2
    c = counts[:, : 2 * hp, : 2 * wp].reshape(f, hp, 2, wp, 2, L)
    c = c.transpose(2, 4, 0, 1, 3, 5).reshape(4, -1, L)
    vals, sel = segment_maxpool(c, segment, first)
    y = btanh(vals, n_btanh, r, s0)
    return y.reshape(f, hp, wp, -1), sel


# ----------------------------------------------------------------------------- MUX


def mux_select(x, select, length) -> np.ndarray:
    """MUX: output bit t is bit t of stream ``x[select[t]]``; ``x: uint64[n, W]`` -> ``[W]``."""
    length = _length(length)
    x = _words(x, length)
    if x.ndim != 2:
        raise ValueError(f"x must be uint64[n, W], got shape {x.shape}")
    sel = np.asarray(select, dtype=np.int64).reshape(-1)
    if sel.size < length:
        raise ValueError(f"select has {sel.size} entries, need {length}")
    sel = sel[:length]
    if sel.size and (sel.min() < 0 or sel.max() >= x.shape[0]):
        raise ValueError(f"select entries must be in 0..{x.shape[0] - 1}")
    bits = unpack_bits(x, length)
    return pack_bits(bits[sel, np.arange(length)])


def _mux_fc_args(x, source, select, bit_index, G, L):
    """Checked arguments of ``mux_fc_counts`` (shared by both back ends)."""
    L = _length(L)
    G = int(G)
    if G < 1:
        raise ValueError(f"G={G} must be >= 1")
    _check_count_range(G)
    x = _words(x, L)
    if x.ndim != 2:
        raise ValueError(f"x must be uint64[n-1, W], got shape {x.shape}")
    source = np.asarray(source)
    if source.dtype != np.uint64 or source.ndim != 3:
        raise ValueError(
            f"source must be uint64[outputs, n, Wsrc], got {source.dtype} {source.shape}")
    n = source.shape[1]
    if n < 1 or x.shape[0] != n - 1:
        raise ValueError(f"x has {x.shape[0]} inputs but source has fan-in {n} (n-1 inputs + bias)")
    sel = np.asarray(select, dtype=np.int64).reshape(-1)
    bi = np.asarray(bit_index, dtype=np.int64).reshape(-1)
    if sel.size != bi.size:
        raise ValueError(f"select has {sel.size} entries but bit_index {bi.size}")
    if sel.size:
        if L == 0:
            raise ValueError("steps need an input stream of length >= 1")
        if sel.min() < 0:
            raise ValueError("select entries must be >= 0")
        if bi.min() < 0 or bi.max() >= 64 * source.shape[2]:
            raise ValueError(f"bit_index entries must be in 0..{64 * source.shape[2] - 1}")
    return x, source, sel, bi, G, L


def _slot_counts(prod: np.ndarray, approx: bool) -> np.ndarray:
    """Count the products ``prod[..., G]`` (0/1) of the MUX-shared FC's G slots: exact sum, or
    Kim's APC in slot order (pair j ORs when j is even, ANDs when odd; 2 x pairs + last)."""
    G = prod.shape[-1]
    if not approx:
        return prod.sum(axis=-1, dtype=np.int64)
    m = G // 2
    first, second = prod[..., 0 : 2 * m : 2], prod[..., 1 : 2 * m : 2]
    gates = np.where(np.arange(m) % 2 == 0, first | second, first & second)
    counts = 2 * gates.sum(axis=-1, dtype=np.int64)
    if G % 2:
        counts += prod[..., G - 1]
    return counts


def mux_fc_counts(x, source, select, bit_index, G, L, approx) -> np.ndarray:
    """Per-step G-input counts of the MUX-shared FC (DW-CNN Fig. 10): ``uint16[outputs, S]``.

    ``x: uint64[n-1, W]`` packed input streams of length L (the bias input n-1 is constant 1),
    ``source: uint64[outputs, n, Wsrc]`` stored weight streams, ``select``/``bit_index``
    ``int64[S]`` the MUX phase m and the weight bit j read at step s. Slot k of step s reads
    input i = k + G*m: its product is XNOR(x[i] bit s mod L, source[o, i] bit j) for i < n and
    the bipolar-zero stream bit s & 1 for i >= n. The count is the exact sum of the G products
    or Kim's APC over them in slot order (``approx``).
    """
    x, source, sel, bi, G, L = _mux_fc_args(x, source, select, bit_index, G, L)
    outputs, n = source.shape[0], source.shape[1]
    S = sel.size
    out = np.empty((outputs, S), dtype=np.uint16)
    if S == 0 or outputs == 0:
        return out
    xin = np.concatenate([unpack_bits(x, L), np.ones((1, L), dtype=np.uint8)], axis=0)
    step = max(1, _CHUNK_BITS // max(1, outputs * G * 8))
    for lo in range(0, S, step):
        t = np.arange(lo, min(lo + step, S))
        idx = np.arange(G)[None, :] + G * np.minimum(sel[t], n)[:, None]  # (T, G) input per slot
        valid = idx < n
        idx_c = np.minimum(idx, n - 1)
        xs = xin[idx_c, (t % L)[:, None]]  # (T, G)
        j = bi[t][:, None]
        word = source[:, idx_c, j >> 6]  # (outputs, T, G)
        ws = ((word >> (j & 63).astype(np.uint64)[None]) & np.uint64(1)).astype(np.uint8)
        prod = 1 - (xs[None] ^ ws)
        prod = np.where(valid[None], prod, (t[:, None] & 1).astype(np.uint8)[None])
        out[:, lo : lo + len(t)] = _slot_counts(prod, approx)
    return out


def _mux_fc_table_args(x, tab, row, select, n, G, L, outputs):
    """Checked arguments of the table-driven MUX-shared FC kernels (both back ends)."""
    L = _length(L)
    G, n, outputs = int(G), int(n), int(outputs)
    if G < 1 or n < 1 or outputs < 0:
        raise ValueError(f"need G >= 1, n >= 1, outputs >= 0; got G={G}, n={n}, outputs={outputs}")
    _check_count_range(G)
    x = _words(x, L)
    if x.ndim != 2 or x.shape[0] != n - 1:
        raise ValueError(f"x must be uint64[n-1={n - 1}, W], got shape {x.shape}")
    tab = np.ascontiguousarray(tab)
    nl = (outputs + 63) // 64
    sel = np.asarray(select, dtype=np.int64).reshape(-1)
    row = np.ascontiguousarray(np.asarray(row, dtype=np.int64).reshape(-1))
    if tab.dtype != np.uint64 or tab.ndim != 3 or tab.shape[1:] != (G, nl):
        raise ValueError(
            f"tab must be uint64[rows, G={G}, lanes={nl}], got {tab.dtype} {tab.shape}")
    if row.size != sel.size:
        raise ValueError(f"row has {row.size} entries but select {sel.size}")
    if row.size and (row.min() < 0 or row.max() >= tab.shape[0]):
        raise ValueError(f"row entries must be in 0..{tab.shape[0] - 1}")
    if sel.size and (L == 0 or sel.min() < 0):
        raise ValueError("select entries must be >= 0 and the input length >= 1")
    return x, tab, row, sel, n, G, L, outputs


def _mux_fc_table_rows(select, bit_index, n, G) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct (phase, weight bit) pairs of the steps: ``(phase, bit, row)``, step s reading
    pair ``row[s]``. Phases m with G*m >= n select no input (every slot is past the fan-in,
    table bits 0), so they share one pair; the pairs are ordered by (bit, phase), so an
    ascending address schedule reads ascending rows."""
    sel = np.asarray(select, dtype=np.int64).reshape(-1)
    bi = np.asarray(bit_index, dtype=np.int64).reshape(-1)
    mmax = -(-n // G)  # the first phase past the fan-in
    m = np.minimum(sel, mmax)
    j = np.where(m >= mmax, 0, bi)
    uniq, row = np.unique(j * (mmax + 1) + m, return_inverse=True)
    return uniq % (mmax + 1), uniq // (mmax + 1), row.reshape(-1).astype(np.int64)


def mux_fc_table(source, select, bit_index, G) -> tuple[np.ndarray, np.ndarray]:
    """Weight bits of the MUX-shared FC per (phase, weight bit) pair, slot and neuron:
    ``(tab uint64[rows, G, lanes], row int64[S])``.

    Step s reads ``tab[row[s]]``: bit b of ``tab[row[s], k, q]`` is bit ``bit_index[s]`` of
    ``source[64*q + b, i]`` with i = k + G*select[s], the weight bit that group k's nanowire
    delivers to neuron 64*q + b at step s; slots past the fan-in (i >= n) and lanes past the
    last neuron are 0. The table only depends on the pair (select[s], bit_index[s]), so it has
    one row per distinct pair (``_mux_fc_table_rows``), at most S and at most
    ceil(n/G) * 64 * Wsrc + 1. It is static for a layer (stored weights and the MUX/nanowire
    schedule, not the image), so it is built once and every image reuses it.
    """
    source = np.asarray(source)
    if source.dtype != np.uint64 or source.ndim != 3:
        raise ValueError(
            f"source must be uint64[outputs, n, Wsrc], got {source.dtype} {source.shape}")
    G = int(G)
    if G < 1:
        raise ValueError(f"G={G} must be >= 1")
    outputs, n, wsrc = source.shape
    sel = np.asarray(select, dtype=np.int64).reshape(-1)
    bi = np.asarray(bit_index, dtype=np.int64).reshape(-1)
    if sel.size != bi.size:
        raise ValueError(f"select has {sel.size} entries but bit_index {bi.size}")
    if sel.size and (sel.min() < 0 or bi.min() < 0 or bi.max() >= 64 * wsrc):
        raise ValueError(f"select must be >= 0 and bit_index in 0..{64 * wsrc - 1}")
    nl = (outputs + 63) // 64
    pm, pj, row = _mux_fc_table_rows(sel, bi, n, G)
    U = pm.size
    tab = np.zeros((U, G, nl), dtype=np.uint64)
    if U == 0 or outputs == 0:
        return tab, row
    step = max(1, _CHUNK_BITS // max(1, outputs * G * 8))
    for lo in range(0, U, step):
        t = np.arange(lo, min(lo + step, U))
        idx = np.arange(G)[None, :] + G * pm[t][:, None]  # (T, G)
        valid = idx < n
        j = pj[t][:, None]
        word = source[:, np.minimum(idx, n - 1), j >> 6]  # (outputs, T, G)
        bits = ((word >> (j & 63).astype(np.uint64)[None]) & np.uint64(1)).astype(np.uint8)
        bits &= valid[None].astype(np.uint8)
        bits = np.moveaxis(bits, 0, -1)  # (T, G, outputs)
        tab[lo : lo + len(t)] = pack_bits(bits)
    return tab, row


def _mux_fc_table_counts(x, tab, row, sel, n, G, L, approx, outputs) -> np.ndarray:
    """Per-step counts ``int64[outputs, S]`` of the MUX-shared FC from its weight table."""
    S = sel.size
    xin = np.concatenate([unpack_bits(x, L), np.ones((1, L), dtype=np.uint8)], axis=0)
    out = np.empty((outputs, S), dtype=np.int64)
    step = max(1, _CHUNK_BITS // max(1, 64 * tab.shape[2] * G * 8))
    for lo in range(0, S, step):
        t = np.arange(lo, min(lo + step, S))
        idx = np.arange(G)[None, :] + G * np.minimum(sel[t], n)[:, None]
        valid = idx < n
        xs = xin[np.minimum(idx, n - 1), (t % L)[:, None]]  # (T, G)
        ws = unpack_bits(tab[row[t]], 64 * tab.shape[2])[..., :outputs]  # (T, G, outputs)
        prod = 1 - (xs[..., None] ^ ws)
        prod = np.where(valid[..., None], prod, (t[:, None, None] & 1).astype(np.uint8))
        out[:, lo : lo + len(t)] = _slot_counts(np.moveaxis(prod, 1, -1), approx).T
    return out


def mux_fc_btanh(x, tab, row, select, n, G, L, approx, n_btanh, r, s0, outputs) -> np.ndarray:
    """MUX-shared FC fused with its Btanh: packed outputs ``uint64[outputs, W]`` of the last L
    steps.

    The counts are those of ``mux_fc_counts`` (read through the table ``tab``/``row`` of
    ``mux_fc_table``); the Btanh counter runs through all S steps from ``s0`` (see ``btanh``)
    and the bits of the last L steps (the last pass) are the output streams.
    """
    x, tab, row, sel, n, G, L, outputs = _mux_fc_table_args(x, tab, row, select, n, G, L, outputs)
    S = sel.size
    if S < L:
        raise ValueError(f"{S} steps cannot emit a stream of length {L}")
    counts = _mux_fc_table_counts(x, tab, row, sel, n, G, L, approx, outputs)
    y = btanh(counts.astype(np.uint16), n_btanh, r, s0)
    return pack_bits(unpack_bits(y, S)[:, S - L :])


def mux_fc_sums(x, tab, row, select, n, G, L, approx, outputs) -> np.ndarray:
    """MUX-shared FC output counters: per-neuron sum over all steps of its counts,
    ``int64[outputs]``."""
    x, tab, row, sel, n, G, L, outputs = _mux_fc_table_args(x, tab, row, select, n, G, L, outputs)
    if sel.size == 0:
        return np.zeros(outputs, dtype=np.int64)
    return _mux_fc_table_counts(x, tab, row, sel, n, G, L, approx, outputs).sum(axis=1)


def gather_streams(x, length, index) -> np.ndarray:
    """Packed streams whose bit t is bit ``index[t]`` of ``x: uint64[n, W]`` (a re-read order
    of stored streams) -> ``uint64[n, ceil(len(index)/64)]``."""
    length = _length(length)
    x = _words(x, length)
    idx = np.asarray(index, dtype=np.int64).reshape(-1)
    if x.ndim != 2:
        raise ValueError(f"x must be uint64[n, W], got shape {x.shape}")
    if idx.size and (idx.min() < 0 or idx.max() >= length):
        raise ValueError(f"index entries must be in 0..{length - 1}")
    out = np.zeros((x.shape[0], n_words(idx.size)), dtype=np.uint64)
    step = max(1, _CHUNK_BITS // max(1, length + idx.size))
    for lo in range(0, x.shape[0], step):
        out[lo : lo + step] = pack_bits(unpack_bits(x[lo : lo + step], length)[:, idx])
    return out


# ----------------------------------------------------------------------------- decoding


def mark_gaps(out, length, gaps, last) -> int:
    """Set, in ``out: uint64[rows, W]`` (rows of ``length``-bit streams, in place), the bits at
    the positions ``last + cumsum(gaps)`` of the flat index ``row * length + t`` that fall
    inside the ``rows * length`` bits. ``gaps`` (int64, each >= 1) are the gaps of a Bernoulli
    process (read errors); returns the last position, ``last + sum(gaps)``."""
    length = _length(length)
    out = _words(out, length, "out")
    if out.ndim != 2:
        raise ValueError(f"out must be uint64[rows, W], got shape {out.shape}")
    gaps = np.asarray(gaps, dtype=np.int64).reshape(-1)
    if gaps.size and gaps.min() < 1:
        raise ValueError("gaps must be >= 1")
    if gaps.size == 0:
        return int(last)
    pos = int(last) + np.cumsum(gaps)
    end = int(pos[-1])
    pos = pos[(pos >= 0) & (pos < out.shape[0] * length)]
    row, t = np.divmod(pos, length)
    np.bitwise_or.at(out, (row, t >> 6), np.left_shift(np.uint64(1), (t & 63).astype(np.uint64)))
    return end


def popcount(x, length) -> np.ndarray:
    """Number of ones in the first ``length`` bits of each stream: ``int64[...]``."""
    length = _length(length)
    x = _words(x, length)
    return unpack_bits(x, length).sum(axis=-1, dtype=np.int64)


def decode_bipolar(x, length) -> np.ndarray:
    """Bipolar value ``2 * ones / length - 1`` of each stream: ``float64[...]``."""
    length = _length(length)
    if length == 0:
        raise ValueError("cannot decode a stream of length 0")
    return 2.0 * popcount(x, length) / length - 1.0
