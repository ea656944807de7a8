/* winograd.c - Winograd F(4x4, 3x3) (and, at the end, F(2x2, 3x3))
 * transforms, portable versions (the AVX-512 ones in
 * layers/cpu/winograd_avx512.c do the same arithmetic 16
 * channels at a time). 6x6 input tiles at (4 ty - p, 4 tx - p); V plane
 * xi = 6 i + j holds (B^T d B)[i][j]; after the GEMMs the output tile is
 * A^T M A (4x4) + bias, activation, residual; the weights are U = G g G^T
 * (layers/cpu/conv_cpu.c). Interpolation points 0, 1, -1, 1/2, -2 and infinity:
 * about 35% less FP32 rounding error than the usual 0, +-1, +-2.
 *
 *   B^T = [1 -3/2  -2  3/2 1 0]   A^T = [1  1  1   1    1 0]
 *         [0  -1  1/2  5/2 1 0]         [0  1 -1  1/2  -2 0]
 *         [0   1 -5/2  1/2 1 0]         [0  1  1  1/4   4 0]
 *         [0  -2   -1    2 1 0]         [0  1 -1  1/8  -8 1]
 *         [0  1/2  -1 -1/2 1 0]
 *         [0   1 -3/2   -2 3/2 1]                                          */
#include "layers/cpu/winograd.h"
#include "layers/cpu/gemm.h" /* y5_silu_ref */

static inline void bt6(const float *x, int sx, float *y, int sy) {
    float x0 = x[0], x1 = x[sx], x2 = x[2 * sx], x3 = x[3 * sx], x4 = x[4 * sx], x5 = x[5 * sx];
    float d31 = x3 - x1, c = x4 - x2;
    y[0 * sy] = ((x0 + x4) - 2.0f * x2) + 1.5f * d31;
    y[1 * sy] = ((x4 - x1) + 0.5f * x2) + 2.5f * x3;
    y[2 * sy] = ((x4 + x1) - 2.5f * x2) + 0.5f * x3;
    y[3 * sy] = c + 2.0f * d31;
    y[4 * sy] = c - 0.5f * d31;
    y[5 * sy] = ((x1 + x5) - 2.0f * x3) + 1.5f * c;
}

static inline void at6(const float *x, int sx, float *y, int sy) {
    float x0 = x[0], x1 = x[sx], x2 = x[2 * sx], x3 = x[3 * sx], x4 = x[4 * sx], x5 = x[5 * sx];
    float a = x1 + x2, b = x1 - x2;
    y[0 * sy] = (x0 + a) + (x3 + x4);
    y[1 * sy] = (b - 2.0f * x4) + 0.5f * x3;
    y[2 * sy] = (a + 4.0f * x4) + 0.25f * x3;
    y[3 * sy] = ((b - 8.0f * x4) + 0.125f * x3) + x5;
}

void y5_wino4_in_scalar(const y5_wino_geom *g, int t0, int T, float *V, long ldv, size_t xs) {
    for (int t = 0; t < T; t++) {
        int img, ty, tx;
        y5_wino_tile(g, t0 + t, &img, &ty, &tx);
        const float *src[36];
        for (int i = 0; i < 6; i++)
            for (int j = 0; j < 6; j++) {
                int iy = 4 * ty - g->p + i, ix = 4 * tx - g->p + j;
                src[i * 6 + j] = iy >= 0 && iy < g->h && ix >= 0 && ix < g->w
                                     ? g->in + (((size_t)img * g->h + iy) * g->w + ix) * g->ld_in
                                     : NULL;
            }
        for (int ci = 0; ci < g->cin; ci++) {
            float d[36], e[36], v[36];
            for (int q = 0; q < 36; q++) d[q] = src[q] ? src[q][ci] : 0.0f;
            for (int j = 0; j < 6; j++) bt6(d + j, 6, e + j, 6);   /* columns */
            for (int i = 0; i < 6; i++) bt6(e + i * 6, 1, v + i * 6, 1); /* rows */
            for (int q = 0; q < 36; q++) V[(size_t)q * xs + (size_t)t * ldv + ci] = v[q];
        }
    }
}

void y5_wino4_out_scalar(const y5_wino_geom *g, int t0, int T, const float *M, long ldm, size_t xs) {
    for (int t = 0; t < T; t++) {
        int img, ty, tx;
        y5_wino_tile(g, t0 + t, &img, &ty, &tx);
        const int ny = y5_wino_imin(4, g->ho - 4 * ty), nx = y5_wino_imin(4, g->wo - 4 * tx);
        for (int co = 0; co < g->cout; co++) {
            float m[36], s[24], y[16];
            for (int q = 0; q < 36; q++) m[q] = M[(size_t)q * xs + (size_t)t * ldm + co];
            for (int j = 0; j < 6; j++) at6(m + j, 6, s + j, 6);
            for (int i = 0; i < 4; i++) at6(s + i * 6, 1, y + i * 4, 1);
            for (int i = 0; i < ny; i++)
                for (int j = 0; j < nx; j++) {
                    size_t pix = ((size_t)img * g->ho + 4 * ty + i) * g->wo + 4 * tx + j;
                    float x = y[i * 4 + j] + (g->bias ? g->bias[co] : 0.0f);
                    if (g->act == Y5_ACT_SILU) x = y5_silu_ref(x);
                    else if (g->act) x = y5_act_ref(g->act, g->slope, x);
                    if (g->res) x += g->res[pix * g->ld_res + co];
                    g->out[pix * g->ld_out + co] = x;
                }
        }
    }
}

/* ---- Winograd F(2x2, 3x3) transforms, portable versions ------------------ */
void y5_wino_in_scalar(const y5_wino_geom *g, int t0, int T, float *V, long ldv, size_t xs) {
    for (int t = 0; t < T; t++) {
        int img, ty, tx;
        y5_wino_tile(g, t0 + t, &img, &ty, &tx);
        const float *src[16];
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++) {
                int iy = 2 * ty - g->p + i, ix = 2 * tx - g->p + j;
                src[i * 4 + j] = iy >= 0 && iy < g->h && ix >= 0 && ix < g->w
                                     ? g->in + (((size_t)img * g->h + iy) * g->w + ix) * g->ld_in
                                     : NULL;
            }
        for (int ci = 0; ci < g->cin; ci++) {
            float d[16], e[16];
            for (int q = 0; q < 16; q++) d[q] = src[q] ? src[q][ci] : 0.0f;
            for (int j = 0; j < 4; j++) {
                e[0 * 4 + j] = d[0 * 4 + j] - d[2 * 4 + j];
                e[1 * 4 + j] = d[1 * 4 + j] + d[2 * 4 + j];
                e[2 * 4 + j] = d[2 * 4 + j] - d[1 * 4 + j];
                e[3 * 4 + j] = d[1 * 4 + j] - d[3 * 4 + j];
            }
            for (int i = 0; i < 4; i++) {
                float *v = V + (size_t)(i * 4) * xs + (size_t)t * ldv + ci;
                v[0 * xs] = e[i * 4 + 0] - e[i * 4 + 2];
                v[1 * xs] = e[i * 4 + 1] + e[i * 4 + 2];
                v[2 * xs] = e[i * 4 + 2] - e[i * 4 + 1];
                v[3 * xs] = e[i * 4 + 1] - e[i * 4 + 3];
            }
        }
    }
}

void y5_wino_out_scalar(const y5_wino_geom *g, int t0, int T, const float *M, long ldm, size_t xs) {
    for (int t = 0; t < T; t++) {
        int img, ty, tx;
        y5_wino_tile(g, t0 + t, &img, &ty, &tx);
        for (int co = 0; co < g->cout; co++) {
            float m[16], s[8];
            for (int q = 0; q < 16; q++) m[q] = M[q * xs + (size_t)t * ldm + co];
            for (int j = 0; j < 4; j++) {
                s[0 * 4 + j] = m[0 * 4 + j] + m[1 * 4 + j] + m[2 * 4 + j];
                s[1 * 4 + j] = m[1 * 4 + j] - m[2 * 4 + j] - m[3 * 4 + j];
            }
            for (int i = 0; i < 2; i++) {
                int oy = 2 * ty + i;
                if (oy >= g->ho) break;
                float y[2];
                y[0] = s[i * 4 + 0] + s[i * 4 + 1] + s[i * 4 + 2];
                y[1] = s[i * 4 + 1] - s[i * 4 + 2] - s[i * 4 + 3];
                for (int j = 0; j < 2; j++) {
                    int ox = 2 * tx + j;
                    if (ox >= g->wo) break;
                    size_t pix = ((size_t)img * g->ho + oy) * g->wo + ox;
                    float x = y[j] + (g->bias ? g->bias[co] : 0.0f);
                    if (g->act == Y5_ACT_SILU) x = y5_silu_ref(x);
                    else if (g->act) x = y5_act_ref(g->act, g->slope, x);
                    if (g->res) x += g->res[pix * g->ld_res + co];
                    g->out[pix * g->ld_out + co] = x;
                }
            }
        }
    }
}
