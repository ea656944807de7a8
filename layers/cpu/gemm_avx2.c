/* gemm_avx2.c - AVX2+FMA macro-kernel: 6 x 16 register tiles (12 ymm
 * accumulators) walked over each 48-column packed panel; plain or segmented
 * A (implicit GEMM, gemm.h); epilogue with masked tails. Compiled with
 * -mavx2 -mfma only. */
#include <immintrin.h>

#include "layers/cpu/gemm.h"
#include "layers/cpu/avx2_math.h"

#define MR Y5_MR_AVX2

static inline int imin(int a, int b) { return a < b ? a : b; }

#define ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)

/* 6 x 16 tile of C (columns s*16.. of the panel) into tmp[6][48]: 12 ymm
 * accumulators + 2 for B + 1 broadcast = 15 of the 16 registers. A row r,
 * column k is at a + r lda + (k / sl) ss + k % sl (sl = kc: plain A; else
 * the segmented A of an implicit-GEMM conv, see gemm.h). */
static inline __attribute__((always_inline)) void tile(int kc, const float *a, long lda, int mr,
                                                        const float *b, int w, float *tmp, int sl, long ss) {
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
#define NEXT(r) a##r += ss;
    for (int k0 = 0; k0 < kc; k0 += sl) {
        const int ke = sl < kc - k0 ? sl : kc - k0;
#pragma GCC unroll 4
        for (int k = 0; k < ke; k++) {
            __m256 b0 = _mm256_loadu_ps(b);
            __m256 b1 = _mm256_loadu_ps(b + 8);
            b += w;
            ROWS(FMA)
        }
        ROWS(NEXT)
    }
#undef NEXT
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
                    if (b->act == Y5_ACT_SILU) x = y5_silu256(x);
                    else if (b->act) x = y5_act256(b->act, b->slope, x);
                    if (rrow) x = _mm256_add_ps(x, _mm256_loadu_ps(rrow + v * 8));
                }
                _mm256_storeu_ps(crow + v * 8, x);
            } else {
                __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(rem), lane);
                if (b->accumulate) x = _mm256_add_ps(x, _mm256_maskload_ps(crow + v * 8, m));
                if (b->last) {
                    if (b->bias) x = _mm256_add_ps(x, _mm256_maskload_ps(b->bias + j + v * 8, m));
                    if (b->act == Y5_ACT_SILU) x = y5_silu256(x);
                    else if (b->act) x = y5_act256(b->act, b->slope, x);
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
    const int sl = b->seg_len > 0 ? b->seg_len : kc;
    const long ss = b->seg_len > 0 ? b->seg_stride : 0;
    for (int i = 0; i < b->mc; i += MR) {
        int mr = imin(MR, b->mc - i);
        const float *a = b->a + (size_t)i * b->lda;
        for (int j = 0; j < b->nc; j += Y5_NR) {
            int ncols = imin(Y5_NR, b->nc - j);
            int w = ncols < Y5_NR ? (ncols + 15) & ~15 : Y5_NR;
            const float *bp = b->b + (size_t)(j / Y5_NR) * Y5_NR * kc;
            /* the C (and residual) rows this step writes: they come from L3
             * or memory, where the hardware prefetchers ramp up slowly */
            for (int r = 0; r < mr; r++) {
                const float *cr = b->c + (size_t)(i + r) * b->ldc + j;
                for (int v = 0; v < ncols; v += 16) __builtin_prefetch(cr + v, 1, 3);
                if (b->res) {
                    const float *rr = b->res + (size_t)(i + r) * b->ldres + j;
                    for (int v = 0; v < ncols; v += 16) __builtin_prefetch(rr + v, 0, 3);
                }
            }
            for (int s = 0; s * 16 < ncols; s++) tile(kc, a, b->lda, mr, bp + s * 16, w, tmp + s * 16, sl, ss);
            epilogue(b, tmp, i, mr, j, ncols);
        }
    }
}
