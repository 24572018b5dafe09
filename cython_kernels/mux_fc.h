/* MUX-shared FC, neuron-sliced: the per-step loops of mux_fc_btanh and mux_fc_sums.
 *
 * Part of archsim's compiled SC kernels (mux_fc.pyx). At step s every neuron of a MUX-shared
 * FC layer sees the same G input bits (the MUX selects are shared), so bit b of one word holds
 * neuron 64 q + b: the XNOR masks of the G slots, the carry-saved (Harley-Seal) count of the
 * G products, one bit-sliced Btanh cycle (bs_btanh.h) and the output counters' carry-save
 * accumulators, on two 4 x 64-bit vectors (8 lanes of 64 neurons).
 */
#ifndef ARCHSIM_MUX_FC_H
#define ARCHSIM_MUX_FC_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "bs_btanh.h"
#include "hs_simd.h"

/* Carry-save count of LANES = 8 neuron words (two 4 x 64-bit vectors, GCC vector
   extensions so the compiler emits AVX2 whatever it makes of the loops). Plane p of the
   state holds at most two pending words; a third one is reduced with a full adder whose
   sum stays at p and whose carry moves up to p + 1 (Harley-Seal), so adding N words costs
   about N full adders instead of N ripples. */
typedef struct { mux_v4 w[MUX_NP][2][2]; int cnt[MUX_NP]; } mux_csa;

static inline void mux_csa_init(mux_csa* c) {
    for (int p = 0; p < MUX_NP; p++) c->cnt[p] = 0;
}

static inline void mux_csa_push(mux_csa* c, int p, mux_v4 w0, mux_v4 w1) {
    for (;;) {
        int n = c->cnt[p];
        if (n < 2) {
            c->w[p][n][0] = w0;
            c->w[p][n][1] = w1;
            c->cnt[p] = n + 1;
            return;
        }
        mux_v4 a0 = c->w[p][0][0], b0 = c->w[p][1][0], u0 = a0 ^ b0;
        mux_v4 a1 = c->w[p][0][1], b1 = c->w[p][1][1], u1 = a1 ^ b1;
        c->w[p][0][0] = u0 ^ w0;
        c->w[p][0][1] = u1 ^ w1;
        w0 = (a0 & b0) | (u0 & w0);
        w1 = (a1 & b1) | (u1 & w1);
        c->cnt[p] = 1;
        p++;
    }
}

/* w = row[q] ^ x for the nq valid lanes, x for the rest */
static inline void mux_load8(const uint64_t* row, ptrdiff_t nq, uint64_t x,
                             mux_v4* w0, mux_v4* w1) {
    mux_v4 xv = {x, x, x, x}, t0, t1;
    if (nq == 8) {
        __builtin_memcpy(&t0, row, 32);
        __builtin_memcpy(&t1, row + 4, 32);
    } else {
        uint64_t tmp[8];
        for (int q = 0; q < 8; q++) tmp[q] = q < nq ? row[q] : 0;
        __builtin_memcpy(&t0, tmp, 32);
        __builtin_memcpy(&t1, tmp + 4, 32);
    }
    *w0 = t0 ^ xv;
    *w1 = t1 ^ xv;
}

/* v (nv planes x 8 lanes) = count of the g products row[k * nl] ^ xm[k] (PC), or
   2 * (APC pair count: pair k ORs when k is even, ANDs when odd) + last product. The
   value must fit in nv planes; c is left empty. */
static void mux_fc_count_step(const uint64_t* row, ptrdiff_t nl, ptrdiff_t nq,
                              const uint64_t* xm, ptrdiff_t g, int apx, int nv,
                              uint64_t* v, mux_csa* c) {
    mux_v4 a0, a1, b0, b1;
    ptrdiff_t k;
    int p;
    if (apx) {
        for (k = 0; k < g / 2; k++) {
            mux_load8(row + 2 * k * nl, nq, xm[2 * k], &a0, &a1);
            mux_load8(row + (2 * k + 1) * nl, nq, xm[2 * k + 1], &b0, &b1);
            if (k & 1) mux_csa_push(c, 1, a0 & b0, a1 & b1);
            else mux_csa_push(c, 1, a0 | b0, a1 | b1);
        }
        if (g & 1) {
            mux_load8(row + (g - 1) * nl, nq, xm[g - 1], &a0, &a1);
            mux_csa_push(c, 0, a0, a1);
        }
    } else {
        for (k = 0; k < g; k++) {
            mux_load8(row + k * nl, nq, xm[k], &a0, &a1);
            mux_csa_push(c, 0, a0, a1);
        }
    }
    for (p = 0; p < nv; p++) {  /* flush: half adders up the planes */
        int n = c->cnt[p];
        mux_v4 s0 = {0, 0, 0, 0}, s1 = {0, 0, 0, 0};
        if (n == 2) {
            s0 = c->w[p][0][0] ^ c->w[p][1][0];
            s1 = c->w[p][0][1] ^ c->w[p][1][1];
            a0 = c->w[p][0][0] & c->w[p][1][0];
            a1 = c->w[p][0][1] & c->w[p][1][1];
            c->cnt[p] = 0;
            mux_csa_push(c, p + 1, a0, a1);
        } else if (n == 1) {
            s0 = c->w[p][0][0];
            s1 = c->w[p][0][1];
            c->cnt[p] = 0;
        }
        __builtin_memcpy(v + 8 * p, &s0, 32);
        __builtin_memcpy(v + 8 * p + 4, &s1, 32);
    }
    c->cnt[nv] = 0;  /* a zero carry may have been parked past the top plane */
    c->cnt[nv + 1] = 0;
}

/* xm[k] for step s, branch-free in the input bits: 0 where slot k's input bit is 1 (and
   for the bias input n - 1, the constant 1), ~0 where it is 0; past the fan-in (table
   bits 0) the constant product s & 1. x: the n - 1 packed input rows of w words. */
static inline void mux_fc_masks_c(const uint64_t* x, ptrdiff_t w, const int64_t* se,
                                  ptrdiff_t s, ptrdiff_t g, ptrdiff_t n, ptrdiff_t Lc,
                                  uint64_t* xm) {
    ptrdiff_t k, t = s % Lc, base, kx, kb;
    int64_t m = se[s];
    base = m <= n ? g * m : n;
    kx = n - 1 - base;  /* slots < kx read an input, slot kx (if < kb) the bias */
    kb = n - base;      /* slots >= kb are past the fan-in */
    if (kx < 0) kx = 0;
    if (kx > g) kx = g;
    if (kb < 0) kb = 0;
    if (kb > g) kb = g;
    if (kx > 0) {
        const uint64_t* col = x + base * w + (t >> 6);
        int b = (int)(t & 63);
        for (k = 0; k < kx; k++) xm[k] = ((col[k * w] >> b) & 1) - 1;
    }
    for (k = kx; k < kb; k++) xm[k] = 0;
    for (k = kb; k < g; k++) xm[k] = (s & 1) ? ~(uint64_t)0 : 0;
}

/* mux_fc_masks_c from the transposed inputs xb (row t: bit i = input i at cycle t, the
   bias bit n - 1 set; nwx words a row, one spare): the G slot bits are one extract. g <= 64. */
static inline void mux_fc_masks_t(const uint64_t* xb, ptrdiff_t nwx, const int64_t* se,
                                  ptrdiff_t s, ptrdiff_t g, ptrdiff_t n, ptrdiff_t Lc,
                                  uint64_t* xm) {
    ptrdiff_t k, t = s % Lc, base, kb;
    int64_t m = se[s];
    uint64_t bits = 0, valid;
    base = m <= n ? g * m : n;
    kb = n - base;  /* slots >= kb are past the fan-in */
    if (kb < 0) kb = 0;
    if (kb > g) kb = g;
    if (kb > 0) {
        const uint64_t* r = xb + t * nwx + (base >> 6);
        int sh = (int)(base & 63);
        bits = r[0] >> sh;
        if (sh) bits |= r[1] << (64 - sh);
    }
    valid = kb >= 64 ? ~(uint64_t)0 : (((uint64_t)1 << kb) - 1);
    bits = (bits & valid) | ((s & 1) ? 0 : ~valid);  /* past the fan-in: product s & 1 */
    for (k = 0; k < g; k++) xm[k] = ((bits >> k) & 1) - 1;
}

/* Lanes q0..q0+nq-1 (nq <= 8) of the MUX-shared FC + Btanh through all S steps: per step
   the masks, the carry-saved count and one Btanh cycle; the last Lc steps' output bits
   are set in ov (no rows of wo words). */
static void mux_fc_btanh_block_c(const uint64_t* x, ptrdiff_t w, const uint64_t* xb,
                                 ptrdiff_t nwx, const int64_t* se,
                                 const uint64_t* tab, const int64_t* rw, ptrdiff_t S,
                                 ptrdiff_t g, ptrdiff_t n, ptrdiff_t Lc, ptrdiff_t nl,
                                 ptrdiff_t q0, ptrdiff_t nq, int apx, int nv, int ns,
                                 int nt, uint64_t nbt, uint64_t rr, int64_t st0,
                                 uint64_t* xm, uint64_t* ov, ptrdiff_t wo, ptrdiff_t no) {
    mux_csa csa;
    mux_v4 st[MUX_NP][2], v[MUX_NP][2], ob[2];
    uint64_t obw[8], obuf[8][64];
    ptrdiff_t s, q, tt, o;
    int p, c;
    for (p = 0; p < MUX_NP; p++) {
        uint64_t b = (p < ns && ((st0 >> p) & 1)) ? ~(uint64_t)0 : 0;
        mux_v4 bv = {b, b, b, b};
        st[p][0] = bv;
        st[p][1] = bv;
    }
    mux_csa_init(&csa);
    for (s = 0; s < S; s++) {
        const uint64_t* row = tab + rw[s] * g * nl + q0;
        if (xb) mux_fc_masks_t(xb, nwx, se, s, g, n, Lc, xm);
        else mux_fc_masks_c(x, w, se, s, g, n, Lc, xm);
        mux_fc_count_step(row, nl, nq, xm, g, apx, nv, (uint64_t*)v, &csa);
        if (s < S - Lc) {
            bs_btanh_step8(st, v, ns, nv, nt, nbt, rr, NULL);
            continue;
        }
        bs_btanh_step8(st, v, ns, nv, nt, nbt, rr, ob);  /* the last pass: emit */
        __builtin_memcpy(obw, ob, 64);
        tt = s - (S - Lc);
        for (q = 0; q < 8; q++) obuf[q][tt & 63] = obw[q];
        if ((tt & 63) == 63 || tt == Lc - 1) {  /* 64 steps (or the last): transpose out */
            for (q = 0; q < nq; q++) {
                for (c = (int)(tt & 63) + 1; c < 64; c++) obuf[q][c] = 0;
                archsim_transpose64(obuf[q]);
                for (c = 0; c < 64; c++) {
                    o = 64 * (q0 + q) + c;
                    if (o < no) ov[o * wo + (tt >> 6)] = obuf[q][c];
                }
            }
        }
    }
}

/* Carry-save accumulators of mux_fc_sums: one of 4-word vectors and one of single words
   (same scheme as mux_csa_push); a pending word at plane p weighs 2^p. */
typedef struct { mux_v4 w[MUX_NP][2]; int cnt[MUX_NP]; } mux_acc4;
typedef struct { uint64_t w[MUX_NP][2]; int cnt[MUX_NP]; } mux_acc1;

/* c += w * 2^p: a third pending word at a plane is reduced with a full adder */
#define MUX_ACC_PUSH(NAME, ACC, T)                          \
    static inline void NAME(ACC* c, int p, T w) {           \
        for (;;) {                                          \
            int n = c->cnt[p];                              \
            if (n < 2) {                                    \
                c->w[p][n] = w;                             \
                c->cnt[p] = n + 1;                          \
                return;                                     \
            }                                               \
            T a = c->w[p][0], b = c->w[p][1], u = a ^ b;    \
            c->w[p][0] = u ^ w;                             \
            w = (a & b) | (u & w);                          \
            c->cnt[p] = 1;                                  \
            p++;                                            \
        }                                                   \
    }
MUX_ACC_PUSH(mux_acc4_push, mux_acc4, mux_v4)
MUX_ACC_PUSH(mux_acc1_push, mux_acc1, uint64_t)

static inline mux_v4 mux_ld4(const uint64_t* p, ptrdiff_t stride) {
    mux_v4 r;
    if (stride == 1) {
        __builtin_memcpy(&r, p, 32);
    } else {
        r[0] = p[0];
        r[1] = p[stride];
        r[2] = p[2 * stride];
        r[3] = p[3 * stride];
    }
    return r;
}

/* MUX-shared FC output counters: out[o] = sum over the S steps of neuron o's count (PC, or
   2 * APC pairs + last). Every product word of a lane goes into the lane's carry-save
   accumulators, four slots (APC: four pairs) at a time as one vector. Returns -1 if out
   of memory. */
static int mux_fc_sums_c(const uint64_t* x, ptrdiff_t w, const uint64_t* xb,
                         ptrdiff_t nwx, const int64_t* se,
                         const uint64_t* tab, const int64_t* rw, ptrdiff_t S, ptrdiff_t g,
                         ptrdiff_t n, ptrdiff_t Lc, ptrdiff_t nl, int apx, uint64_t* xm,
                         int64_t* out, ptrdiff_t no) {
    mux_acc4* a4 = (mux_acc4*)calloc(nl, sizeof(mux_acc4));
    mux_acc1* a1 = (mux_acc1*)calloc(nl, sizeof(mux_acc1));
    const mux_v4 mor = {~0ULL, 0, ~0ULL, 0};  /* pairs 4j and 4j + 2 OR, the others AND */
    const mux_v4 sel_even = {0, 2, 4, 6}, sel_odd = {1, 3, 5, 7};
    ptrdiff_t s, q, k, j, half = g / 2, o;
    int p, i, l;
    if (a4 == NULL || a1 == NULL) {
        free(a4);
        free(a1);
        return -1;
    }
    for (s = 0; s < S; s++) {
        if (xb) mux_fc_masks_t(xb, nwx, se, s, g, n, Lc, xm);
        else mux_fc_masks_c(x, w, se, s, g, n, Lc, xm);
        for (q = 0; q < nl; q++) {
            const uint64_t* tp = tab + rw[s] * g * nl + q;
            mux_acc4* c4 = a4 + q;
            mux_acc1* c1 = a1 + q;
            if (!apx) {
                for (k = 0; k + 4 <= g; k += 4)
                    mux_acc4_push(c4, 0, mux_ld4(tp + k * nl, nl) ^ mux_ld4(xm + k, 1));
                for (; k < g; k++) mux_acc1_push(c1, 0, tp[k * nl] ^ xm[k]);
            } else {
                for (j = 0; j + 4 <= half; j += 4) {
                    mux_v4 X = mux_ld4(tp + 2 * j * nl, nl) ^ mux_ld4(xm + 2 * j, 1);
                    mux_v4 Y = mux_ld4(tp + (2 * j + 4) * nl, nl) ^ mux_ld4(xm + 2 * j + 4, 1);
                    mux_v4 E = __builtin_shuffle(X, Y, sel_even);
                    mux_v4 O = __builtin_shuffle(X, Y, sel_odd);
                    mux_acc4_push(c4, 1, ((E | O) & mor) | ((E & O) & ~mor));
                }
                for (; j < half; j++) {
                    uint64_t pa = tp[2 * j * nl] ^ xm[2 * j];
                    uint64_t pb = tp[(2 * j + 1) * nl] ^ xm[2 * j + 1];
                    mux_acc1_push(c1, 1, (j & 1) ? (pa & pb) : (pa | pb));
                }
                if (g & 1) mux_acc1_push(c1, 0, tp[(g - 1) * nl] ^ xm[g - 1]);
            }
        }
    }
    for (o = 0; o < no; o++) {  /* every pending word at plane p weighs 2^p */
        mux_acc4* c4 = a4 + (o >> 6);
        mux_acc1* c1 = a1 + (o >> 6);
        int b = (int)(o & 63);
        int64_t total = 0;
        for (p = 0; p < MUX_NP; p++) {
            for (i = 0; i < c4->cnt[p]; i++)
                for (l = 0; l < 4; l++) total += (int64_t)((c4->w[p][i][l] >> b) & 1) << p;
            for (i = 0; i < c1->cnt[p]; i++) total += (int64_t)((c1->w[p][i] >> b) & 1) << p;
        }
        out[o] = total;
    }
    free(a4);
    free(a1);
    return 0;
}

#endif /* ARCHSIM_MUX_FC_H */
