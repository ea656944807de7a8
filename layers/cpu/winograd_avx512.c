/* winograd_avx512.c - Winograd F(4x4, 3x3) and F(2x2, 3x3) transforms, 16
 * channels per vector (see winograd.h for the layouts; layers/cpu/winograd.c
 * has the portable versions and the matrices: points 0, 1, -1, 1/2, -2 and
 * infinity). Compiled with -mavx512f/vl/bw/dq only. */
#include <immintrin.h>

#include "layers/cpu/winograd.h"
#include "layers/cpu/avx512_math.h"

/* y = B^T x (6 -> 6) */
#define BT6(x0, x1, x2, x3, x4, x5, y0, y1, y2, y3, y4, y5)                                  \
    do {                                                                                     \
        const __m512 h_ = _mm512_set1_ps(0.5f), t_ = _mm512_set1_ps(2.0f);                   \
        const __m512 o5_ = _mm512_set1_ps(1.5f), f5_ = _mm512_set1_ps(2.5f);                 \
        __m512 d31_ = _mm512_sub_ps(x3, x1), c_ = _mm512_sub_ps(x4, x2);                     \
        __m512 a_ = _mm512_sub_ps(x4, x1), b_ = _mm512_add_ps(x4, x1);                       \
        y0 = _mm512_fmadd_ps(o5_, d31_, _mm512_fnmadd_ps(t_, x2, _mm512_add_ps(x0, x4)));    \
        y1 = _mm512_fmadd_ps(f5_, x3, _mm512_fmadd_ps(h_, x2, a_));                          \
        y2 = _mm512_fmadd_ps(h_, x3, _mm512_fnmadd_ps(f5_, x2, b_));                         \
        y3 = _mm512_fmadd_ps(t_, d31_, c_);                                                  \
        y4 = _mm512_fnmadd_ps(h_, d31_, c_);                                                 \
        y5 = _mm512_fmadd_ps(o5_, c_, _mm512_fnmadd_ps(t_, x3, _mm512_add_ps(x1, x5)));      \
    } while (0)

/* y = A^T x (6 -> 4) */
#define AT6(x0, x1, x2, x3, x4, x5, y0, y1, y2, y3)                                          \
    do {                                                                                     \
        __m512 a_ = _mm512_add_ps(x1, x2), b_ = _mm512_sub_ps(x1, x2);                       \
        y0 = _mm512_add_ps(_mm512_add_ps(x0, a_), _mm512_add_ps(x3, x4));                    \
        y1 = _mm512_fmadd_ps(_mm512_set1_ps(0.5f), x3, _mm512_fnmadd_ps(_mm512_set1_ps(2.0f), x4, b_)); \
        y2 = _mm512_fmadd_ps(_mm512_set1_ps(0.25f), x3, _mm512_fmadd_ps(_mm512_set1_ps(4.0f), x4, a_)); \
        y3 = _mm512_add_ps(_mm512_fmadd_ps(_mm512_set1_ps(0.125f), x3,                     \
                                           _mm512_fnmadd_ps(_mm512_set1_ps(8.0f), x4, b_)), x5); \
    } while (0)

void y5_wino4_in_avx512(const y5_wino_geom *g, int t0, int T, float *V, long ldv, size_t xs) {
    for (int t = 0; t < T; t++) {
        int img, ty, tx;
        y5_wino_tile(g, t0 + t, &img, &ty, &tx);
        const float *src[36];
        unsigned long long valid = 0;
        for (int i = 0; i < 6; i++) {
            int iy = 4 * ty - g->p + i;
            for (int j = 0; j < 6; j++) {
                int ix = 4 * tx - g->p + j;
                int ok = iy >= 0 && iy < g->h && ix >= 0 && ix < g->w;
                src[i * 6 + j] = ok ? g->in + (((size_t)img * g->h + iy) * g->w + ix) * g->ld_in : g->in;
                valid |= (unsigned long long)ok << (i * 6 + j);
            }
        }
        float *vt = V + (size_t)t * ldv;
        for (int ci = 0; ci < g->cin; ci += 16) {
            const __mmask16 m = y5_mask16(g->cin - ci);
            __m512 e[36];
            for (int j = 0; j < 6; j++) {
                __m512 d[6];
                for (int i = 0; i < 6; i++)
                    d[i] = _mm512_maskz_loadu_ps((valid >> (i * 6 + j) & 1) ? m : 0, src[i * 6 + j] + ci);
                BT6(d[0], d[1], d[2], d[3], d[4], d[5], e[0 * 6 + j], e[1 * 6 + j], e[2 * 6 + j], e[3 * 6 + j],
                    e[4 * 6 + j], e[5 * 6 + j]);
            }
            for (int i = 0; i < 6; i++) {
                __m512 v0, v1, v2, v3, v4, v5;
                BT6(e[i * 6 + 0], e[i * 6 + 1], e[i * 6 + 2], e[i * 6 + 3], e[i * 6 + 4], e[i * 6 + 5], v0, v1, v2, v3,
                    v4, v5);
                float *v = vt + (size_t)(i * 6) * xs + ci;
                _mm512_mask_storeu_ps(v, m, v0);
                _mm512_mask_storeu_ps(v + xs, m, v1);
                _mm512_mask_storeu_ps(v + 2 * xs, m, v2);
                _mm512_mask_storeu_ps(v + 3 * xs, m, v3);
                _mm512_mask_storeu_ps(v + 4 * xs, m, v4);
                _mm512_mask_storeu_ps(v + 5 * xs, m, v5);
            }
        }
    }
}

void y5_wino4_out_avx512(const y5_wino_geom *g, int t0, int T, const float *M, long ldm, size_t xs) {
    for (int t = 0; t < T; t++) {
        int img, ty, tx;
        y5_wino_tile(g, t0 + t, &img, &ty, &tx);
        const int ny = y5_wino_imin(4, g->ho - 4 * ty), nx = y5_wino_imin(4, g->wo - 4 * tx);
        const size_t pix0 = ((size_t)img * g->ho + 4 * ty) * g->wo + 4 * tx;
        const float *mt = M + (size_t)t * ldm;
        for (int co = 0; co < g->cout; co += 16) {
            const __mmask16 m = y5_mask16(g->cout - co);
            __m512 s[24]; /* s[i][j] = (A^T M)[i][j], i < 4, j < 6 */
            for (int j = 0; j < 6; j++) {
                __m512 x[6];
                for (int i = 0; i < 6; i++) x[i] = _mm512_maskz_loadu_ps(m, mt + (size_t)(i * 6 + j) * xs + co);
                AT6(x[0], x[1], x[2], x[3], x[4], x[5], s[0 * 6 + j], s[1 * 6 + j], s[2 * 6 + j], s[3 * 6 + j]);
            }
            const __m512 bv = g->bias ? _mm512_maskz_loadu_ps(m, g->bias + co) : _mm512_setzero_ps();
            for (int i = 0; i < ny; i++) {
                __m512 y[4];
                AT6(s[i * 6 + 0], s[i * 6 + 1], s[i * 6 + 2], s[i * 6 + 3], s[i * 6 + 4], s[i * 6 + 5], y[0], y[1],
                    y[2], y[3]);
                for (int j = 0; j < nx; j++) {
                    size_t pix = pix0 + (size_t)i * g->wo + j;
                    __m512 v = _mm512_add_ps(y[j], bv);
                    if (g->act == Y5_ACT_SILU) v = y5_silu512(v);
                    else if (g->act) v = y5_act512(g->act, g->slope, v);
                    if (g->res) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, g->res + pix * g->ld_res + co));
                    _mm512_mask_storeu_ps(g->out + pix * g->ld_out + co, m, v);
                }
            }
        }
    }
}

/* ---- Winograd F(2x2, 3x3) transforms, 16 channels per vector ------------- */
void y5_wino_in_avx512(const y5_wino_geom *g, int t0, int T, float *V, long ldv, size_t xs) {
    for (int t = 0; t < T; t++) {
        int img, ty, tx;
        y5_wino_tile(g, t0 + t, &img, &ty, &tx);
        const float *src[16];
        unsigned valid = 0;
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++) {
                int iy = 2 * ty - g->p + i, ix = 2 * tx - g->p + j;
                int ok = iy >= 0 && iy < g->h && ix >= 0 && ix < g->w;
                src[i * 4 + j] = ok ? g->in + (((size_t)img * g->h + iy) * g->w + ix) * g->ld_in : g->in;
                valid |= (unsigned)ok << (i * 4 + j);
            }
        float *vt = V + (size_t)t * ldv;
        for (int ci = 0; ci < g->cin; ci += 16) {
            int rem = g->cin - ci;
            __mmask16 m = rem >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << rem) - 1);
            __m512 d[16], e[16];
            for (int q = 0; q < 16; q++)
                d[q] = _mm512_maskz_loadu_ps((valid >> q & 1) ? m : 0, src[q] + ci);
            for (int j = 0; j < 4; j++) {
                e[0 * 4 + j] = _mm512_sub_ps(d[0 * 4 + j], d[2 * 4 + j]);
                e[1 * 4 + j] = _mm512_add_ps(d[1 * 4 + j], d[2 * 4 + j]);
                e[2 * 4 + j] = _mm512_sub_ps(d[2 * 4 + j], d[1 * 4 + j]);
                e[3 * 4 + j] = _mm512_sub_ps(d[1 * 4 + j], d[3 * 4 + j]);
            }
            for (int i = 0; i < 4; i++) {
                float *v = vt + (size_t)(i * 4) * xs + ci;
                _mm512_mask_storeu_ps(v, m, _mm512_sub_ps(e[i * 4 + 0], e[i * 4 + 2]));
                _mm512_mask_storeu_ps(v + xs, m, _mm512_add_ps(e[i * 4 + 1], e[i * 4 + 2]));
                _mm512_mask_storeu_ps(v + 2 * xs, m, _mm512_sub_ps(e[i * 4 + 2], e[i * 4 + 1]));
                _mm512_mask_storeu_ps(v + 3 * xs, m, _mm512_sub_ps(e[i * 4 + 1], e[i * 4 + 3]));
            }
        }
    }
}

void y5_wino_out_avx512(const y5_wino_geom *g, int t0, int T, const float *M, long ldm, size_t xs) {
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
        for (int co = 0; co < g->cout; co += 16) {
            int rem = g->cout - co;
            __mmask16 m = rem >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << rem) - 1);
            __m512 s[8];
            for (int j = 0; j < 4; j++) {
                __m512 m0 = _mm512_maskz_loadu_ps(m, mt + (size_t)(0 * 4 + j) * xs + co);
                __m512 m1 = _mm512_maskz_loadu_ps(m, mt + (size_t)(1 * 4 + j) * xs + co);
                __m512 m2 = _mm512_maskz_loadu_ps(m, mt + (size_t)(2 * 4 + j) * xs + co);
                __m512 m3 = _mm512_maskz_loadu_ps(m, mt + (size_t)(3 * 4 + j) * xs + co);
                s[0 * 4 + j] = _mm512_add_ps(_mm512_add_ps(m0, m1), m2);
                s[1 * 4 + j] = _mm512_sub_ps(_mm512_sub_ps(m1, m2), m3);
            }
            __m512 bv = g->bias ? _mm512_maskz_loadu_ps(m, g->bias + co) : _mm512_setzero_ps();
            for (int i = 0; i < 2; i++) {
                __m512 y[2];
                y[0] = _mm512_add_ps(_mm512_add_ps(s[i * 4 + 0], s[i * 4 + 1]), s[i * 4 + 2]);
                y[1] = _mm512_sub_ps(_mm512_sub_ps(s[i * 4 + 1], s[i * 4 + 2]), s[i * 4 + 3]);
                for (int j = 0; j < 2; j++) {
                    float *d = dst[i * 2 + j];
                    if (!d) continue;
                    __m512 x = _mm512_add_ps(y[j], bv);
                    if (g->act == Y5_ACT_SILU) x = y5_silu512(x);
                    else if (g->act) x = y5_act512(g->act, g->slope, x);
                    if (rsrc[i * 2 + j]) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(m, rsrc[i * 2 + j] + co));
                    _mm512_mask_storeu_ps(d + co, m, x);
                }
            }
        }
    }
}
