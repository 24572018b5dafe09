/* Bit-sliced Btanh: Kim et al.'s up/down counter stepped for 8 x 64 neurons at once.
 *
 * Part of archsim's compiled SC kernels: the vector Btanh step shared by the MUX-shared FC
 * (mux_fc.h, mux_fc.pyx) and the fused conv -> pool -> Btanh path (conv_pool.pyx). The state
 * of every neuron is held as bit-planes, one bit per neuron in each word, and updated with
 * ripple adders and constant comparators, so one word operation steps 64 neurons; 8 lanes of
 * 64 neurons are two 4 x 64-bit vectors (GCC vector extensions: the compiler emits AVX2, SSE2,
 * NEON or scalar code for the target, and the bits do not depend on it).
 */
#ifndef ARCHSIM_BS_BTANH_H
#define ARCHSIM_BS_BTANH_H

#include <stddef.h>
#include <stdint.h>

/* bit-planes of the bit-sliced counts, Btanh states and accumulators */
#define ARCHSIM_MAXB 48
/* neuron words (64 neurons each) stepped together: the code below is written for 8 */
#define ARCHSIM_BS_LANES 8

/* 4 x 64-bit vector of neuron words; two of them are the 8 lanes */
typedef uint64_t mux_v4 __attribute__((vector_size(32), aligned(8)));
#define MUX_NP (ARCHSIM_MAXB + 2)

/* x >= k for bit-sliced unsigned x (planes 0..np-1, LSB first, two vectors a plane) and a
   constant k: from the LSB up, ge = x_p & ge where k has a 1, x_p | ge where it has a 0. */
static inline void bs_ge_const(mux_v4 (*x)[2], int np, uint64_t k, mux_v4* g0,
                               mux_v4* g1) {
    mux_v4 c0 = {~0ULL, ~0ULL, ~0ULL, ~0ULL}, c1 = c0;
    for (int p = 0; p < np; p++) {
        if ((k >> p) & 1) {
            c0 &= x[p][0];
            c1 &= x[p][1];
        } else {
            c0 |= x[p][0];
            c1 |= x[p][1];
        }
    }
    *g0 = c0;
    *g1 = c1;
}

/* One Btanh cycle of 8 x 64 neurons, bit-sliced (Kim et al.'s up/down counter):
   state <- clamp(state + 2 v - nbt, 0, r - 1) with nt planes of headroom, out = state >=
   ceil(r/2), on vectors. st: ns planes, v: nv planes. Used by the MUX-shared FC and, via
   bs_btanh_lanes_c, by the conv -> pool -> Btanh path. */
static inline void bs_btanh_step8(mux_v4 (*st)[2], mux_v4 (*v)[2], int ns, int nv, int nt,
                                  uint64_t nbt, uint64_t rr, mux_v4* out) {
    const mux_v4 ones = {~0ULL, ~0ULL, ~0ULL, ~0ULL}, zero = {0, 0, 0, 0};
    mux_v4 t[MUX_NP][2], c0 = zero, c1 = zero, a0, a1, b0, b1, u0, u1;
    uint64_t rmax = rr - 1, half = (rr + 1) / 2;
    int p;
    t[0][0] = st[0][0];  /* T = state + 2 v */
    t[0][1] = st[0][1];
    for (p = 1; p < nt; p++) {
        a0 = p < ns ? st[p][0] : zero;
        a1 = p < ns ? st[p][1] : zero;
        b0 = p - 1 < nv ? v[p - 1][0] : zero;
        b1 = p - 1 < nv ? v[p - 1][1] : zero;
        u0 = a0 ^ b0;
        u1 = a1 ^ b1;
        t[p][0] = u0 ^ c0;
        t[p][1] = u1 ^ c1;
        c0 = (a0 & b0) | (c0 & u0);
        c1 = (a1 & b1) | (c1 & u1);
    }
    c0 = ones;  /* D = T - nbt (into t); under = T < nbt */
    c1 = ones;
    for (p = 0; p < nt; p++) {
        a0 = t[p][0];
        a1 = t[p][1];
        if ((nbt >> p) & 1) {
            t[p][0] = a0 ^ c0;
            t[p][1] = a1 ^ c1;
            c0 = a0 & c0;
            c1 = a1 & c1;
        } else {
            t[p][0] = ~(a0 ^ c0);
            t[p][1] = ~(a1 ^ c1);
            c0 = a0 | c0;
            c1 = a1 | c1;
        }
    }
    u0 = ~c0;  /* under */
    u1 = ~c1;
    bs_ge_const(t, nt, rr, &c0, &c1);  /* over = D >= r */
    b0 = c0 & ~u0;  /* over: saturate at r - 1 */
    b1 = c1 & ~u1;
    a0 = ~u0 & ~c0;  /* keep D */
    a1 = ~u1 & ~c1;
    for (p = 0; p < ns; p++) {
        if ((rmax >> p) & 1) {
            st[p][0] = (t[p][0] & a0) | b0;
            st[p][1] = (t[p][1] & a1) | b1;
        } else {
            st[p][0] = t[p][0] & a0;
            st[p][1] = t[p][1] & a1;
        }
    }
    if (out) bs_ge_const(st, ns, half, &out[0], &out[1]);  /* out = state >= ceil(r/2) */
}

/* The same step on plain word arrays (plane p of lane q at [p * 8 + q]): the conv path. */
static inline void bs_btanh_lanes_c(uint64_t* st, const uint64_t* v, int ns, int nv, int nt,
                                    uint64_t nbt, uint64_t rr, uint64_t* out) {
    bs_btanh_step8((mux_v4 (*)[2])st, (mux_v4 (*)[2])v, ns, nv, nt, nbt, rr,
                   (mux_v4*)out);
}

#endif /* ARCHSIM_BS_BTANH_H */
