/* Harley-Seal step of the bit-sliced parallel counters, on 4-word vectors.
 *
 * Part of archsim's compiled SC kernels: the bit-sliced counter of _hs_counter.pxd (used by
 * counters.pyx and conv_pool.pyx), the floor popcount of floors.pyx and the 64 x 64 bit
 * transpose of conv_pool.pyx and mux_fc.h. One call adds 16 product words of each of
 * nvec * 4 cycle-words ("lanes") into the counter's bit-planes 0-3 and returns the carries
 * (the sixteens), computing the mismatch words x ^ w (PC) or the APC's pair words straight
 * from the input and weight rows: no staging buffer between the XNOR and the adders.
 *
 * Written with GCC/Clang vector extensions, not intrinsics: the compiler emits AVX2 (or
 * SSE2, NEON, scalar code) for whatever target the kernels are built for, and the bits do
 * not depend on it.
 */
#ifndef ARCHSIM_HS_SIMD_H
#define ARCHSIM_HS_SIMD_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef uint64_t archsim_v4 __attribute__((vector_size(32)));

static inline archsim_v4 archsim_v4_load(const uint64_t *p) {
    archsim_v4 v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void archsim_v4_store(uint64_t *p, archsim_v4 v) { memcpy(p, &v, sizeof v); }

/* an all-zero row of ARCHSIM_ZROW words (static storage): the input and weight row of every
 * slot of a short last group of 16 inputs; its mismatch and pair words are 0, it adds nothing */
#define ARCHSIM_ZROW 4096
static const uint64_t archsim_zero_row[ARCHSIM_ZROW] = {0};

/* full adder on 256 lanes: a + b + c = 2 h + l */
#define ARCHSIM_CSA(h, l, a, b, c)          \
    do {                                    \
        archsim_v4 u_ = (a) ^ (b);          \
        archsim_v4 c_ = (c);                \
        (h) = ((a) & (b)) | (u_ & c_);      \
        (l) = u_ ^ c_;                      \
    } while (0)

/* Harley-Seal network: add the 16 words D(0..15) to the planes ones..eights; the carry out
 * goes to sixteens (the temporaries twos_a .. eights_b must be declared) */
#define ARCHSIM_HS16_TREE(D)                                                        \
    ARCHSIM_CSA(twos_a, ones, ones, D(0), D(1));                                    \
    ARCHSIM_CSA(twos_b, ones, ones, D(2), D(3));                                    \
    ARCHSIM_CSA(fours_a, twos, twos, twos_a, twos_b);                               \
    ARCHSIM_CSA(twos_a, ones, ones, D(4), D(5));                                    \
    ARCHSIM_CSA(twos_b, ones, ones, D(6), D(7));                                    \
    ARCHSIM_CSA(fours_b, twos, twos, twos_a, twos_b);                               \
    ARCHSIM_CSA(eights_a, fours, fours, fours_a, fours_b);                          \
    ARCHSIM_CSA(twos_a, ones, ones, D(8), D(9));                                    \
    ARCHSIM_CSA(twos_b, ones, ones, D(10), D(11));                                  \
    ARCHSIM_CSA(fours_a, twos, twos, twos_a, twos_b);                               \
    ARCHSIM_CSA(twos_a, ones, ones, D(12), D(13));                                  \
    ARCHSIM_CSA(twos_b, ones, ones, D(14), D(15));                                  \
    ARCHSIM_CSA(fours_b, twos, twos, twos_a, twos_b);                               \
    ARCHSIM_CSA(eights_b, fours, fours, fours_a, fours_b);                          \
    ARCHSIM_CSA(sixteens, eights, eights, eights_a, eights_b);

/* Planes 0-3 of lane block v are st[k * blk + 4 v ..]; the sixteens go to s16[4 v ..]. */
#define ARCHSIM_HS16_BODY(D)                                                        \
    archsim_v4 ones = archsim_v4_load(st + 4 * v);                                  \
    archsim_v4 twos = archsim_v4_load(st + blk + 4 * v);                            \
    archsim_v4 fours = archsim_v4_load(st + 2 * blk + 4 * v);                       \
    archsim_v4 eights = archsim_v4_load(st + 3 * blk + 4 * v);                      \
    archsim_v4 twos_a, twos_b, fours_a, fours_b, eights_a, eights_b, sixteens;      \
    ARCHSIM_HS16_TREE(D)                                                            \
    archsim_v4_store(st + 4 * v, ones);                                             \
    archsim_v4_store(st + blk + 4 * v, twos);                                       \
    archsim_v4_store(st + 2 * blk + 4 * v, fours);                                  \
    archsim_v4_store(st + 3 * blk + 4 * v, eights);                                 \
    archsim_v4_store(s16 + 4 * v, sixteens);

/* PC: add the mismatch words x[i + q] ^ w[i + q], q < 16, at cycle-words w0 .. w0 + 4 nvec. */
static inline void archsim_hs16_pc(const uint64_t *const *xp, const uint64_t *const *wp,
                                   ptrdiff_t i, ptrdiff_t w0, uint64_t *st, ptrdiff_t blk,
                                   uint64_t *s16, int nvec) {
    const uint64_t *a[16], *b[16];
    for (int q = 0; q < 16; q++) {
        a[q] = xp[i + q] + w0;
        b[q] = wp[i + q] + w0;
    }
    for (int v = 0; v < nvec; v++) {
#define ARCHSIM_D_PC(q) (archsim_v4_load(a[q] + 4 * v) ^ archsim_v4_load(b[q] + 4 * v))
        ARCHSIM_HS16_BODY(ARCHSIM_D_PC)
#undef ARCHSIM_D_PC
    }
}

/* APC: add the pair words of pairs p + q, q < 16 (p even): AND of the two mismatches for an
 * even pair (NOT OR of the products), OR for an odd pair (NOT AND of the products). */
static inline void archsim_hs16_apc(const uint64_t *const *xp, const uint64_t *const *wp,
                                    ptrdiff_t p, ptrdiff_t w0, uint64_t *st, ptrdiff_t blk,
                                    uint64_t *s16, int nvec) {
    const uint64_t *a[32], *b[32];
    for (int q = 0; q < 32; q++) {
        a[q] = xp[2 * p + q] + w0;
        b[q] = wp[2 * p + q] + w0;
    }
    for (int v = 0; v < nvec; v++) {
#define ARCHSIM_M(r) (archsim_v4_load(a[r] + 4 * v) ^ archsim_v4_load(b[r] + 4 * v))
#define ARCHSIM_D_APC(q) (((q) & 1) ? (ARCHSIM_M(2 * (q)) | ARCHSIM_M(2 * (q) + 1)) \
                                    : (ARCHSIM_M(2 * (q)) & ARCHSIM_M(2 * (q) + 1)))
        ARCHSIM_HS16_BODY(ARCHSIM_D_APC)
#undef ARCHSIM_D_APC
#undef ARCHSIM_M
    }
}


/* ---------------------------------------------------------------- XNOR + popcount floor
 *
 * The benchmark floor: the number of mismatching bits sum_i popcount(x_i ^ w_i) over n rows
 * of nwords words, i.e. every bit-product touched once and counted, with no per-cycle counts.
 * Harley-Seal popcount (Mula, Kurz, Lemire 2018): 16 vectors are reduced by a carry-save adder
 * network and only the carry-out (the sixteens) is popcounted per step.
 */
static inline int64_t archsim_popcount_v4(archsim_v4 v) {
    return __builtin_popcountll(v[0]) + __builtin_popcountll(v[1]) +
           __builtin_popcountll(v[2]) + __builtin_popcountll(v[3]);
}

static inline int64_t archsim_mismatch_popcount_rows(const uint64_t *const *xp,
                                                     const uint64_t *const *wp, ptrdiff_t n,
                                                     const int vpi) {
    /* rows of exactly 4 * vpi words, vpi in {1, 2, 4, 8, 16}: 16 / vpi rows per step */
    const int rpg = 16 / vpi;
    archsim_v4 ones = {0, 0, 0, 0}, twos = ones, fours = ones, eights = ones;
    archsim_v4 twos_a, twos_b, fours_a, fours_b, eights_a, eights_b, sixteens;
    int64_t total = 0;
    ptrdiff_t i = 0;
    for (; i + rpg <= n; i += rpg) {
#define ARCHSIM_DV(q) (archsim_v4_load(xp[i + (q) / vpi] + 4 * ((q) % vpi)) ^ \
                       archsim_v4_load(wp[i + (q) / vpi] + 4 * ((q) % vpi)))
        ARCHSIM_HS16_TREE(ARCHSIM_DV)
#undef ARCHSIM_DV
        total += 16 * archsim_popcount_v4(sixteens);
    }
    total += 8 * archsim_popcount_v4(eights) + 4 * archsim_popcount_v4(fours) +
             2 * archsim_popcount_v4(twos) + archsim_popcount_v4(ones);
    for (; i < n; i++)
        for (int w = 0; w < 4 * vpi; w++) total += __builtin_popcountll(xp[i][w] ^ wp[i][w]);
    return total;
}

static inline int64_t archsim_mismatch_popcount(const uint64_t *const *xp,
                                                const uint64_t *const *wp, ptrdiff_t n,
                                                ptrdiff_t nwords) {
    switch (nwords) { /* literal row widths, so that the loads above are fixed offsets */
    case 4: return archsim_mismatch_popcount_rows(xp, wp, n, 1);
    case 8: return archsim_mismatch_popcount_rows(xp, wp, n, 2);
    case 16: return archsim_mismatch_popcount_rows(xp, wp, n, 4);
    case 32: return archsim_mismatch_popcount_rows(xp, wp, n, 8);
    case 64: return archsim_mismatch_popcount_rows(xp, wp, n, 16);
    default: break;
    }
    /* other widths: each row in blocks of 64 words (16 vectors), then the leftover words */
    int64_t total = 0;
    for (ptrdiff_t i = 0; i < n; i++) {
        const uint64_t *x = xp[i], *y = wp[i];
        archsim_v4 ones = {0, 0, 0, 0}, twos = ones, fours = ones, eights = ones;
        archsim_v4 twos_a, twos_b, fours_a, fours_b, eights_a, eights_b, sixteens;
        ptrdiff_t w = 0;
        for (; w + 64 <= nwords; w += 64) {
#define ARCHSIM_DV(q) (archsim_v4_load(x + w + 4 * (q)) ^ archsim_v4_load(y + w + 4 * (q)))
            ARCHSIM_HS16_TREE(ARCHSIM_DV)
#undef ARCHSIM_DV
            total += 16 * archsim_popcount_v4(sixteens);
        }
        total += 8 * archsim_popcount_v4(eights) + 4 * archsim_popcount_v4(fours) +
                 2 * archsim_popcount_v4(twos) + archsim_popcount_v4(ones);
        for (; w < nwords; w++) total += __builtin_popcountll(x[w] ^ y[w]);
    }
    return total;
}


/* ---------------------------------------------------------------- 64 x 64 bit transpose
 *
 * In place: bit c of a[r] <-> bit r of a[c] (LSB = column 0). Six levels that swap the
 * off-diagonal j x j blocks, each with a literal block size so that the wide levels vectorise.
 */
static inline void archsim_transpose64_level(uint64_t *a, const int j, const uint64_t m) {
    for (int k0 = 0; k0 < 64; k0 += 2 * j)
        for (int k = k0; k < k0 + j; k++) {
            uint64_t t = ((a[k] >> j) ^ a[k + j]) & m;
            a[k] ^= t << j;
            a[k + j] ^= t;
        }
}

static inline void archsim_transpose64(uint64_t *a) {
    archsim_transpose64_level(a, 32, 0x00000000FFFFFFFFULL);
    archsim_transpose64_level(a, 16, 0x0000FFFF0000FFFFULL);
    archsim_transpose64_level(a, 8, 0x00FF00FF00FF00FFULL);
    archsim_transpose64_level(a, 4, 0x0F0F0F0F0F0F0F0FULL);
    archsim_transpose64_level(a, 2, 0x3333333333333333ULL);
    archsim_transpose64_level(a, 1, 0x5555555555555555ULL);
}

#endif /* ARCHSIM_HS_SIMD_H */
