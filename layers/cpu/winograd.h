/* winograd.h - internal: Winograd transforms for stride-1 3x3 convs, run by
 * layers/cpu/conv_cpu.c around y5_gemm (one GEMM per transform position).
 * F(2x2,3x3) and F(4x4,3x3): portable versions in winograd.c, AVX2 and
 * AVX-512 ones in winograd_avx2.c / winograd_avx512.c (x86-64 builds), NEON ones in winograd_neon.c
 * (aarch64 builds); the weight transform U = G g G^T is in conv_cpu.c. */
#ifndef Y5_WINOGRAD_H
#define Y5_WINOGRAD_H

#include <stddef.h>

#include "core/base/act.h"

/* ---- Winograd F(2x2, 3x3) for stride-1 3x3 convs -------------------------
 * Tiles of 2x2 output pixels, t = (image, ty, tx) over an n x tiles_h x
 * tiles_w grid. V[xi][t][ci] (xi = 4x4 transform position, row stride ldv,
 * plane stride xs between xi) = B^T d B of the 4x4 input patch at (2ty - p, 2tx - p);
 * after the 16 GEMMs M[xi][t][co] = V[xi] U[xi], out = A^T M A + epilogue. */
typedef struct {
    const float *in;
    int h, w, ld_in, cin, p;
    int tiles_w, tiles_hw;    /* tiles per row, per image */
    float *out;
    int ho, wo, ld_out, cout;
    const float *bias, *res;
    int ld_res;
    int act;                  /* y5_act_kind (core/base/act.h) after the bias */
    float slope;              /* Y5_ACT_LEAKY */
} y5_wino_geom;

/* Tile t's image and tile row and column (every ISA's transforms walk tiles so). */
static inline void y5_wino_tile(const y5_wino_geom *g, int t, int *img, int *ty, int *tx) {
    *img = t / g->tiles_hw;
    const int r = t % g->tiles_hw;
    *ty = r / g->tiles_w;
    *tx = r % g->tiles_w;
}
static inline int y5_wino_imin(int a, int b) { return a < b ? a : b; }
void y5_wino_in_scalar(const y5_wino_geom *g, int t0, int T, float *V, long ldv, size_t xs);
void y5_wino_out_scalar(const y5_wino_geom *g, int t0, int T, const float *M, long ldm, size_t xs);
void y5_wino_in_avx2(const y5_wino_geom *g, int t0, int T, float *V, long ldv, size_t xs);
void y5_wino_out_avx2(const y5_wino_geom *g, int t0, int T, const float *M, long ldm, size_t xs);
void y5_wino_in_avx512(const y5_wino_geom *g, int t0, int T, float *V, long ldv, size_t xs);
void y5_wino_out_avx512(const y5_wino_geom *g, int t0, int T, const float *M, long ldm, size_t xs);
void y5_wino_in_neon(const y5_wino_geom *g, int t0, int T, float *V, long ldv, size_t xs);
void y5_wino_out_neon(const y5_wino_geom *g, int t0, int T, const float *M, long ldm, size_t xs);

/* ---- Winograd F(4x4, 3x3) ------------------------------------------------
 * Same geometry with 4x4 output tiles: V[xi][t][ci] over 36 planes xi = 6i + j
 * of the 6x6 input patch at (4ty - p, 4tx - p); out = A^T M A + epilogue.
 * The out transforms write channels [0, g->cout) of g->out / read g->bias,
 * g->res at those channels (callers offset them for a slice of cout). */
void y5_wino4_in_scalar(const y5_wino_geom *g, int t0, int T, float *V, long ldv, size_t xs);
void y5_wino4_out_scalar(const y5_wino_geom *g, int t0, int T, const float *M, long ldm, size_t xs);
void y5_wino4_in_avx2(const y5_wino_geom *g, int t0, int T, float *V, long ldv, size_t xs);
void y5_wino4_out_avx2(const y5_wino_geom *g, int t0, int T, const float *M, long ldm, size_t xs);
void y5_wino4_in_avx512(const y5_wino_geom *g, int t0, int T, float *V, long ldv, size_t xs);
void y5_wino4_out_avx512(const y5_wino_geom *g, int t0, int T, const float *M, long ldm, size_t xs);
void y5_wino4_in_neon(const y5_wino_geom *g, int t0, int T, float *V, long ldv, size_t xs);
void y5_wino4_out_neon(const y5_wino_geom *g, int t0, int T, const float *M, long ldm, size_t xs);

#endif
