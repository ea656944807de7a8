/* gemm.h - internal: the FP32 GEMM behind the CPU convolution.
 *
 * C[M x N] = A[M x K] * B[K x N] with a fused epilogue, row-major.
 *
 * B (the conv weights) is packed once into panels of Y5_NR = 48 columns
 * (the last panel of a matrix is its width rounded up to 16, zero padded),
 * K split into blocks of y5_gemm_kc(K) rows:
 *
 *   for each K block kb (k0 = kb * KC, kcb = min(KC, K - k0) rows):
 *     at offset k0 * Npad:  for each panel j: kcb x w_j floats (row stride w_j)
 *   Npad = N rounded up to 16; panel j starts at j * 48 * kcb in its block.
 *
 * A is read row-major (row pointers, lda) straight from the caller's memory
 * (1x1 convs: the NHWC input) or from a per-thread block the caller's pack
 * function fills (im2col of MC rows x KC columns). The micro-kernels
 * broadcast A elements and hold an MR x 48 tile of C in vector registers.
 *
 * Epilogue on the last K block: + bias[n], SiLU, + res[m, n]; columns beyond
 * N in a row of C are never touched. Earlier K blocks leave partial sums in
 * C, so res must not alias C when K > KC. */
#ifndef Y5_GEMM_H
#define Y5_GEMM_H

#include <stddef.h>
#include "core/base/threadpool.h"

#define Y5_NR 48          /* packed panel width (3 AVX-512 vectors) */
#define Y5_MC_MAX 256     /* most A rows one task packs at once */

/* K block size used for packing and running (depends only on K). */
int y5_gemm_kc(int K);
/* Floats needed for a packed B of K x N. */
size_t y5_gemm_packb_len(int K, int N);
/* Packs B (element (k, n) at B[k * ldb + n]) into dst (y5_gemm_packb_len floats). */
void y5_gemm_packb(float *dst, const float *B, int K, int N, long ldb);

/* One task's share of work: rows [m0, m0+mc) x all of N, one K block. */
typedef struct {
    int mc, nc, kc;        /* block sizes */
    const float *a;        /* A at (row 0 of block, k0) */
    long lda;
    const float *b;        /* packed B at (this K block, first panel of block) */
    float *c;              /* C at (m0, n0) */
    long ldc;
    int accumulate;        /* C += A*B (else C = A*B) */
    int last;              /* apply the epilogue */
    const float *bias;     /* at n0, or NULL */
    const float *res;      /* at (m0, n0), or NULL */
    long ldres;
    int silu;
    /* seg_len > 0 (AVX-512 macro-kernel only): A is segmented, element
     * (r, k) at a[r lda + (k / seg_len) seg_stride + k % seg_len] (implicit
     * im2col of a conv whose kernel-row taps are adjacent in memory) */
    int seg_len;
    long seg_stride;
} y5_gemm_blk;

typedef void (*y5_gemm_macro_fn)(const y5_gemm_blk *b);

/* Micro-architecture variants (run-time choice). */
enum { Y5_ISA_SCALAR = 0, Y5_ISA_AVX2 = 1, Y5_ISA_AVX512 = 2 };
void y5_gemm_macro_scalar(const y5_gemm_blk *b);
void y5_gemm_macro_avx2(const y5_gemm_blk *b);
void y5_gemm_macro_avx512(const y5_gemm_blk *b);
#define Y5_MR_SCALAR 4
#define Y5_MR_AVX2 6
#define Y5_MR_AVX512 8

/* Best ISA the CPU supports (or Y5_ISA=scalar|avx2|avx512 from the
 * environment, capped at what the CPU has). */
int y5_gemm_isa(void);
/* Forces an ISA (tests); returns the one actually used (capped by the CPU). */
int y5_gemm_set_isa(int isa);
const char *y5_gemm_isa_name(int isa);

/* Fills dst (row-major, row stride ldd) with A[m0 + r, k0 + c] for
 * r < mc, c < kc (im2col). */
typedef void (*y5_packa_fn)(void *ctx, float *dst, long ldd, int m0, int mc, int k0, int kc);

typedef struct {
    int M, N, K;
    const float *bpack;          /* y5_gemm_packb layout */
    const float *a; long lda;    /* A read directly when packa is NULL */
    y5_packa_fn packa; void *packa_ctx;
    float *c; long ldc;
    const float *bias;           /* N floats or NULL */
    const float *res; long ldres;/* M x N or NULL */
    int silu;
    void *scratch;               /* y5_gemm_scratch bytes (packa only) */
} y5_gemm_args;

/* Scratch bytes for an im2col GEMM of inner size K run on n_threads threads. */
size_t y5_gemm_scratch(int K, int n_threads);
void y5_gemm(y5_pool *pool, const y5_gemm_args *g);

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
    int ld_res, silu;
} y5_wino_geom;
void y5_wino_in_scalar(const y5_wino_geom *g, int t0, int T, float *V, long ldv, size_t xs);
void y5_wino_out_scalar(const y5_wino_geom *g, int t0, int T, const float *M, long ldm, size_t xs);
void y5_wino_in_avx512(const y5_wino_geom *g, int t0, int T, float *V, long ldv, size_t xs);
void y5_wino_out_avx512(const y5_wino_geom *g, int t0, int T, const float *M, long ldm, size_t xs);

/* ---- Winograd F(4x4, 3x3) (layers/winograd.c, winograd_avx512.c) --------
 * Same geometry with 4x4 output tiles: V[xi][t][ci] over 36 planes xi = 6i + j
 * of the 6x6 input patch at (4ty - p, 4tx - p); out = A^T M A + epilogue.
 * The out transforms write channels [0, g->cout) of g->out / read g->bias,
 * g->res at those channels (callers offset them for a slice of cout). */
void y5_wino4_in_scalar(const y5_wino_geom *g, int t0, int T, float *V, long ldv, size_t xs);
void y5_wino4_out_scalar(const y5_wino_geom *g, int t0, int T, const float *M, long ldm, size_t xs);
void y5_wino4_in_avx512(const y5_wino_geom *g, int t0, int T, float *V, long ldv, size_t xs);
void y5_wino4_out_avx512(const y5_wino_geom *g, int t0, int T, const float *M, long ldm, size_t xs);

/* The macro-kernel and its MR for an ISA. */
y5_gemm_macro_fn y5_gemm_macro_for(int isa, int *mr);

/* Winograd for stride-1 3x3 convs packed from now on: 0 off, 2 F(2x2,3x3)
 * for all, 4 F(4x4,3x3) for all, 1 on with the tile size picked per layer,
 * -1 default (1 when the AVX-512 kernels are in use; Y5_WINOGRAD=0/1/2/4
 * in the environment overrides it). */
void y5_conv_set_winograd(int mode);

/* Accurate vectorisable SiLU reference (scalar): x / (1 + exp(-x)). */
float y5_silu_ref(float x);

/* ---- AVX-512 kernels of the small layers (layers/pointwise_avx512.c) ---- */
/* Detect decode of one grid row, all na anchors: w cells of the head
 * (cell stride ld, anchor a's no values at a * no), into pred rows of no
 * floats: anchor a's row x at dst + a * dst_astride + x * no (sigmoid, then
 * box with anchors[2a], anchors[2a+1]: see layers/detect.c). */
void y5_decode_row_avx512(const float *src, long ld, float *dst, long dst_astride, int na, const float *anchors,
                          int w, int no, float y, float stride, float lazy_min);
/* Output row y of a k x k stride-1 clipped max pool of one NHWC image;
 * returns -1 (nothing written) when k is too large for it. */
int y5_maxpool_row_avx512(const float *img, int h, int w, int c, int ld_in, float *out, int ld_out, int k, int y);

#endif
