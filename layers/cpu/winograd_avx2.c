/* winograd_avx2.c - Winograd F(4x4, 3x3) and F(2x2, 3x3) transforms, 8
 * channels per ymm vector: the structure and operation order of
 * winograd_avx512.c (see winograd.h for the layouts, winograd.c for the
 * matrices: points 0, 1, -1, 1/2, -2 and infinity). Out-of-image input
 * pixels are a zero vector; channel tails (cin or cout not a multiple of 8)
 * go through maskload / maskstore. Compiled with -mavx2 -mfma only. */
#include <immintrin.h>

#include "layers/cpu/winograd.h"
#include "layers/cpu/avx2_math.h"

/* y = B^T x (6 -> 6) */
#define BT6(x0, x1, x2, x3, x4, x5, y0, y1, y2, y3, y4, y5)                                  \
    do {                                                                                     \
        const __m256 h_ = _mm256_set1_ps(0.5f), t_ = _mm256_set1_ps(2.0f);                   \
        const __m256 o5_ = _mm256_set1_ps(1.5f), f5_ = _mm256_set1_ps(2.5f);                 \
        __m256 d31_ = _mm256_sub_ps(x3, x1), c_ = _mm256_sub_ps(x4, x2);                     \
        __m256 a_ = _mm256_sub_ps(x4, x1), b_ = _mm256_add_ps(x4, x1);                       \
        y0 = _mm256_fmadd_ps(o5_, d31_, _mm256_fnmadd_ps(t_, x2, _mm256_add_ps(x0, x4)));    \
        y1 = _mm256_fmadd_ps(f5_, x3, _mm256_fmadd_ps(h_, x2, a_));                          \
        y2 = _mm256_fmadd_ps(h_, x3, _mm256_fnmadd_ps(f5_, x2, b_));                         \
        y3 = _mm256_fmadd_ps(t_, d31_, c_);                                                  \
        y4 = _mm256_fnmadd_ps(h_, d31_, c_);                                                 \
        y5 = _mm256_fmadd_ps(o5_, c_, _mm256_fnmadd_ps(t_, x3, _mm256_add_ps(x1, x5)));      \
    } while (0)

/* y = A^T x (6 -> 4) */
#define AT6(x0, x1, x2, x3, x4, x5, y0, y1, y2, y3)                                          \
    do {                                                                                     \
        __m256 a_ = _mm256_add_ps(x1, x2), b_ = _mm256_sub_ps(x1, x2);                       \
        y0 = _mm256_add_ps(_mm256_add_ps(x0, a_), _mm256_add_ps(x3, x4));                    \
        y1 = _mm256_fmadd_ps(_mm256_set1_ps(0.5f), x3, _mm256_fnmadd_ps(_mm256_set1_ps(2.0f), x4, b_)); \
        y2 = _mm256_fmadd_ps(_mm256_set1_ps(0.25f), x3, _mm256_fmadd_ps(_mm256_set1_ps(4.0f), x4, a_)); \
        y3 = _mm256_add_ps(_mm256_fmadd_ps(_mm256_set1_ps(0.125f), x3,                     \
                                           _mm256_fnmadd_ps(_mm256_set1_ps(8.0f), x4, b_)), x5); \
    } while (0)

/* 8 (or rem < 8: masked) floats */
static inline __m256 ld8(const float *p, int rem, __m256i m) {
    return rem >= 8 ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, m);
}
static inline void st8(float *p, __m256 v, int rem, __m256i m) {
    if (rem >= 8)
        _mm256_storeu_ps(p, v);
    else
        _mm256_maskstore_ps(p, m, v);
}

/* + bias, activation, + residual (res may be NULL) */
static inline __m256 epi8(const y5_wino_geom *g, __m256 x, __m256 bv, const float *res, int rem, __m256i m) {
    x = _mm256_add_ps(x, bv);
    if (g->act == Y5_ACT_SILU) x = y5_silu256(x);
    else if (g->act) x = y5_act256(g->act, g->slope, x);
    if (res) x = _mm256_add_ps(x, ld8(res, rem, m));
    return x;
}

void y5_wino4_in_avx2(const y5_wino_geom *g, int t0, int T, float *V, long ldv, size_t xs) {
    for (int t = 0; t < T; t++) {
        int img, ty, tx;
        y5_wino_tile(g, t0 + t, &img, &ty, &tx);
        const float *src[36]; /* NULL: outside the image (zero) */
        for (int i = 0; i < 6; i++) {
            int iy = 4 * ty - g->p + i;
            for (int j = 0; j < 6; j++) {
                int ix = 4 * tx - g->p + j;
                int ok = iy >= 0 && iy < g->h && ix >= 0 && ix < g->w;
                src[i * 6 + j] = ok ? g->in + (((size_t)img * g->h + iy) * g->w + ix) * g->ld_in : NULL;
            }
        }
        float *vt = V + (size_t)t * ldv;
        for (int ci = 0; ci < g->cin; ci += 8) {
            const int rem = g->cin - ci;
            const __m256i m = y5_mask8(rem);
            __m256 e[36];
            for (int j = 0; j < 6; j++) {
                __m256 d[6];
                for (int i = 0; i < 6; i++) {
                    const float *sp = src[i * 6 + j];
                    d[i] = sp ? ld8(sp + ci, rem, m) : _mm256_setzero_ps();
                }
                BT6(d[0], d[1], d[2], d[3], d[4], d[5], e[0 * 6 + j], e[1 * 6 + j], e[2 * 6 + j], e[3 * 6 + j],
                    e[4 * 6 + j], e[5 * 6 + j]);
            }
            for (int i = 0; i < 6; i++) {
                __m256 v0, v1, v2, v3, v4, v5;
                BT6(e[i * 6 + 0], e[i * 6 + 1], e[i * 6 + 2], e[i * 6 + 3], e[i * 6 + 4], e[i * 6 + 5], v0, v1, v2, v3,
                    v4, v5);
                float *v = vt + (size_t)(i * 6) * xs + ci;
                st8(v, v0, rem, m);
                st8(v + xs, v1, rem, m);
                st8(v + 2 * xs, v2, rem, m);
                st8(v + 3 * xs, v3, rem, m);
                st8(v + 4 * xs, v4, rem, m);
                st8(v + 5 * xs, v5, rem, m);
            }
        }
    }
}

void y5_wino4_out_avx2(const y5_wino_geom *g, int t0, int T, const float *M, long ldm, size_t xs) {
    for (int t = 0; t < T; t++) {
        int img, ty, tx;
        y5_wino_tile(g, t0 + t, &img, &ty, &tx);
        const int ny = y5_wino_imin(4, g->ho - 4 * ty), nx = y5_wino_imin(4, g->wo - 4 * tx);
        const size_t pix0 = ((size_t)img * g->ho + 4 * ty) * g->wo + 4 * tx;
        const float *mt = M + (size_t)t * ldm;
        for (int co = 0; co < g->cout; co += 8) {
            const int rem = g->cout - co;
            const __m256i m = y5_mask8(rem);
            __m256 s[24]; /* s[i][j] = (A^T M)[i][j], i < 4, j < 6 */
            for (int j = 0; j < 6; j++) {
                __m256 x[6];
                for (int i = 0; i < 6; i++) x[i] = ld8(mt + (size_t)(i * 6 + j) * xs + co, rem, m);
                AT6(x[0], x[1], x[2], x[3], x[4], x[5], s[0 * 6 + j], s[1 * 6 + j], s[2 * 6 + j], s[3 * 6 + j]);
            }
            const __m256 bv = g->bias ? ld8(g->bias + co, rem, m) : _mm256_setzero_ps();
            for (int i = 0; i < ny; i++) {
                __m256 y[4];
                AT6(s[i * 6 + 0], s[i * 6 + 1], s[i * 6 + 2], s[i * 6 + 3], s[i * 6 + 4], s[i * 6 + 5], y[0], y[1],
                    y[2], y[3]);
                for (int j = 0; j < nx; j++) {
                    size_t pix = pix0 + (size_t)i * g->wo + j;
                    const float *r = g->res ? g->res + pix * g->ld_res + co : NULL;
                    st8(g->out + pix * g->ld_out + co, epi8(g, y[j], bv, r, rem, m), rem, m);
                }
            }
        }
    }
}

/* ---- Winograd F(2x2, 3x3) transforms, 8 channels per vector -------------- */
void y5_wino_in_avx2(const y5_wino_geom *g, int t0, int T, float *V, long ldv, size_t xs) {
    for (int t = 0; t < T; t++) {
        int img, ty, tx;
        y5_wino_tile(g, t0 + t, &img, &ty, &tx);
        const float *src[16];
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++) {
                int iy = 2 * ty - g->p + i, ix = 2 * tx - g->p + j;
                int ok = iy >= 0 && iy < g->h && ix >= 0 && ix < g->w;
                src[i * 4 + j] = ok ? g->in + (((size_t)img * g->h + iy) * g->w + ix) * g->ld_in : NULL;
            }
        float *vt = V + (size_t)t * ldv;
        for (int ci = 0; ci < g->cin; ci += 8) {
            const int rem = g->cin - ci;
            const __m256i m = y5_mask8(rem);
            __m256 d[16], e[16];
            for (int q = 0; q < 16; q++) d[q] = src[q] ? ld8(src[q] + ci, rem, m) : _mm256_setzero_ps();
            for (int j = 0; j < 4; j++) {
                e[0 * 4 + j] = _mm256_sub_ps(d[0 * 4 + j], d[2 * 4 + j]);
                e[1 * 4 + j] = _mm256_add_ps(d[1 * 4 + j], d[2 * 4 + j]);
                e[2 * 4 + j] = _mm256_sub_ps(d[2 * 4 + j], d[1 * 4 + j]);
                e[3 * 4 + j] = _mm256_sub_ps(d[1 * 4 + j], d[3 * 4 + j]);
            }
            for (int i = 0; i < 4; i++) {
                float *v = vt + (size_t)(i * 4) * xs + ci;
                st8(v, _mm256_sub_ps(e[i * 4 + 0], e[i * 4 + 2]), rem, m);
                st8(v + xs, _mm256_add_ps(e[i * 4 + 1], e[i * 4 + 2]), rem, m);
                st8(v + 2 * xs, _mm256_sub_ps(e[i * 4 + 2], e[i * 4 + 1]), rem, m);
                st8(v + 3 * xs, _mm256_sub_ps(e[i * 4 + 1], e[i * 4 + 3]), rem, m);
            }
        }
    }
}

void y5_wino_out_avx2(const y5_wino_geom *g, int t0, int T, const float *M, long ldm, size_t xs) {
    for (int t = 0; t < T; t++) {
        int img, ty, tx;
        y5_wino_tile(g, t0 + t, &img, &ty, &tx);
        const int ny = y5_wino_imin(2, g->ho - 2 * ty), nx = y5_wino_imin(2, g->wo - 2 * tx);
        float *dst[4];
        const float *rsrc[4];
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 2; j++) {
                size_t pix = ((size_t)img * g->ho + 2 * ty + i) * g->wo + 2 * tx + j;
                int ok = i < ny && j < nx;
                dst[i * 2 + j] = ok ? g->out + pix * g->ld_out : NULL;
                rsrc[i * 2 + j] = ok && g->res ? g->res + pix * g->ld_res : NULL;
            }
        const float *mt = M + (size_t)t * ldm;
        for (int co = 0; co < g->cout; co += 8) {
            const int rem = g->cout - co;
            const __m256i m = y5_mask8(rem);
            __m256 s[8];
            for (int j = 0; j < 4; j++) {
                __m256 m0 = ld8(mt + (size_t)(0 * 4 + j) * xs + co, rem, m);
                __m256 m1 = ld8(mt + (size_t)(1 * 4 + j) * xs + co, rem, m);
                __m256 m2 = ld8(mt + (size_t)(2 * 4 + j) * xs + co, rem, m);
                __m256 m3 = ld8(mt + (size_t)(3 * 4 + j) * xs + co, rem, m);
                s[0 * 4 + j] = _mm256_add_ps(_mm256_add_ps(m0, m1), m2);
                s[1 * 4 + j] = _mm256_sub_ps(_mm256_sub_ps(m1, m2), m3);
            }
            const __m256 bv = g->bias ? ld8(g->bias + co, rem, m) : _mm256_setzero_ps();
            for (int i = 0; i < 2; i++) {
                __m256 y[2];
                y[0] = _mm256_add_ps(_mm256_add_ps(s[i * 4 + 0], s[i * 4 + 1]), s[i * 4 + 2]);
                y[1] = _mm256_sub_ps(_mm256_sub_ps(s[i * 4 + 1], s[i * 4 + 2]), s[i * 4 + 3]);
                for (int j = 0; j < 2; j++) {
                    float *d = dst[i * 2 + j];
                    if (!d) continue;
                    const float *r = rsrc[i * 2 + j] ? rsrc[i * 2 + j] + co : NULL;
                    st8(d + co, epi8(g, y[j], bv, r, rem, m), rem, m);
                }
            }
        }
    }
}
