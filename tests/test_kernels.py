"""The SC bit kernels: the compiled kernels equal the NumPy oracle bit for bit, and the oracle
implements the definitions of sc_definitions.md (APC closed form, Btanh, segment max pooling,
comparator SNG, maximal-length LFSR, Kim's r).
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archsim.sc import kernels
from archsim.sc import reference as ref
from archsim.sc.rng import (
    LFSR_TAPS,
    SOBOL_MAX_DIM,
    kim_r,
    n_words,
    pack_bits,
    tail_mask,
    unpack_bits,
)

cy = kernels.cython
needs_cython = pytest.mark.skipif(cy is None, reason="archsim._kernels_sc is not built")

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# stream lengths: short, around word boundaries, and a long multiple of 64
lengths = st.one_of(st.integers(1, 300), st.sampled_from([63, 64, 65, 128, 511, 512, 1024]))
seeds = st.integers(0, 2**32 - 1)


def random_streams(rng: np.random.Generator, shape, length) -> np.ndarray:
    """Packed streams with edge rows mixed in: all-zero (bipolar -1), all-one (+1),
    alternating (bipolar 0, exactly half), and Bernoulli rows of random density."""
    rows = int(np.prod(shape)) if shape else 1
    p = rng.random((rows, 1))
    bits = (rng.random((rows, length)) < p).astype(np.uint8)
    kind = rng.integers(0, 6, rows)
    bits[kind == 0] = 0
    bits[kind == 1] = 1
    bits[kind == 2] = np.arange(length) % 2
    return pack_bits(bits.reshape(tuple(shape) + (length,)))


def assert_tail_zero(x, length):
    x = np.asarray(x)
    if x.shape[-1]:
        assert not np.any(x[..., -1] & ~np.uint64(tail_mask(length)))


# ============================================================================ compiled == oracle


@needs_cython
@SETTINGS
@given(
    seed=seeds,
    n=st.integers(1, 70),
    nb=st.integers(1, 4),
    length=lengths,
    approx=st.booleans(),
    shared=st.booleans(),
)
def test_xnor_counts_cython_equals_reference(seed, n, nb, length, approx, shared):
    rng = np.random.default_rng(seed)
    x = random_streams(rng, (nb, n), length)
    w = random_streams(rng, (n,) if shared else (nb, n), length)
    got = cy.xnor_counts(x, w, length, approx)
    want = ref.xnor_counts(x, w, length, approx)
    assert got.dtype == want.dtype == np.uint16
    assert got.shape == (nb, length)
    np.testing.assert_array_equal(got, want)


@needs_cython
@pytest.mark.parametrize("n", [1, 2, 15, 16, 17, 31, 32, 33, 255, 256, 257, 500, 501, 1025])
@pytest.mark.parametrize("approx", [False, True])
def test_xnor_counts_large_fanin(n, approx):
    """Counts wider than 8 bit-planes, and n around multiples of the 16-word adder step."""
    rng = np.random.default_rng(n)
    for length in (1024, 300):
        x = random_streams(rng, (2, n), length)
        w = random_streams(rng, (n,), length)
        np.testing.assert_array_equal(
            cy.xnor_counts(x, w, length, approx), ref.xnor_counts(x, w, length, approx)
        )


@needs_cython
def test_counts_extremes():
    """All products 1 gives n (PC and APC); all products 0 gives 0."""
    for n, length in [(1, 64), (7, 100), (64, 1024), (999, 130), (4000, 64)]:
        ones = np.full((1, n, n_words(length)), np.uint64(2**64 - 1))
        ones[..., -1] &= np.uint64(tail_mask(length))
        zeros = np.zeros_like(ones)
        for backend in (cy, ref):
            for approx in (False, True):
                assert np.all(backend.xnor_counts(ones, ones[0], length, approx) == n)
                assert np.all(backend.xnor_counts(ones, zeros[0], length, approx) == 0)


@needs_cython
@SETTINGS
@given(seed=seeds, n=st.integers(0, 40), length=lengths)
def test_pc_apc_counts_cython_equals_reference(seed, n, length):
    x = random_streams(np.random.default_rng(seed), (n,), length)
    np.testing.assert_array_equal(cy.pc_counts(x, length), ref.pc_counts(x, length))
    np.testing.assert_array_equal(cy.apc_counts(x, length), ref.apc_counts(x, length))


@needs_cython
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=seeds,
    c=st.integers(1, 3),
    h=st.integers(1, 7),
    wd=st.integers(1, 7),
    k=st.integers(1, 3),
    f=st.integers(1, 3),
    length=lengths,
    approx=st.booleans(),
)
def test_conv_counts_cython_equals_reference(seed, c, h, wd, k, f, length, approx):
    k = min(k, h, wd)
    rng = np.random.default_rng(seed)
    inp = random_streams(rng, (c, h, wd), length)
    wts = random_streams(rng, (f, c, k, k), length)
    bias = random_streams(rng, (f,), length)
    got = cy.conv_counts(inp, wts, bias, length, approx)
    assert got.shape == (f, h - k + 1, wd - k + 1, length)
    np.testing.assert_array_equal(got, ref.conv_counts(inp, wts, bias, length, approx))


def test_conv_counts_is_xnor_counts_over_windows():
    """A conv neuron is an FC neuron over its window (c, ky, kx order) plus the bias last."""
    rng = np.random.default_rng(7)
    c, h, wd, k, f, length = 2, 5, 6, 3, 2, 130
    inp = random_streams(rng, (c, h, wd), length)
    wts = random_streams(rng, (f, c, k, k), length)
    bias = random_streams(rng, (f,), length)
    ones = np.full((1, n_words(length)), np.uint64(2**64 - 1))
    for approx in (False, True):
        out = kernels.conv_counts(inp, wts, bias, length, approx)
        for fi, y, x in itertools.product(range(f), range(h - k + 1), range(wd - k + 1)):
            window = inp[:, y : y + k, x : x + k].reshape(-1, n_words(length))
            xs = np.concatenate([window, ones])[None]
            ws = np.concatenate([wts[fi].reshape(-1, n_words(length)), bias[fi : fi + 1]])
            np.testing.assert_array_equal(out[fi, y, x], ref.xnor_counts(xs, ws, length, approx)[0])


@needs_cython
@SETTINGS
@given(
    seed=seeds,
    nvals=st.integers(0, 6),
    width=st.integers(1, 12),
    length=lengths,
    source=st.sampled_from(["lfsr", "sobol", "counter"]),
    rule=st.sampled_from(["gt", "ge"]),
    with_offsets=st.booleans(),
)
def test_sng_cython_equals_reference(seed, nvals, width, length, source, rule, with_offsets):
    rng = np.random.default_rng(seed)
    if source == "lfsr":
        width = max(width, 3)
        seq = ref.lfsr_sequence(width, (1 << width) - 1, seed=int(rng.integers(1, 1 << width)))
    elif source == "sobol":
        seq = ref.sobol_sequence(width, 1 << width, dim=int(rng.integers(0, SOBOL_MAX_DIM)))
    else:
        seq = ref.counter_sequence(width, 1 << width)
    values = rng.integers(-1, (1 << width) + 2, nvals)
    offsets = rng.integers(-3 * len(seq), 3 * len(seq), nvals) if with_offsets else None
    got = cy.sng(values, seq, length, rule, offsets)
    want = ref.sng(values, seq, length, rule, offsets)
    assert got.shape == (nvals, n_words(length)) and got.dtype == np.uint64
    np.testing.assert_array_equal(got, want)
    assert_tail_zero(got, length)


@needs_cython
@SETTINGS
@given(
    seed=seeds, length=lengths, shape=st.sampled_from([(1,), (3,), (2, 3)]), broadcast=st.booleans()
)
def test_gates_cython_equals_reference(seed, length, shape, broadcast):
    rng = np.random.default_rng(seed)
    a = random_streams(rng, shape, length)
    b = random_streams(rng, shape[-1:] if broadcast else shape, length)
    for name in ("xnor", "and_"):
        got = getattr(cy, name)(a, b, length)
        np.testing.assert_array_equal(got, getattr(ref, name)(a, b, length))
        assert got.shape == shape + (n_words(length),)
        assert_tail_zero(got, length)


@needs_cython
@SETTINGS
@given(
    seed=seeds,
    nb=st.integers(1, 4),
    n=st.integers(1, 60),
    length=lengths,
    s_kind=st.sampled_from(["default", "low", "scalar", "per-neuron"]),
)
def test_btanh_cython_equals_reference(seed, nb, n, length, s_kind):
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, n + 1, (nb, length)).astype(np.uint16)
    counts[:, : length // 4] = n  # saturate at the top for a while
    r = 2 * int(rng.integers(1, 2 * n + 4))
    s0 = {
        "default": None,
        "low": r // 2 - 1,
        "scalar": int(rng.integers(0, r)),
        "per-neuron": rng.integers(0, r, nb),
    }[s_kind]
    got = cy.btanh(counts, n, r, s0)
    np.testing.assert_array_equal(got, ref.btanh(counts, n, r, s0))
    assert got.shape == (nb, n_words(length))
    assert_tail_zero(got, length)


@needs_cython
@SETTINGS
@given(
    seed=seeds,
    k=st.integers(1, 5),
    nb=st.integers(1, 3),
    length=lengths,
    segment=st.integers(1, 70),
    top=st.sampled_from([1, 2, 30, 65535]),
)
def test_segment_maxpool_cython_equals_reference(seed, k, nb, length, segment, top):
    rng = np.random.default_rng(seed)
    values = rng.integers(0, top + 1, (k, nb, length)).astype(np.uint16)
    first = int(rng.integers(0, k))
    out_c, sel_c = cy.segment_maxpool(values, segment, first)
    out_r, sel_r = ref.segment_maxpool(values, segment, first)
    np.testing.assert_array_equal(out_c, out_r)
    np.testing.assert_array_equal(sel_c, sel_r)
    assert sel_c.dtype == np.uint8 and sel_c.shape == (nb, -(-length // segment))


@needs_cython
@SETTINGS
@given(seed=seeds, n=st.integers(1, 9), length=lengths)
def test_mux_select_cython_equals_reference(seed, n, length):
    rng = np.random.default_rng(seed)
    x = random_streams(rng, (n,), length)
    select = rng.integers(0, n, length)
    got = cy.mux_select(x, select, length)
    np.testing.assert_array_equal(got, ref.mux_select(x, select, length))
    assert_tail_zero(got, length)


def _mux_fc_case(rng, n, G, outputs, length, passes, wsrc):
    x = random_streams(rng, (n - 1,), length)
    source = rng.integers(0, 2**63, (outputs, n, wsrc), dtype=np.uint64)
    source ^= rng.integers(0, 2, (outputs, n, wsrc), dtype=np.uint64) << np.uint64(63)
    S = passes * length
    select = rng.integers(0, -(-n // G), S)
    bit_index = rng.integers(0, 64 * wsrc, S)
    return x, source, select, bit_index


@needs_cython
@SETTINGS
@given(
    seed=seeds,
    n=st.integers(1, 90),
    G=st.integers(1, 20),
    outputs=st.integers(1, 5),
    length=st.one_of(st.integers(1, 200), st.sampled_from([63, 64, 65, 128])),
    passes=st.integers(1, 3),
    wsrc=st.integers(1, 3),
    approx=st.booleans(),
)
def test_mux_fc_counts_cython_equals_reference(seed, n, G, outputs, length, passes, wsrc, approx):
    rng = np.random.default_rng(seed)
    x, source, select, bit_index = _mux_fc_case(rng, n, G, outputs, length, passes, wsrc)
    got = cy.mux_fc_counts(x, source, select, bit_index, G, length, approx)
    want = ref.mux_fc_counts(x, source, select, bit_index, G, length, approx)
    assert got.dtype == want.dtype == np.uint16
    assert got.shape == (outputs, passes * length)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("backend", ["numpy", "cython"])
@pytest.mark.parametrize("G", [1, 2, 3, 4, 7, 8])
@pytest.mark.parametrize("approx", [False, True])
def test_mux_fc_counts_definition(backend, G, approx):
    """Slot by slot: XNOR of x[k + G*m] (bias 1) bit s mod L with weight bit j, s & 1 past n."""
    if backend == "cython" and cy is None:
        pytest.skip("archsim._kernels_sc is not built")
    rng = np.random.default_rng(G)
    n, outputs, length, passes, wsrc = 11, 3, 37, 3, 2  # n not a multiple of G, S > L, j >= 64
    x, source, select, bit_index = _mux_fc_case(rng, n, G, outputs, length, passes, wsrc)
    got = kernels.backend(backend).mux_fc_counts(x, source, select, bit_index, G, length, approx)
    xb = unpack_bits(x, length)
    for o in range(outputs):
        for s in range(passes * length):
            j, prods = int(bit_index[s]), []
            for k in range(G):
                i = k + G * int(select[s])
                if i >= n:
                    prods.append(s & 1)
                    continue
                xi = 1 if i == n - 1 else int(xb[i, s % length])
                wi = (int(source[o, i, j >> 6]) >> (j & 63)) & 1
                prods.append(1 - (xi ^ wi))
            want = _apc_closed_form(prods) if approx else sum(prods)
            assert got[o, s] == want, (o, s)


@SETTINGS
@given(
    seed=seeds,
    n=st.integers(2, 80),
    G=st.integers(1, 9),
    outputs=st.integers(1, 140),  # crosses the 64-neuron lane boundary
    length=st.integers(1, 150),
    passes=st.integers(1, 3),
    wsrc=st.integers(1, 3),
    approx=st.booleans(),
    r=st.integers(2, 40),
    data=st.data(),
)
def test_mux_fc_fused_equals_counts_then_btanh(seed, n, G, outputs, length, passes, wsrc, approx,
                                               r, data):
    """The neuron-sliced fused MUX-FC + Btanh (both back ends) gives the bits of Btanh applied to
    ``mux_fc_counts`` (last L steps), and its output counters the sums of those counts."""
    G = min(G, n)
    s0 = data.draw(st.integers(0, r - 1))
    rng = np.random.default_rng(seed)
    x, source, select, bit_index = _mux_fc_case(rng, n, G, outputs, length, passes, wsrc)
    S = passes * length
    counts = ref.mux_fc_counts(x, source, select, bit_index, G, length, approx)
    want = pack_bits(unpack_bits(ref.btanh(counts, G, r, s0), S)[:, S - length:])
    want_sums = counts.sum(axis=1, dtype=np.int64)
    for mod in (ref, cy) if cy is not None else (ref,):
        tab, row = mod.mux_fc_table(source, select, bit_index, G)
        assert tab.shape[1:] == (G, (outputs + 63) // 64) and row.shape == (S,)
        assert tab.shape[0] <= min(S, -(-n // G) * 64 * wsrc + 1)
        got = mod.mux_fc_btanh(x, tab, row, select, n, G, length, approx, G, r, s0, outputs)
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(
            mod.mux_fc_sums(x, tab, row, select, n, G, length, approx, outputs), want_sums)
    if cy is not None:
        for a, b in zip(cy.mux_fc_table(source, select, bit_index, G),
                        ref.mux_fc_table(source, select, bit_index, G), strict=True):
            np.testing.assert_array_equal(a, b)


@SETTINGS
@given(
    seed=seeds,
    n=st.integers(1, 60),
    G=st.integers(1, 9),
    outputs=st.integers(1, 140),
    length=st.integers(1, 80),
    passes=st.integers(1, 3),
    wsrc=st.integers(1, 2),
    approx=st.booleans(),
    data=st.data(),
)
def test_mux_fc_table_any_schedule(seed, n, G, outputs, length, passes, wsrc, approx, data):
    """The compact table (one row per distinct (select, bit_index) pair) gives the counts of
    ``mux_fc_counts`` for any schedule: repeated pairs, phases past the fan-in (select far
    beyond ceil(n/G), slots carrying s & 1), few distinct bits, odd G, APC and PC."""
    G = min(G, n)
    rng = np.random.default_rng(seed)
    x, source, _, _ = _mux_fc_case(rng, n, G, outputs, length, passes, wsrc)
    S = passes * length
    mmax = -(-n // G)
    select = rng.integers(0, mmax + data.draw(st.sampled_from([1, 3, 1000])), S)
    bit_index = rng.integers(0, data.draw(st.sampled_from([1, 2, 64 * wsrc])), S)
    counts = ref.mux_fc_counts(x, source, select, bit_index, G, length, approx)
    want_sums = counts.sum(axis=1, dtype=np.int64)
    want = pack_bits(unpack_bits(ref.btanh(counts, G, 2 * G, G), S)[:, S - length:])
    for mod in (ref, cy) if cy is not None else (ref,):
        tab, row = mod.mux_fc_table(source, select, bit_index, G)
        # every step's row holds exactly the weight bits of its slots (0 past the fan-in)
        i = np.arange(G)[None, :] + G * np.minimum(select, n)[:, None]
        j = bit_index[:, None]
        bits = (source[:, np.minimum(i, n - 1), j >> 6] >> (j & 63).astype(np.uint64)) & 1
        bits = np.where((i < n)[None], bits, 0).astype(np.uint8)
        np.testing.assert_array_equal(tab[row], pack_bits(np.moveaxis(bits, 0, -1)))
        np.testing.assert_array_equal(
            mod.mux_fc_sums(x, tab, row, select, n, G, length, approx, outputs), want_sums)
        np.testing.assert_array_equal(
            mod.mux_fc_btanh(x, tab, row, select, n, G, length, approx, G, 2 * G, G, outputs),
            want)


@SETTINGS
@given(
    seed=seeds,
    C=st.integers(1, 3),
    H=st.integers(2, 11),
    F=st.integers(1, 3),
    length=lengths,
    approx=st.booleans(),
    segment=st.integers(1, 70),
    first=st.integers(0, 3),
    r=st.integers(2, 40),
    data=st.data(),
)
def test_conv_pool_btanh_equals_the_three_kernels(seed, C, H, F, length, approx, segment,
                                                  first, r, data):
    """The fused conv -> segment max pool -> Btanh (both back ends) gives the bits and the
    forwarded candidates of conv_counts, segment_maxpool over the 2x2 windows and btanh."""
    k = data.draw(st.integers(1, H - 1))  # leaves a conv output of at least 2x2
    s0 = data.draw(st.integers(0, r - 1))
    rng = np.random.default_rng(seed)
    inp = random_streams(rng, (C, H, H), length)
    wts = random_streams(rng, (F, C, k, k), length)
    bias = random_streams(rng, (F,), length)
    n = C * k * k + 1
    counts = ref.conv_counts(inp, wts, bias, length, approx)
    ho = counts.shape[1]
    hp = ho // 2
    win = counts[:, : 2 * hp, : 2 * hp].reshape(F, hp, 2, hp, 2, length)
    win = win.transpose(2, 4, 0, 1, 3, 5).reshape(4, -1, length)
    vals, want_sel = ref.segment_maxpool(win, segment, first)
    want = ref.btanh(vals, n, r, s0).reshape(F, hp, hp, -1)
    for mod in (ref, cy) if cy is not None else (ref,):
        got, sel = mod.conv_pool_btanh(inp, wts, bias, length, approx, segment, first, n, r, s0)
        np.testing.assert_array_equal(sel, want_sel)
        np.testing.assert_array_equal(got, want)


@needs_cython
@SETTINGS
@given(seed=seeds, length=lengths, rows=st.integers(1, 5), steps=st.integers(0, 700))
def test_gather_streams_cython_equals_reference(seed, length, rows, steps):
    rng = np.random.default_rng(seed)
    x = random_streams(rng, (rows,), length)
    index = rng.integers(0, length, steps)
    got = cy.gather_streams(x, length, index)
    want = ref.gather_streams(x, length, index)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(unpack_bits(want, steps), unpack_bits(x, length)[:, index])


@needs_cython
@pytest.mark.parametrize("approx", [False, True])
@pytest.mark.parametrize("C,k,segment,length", [
    (2, 3, 16, 1024), (3, 2, 5, 200), (1, 4, 64, 130),
    (20, 5, 16, 1024),  # LeNet-5 conv2: two-level counter, full 16-input groups, 16 lanes
    (2, 3, 32, 576),    # 32-cycle segments (two SWAR fields each), 9 words: 8 + 1 lanes
    (41, 5, 64, 192),   # PC: m * segment >= 2**16, the popcount path; APC: SWAR fields
])
def test_conv_pool_btanh_many_pooled_neurons(approx, C, k, segment, length):
    """More than one 64-neuron group of the neuron-sliced Btanh (and a partial last group),
    and each path of the counter and of the segment sums."""
    rng = np.random.default_rng(C * 100 + k)
    F, H = 5, 12
    inp = random_streams(rng, (C, H, H), length)
    wts = random_streams(rng, (F, C, k, k), length)
    bias = random_streams(rng, (F,), length)
    n = C * k * k + 1
    r = kim_r(n, 1.0)
    want = ref.conv_pool_btanh(inp, wts, bias, length, approx, segment, 1, n, r, r // 2)
    got = cy.conv_pool_btanh(inp, wts, bias, length, approx, segment, 1, n, r, r // 2)
    assert got[0].shape[0] * got[0].shape[1] * got[0].shape[2] > 64
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_array_equal(got[0], want[0])


@needs_cython
@pytest.mark.parametrize("approx", [False, True])
def test_mux_fc_btanh_more_than_one_lane_block(approx):
    """600 neurons = 10 lanes: a full block of 8 lanes and a partial one."""
    rng = np.random.default_rng(7)
    n, G, outputs, length, passes = 60, 7, 600, 100, 2
    x, source, select, bit_index = _mux_fc_case(rng, n, G, outputs, length, passes, 2)
    S = passes * length
    r = kim_r(G, 1.0)
    counts = ref.mux_fc_counts(x, source, select, bit_index, G, length, approx)
    want = pack_bits(unpack_bits(ref.btanh(counts, G, r, 1), S)[:, S - length:])
    tab, row = cy.mux_fc_table(source, select, bit_index, G)
    got = cy.mux_fc_btanh(x, tab, row, select, n, G, length, approx, G, r, 1, outputs)
    np.testing.assert_array_equal(got, want)


@needs_cython
@pytest.mark.parametrize("approx", [False, True])
@pytest.mark.parametrize("G,n,length", [(70, 150, 70), (64, 200, 65), (3, 300, 129)])
def test_mux_fc_wide_groups_and_long_fan_in(approx, G, n, length):
    """G > 64 (the masks read the inputs column-wise), G = 64 and fan-ins of several words
    (the transposed-input masks extract across word boundaries); odd lengths."""
    rng = np.random.default_rng(G * 1000 + n)
    outputs, passes = 70, 2
    x, source, select, bit_index = _mux_fc_case(rng, n, G, outputs, length, passes, 2)
    select[::7] += 5  # some phases past the fan-in
    S = passes * length
    r = kim_r(G, 1.0)
    counts = ref.mux_fc_counts(x, source, select, bit_index, G, length, approx)
    want = pack_bits(unpack_bits(ref.btanh(counts, G, r, r // 2), S)[:, S - length:])
    tab, row = cy.mux_fc_table(source, select, bit_index, G)
    got = cy.mux_fc_btanh(x, tab, row, select, n, G, length, approx, G, r, r // 2, outputs)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(cy.mux_fc_sums(x, tab, row, select, n, G, length, approx,
                                                 outputs), counts.sum(axis=1, dtype=np.int64))


def test_mux_fc_counts_rejects_bad_arguments():
    rng = np.random.default_rng(0)
    x, source, select, bit_index = _mux_fc_case(rng, 5, 2, 2, 10, 1, 1)
    with pytest.raises(ValueError):
        ref.mux_fc_counts(x[:3], source, select, bit_index, 2, 10, False)
    with pytest.raises(ValueError):
        ref.mux_fc_counts(x, source, select, bit_index + 64, 2, 10, False)
    with pytest.raises(ValueError):
        ref.mux_fc_counts(x, source, select[:5], bit_index, 2, 10, False)
    with pytest.raises(ValueError):
        ref.mux_fc_counts(x, source, select, bit_index, 0, 10, False)


@needs_cython
@SETTINGS
@given(seed=seeds, length=lengths, shape=st.sampled_from([(1,), (4,), (2, 3)]))
def test_popcount_decode_cython_equals_reference(seed, length, shape):
    x = random_streams(np.random.default_rng(seed), shape, length)
    np.testing.assert_array_equal(cy.popcount(x, length), ref.popcount(x, length))
    np.testing.assert_array_equal(cy.decode_bipolar(x, length), ref.decode_bipolar(x, length))


@needs_cython
@pytest.mark.parametrize("width", [3, 4, 5, 8, 11, 16, 24, 32])
def test_sequences_cython_equal_reference(width):
    length = 5000
    for seed in (1, 5, (1 << width) - 1):
        np.testing.assert_array_equal(
            cy.lfsr_sequence(width, length, seed), ref.lfsr_sequence(width, length, seed)
        )
    np.testing.assert_array_equal(
        cy.lfsr_sequence(width, 300, 1, taps=(width, 1)),
        ref.lfsr_sequence(width, 300, 1, taps=(width, 1)),
    )
    for dim in (0, 1, 7, 31, SOBOL_MAX_DIM - 1):
        np.testing.assert_array_equal(
            cy.sobol_sequence(width, length, dim), ref.sobol_sequence(width, length, dim)
        )
    np.testing.assert_array_equal(
        cy.counter_sequence(width, length), ref.counter_sequence(width, length)
    )


# ============================================================================ the definitions


def _apc_closed_form(bits) -> int:
    n = len(bits)
    total = 0
    for j in range(n // 2):
        a, b = bits[2 * j], bits[2 * j + 1]
        total += (a | b) if j % 2 == 0 else (a & b)
    return 2 * total + (bits[-1] if n % 2 else 0)


@pytest.mark.parametrize("backend", ["numpy", "cython"])
@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 8, 9])
def test_pc_and_apc_truth_tables(backend, n):
    """Exhaustive: cycle t carries input pattern t; PC counts ones, APC is the closed form."""
    if backend == "cython" and cy is None:
        pytest.skip("archsim._kernels_sc is not built")
    mod = kernels.backend(backend)
    length = 1 << n
    patterns = [[(t >> i) & 1 for i in range(n)] for t in range(length)]
    x = pack_bits(np.array(patterns, dtype=np.uint8).T)
    np.testing.assert_array_equal(mod.pc_counts(x, length), [sum(p) for p in patterns])
    np.testing.assert_array_equal(
        mod.apc_counts(x, length), [_apc_closed_form(p) for p in patterns]
    )


def test_apc_hand_examples():
    def apc(cols):
        x = pack_bits(np.array(cols, dtype=np.uint8)[:, None])
        return int(kernels.apc_counts(x, 1)[0])

    assert apc([1, 0, 0, 1]) == 2  # OR(1,0)=1, AND(0,1)=0 -> 2*1
    assert apc([1, 1, 1, 1]) == 4
    assert apc([0, 1, 1, 1, 1]) == 5  # 2*(1+1) + last input at weight 1
    assert apc([0, 0, 1, 0, 1]) == 1  # pairs 0, AND(1,0)=0; odd last input 1
    assert apc([1]) == 1
    assert apc([1, 0, 1, 0, 1, 1, 0, 1]) == 2 * (1 + 0 + 1 + 0)


def test_xnor_is_bipolar_multiply():
    a = pack_bits(np.array([[1, 1, 0, 0]], dtype=np.uint8))
    b = pack_bits(np.array([[1, 0, 1, 0]], dtype=np.uint8))
    np.testing.assert_array_equal(unpack_bits(kernels.xnor(a, b, 4), 4), [[1, 0, 0, 1]])
    np.testing.assert_array_equal(unpack_bits(kernels.and_(a, b, 4), 4), [[1, 0, 0, 0]])


@pytest.mark.parametrize("backend", ["numpy", "cython"])
def test_btanh_hand_sequence(backend):
    if backend == "cython" and cy is None:
        pytest.skip("archsim._kernels_sc is not built")
    mod = kernels.backend(backend)
    # n = 4, r = 8, S0 = 4; steps 2v - n = +4 +4 -4 -4 -4 0 +4 +2
    counts = np.array([[4, 4, 0, 0, 0, 2, 4, 3]], dtype=np.uint16)
    # S: 7(clamped) 7 3 0 0(clamped) 0 4 6; output S >= 4 after the update
    out = unpack_bits(mod.btanh(counts, 4, 8), 8)
    np.testing.assert_array_equal(out, [[1, 1, 0, 0, 0, 0, 1, 1]])
    # Framework_SNN's initial state r/2 - 1 = 3, on counts 0 0 0 2 4 3
    out = unpack_bits(mod.btanh(counts[:, 2:], 4, 8, s0=3), 6)
    np.testing.assert_array_equal(out, [[0, 0, 0, 0, 1, 1]])  # S: 0 0 0 0 4 6


def test_btanh_tracks_tanh():
    """Btanh(n, r=kim_r(n, 1)) on an exact PC approximates tanh of the bipolar sum."""
    rng = np.random.default_rng(0)
    n, length = 9, 1 << 14
    for t in (-1.0, 1.0):
        bits = rng.random((n, length)) < (t / n + 1) / 2
        counts = ref.pc_counts(pack_bits(bits), length)[None]
        y = kernels.decode_bipolar(kernels.btanh(counts, n, kim_r(n, 1.0)), length)[0]
        assert abs(y - np.tanh(t)) < 0.1


@pytest.mark.parametrize("backend", ["numpy", "cython"])
def test_segment_maxpool_definition(backend):
    if backend == "cython" and cy is None:
        pytest.skip("archsim._kernels_sc is not built")
    mod = kernels.backend(backend)
    # K = 3 inputs, one window, segment = 2, length = 7
    values = np.array(
        [
            [[0, 0, 1, 1, 0, 0, 1]],  # input 0
            [[1, 1, 0, 0, 1, 0, 0]],  # input 1
            [[1, 1, 1, 0, 1, 0, 0]],  # input 2
        ],
        dtype=np.uint16,
    )
    out, sel = mod.segment_maxpool(values, 2, first=0)
    # seg 0 forwards `first`=0; sums seg 0: (0, 2, 2) -> tie, last index 2
    # seg 1 forwards 2; sums (2, 0, 1) -> 0; seg 2 forwards 0; sums (0, 1, 1) -> 2
    np.testing.assert_array_equal(sel, [[0, 2, 0, 2]])
    np.testing.assert_array_equal(out, [[0, 0, 1, 0, 0, 0, 0]])
    _, sel = mod.segment_maxpool(values, 2, first=1)
    assert sel[0, 0] == 1
    # all equal: the last index wins every time after segment 0
    _, sel = mod.segment_maxpool(np.ones((4, 1, 9), np.uint16), 3, first=1)
    np.testing.assert_array_equal(sel, [[1, 3, 3]])


@pytest.mark.parametrize("width", [1, 3, 6, 8])
@pytest.mark.parametrize("backend", ["numpy", "cython"])
def test_sng_counter_gt_is_exact(backend, width):
    """With a counter source and rule `>`, a value v gives exactly v ones in 2**w cycles."""
    if backend == "cython" and cy is None:
        pytest.skip("archsim._kernels_sc is not built")
    mod = kernels.backend(backend)
    length = 1 << width
    values = np.arange(length + 1)
    seq = mod.counter_sequence(width, length)
    np.testing.assert_array_equal(mod.popcount(mod.sng(values, seq, length), length), values)
    ge = mod.popcount(mod.sng(values, seq, length, rule="ge"), length)
    np.testing.assert_array_equal(ge, np.minimum(values + 1, length))
    sobol = mod.sobol_sequence(width, length, dim=3)
    np.testing.assert_array_equal(mod.popcount(mod.sng(values, sobol, length), length), values)


def test_sng_lfsr_counts():
    """Over one LFSR period, `>` gives v - 1 ones and `>=` gives v (sc_definitions 2.1)."""
    width = 7
    period = (1 << width) - 1
    seq = kernels.lfsr_sequence(width, period, seed=9)
    values = np.arange(1, 1 << width)
    gt = kernels.popcount(kernels.sng(values, seq, period), period)
    ge = kernels.popcount(kernels.sng(values, seq, period, rule="ge"), period)
    np.testing.assert_array_equal(gt, values - 1)
    np.testing.assert_array_equal(ge, values)


def test_sng_offsets_rotate_the_source():
    seq = np.arange(8, dtype=np.uint32)
    a = kernels.sng([3, 3], seq, 8, offsets=[0, 2])
    bits = unpack_bits(a, 8)
    np.testing.assert_array_equal(bits[0], [1, 1, 1, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(bits[1], [1, 0, 0, 0, 0, 0, 1, 1])


def _gf2_mulmod(a: int, b: int, poly: int, deg: int) -> int:
    result = 0
    while b:
        if b & 1:
            result ^= a
        b >>= 1
        a <<= 1
        if (a >> deg) & 1:
            a ^= poly
    return result


def _gf2_powmod(base: int, e: int, poly: int, deg: int) -> int:
    result = 1
    while e:
        if e & 1:
            result = _gf2_mulmod(result, base, poly, deg)
        base = _gf2_mulmod(base, base, poly, deg)
        e >>= 1
    return result


def _prime_factors(m: int) -> set[int]:
    factors, p = set(), 2
    while p * p <= m:
        while m % p == 0:
            factors.add(p)
            m //= p
        p += 1
    if m > 1:
        factors.add(m)
    return factors


@pytest.mark.parametrize("width", sorted(LFSR_TAPS))
def test_lfsr_table_polynomials_are_primitive(width):
    """x has order 2**w - 1 modulo the feedback polynomial: the period is maximal."""
    poly = 1
    for t in LFSR_TAPS[width]:
        poly |= 1 << t
    order = (1 << width) - 1
    assert _gf2_powmod(2, order, poly, width) == 1
    for q in _prime_factors(order):
        assert _gf2_powmod(2, order // q, poly, width) != 1


@pytest.mark.parametrize("width", [3, 4, 5, 7, 10, 13, 16])
def test_lfsr_period_and_never_zero(width):
    period = (1 << width) - 1
    mod = cy if cy is not None else ref
    seq = mod.lfsr_sequence(width, period + 1, seed=1)
    assert seq[0] == 1 and seq[period] == seq[0]
    assert np.all(seq > 0) and np.all(seq < (1 << width))
    assert len(np.unique(seq[:period])) == period
    if width <= 10:
        np.testing.assert_array_equal(ref.lfsr_sequence(width, period + 1, seed=1), seq)


def test_lfsr_rejects_bad_seed_and_taps():
    with pytest.raises(ValueError):
        kernels.lfsr_sequence(8, 10, seed=0)
    with pytest.raises(ValueError):
        kernels.lfsr_sequence(8, 10, seed=256)
    with pytest.raises(ValueError):
        kernels.lfsr_sequence(8, 10, taps=(7, 3))
    with pytest.raises(ValueError):
        kernels.lfsr_sequence(40, 10)


@pytest.mark.parametrize("dim", range(SOBOL_MAX_DIM))
def test_sobol_points(dim):
    width = 9
    seq = kernels.sobol_sequence(width, 1 << width, dim)
    assert seq[0] == 0
    np.testing.assert_array_equal(np.sort(seq), np.arange(1 << width))


def test_sobol_matches_scipy():
    qmc = pytest.importorskip("scipy.stats.qmc")
    pts = qmc.Sobol(d=SOBOL_MAX_DIM, scramble=False, bits=32).random(1024)
    want = (pts * 2.0**32).astype(np.uint64)
    for dim in range(SOBOL_MAX_DIM):
        np.testing.assert_array_equal(ref.sobol_sequence(32, 1024, dim), want[:, dim])


@pytest.mark.parametrize(
    "n, s, r",
    [(9, 1, 18), (9, 0.5, 44), (25, 1, 50), (25, 0.5, 110), (150, 1, 300), (150, 0.5, 622)],
)
def test_kim_r_table(n, s, r):
    assert kim_r(n, s) == r


@settings(max_examples=30, deadline=None)
@given(seed=seeds, length=st.integers(0, 300), rows=st.integers(0, 3))
def test_pack_unpack_roundtrip(seed, length, rows):
    bits = np.random.default_rng(seed).integers(0, 2, (rows, length)).astype(np.uint8)
    x = pack_bits(bits)
    assert x.dtype == np.uint64 and x.shape == (rows, n_words(length))
    assert_tail_zero(x, length)
    np.testing.assert_array_equal(unpack_bits(x, length), bits)
    if length:  # LSB first: bit t is bit t % 64 of word t // 64
        t = length - 1
        b = np.zeros(length, np.uint8)
        b[t] = 1
        assert pack_bits(b)[t // 64] == np.uint64(1 << (t % 64))


def test_decode_bipolar_edges():
    length = 100
    zeros = np.zeros((1, n_words(length)), np.uint64)
    ones = pack_bits(np.ones((1, length), np.uint8))
    half = pack_bits((np.arange(length) % 2)[None])
    np.testing.assert_array_equal(kernels.decode_bipolar(zeros, length), [-1.0])
    np.testing.assert_array_equal(kernels.decode_bipolar(ones, length), [1.0])
    np.testing.assert_array_equal(kernels.decode_bipolar(half, length), [0.0])


# ============================================================================ dispatch


def test_backend_switching():
    assert set(kernels.API) <= set(dir(kernels.numpy))
    if cy is not None:
        assert set(kernels.API) <= set(dir(cy))
    previous = kernels.use_backend("numpy")
    try:
        assert kernels.BACKEND == "numpy"
        x = pack_bits(np.ones((3, 70), np.uint8))
        np.testing.assert_array_equal(kernels.pc_counts(x, 70), np.full(70, 3))
    finally:
        kernels.use_backend(previous)
    with pytest.raises(ValueError):
        kernels.use_backend("fortran")


def test_env_var_forces_numpy():
    code = "from archsim.sc import kernels; print(kernels.BACKEND)"
    env = dict(os.environ, ARCHSIM_KERNELS="numpy")
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "numpy"


@needs_cython
def test_default_backend_is_cython():
    if os.environ.get("ARCHSIM_KERNELS", "auto") in ("auto", "", "cython"):
        assert kernels.BACKEND == "cython"


def test_bad_arguments_are_rejected():
    x = np.zeros((2, 2), np.uint64)
    for mod in [ref] + ([cy] if cy is not None else []):
        with pytest.raises(ValueError):
            mod.pc_counts(x, 200)  # needs 4 words
        with pytest.raises(TypeError):
            mod.pc_counts(x.astype(np.int64), 100)
        with pytest.raises(ValueError):
            mod.btanh(np.zeros((1, 4), np.uint16), 2, 4, s0=4)
        with pytest.raises(ValueError):
            mod.segment_maxpool(np.zeros((2, 1, 4), np.uint16), 0)
        with pytest.raises(ValueError):
            mod.mux_select(x, [0, 5], 2)
        with pytest.raises(ValueError):
            mod.sng([1], [0, 1], 4, rule="gte")


@needs_cython
def test_non_contiguous_and_read_only_inputs():
    rng = np.random.default_rng(3)
    length = 200
    big = random_streams(rng, (3, 40), length)
    x = big[:, ::2]  # strided view
    w = np.broadcast_to(random_streams(rng, (20,), length), (3, 20, n_words(length)))
    for approx in (False, True):
        np.testing.assert_array_equal(
            cy.xnor_counts(x, w, length, approx), ref.xnor_counts(x, w, length, approx)
        )
    counts = np.broadcast_to(np.arange(length, dtype=np.uint16) % 5, (2, length))
    np.testing.assert_array_equal(cy.btanh(counts, 4, 10), ref.btanh(counts, 4, 10))


@needs_cython
@pytest.mark.parametrize("words", [1, 3, 4, 8, 16, 33, 64, 130])
def test_floor_popcount_kernels_count_every_xnor_product(words):
    """The benchmark floor (vector Harley-Seal popcount, one path per row width) counts the
    ones of every XNOR product word, like NumPy."""
    rng = np.random.default_rng(words)
    n, B, C, H, F, k = 37, 3, 2, 6, 3, 3
    x = rng.integers(0, 2**64, (n, words), dtype=np.uint64)
    w = rng.integers(0, 2**64, (B, n, words), dtype=np.uint64)
    ones = np.unpackbits(~(x[None] ^ w).view(np.uint8), axis=-1).sum(axis=(1, 2))
    np.testing.assert_array_equal(cy.floor_fc_popcount(x, w), ones)
    inp = rng.integers(0, 2**64, (C, H, H, words), dtype=np.uint64)
    wts = rng.integers(0, 2**64, (F, C, k, k, words), dtype=np.uint64)
    bias = rng.integers(0, 2**64, (F, words), dtype=np.uint64)
    got = cy.floor_conv_popcount(inp, wts, bias)
    ho = H - k + 1
    for f, y, xx in itertools.product(range(F), range(ho), range(ho)):
        prod = ~(inp[:, y:y + k, xx:xx + k] ^ wts[f])
        want = (np.unpackbits(prod.view(np.uint8)).sum()
                + np.unpackbits(bias[f].view(np.uint8)).sum())
        assert got[f, y, xx] == want


@needs_cython
@pytest.mark.parametrize("args,match", [
    (((1, 6, 6, 2), (2, 2, 3, 3, 2), (2, 2)), "inconsistent conv shapes"),  # channels differ
    (((1, 6, 6, 2), (2, 1, 3, 3, 1), (2, 2)), "words in the last axis"),
    (((6, 6, 2), (2, 1, 3, 3, 2), (2, 2)), "expected inp"),
    (((1, 2, 2, 2), (2, 1, 3, 3, 2), (2, 2)), "inconsistent conv shapes"),  # window > image
])
@pytest.mark.parametrize("backend,kernel", [
    ("cython", "floor"), ("cython", "conv_counts"), ("cython", "conv_pool_btanh"),
    ("numpy", "conv_counts"), ("numpy", "conv_pool_btanh"),  # the floor is compiled only
])
def test_conv_kernels_reject_inconsistent_operands(args, match, backend, kernel):
    """The compiled kernels read raw pointers: operands that do not fit raise (one check,
    ``reference._conv_operands``, shared by every conv kernel) instead of reading past the
    arrays."""
    mod = cy if backend == "cython" else ref
    inp, wts, bias = (np.zeros(shape, dtype=np.uint64) for shape in args)
    calls = {"floor": lambda: mod.floor_conv_popcount(inp, wts, bias),
             "conv_counts": lambda: mod.conv_counts(inp, wts, bias, 128, True),
             "conv_pool_btanh": lambda: mod.conv_pool_btanh(inp, wts, bias, 128, True, 16, 0,
                                                            4, 8, 4)}
    with pytest.raises(ValueError, match=match):
        calls[kernel]()


@needs_cython
def test_floor_fc_popcount_rejects_inconsistent_operands():
    with pytest.raises(ValueError, match="expected x"):
        cy.floor_fc_popcount(np.zeros((3, 2), np.uint64), np.zeros((4, 2, 2), np.uint64))
    with pytest.raises(ValueError, match="expected x"):
        cy.floor_fc_popcount(np.zeros((3, 2), np.uint64), np.zeros((4, 3, 1), np.uint64))


@needs_cython
@pytest.mark.parametrize("length,period", [(1024, 4), (1024, 3), (1024, 2), (256, 1), (512, 8),
                                           (200, 2),
                                           (384, 4), (192, 2)])  # P not dividing W: 4 of 6, 2 of 3
@pytest.mark.parametrize("approx", [False, True])
def test_xnor_counts_with_periodic_streams(length, period, approx):
    """``x_period``: x given by the first words of periodic streams counts exactly like the
    expanded streams, in both back ends (200 bits: a partial last word, tail bits cleared)."""
    rng = np.random.default_rng(length + period)
    B, n, W = 3, 37, n_words(length)
    xs = rng.integers(0, 2**64, (B, n, period), dtype=np.uint64)
    w = random_streams(rng, (n,), length)
    full = xs[..., np.arange(W) % period].copy()
    full[..., -1] &= np.uint64(tail_mask(length))
    want = ref.xnor_counts(full, w, length, approx)
    np.testing.assert_array_equal(ref.xnor_counts(xs, w, length, approx, period), want)
    np.testing.assert_array_equal(cy.xnor_counts(xs, w, length, approx, period), want)
    with pytest.raises(ValueError):
        cy.xnor_counts(xs, w, length, approx, period + 1)


def test_period_words_of_reread_orders():
    """The word period of a re-read order: ping-pong over 128-bit streams repeats every 256
    bits (4 words), rewinding every 128 (2 words); a permutation or a partial word has none."""
    from archsim.blocks.streams import period_words

    pingpong = np.concatenate([np.arange(128), np.arange(127, -1, -1)] * 4)
    assert period_words(pingpong, 1024) == 4
    assert period_words(np.tile(np.arange(128), 8), 1024) == 2
    assert period_words(np.random.default_rng(0).permutation(1024), 1024) is None
    assert period_words(np.tile(np.arange(100), 10), 1000) is None
