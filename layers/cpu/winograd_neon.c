/* winograd_neon.c - Winograd F(4x4, 3x3) and F(2x2, 3x3) transforms, 4
 * channels per NEON vector: the arithmetic of winograd_avx512.c (same
 * operation order, so the same FP32 results up to FMA contraction), see
 * winograd.h for the layouts and winograd.c for the matrices. The channel
 * tail (cin or cout not a multiple of 4) goes through partial loads and
 * stores: NEON has no masks. Built for aarch64 only (Makefile). */
#include "layers/cpu/winograd.h"
#include "layers/cpu/neon_math.h"

/* n (>= 1) floats at p: a full vector when n >= 4 */
static inline float32x4_t ld(const float *p, int n) { return n >= 4 ? vld1q_f32(p) : y5_ld_part4(p, n); }
static inline void st(float *p, float32x4_t v, int n) {
    if (n >= 4)
        vst1q_f32(p, v);
    else
        y5_st_part4(p, v, n);
}

/* y = B^T x (6 -> 6), strides in vectors */
static inline void bt6(const float32x4_t *x, int sx, float32x4_t *y, int sy) {
    float32x4_t x0 = x[0], x1 = x[sx], x2 = x[2 * sx], x3 = x[3 * sx], x4 = x[4 * sx], x5 = x[5 * sx];
    float32x4_t d31 = vsubq_f32(x3, x1), c = vsubq_f32(x4, x2);
    float32x4_t a = vsubq_f32(x4, x1), b = vaddq_f32(x4, x1);
    y[0 * sy] = vfmaq_n_f32(vfmsq_n_f32(vaddq_f32(x0, x4), x2, 2.0f), d31, 1.5f);
    y[1 * sy] = vfmaq_n_f32(vfmaq_n_f32(a, x2, 0.5f), x3, 2.5f);
    y[2 * sy] = vfmaq_n_f32(vfmsq_n_f32(b, x2, 2.5f), x3, 0.5f);
    y[3 * sy] = vfmaq_n_f32(c, d31, 2.0f);
    y[4 * sy] = vfmsq_n_f32(c, d31, 0.5f);
    y[5 * sy] = vfmaq_n_f32(vfmsq_n_f32(vaddq_f32(x1, x5), x3, 2.0f), c, 1.5f);
}

/* y = A^T x (6 -> 4) */
static inline void at6(const float32x4_t *x, int sx, float32x4_t *y, int sy) {
    float32x4_t x0 = x[0], x1 = x[sx], x2 = x[2 * sx], x3 = x[3 * sx], x4 = x[4 * sx], x5 = x[5 * sx];
    float32x4_t a = vaddq_f32(x1, x2), b = vsubq_f32(x1, x2);
    y[0 * sy] = vaddq_f32(vaddq_f32(x0, a), vaddq_f32(x3, x4));
    y[1 * sy] = vfmaq_n_f32(vfmsq_n_f32(b, x4, 2.0f), x3, 0.5f);
    y[2 * sy] = vfmaq_n_f32(vfmaq_n_f32(a, x4, 4.0f), x3, 0.25f);
    y[3 * sy] = vaddq_f32(vfmaq_n_f32(vfmsq_n_f32(b, x4, 8.0f), x3, 0.125f), x5);
}

/* The output epilogue of 4 channels: + bias, activation, + residual. */
static inline float32x4_t epilogue4(const y5_wino_geom *g, float32x4_t x, float32x4_t bias, const float *res, int n) {
    x = vaddq_f32(x, bias);
    if (g->act == Y5_ACT_SILU) x = y5_silu4(x);
    else if (g->act) x = y5_act4(g->act, g->slope, x);
    if (res) x = vaddq_f32(x, ld(res, n));
    return x;
}

void y5_wino4_in_neon(const y5_wino_geom *g, int t0, int T, float *V, long ldv, size_t xs) {
    const float32x4_t zero = vdupq_n_f32(0.0f);
    for (int t = 0; t < T; t++) {
        int img, ty, tx;
        y5_wino_tile(g, t0 + t, &img, &ty, &tx);
        const float *src[36]; /* NULL: padding */
        for (int i = 0; i < 6; i++) {
            int iy = 4 * ty - g->p + i;
            for (int j = 0; j < 6; j++) {
                int ix = 4 * tx - g->p + j;
                int ok = iy >= 0 && iy < g->h && ix >= 0 && ix < g->w;
                src[i * 6 + j] = ok ? g->in + (((size_t)img * g->h + iy) * g->w + ix) * g->ld_in : NULL;
            }
        }
        float *vt = V + (size_t)t * ldv;
        for (int ci = 0; ci < g->cin; ci += 4) {
            const int n = g->cin - ci;
            float32x4_t d[36], e[36], v[6];
            for (int q = 0; q < 36; q++) d[q] = src[q] ? ld(src[q] + ci, n) : zero;
            for (int j = 0; j < 6; j++) bt6(d + j, 6, e + j, 6); /* columns */
            for (int i = 0; i < 6; i++) {                        /* rows */
                bt6(e + i * 6, 1, v, 1);
                float *vp = vt + (size_t)(i * 6) * xs + ci;
                for (int j = 0; j < 6; j++) st(vp + (size_t)j * xs, v[j], n);
            }
        }
    }
}

void y5_wino4_out_neon(const y5_wino_geom *g, int t0, int T, const float *M, long ldm, size_t xs) {
    const float32x4_t zero = vdupq_n_f32(0.0f);
    for (int t = 0; t < T; t++) {
        int img, ty, tx;
        y5_wino_tile(g, t0 + t, &img, &ty, &tx);
        const int ny = y5_wino_imin(4, g->ho - 4 * ty), nx = y5_wino_imin(4, g->wo - 4 * tx);
        const size_t pix0 = ((size_t)img * g->ho + 4 * ty) * g->wo + 4 * tx;
        const float *mt = M + (size_t)t * ldm;
        for (int co = 0; co < g->cout; co += 4) {
            const int n = g->cout - co;
            float32x4_t m[36], s[24], y[4]; /* s[i][j] = (A^T M)[i][j], i < 4, j < 6 */
            for (int q = 0; q < 36; q++) m[q] = ld(mt + (size_t)q * xs + co, n);
            for (int j = 0; j < 6; j++) at6(m + j, 6, s + j, 6);
            const float32x4_t bv = g->bias ? ld(g->bias + co, n) : zero;
            for (int i = 0; i < ny; i++) {
                at6(s + i * 6, 1, y, 1);
                for (int j = 0; j < nx; j++) {
                    size_t pix = pix0 + (size_t)i * g->wo + j;
                    const float *res = g->res ? g->res + pix * g->ld_res + co : NULL;
                    st(g->out + pix * g->ld_out + co, epilogue4(g, y[j], bv, res, n), n);
                }
            }
        }
    }
}

/* ---- Winograd F(2x2, 3x3) transforms, 4 channels per vector ---------------- */
void y5_wino_in_neon(const y5_wino_geom *g, int t0, int T, float *V, long ldv, size_t xs) {
    const float32x4_t zero = vdupq_n_f32(0.0f);
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
        for (int ci = 0; ci < g->cin; ci += 4) {
            const int n = g->cin - ci;
            float32x4_t d[16], e[16];
            for (int q = 0; q < 16; q++) d[q] = src[q] ? ld(src[q] + ci, n) : zero;
            for (int j = 0; j < 4; j++) {
                e[0 * 4 + j] = vsubq_f32(d[0 * 4 + j], d[2 * 4 + j]);
                e[1 * 4 + j] = vaddq_f32(d[1 * 4 + j], d[2 * 4 + j]);
                e[2 * 4 + j] = vsubq_f32(d[2 * 4 + j], d[1 * 4 + j]);
                e[3 * 4 + j] = vsubq_f32(d[1 * 4 + j], d[3 * 4 + j]);
            }
            for (int i = 0; i < 4; i++) {
                float *v = vt + (size_t)(i * 4) * xs + ci;
                st(v, vsubq_f32(e[i * 4 + 0], e[i * 4 + 2]), n);
                st(v + xs, vaddq_f32(e[i * 4 + 1], e[i * 4 + 2]), n);
                st(v + 2 * xs, vsubq_f32(e[i * 4 + 2], e[i * 4 + 1]), n);
                st(v + 3 * xs, vsubq_f32(e[i * 4 + 1], e[i * 4 + 3]), n);
            }
        }
    }
}

void y5_wino_out_neon(const y5_wino_geom *g, int t0, int T, const float *M, long ldm, size_t xs) {
    const float32x4_t zero = vdupq_n_f32(0.0f);
    for (int t = 0; t < T; t++) {
        int img, ty, tx;
        y5_wino_tile(g, t0 + t, &img, &ty, &tx);
        const int ny = y5_wino_imin(2, g->ho - 2 * ty), nx = y5_wino_imin(2, g->wo - 2 * tx);
        const float *mt = M + (size_t)t * ldm;
        for (int co = 0; co < g->cout; co += 4) {
            const int n = g->cout - co;
            float32x4_t s[8];
            for (int j = 0; j < 4; j++) {
                float32x4_t m0 = ld(mt + (size_t)(0 * 4 + j) * xs + co, n);
                float32x4_t m1 = ld(mt + (size_t)(1 * 4 + j) * xs + co, n);
                float32x4_t m2 = ld(mt + (size_t)(2 * 4 + j) * xs + co, n);
                float32x4_t m3 = ld(mt + (size_t)(3 * 4 + j) * xs + co, n);
                s[0 * 4 + j] = vaddq_f32(vaddq_f32(m0, m1), m2);
                s[1 * 4 + j] = vsubq_f32(vsubq_f32(m1, m2), m3);
            }
            const float32x4_t bv = g->bias ? ld(g->bias + co, n) : zero;
            for (int i = 0; i < ny; i++) {
                float32x4_t y[2];
                y[0] = vaddq_f32(vaddq_f32(s[i * 4 + 0], s[i * 4 + 1]), s[i * 4 + 2]);
                y[1] = vsubq_f32(vsubq_f32(s[i * 4 + 1], s[i * 4 + 2]), s[i * 4 + 3]);
                for (int j = 0; j < nx; j++) {
                    size_t pix = ((size_t)img * g->ho + 2 * ty + i) * g->wo + 2 * tx + j;
                    const float *res = g->res ? g->res + pix * g->ld_res + co : NULL;
                    st(g->out + pix * g->ld_out + co, epilogue4(g, y[j], bv, res, n), n);
                }
            }
        }
    }
}
