/* gemm.h - internal: the FP32 GEMM behind the CPU convolution (gemm.c,
 * macro-kernels in gemm_avx2.c / gemm_avx512.c on x86-64, gemm_neon.c on
 * aarch64). Winograd's transforms are
 * in winograd.h, the ISA choice in isa.h, the other CPU kernels in
 * cpu_kernels.h.
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
 * Epilogue on the last K block: + bias[n], activation (act: y5_act_kind,
 * core/base/act.h; slope for LeakyReLU), + res[m, n]; columns beyond
 * N in a row of C are never touched. Earlier K blocks leave partial sums in
 * C, so res must not alias C when K > KC. */
#ifndef Y5_GEMM_H
#define Y5_GEMM_H

#include <stddef.h>
#include "core/base/threadpool.h"
#include "layers/cpu/isa.h"
#include "core/base/act.h"

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
    int act;               /* y5_act_kind applied after the bias */
    float slope;           /* Y5_ACT_LEAKY: negative slope */
    /* seg_len > 0 (AVX2 and AVX-512 macro-kernels only): A is segmented, element
     * (r, k) at a[r lda + (k / seg_len) seg_stride + k % seg_len] (implicit
     * im2col of a conv whose kernel-row taps are adjacent in memory) */
    int seg_len;
    long seg_stride;
} y5_gemm_blk;

typedef void (*y5_gemm_macro_fn)(const y5_gemm_blk *b);

/* Macro-kernel per ISA (Y5_ISA_*, isa.h; chosen at run time). */
void y5_gemm_macro_scalar(const y5_gemm_blk *b);
void y5_gemm_macro_avx2(const y5_gemm_blk *b);
void y5_gemm_macro_avx512(const y5_gemm_blk *b);
void y5_gemm_macro_neon(const y5_gemm_blk *b); /* gemm_neon.c */
#define Y5_MR_SCALAR 4
#define Y5_MR_AVX2 6
#define Y5_MR_AVX512 8
#define Y5_MR_NEON 5

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
    int act; float slope;        /* epilogue activation (y5_act_kind) */
    void *scratch;               /* y5_gemm_scratch bytes (packa only) */
} y5_gemm_args;

/* Scratch bytes for an im2col GEMM of inner size K run on n_threads threads. */
size_t y5_gemm_scratch(int K, int n_threads);
void y5_gemm(y5_pool *pool, const y5_gemm_args *g);

/* The macro-kernel and its MR for an ISA. */
y5_gemm_macro_fn y5_gemm_macro_for(int isa, int *mr);

/* Accurate vectorisable SiLU reference (scalar): x / (1 + exp(-x)); the
 * epilogue of the portable GEMM and Winograd kernels. */
float y5_silu_ref(float x);
/* The scalar reference of every activation kind (core/base/act.h): SiLU is
 * y5_silu_ref; the vector epilogues (AVX2, AVX-512, NEON) match it within
 * rounding, exactly for NONE, RELU and LEAKY. */
float y5_act_ref(int kind, float slope, float x);

/* Plain GEMM used by tests and benchmarks (packs B on every call):
 * C[M x N] (ldc) = A[M x K] (lda) * B[K x N] (ldb), all row-major FP32. */
void y5_sgemm(y5_pool *pool, int M, int N, int K, const float *A, int lda,
              const float *B, int ldb, float *C, int ldc);

#endif
