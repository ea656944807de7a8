/* gemm_avx512.c - AVX-512 macro-kernel: 8 x 48 register tile (24 zmm
 * accumulators), A elements broadcast straight from the rows (embedded
 * broadcast), B panels loaded as 3 zmm per k. Epilogue: bias, SiLU, residual,
 * masked column tails. Compiled with -mavx512f/vl/bw/dq -mfma only. */
#include <immintrin.h>

#include "gemm.h"

#define MR Y5_MR_AVX512

static inline int imin(int a, int b) { return a < b ? a : b; }

/* exp(x) for x in [-87, 88] (clamped), ~1 ulp: 2^n * P(r), |r| <= ln2/2. */
static inline __m512 exp512(__m512 x) {
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.0f)), _mm512_set1_ps(88.0f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.0f / 5040.0f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

static inline __m512 silu512(__m512 x) {
    __m512 e = exp512(_mm512_sub_ps(_mm512_setzero_ps(), x));
    return _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.0f), e));
}

#define ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)

/* C tile (mr <= 8 rows x NV*16 columns) = A rows x packed B, into tmp[8][48]. */
static inline __attribute__((always_inline)) void tile(const int NV, int kc, const float *a, long lda,
                                                        int mr, const float *b, int w, float *tmp) {
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
#pragma GCC unroll 4
    for (int k = 0; k < kc; k++) {
        __m512 b0 = _mm512_loadu_ps(b);
        __m512 b1 = NV > 1 ? _mm512_loadu_ps(b + 16) : b0;
        __m512 b2 = NV > 2 ? _mm512_loadu_ps(b + 32) : b0;
        b += w;
        ROWS(FMA)
    }
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
            __mmask16 m = rem >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << rem) - 1);
            __m512 x = _mm512_load_ps(tmp + r * 48 + v * 16);
            if (b->accumulate) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(m, crow + v * 16));
            if (b->last) {
                if (b->bias) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(m, b->bias + j + v * 16));
                if (b->silu) x = silu512(x);
                if (rrow) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(m, rrow + v * 16));
            }
            _mm512_mask_storeu_ps(crow + v * 16, m, x);
        }
    }
}

void y5_gemm_macro_avx512(const y5_gemm_blk *b) {
    float tmp[MR * 48] __attribute__((aligned(64)));
    const int kc = b->kc;
    for (int i = 0; i < b->mc; i += MR) {
        int mr = imin(MR, b->mc - i);
        const float *a = b->a + (size_t)i * b->lda;
        for (int j = 0; j < b->nc; j += Y5_NR) {
            int ncols = imin(Y5_NR, b->nc - j);
            int nv = (ncols + 15) / 16;
            const float *bp = b->b + (size_t)(j / Y5_NR) * Y5_NR * kc;
            if (nv == 3) tile(3, kc, a, b->lda, mr, bp, 48, tmp);
            else if (nv == 2) tile(2, kc, a, b->lda, mr, bp, 32, tmp);
            else tile(1, kc, a, b->lda, mr, bp, 16, tmp);
            epilogue(b, tmp, i, mr, j, ncols);
        }
    }
}
