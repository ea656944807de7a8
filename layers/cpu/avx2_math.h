/* avx2_math.h - internal: inline AVX2+FMA exp / SiLU / sigmoid and the
 * activation kinds, shared by the *_avx2.c files (include only from files
 * built with -mavx2 -mfma), so the GEMM, Winograd and decode epilogues of
 * the AVX2 path round the same way. */
#ifndef Y5_AVX2_MATH_H
#define Y5_AVX2_MATH_H

#include <immintrin.h>

#include "core/base/act.h"

/* exp(x) for x in [-87, 88] (clamped), ~1 ulp. */
static inline __m256 y5_exp256(__m256 x) {
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

/* x / (1 + exp(-x)) */
static inline __m256 y5_silu256(__m256 x) {
    __m256 e = y5_exp256(_mm256_sub_ps(_mm256_setzero_ps(), x));
    return _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

/* 1 / (1 + exp(-x)) (a true division: AVX2's rcp is only 12 bits) */
static inline __m256 y5_sigmoid256(__m256 x) {
    __m256 e = y5_exp256(_mm256_sub_ps(_mm256_setzero_ps(), x));
    return _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

/* The activations other than SiLU, as y5_act_ref computes them. */
static inline __m256 y5_act256(int kind, float slope, __m256 x) {
    switch (kind) {
    case Y5_ACT_SILU: return y5_silu256(x);
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

/* lanes [0, rem) set (rem clamped to [0, 8]): maskload / maskstore tails */
static inline __m256i y5_mask8(int rem) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(rem), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

#endif
