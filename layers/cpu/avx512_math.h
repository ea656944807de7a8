/* avx512_math.h - internal: inline AVX-512 exp / SiLU / sigmoid shared by the
 * *_avx512.c files (include only from files built with -mavx512f). */
#ifndef Y5_AVX512_MATH_H
#define Y5_AVX512_MATH_H

#include <immintrin.h>

#include "core/base/act.h"

/* exp(x) for x in [-87, 88] (clamped), ~1 ulp: 2^n * P(r), |r| <= ln2/2. */
static inline __m512 y5_exp512(__m512 x) {
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

/* exp(-x) for x clamped to [-88, 87]: the negation folded into the range
 * reduction, degree-6 Taylor polynomial (|r| <= ln2/2: truncation 1.2e-7,
 * ~2 ulp in all), 2^n by scalef. */
static inline __m512 y5_expneg512(__m512 x) {
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-88.0f)), _mm512_set1_ps(87.0f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(-1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmsub_ps(n, _mm512_set1_ps(0.693359375f), x); /* -x - n ln2_hi */
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);     /* - n ln2_lo */
    __m512 p = _mm512_set1_ps(1.0f / 720.0f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

/* x / (1 + exp(-x)); 1/d by rcp14 + one Newton step. */
static inline __m512 y5_silu512(__m512 x) {
    __m512 e = y5_expneg512(x);
    __m512 d = _mm512_add_ps(_mm512_set1_ps(1.0f), e);
    __m512 y = _mm512_rcp14_ps(d);
    y = _mm512_fmadd_ps(y, _mm512_fnmadd_ps(d, y, _mm512_set1_ps(1.0f)), y);
    return _mm512_mul_ps(x, y);
}

/* 1 / (1 + exp(-x)): rcp14 + one Newton step (~2^-28 before rounding, so
 * ~2 ulp in all), cheaper than a division. */
static inline __m512 y5_sigmoid512(__m512 x) {
    __m512 e = y5_exp512(_mm512_sub_ps(_mm512_setzero_ps(), x));
    __m512 d = _mm512_add_ps(_mm512_set1_ps(1.0f), e);
    __m512 y = _mm512_rcp14_ps(d);
    return _mm512_fmadd_ps(y, _mm512_fnmadd_ps(d, y, _mm512_set1_ps(1.0f)), y);
}

/* The activations other than SiLU (core/base/act.h), as y5_act_ref computes
 * them: ReLU and LeakyReLU exactly, Hardswish with the same operation order.
 * SiLU callers keep calling y5_silu512 directly (its path is unchanged). */
static inline __m512 y5_act512(int kind, float slope, __m512 x) {
    switch (kind) {
    case Y5_ACT_SILU: return y5_silu512(x);
    case Y5_ACT_RELU: return _mm512_max_ps(x, _mm512_setzero_ps());
    case Y5_ACT_LEAKY:
        return _mm512_mask_mul_ps(x, _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_NGT_UQ), x,
                                  _mm512_set1_ps(slope));
    case Y5_ACT_HARDSWISH: {
        __m512 r = _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(x, _mm512_set1_ps(3.0f)), _mm512_setzero_ps()),
                                 _mm512_set1_ps(6.0f));
        return _mm512_div_ps(_mm512_mul_ps(x, r), _mm512_set1_ps(6.0f));
    }
    default: return x;
    }
}

static inline __mmask16 y5_mask16(int rem) {
    return rem >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (rem > 0 ? rem : 0)) - 1);
}

#endif
