/* gemm_avx2.c - AVX2+FMA macro-kernel: 6 x 16 register tiles (12 ymm
 * accumulators) walked over each 48-column packed panel; epilogue with
 * masked tails. Compiled with -mavx2 -mfma only. */
#include <immintrin.h>

#include "layers/cpu/gemm.h"

#define MR Y5_MR_AVX2

static inline int imin(int a, int b) { return a < b ? a : b; }

/* exp(x) for x in [-87, 88] (clamped), ~1 ulp. */
static inline __m256 exp256(__m256 x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.0f)), _mm256_set1_ps(88.0f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.0f / 5040.0f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

static inline __m256 silu256(__m256 x) {
    __m256 e = exp256(_mm256_sub_ps(_mm256_setzero_ps(), x));
    return _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

/* The activations other than SiLU, as y5_act_ref computes them. */
static inline __m256 act256(int kind, float slope, __m256 x) {
    switch (kind) {
    case Y5_ACT_RELU: return _mm256_max_ps(x, _mm256_setzero_ps());
    case Y5_ACT_LEAKY: {
        __m256 neg = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_NGT_UQ);
        return _mm256_blendv_ps(x, _mm256_mul_ps(x, _mm256_set1_ps(slope)), neg);
    }
    case Y5_ACT_HARDSWISH: {
        __m256 r = _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(x, _mm256_set1_ps(3.0f)), _mm256_setzero_ps()),
                                 _mm256_set1_ps(6.0f));
        return _mm256_div_ps(_mm256_mul_ps(x, r), _mm256_set1_ps(6.0f));
    }
    default: return x;
    }
}

#define ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)

/* 6 x 16 tile of C (columns s*16.. of the panel) into tmp[6][48]. */
static inline __attribute__((always_inline)) void tile(int kc, const float *a, long lda, int mr,
                                                        const float *b, int w, float *tmp) {
#define PTR(r) const float *a##r = a + (size_t)((r) < mr ? (r) : 0) * lda;
    ROWS(PTR)
#undef PTR
#define DECL(r) __m256 c##r##0 = _mm256_setzero_ps(), c##r##1 = c##r##0;
    ROWS(DECL)
#undef DECL
#define FMA(r)                                                   \
    {                                                            \
        __m256 av = _mm256_broadcast_ss(a##r + k);               \
        c##r##0 = _mm256_fmadd_ps(av, b0, c##r##0);              \
        c##r##1 = _mm256_fmadd_ps(av, b1, c##r##1);              \
    }
#pragma GCC unroll 4
    for (int k = 0; k < kc; k++) {
        __m256 b0 = _mm256_loadu_ps(b);
        __m256 b1 = _mm256_loadu_ps(b + 8);
        b += w;
        ROWS(FMA)
    }
#undef FMA
#define STORE(r)                                       \
    _mm256_store_ps(tmp + (r) * 48, c##r##0);          \
    _mm256_store_ps(tmp + (r) * 48 + 8, c##r##1);
    ROWS(STORE)
#undef STORE
}

static void epilogue(const y5_gemm_blk *b, const float *tmp, int i, int mr, int j, int ncols) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (int r = 0; r < mr; r++) {
        float *crow = b->c + (size_t)(i + r) * b->ldc + j;
        const float *rrow = b->res ? b->res + (size_t)(i + r) * b->ldres + j : NULL;
        for (int v = 0; v * 8 < ncols; v++) {
            int rem = ncols - v * 8;
            __m256 x = _mm256_load_ps(tmp + r * 48 + v * 8);
            if (rem >= 8) { /* full vector: plain loads/stores (maskmov is slow) */
                if (b->accumulate) x = _mm256_add_ps(x, _mm256_loadu_ps(crow + v * 8));
                if (b->last) {
                    if (b->bias) x = _mm256_add_ps(x, _mm256_loadu_ps(b->bias + j + v * 8));
                    if (b->act == Y5_ACT_SILU) x = silu256(x);
                    else if (b->act) x = act256(b->act, b->slope, x);
                    if (rrow) x = _mm256_add_ps(x, _mm256_loadu_ps(rrow + v * 8));
                }
                _mm256_storeu_ps(crow + v * 8, x);
            } else {
                __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(rem), lane);
                if (b->accumulate) x = _mm256_add_ps(x, _mm256_maskload_ps(crow + v * 8, m));
                if (b->last) {
                    if (b->bias) x = _mm256_add_ps(x, _mm256_maskload_ps(b->bias + j + v * 8, m));
                    if (b->act == Y5_ACT_SILU) x = silu256(x);
                    else if (b->act) x = act256(b->act, b->slope, x);
                    if (rrow) x = _mm256_add_ps(x, _mm256_maskload_ps(rrow + v * 8, m));
                }
                _mm256_maskstore_ps(crow + v * 8, m, x);
            }
        }
    }
}

void y5_gemm_macro_avx2(const y5_gemm_blk *b) {
    float tmp[MR * 48] __attribute__((aligned(32)));
    const int kc = b->kc;
    for (int i = 0; i < b->mc; i += MR) {
        int mr = imin(MR, b->mc - i);
        const float *a = b->a + (size_t)i * b->lda;
        for (int j = 0; j < b->nc; j += Y5_NR) {
            int ncols = imin(Y5_NR, b->nc - j);
            int w = ncols < Y5_NR ? (ncols + 15) & ~15 : Y5_NR;
            const float *bp = b->b + (size_t)(j / Y5_NR) * Y5_NR * kc;
            for (int s = 0; s * 16 < ncols; s++) tile(kc, a, b->lda, mr, bp + s * 16, w, tmp + s * 16);
            epilogue(b, tmp, i, mr, j, ncols);
        }
    }
}
