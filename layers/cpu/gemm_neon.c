/* gemm_neon.c - aarch64 NEON macro-kernel: 5 x 16 register tiles (20 of the
 * 32 q registers as accumulators, 4 for a row of B, the rest for A) walked over each 48-column packed panel (gemm.h layout, the
 * same as the x86 kernels'), then the fused epilogue. Built for aarch64
 * only (Makefile); picked by y5_gemm_macro_for when y5_gemm_isa() is NEON. */
#include "layers/cpu/gemm.h"
#include "layers/cpu/neon_math.h"

#define MR Y5_MR_NEON

static inline int imin(int a, int b) { return a < b ? a : b; }

#define ROWS(X) X(0) X(1) X(2) X(3) X(4)

/* 5 x 16 tile of C (columns s*16.. of the panel) into tmp[5][48]. Rows
 * r >= mr read row 0 again (valid memory; never stored by the epilogue).
 * Per k: four B vectors, then each A element broadcast into four FMAs.
 * 5 rows, not 6: GCC 12 keeps all the A elements of a k live (ldr s +
 * fmla by element), so 6 x 16 needs 24 + 4 + 6 = 34 registers and spills
 * in the k loop; 5 x 16 (29) does not, unrolled by 4 (checked in the
 * assembly). */
static inline __attribute__((always_inline)) void tile(int kc, const float *a, long lda, int mr,
                                                        const float *b, int w, float *tmp) {
#define PTR(r) const float *a##r = a + (size_t)((r) < mr ? (r) : 0) * lda;
    ROWS(PTR)
#undef PTR
#define DECL(r) float32x4_t c##r##0 = vdupq_n_f32(0.0f), c##r##1 = c##r##0, c##r##2 = c##r##0, c##r##3 = c##r##0;
    ROWS(DECL)
#undef DECL
#define FMA(r)                                                                                       \
    {                                                                                                \
        float32x4_t av = vld1q_dup_f32(a##r + k);                                                    \
        c##r##0 = vfmaq_f32(c##r##0, av, b0);                                                        \
        c##r##1 = vfmaq_f32(c##r##1, av, b1);                                                        \
        c##r##2 = vfmaq_f32(c##r##2, av, b2);                                                        \
        c##r##3 = vfmaq_f32(c##r##3, av, b3);                                                        \
    }
#pragma GCC unroll 4
    for (int k = 0; k < kc; k++) {
        float32x4_t b0 = vld1q_f32(b), b1 = vld1q_f32(b + 4), b2 = vld1q_f32(b + 8), b3 = vld1q_f32(b + 12);
        b += w;
        ROWS(FMA)
    }
#undef FMA
#define STORE(r)                                                                                     \
    vst1q_f32(tmp + (r) * 48, c##r##0);                                                              \
    vst1q_f32(tmp + (r) * 48 + 4, c##r##1);                                                          \
    vst1q_f32(tmp + (r) * 48 + 8, c##r##2);                                                          \
    vst1q_f32(tmp + (r) * 48 + 12, c##r##3);
    ROWS(STORE)
#undef STORE
}

/* The epilogue of 4 columns: x [+ C] then, on the last K block, + bias,
 * activation, + residual (gemm.h). One function, so a new activation is one
 * line here; c / bias / res are vectors of the same 4 columns (zero where
 * absent or past the row's end). */
static inline float32x4_t epilogue4(const y5_gemm_blk *b, float32x4_t x, float32x4_t c, float32x4_t bias,
                                    float32x4_t res) {
    if (b->accumulate) x = vaddq_f32(x, c);
    if (b->last) {
        x = vaddq_f32(x, bias);
        if (b->act == Y5_ACT_SILU) x = y5_silu4(x);
        else if (b->act) x = y5_act4(b->act, b->slope, x);
        x = vaddq_f32(x, res);
    }
    return x;
}

static void epilogue(const y5_gemm_blk *b, const float *tmp, int i, int mr, int j, int ncols) {
    const float32x4_t zero = vdupq_n_f32(0.0f);
    const float *bias = b->last && b->bias ? b->bias + j : NULL;
    for (int r = 0; r < mr; r++) {
        float *crow = b->c + (size_t)(i + r) * b->ldc + j;
        const float *rrow = b->last && b->res ? b->res + (size_t)(i + r) * b->ldres + j : NULL;
        int v = 0;
        for (; v + 4 <= ncols; v += 4) {
            float32x4_t x = vld1q_f32(tmp + r * 48 + v);
            float32x4_t c = b->accumulate ? vld1q_f32(crow + v) : zero;
            x = epilogue4(b, x, c, bias ? vld1q_f32(bias + v) : zero, rrow ? vld1q_f32(rrow + v) : zero);
            vst1q_f32(crow + v, x);
        }
        if (v < ncols) { /* columns past N are never read or written */
            int n = ncols - v;
            float32x4_t x = vld1q_f32(tmp + r * 48 + v);
            float32x4_t c = b->accumulate ? y5_ld_part4(crow + v, n) : zero;
            x = epilogue4(b, x, c, bias ? y5_ld_part4(bias + v, n) : zero, rrow ? y5_ld_part4(rrow + v, n) : zero);
            y5_st_part4(crow + v, x, n);
        }
    }
}

void y5_gemm_macro_neon(const y5_gemm_blk *b) {
    float tmp[MR * 48] __attribute__((aligned(16)));
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
