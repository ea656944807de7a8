/* neon_math.h - internal: inline NEON exp / SiLU / sigmoid shared by the
 * aarch64 kernels (*_neon.c). The same range reduction and polynomial as the
 * AVX2 / AVX-512 ones (gemm_avx2.c, avx512_math.h), so every ISA's SiLU is
 * within ~2 ulp of y5_silu_ref. Only included by files built for aarch64. */
#ifndef Y5_NEON_MATH_H
#define Y5_NEON_MATH_H

#include <arm_neon.h>

#include "core/base/act.h"
#include <string.h>

/* exp(x) for x in [-87, 88] (clamped), ~1 ulp: 2^n * P(r), |r| <= ln2/2. */
static inline float32x4_t y5_exp4(float32x4_t x) {
    x = vminq_f32(vmaxq_f32(x, vdupq_n_f32(-87.0f)), vdupq_n_f32(88.0f));
    float32x4_t n = vrndnq_f32(vmulq_n_f32(x, 1.44269504088896341f)); /* ties to even, as x86's round */
    float32x4_t r = vfmsq_f32(x, n, vdupq_n_f32(0.693359375f));        /* x - n ln2, in two parts */
    r = vfmsq_f32(r, n, vdupq_n_f32(-2.12194440e-4f));
    float32x4_t p = vdupq_n_f32(1.0f / 5040.0f);
    p = vfmaq_f32(vdupq_n_f32(1.0f / 720.0f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f / 120.0f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f / 24.0f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f / 6.0f), p, r);
    p = vfmaq_f32(vdupq_n_f32(0.5f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f), p, r);
    int32x4_t e = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23);
    return vmulq_f32(p, vreinterpretq_f32_s32(e));
}

/* x / (1 + exp(-x)), an IEEE division (aarch64 has one). */
static inline float32x4_t y5_silu4(float32x4_t x) {
    return vdivq_f32(x, vaddq_f32(vdupq_n_f32(1.0f), y5_exp4(vnegq_f32(x))));
}

/* 1 / (1 + exp(-x)). */
static inline float32x4_t y5_sigmoid4(float32x4_t x) {
    return vdivq_f32(vdupq_n_f32(1.0f), vaddq_f32(vdupq_n_f32(1.0f), y5_exp4(vnegq_f32(x))));
}

/* The first n (< 4) floats at p, zero-filled: NEON has no masked loads, and
 * a full load could cross the end of the buffer. */
static inline float32x4_t y5_ld_part4(const float *p, int n) {
    float t[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    memcpy(t, p, (size_t)n * sizeof(float));
    return vld1q_f32(t);
}

static inline void y5_st_part4(float *p, float32x4_t v, int n) {
    float t[4];
    vst1q_f32(t, v);
    memcpy(p, t, (size_t)n * sizeof(float));
}

/* The activations other than SiLU (core/base/act.h), as y5_act_ref computes
 * them: ReLU, LeakyReLU(slope), Hardswish in PyTorch's order. */
static inline float32x4_t y5_act4(int kind, float slope, float32x4_t x) {
    switch (kind) {
    case Y5_ACT_RELU: return vmaxq_f32(x, vdupq_n_f32(0.0f));
    case Y5_ACT_LEAKY: return vbslq_f32(vcgtq_f32(x, vdupq_n_f32(0.0f)), x, vmulq_n_f32(x, slope));
    case Y5_ACT_HARDSWISH: {
        float32x4_t r = vminq_f32(vmaxq_f32(vaddq_f32(x, vdupq_n_f32(3.0f)), vdupq_n_f32(0.0f)), vdupq_n_f32(6.0f));
        return vdivq_f32(vmulq_f32(x, r), vdupq_n_f32(6.0f));
    }
    default: return x;
    }
}

#endif
