/* gemm_avx512.c - AVX-512 macro-kernel: 8 x 48 register tile (24 zmm
 * accumulators), A elements broadcast straight from the rows (embedded
 * broadcast), B panels loaded as 3 zmm per k. Epilogue: bias, SiLU, residual,
 * masked column tails. Compiled with -mavx512f/vl/bw/dq -mfma only. */
#include <immintrin.h>

#include "layers/cpu/gemm.h"
#include "layers/cpu/avx512_math.h"

#define MR Y5_MR_AVX512

static inline int imin(int a, int b) { return a < b ? a : b; }

#define silu512 y5_silu512

#define ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)

/* C tile (mr <= 8 rows x NV*16 columns) = A rows x packed B, into tmp[8][48].
 * A row r, column k is at a + r lda + (k / sl) ss + k % sl (sl = kc: plain). */
static inline __attribute__((always_inline)) void tile(const int NV, int kc, const float *a, long lda,
                                                        int mr, const float *b, int w, float *tmp, int sl,
                                                        long ss) {
#define PTR(r) const float *a##r = a + (size_t)((r) < mr ? (r) : 0) * lda;
    ROWS(PTR)
#undef PTR
#define DECL(r) __m512 c##r##0 = _mm512_setzero_ps(), c##r##1 = c##r##0, c##r##2 = c##r##0;
    ROWS(DECL)
#undef DECL
#define FMA(r)                                                         \
    {                                                                  \
        __m512 av = _mm512_set1_ps(a##r[k]);                           \
        c##r##0 = _mm512_fmadd_ps(av, b0, c##r##0);                    \
        if (NV > 1) c##r##1 = _mm512_fmadd_ps(av, b1, c##r##1);        \
        if (NV > 2) c##r##2 = _mm512_fmadd_ps(av, b2, c##r##2);        \
    }
#define NEXT(r) a##r += ss;
    for (int k0 = 0; k0 < kc; k0 += sl) {
        const int ke = sl < kc - k0 ? sl : kc - k0;
#pragma GCC unroll 4
        for (int k = 0; k < ke; k++) {
            __m512 b0 = _mm512_loadu_ps(b);
            __m512 b1 = NV > 1 ? _mm512_loadu_ps(b + 16) : b0;
            __m512 b2 = NV > 2 ? _mm512_loadu_ps(b + 32) : b0;
            b += w;
            ROWS(FMA)
        }
        ROWS(NEXT)
    }
#undef NEXT
#undef FMA
#define STORE(r)                                                         \
    _mm512_store_ps(tmp + (r) * 48, c##r##0);                            \
    if (NV > 1) _mm512_store_ps(tmp + (r) * 48 + 16, c##r##1);           \
    if (NV > 2) _mm512_store_ps(tmp + (r) * 48 + 32, c##r##2);
    ROWS(STORE)
#undef STORE
}

static void epilogue(const y5_gemm_blk *b, const float *tmp, int i, int mr, int j, int ncols) {
    for (int r = 0; r < mr; r++) {
        float *crow = b->c + (size_t)(i + r) * b->ldc + j;
        const float *rrow = b->res ? b->res + (size_t)(i + r) * b->ldres + j : NULL;
        for (int v = 0; v * 16 < ncols; v++) {
            int rem = ncols - v * 16;
            __m512 x = _mm512_load_ps(tmp + r * 48 + v * 16);
            if (rem >= 16) {
                if (b->accumulate) x = _mm512_add_ps(x, _mm512_loadu_ps(crow + v * 16));
                if (b->last) {
                    if (b->bias) x = _mm512_add_ps(x, _mm512_loadu_ps(b->bias + j + v * 16));
                    if (b->act == Y5_ACT_SILU) x = silu512(x);
                    else if (b->act) x = y5_act512(b->act, b->slope, x);
                    if (rrow) x = _mm512_add_ps(x, _mm512_loadu_ps(rrow + v * 16));
                }
                _mm512_storeu_ps(crow + v * 16, x);
            } else {
                __mmask16 m = (__mmask16)((1u << rem) - 1);
                if (b->accumulate) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(m, crow + v * 16));
                if (b->last) {
                    if (b->bias) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(m, b->bias + j + v * 16));
                    if (b->act == Y5_ACT_SILU) x = silu512(x);
                    else if (b->act) x = y5_act512(b->act, b->slope, x);
                    if (rrow) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(m, rrow + v * 16));
                }
                _mm512_mask_storeu_ps(crow + v * 16, m, x);
            }
        }
    }
}

void y5_gemm_macro_avx512(const y5_gemm_blk *b) {
    float tmp[MR * 48] __attribute__((aligned(64)));
    const int kc = b->kc;
    const int sl = b->seg_len > 0 ? b->seg_len : kc;
    const long ss = b->seg_len > 0 ? b->seg_stride : 0;
    const int np = (b->nc + Y5_NR - 1) / Y5_NR;
    for (int i = 0; i < b->mc; i += MR) {
        int mr = imin(MR, b->mc - i);
        const float *a = b->a + (size_t)i * b->lda;
        /* rows of the next row panel (plain A only), spread over the N panels */
        const int mr_next = imin(MR, b->mc - i - MR);
        (void)np;
        (void)mr_next;
        for (int j = 0; j < b->nc; j += Y5_NR) {
            int ncols = imin(Y5_NR, b->nc - j);
            int nv = (ncols + 15) / 16;
            const float *bp = b->b + (size_t)(j / Y5_NR) * Y5_NR * kc;
            /* software prefetch: the C (and residual) tile this step writes,
             * then part of the next A panel; these streams come from L3 or
             * memory, where the hardware prefetchers ramp up too slowly */
#ifndef Y5_NO_PREFETCH /* (build switch for A/B timing) */
            for (int r = 0; r < mr; r++) {
                const float *cr = b->c + (size_t)(i + r) * b->ldc + j;
                for (int v = 0; v < ncols; v += 16) __builtin_prefetch(cr + v, 1, 3);
                if (b->res) {
                    const float *rr = b->res + (size_t)(i + r) * b->ldres + j;
                    for (int v = 0; v < ncols; v += 16) __builtin_prefetch(rr + v, 0, 3);
                }
            }
            const int jp = j / Y5_NR;
            if (b->seg_len <= 0) {
                for (int r = jp * mr_next / np; r < (jp + 1) * mr_next / np; r++) {
                    const float *an = a + (size_t)(MR + r) * b->lda;
                    for (int k = 0; k < kc; k += 16) __builtin_prefetch(an + k, 0, 3);
                }
            } else if (mr_next > 0) {
                /* segmented A: each segment's rows of the next panel span
                 * (mr_next - 1) lda + sl floats */
                const int nseg = (kc + sl - 1) / sl;
                const long span = (long)(mr_next - 1) * b->lda + sl;
                for (int sg = jp * nseg / np; sg < (jp + 1) * nseg / np; sg++) {
                    const float *an = a + (size_t)MR * b->lda + (size_t)sg * ss;
                    for (long k = 0; k < span; k += 16) __builtin_prefetch(an + k, 0, 3);
                }
            }
#endif
            if (nv == 3) tile(3, kc, a, b->lda, mr, bp, 48, tmp, sl, ss);
            else if (nv == 2) tile(2, kc, a, b->lda, mr, bp, 32, tmp, sl, ss);
            else tile(1, kc, a, b->lda, mr, bp, 16, tmp, sl, ss);
            epilogue(b, tmp, i, mr, j, ncols);
        }
    }
}
