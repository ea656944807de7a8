/* decode_tile.h - Detect's decode (sigmoid + grid/anchor arithmetic) as a
 * block of rows staged in shared memory: the thread bodies of
 * cuda/kernels_detect.cu's k_decode_tile, in one header that compiles as C11
 * and as CUDA C++17, so tests/unit/test_decode_tile.c runs the very same
 * code on the CPU (phase by phase, thread by thread) against a plain loop.
 *
 * Why: the first kernel (k_decode, kept as Y5_CUDA_DECODE=1) gave each pred
 * row a warp: every lane decomposed the row (a 64-bit division, the level
 * search, two more divisions) and the obj sigmoid again, and a row's 85
 * floats went out as 3 partial stores of a warp at no particular alignment.
 * In the H200's batch-32 profile Detect took 1.17 ms, of which its three
 * convs about 0.70 (the lab's figures): the decode about 0.45 ms for 274 MB
 * written and 137 MB read, under a quarter of the card's bandwidth
 * (inferred, not measured apart: bench --profile now prints it apart).
 *
 * Here a block takes Y5D_ROWS consecutive rows of the pred:
 *   1. one thread per row decomposes it once (image, level, anchor, cell)
 *      into shared memory, with its obj sigmoid;
 *   2. each warp computes rows of the tile, its lanes the columns, into
 *      shared memory (the row's metadata read there, not recomputed);
 *   3. all threads store the tile, a contiguous stretch of the pred,
 *      16 bytes at a time where it is aligned.
 * The same float expressions as layers/detect.c and k_decode, with no
 * fused multiply-adds. Heads travel as half bits (unsigned short), turned
 * into floats by y5d_h2f (cuda_fp16 on the device, y5_half_to_float on the
 * host). */
#ifndef Y5_DECODE_TILE_H
#define Y5_DECODE_TILE_H

#ifdef __CUDACC__
#include <cuda_fp16.h>
#define Y5D_HD static inline __device__ /* the kernel's; the C side is the CPU test's */
#define Y5D_MUL(a, b) __fmul_rn((a), (b))
#define Y5D_ADD(a, b) __fadd_rn((a), (b))
#define Y5D_SUB(a, b) __fsub_rn((a), (b))
Y5D_HD float y5d_h2f(unsigned short b) { return __half2float(__ushort_as_half(b)); }
#else
#include <math.h>
#include <stdint.h>
#include <string.h>
#include "weights/y5w.h" /* y5_half_to_float */
#define Y5D_HD static inline
#define Y5D_MUL(a, b) ((a) * (b)) /* C11 (-std=c11) does not contract to FMA */
#define Y5D_ADD(a, b) ((a) + (b))
#define Y5D_SUB(a, b) ((a) - (b))
Y5D_HD float y5d_h2f(unsigned short b) { return y5_half_to_float(b); }
#endif

#define Y5D_ROWS 32     /* pred rows per block */
#define Y5D_THREADS 256 /* threads per block */
#define Y5D_MAX_NO 256  /* the widest row a block stages (no = nc + 5); wider: k_decode */

typedef struct {
    const unsigned short *heads[8]; /* per level: n x h x w x ld half bits; anchor a at channels [a*no, a*no+no) */
    int h[8], w[8], ld[8], row0[9]; /* row0[l]: the level's first row within an image's rows */
    float stride[8];
    float anchors[8][16];
    int nl, no, rows;               /* rows: per image (a row's anchor comes from row0 and h x w) */
    long long n;                    /* images */
    float lazy;                     /* > 0: class columns of rows with obj <= lazy are 0 */
} y5d_params;

/* One row's decomposition (phase 1's output, shared memory). */
typedef struct {
    long long src; /* offset of the row's first half in its level's head */
    int level, a, x, y;
    float obj;
    int cls_on;
} y5d_row;

Y5D_HD float y5d_sigm(float v) { return 1.0f / (1.0f + expf(-v)); }

/* Phase 1, thread i < the block's rows: row t = first + i of the whole
 * pred (image t / rows), decomposed into R[i]. */
Y5D_HD void y5d_phase1(const y5d_params *P, long long first, int i, y5d_row *R) {
    const long long t = first + i;
    const long long b = t / P->rows;
    const int r = (int)(t - b * P->rows);
    int l = 0;
    while (l + 1 < P->nl && r >= P->row0[l + 1]) l++;
    const int rr = r - P->row0[l], hw = P->h[l] * P->w[l];
    const int a = rr / hw, rem = rr - a * hw;
    const int y = rem / P->w[l], x = rem - y * P->w[l];
    y5d_row *o = &R[i];
    o->level = l;
    o->a = a;
    o->x = x;
    o->y = y;
    o->src = ((b * P->h[l] + y) * P->w[l] + x) * (long long)P->ld[l] + (long long)a * P->no;
    o->obj = y5d_sigm(y5d_h2f(P->heads[l][o->src + 4]));
    o->cls_on = !(P->lazy > 0.0f) || o->obj > P->lazy;
}

/* Phase 2, column k of the block's row i: its value into tile[i * no + k]
 * (a warp takes a row, its lanes the columns: consecutive halves read,
 * no division per element). */
Y5D_HD void y5d_phase2(const y5d_params *P, int i, int k, const y5d_row *R, float *tile) {
    const y5d_row *q = &R[i];
    const int l = q->level;
    float v;
    if (k == 4) {
        v = q->obj;
    } else if (k > 4 && !q->cls_on) {
        v = 0.0f;
    } else {
        const float s = y5d_sigm(y5d_h2f(P->heads[l][q->src + k]));
        if (k < 2) {
            const float g = k == 0 ? (float)q->x : (float)q->y;
            v = Y5D_MUL(Y5D_ADD(Y5D_MUL(s, 2.0f), Y5D_SUB(g, 0.5f)), P->stride[l]);
        } else if (k < 4) {
            const float s2 = Y5D_MUL(s, 2.0f);
            v = Y5D_MUL(Y5D_MUL(s2, s2), P->anchors[l][2 * q->a + (k - 2)]);
        } else {
            v = s;
        }
    }
    tile[i * P->no + k] = v;
}

/* Phase 3, thread tid of nthreads: the tile's ne floats to dst (the pred
 * from the block's first row), 16 bytes at a time where dst is aligned, the
 * rest one float at a time. */
Y5D_HD void y5d_store(float *dst, const float *tile, int ne, int tid, int nthreads) {
#ifdef __CUDACC__
    const int n4 = ((unsigned long long)dst & 15u) == 0 ? ne / 4 : 0;
    for (int j = tid; j < n4; j += nthreads)
        reinterpret_cast<float4 *>(dst)[j] = reinterpret_cast<const float4 *>(tile)[j];
#else
    const int n4 = ((unsigned long long)(uintptr_t)dst & 15u) == 0 ? ne / 4 : 0;
    for (int j = tid; j < n4; j += nthreads) memcpy(dst + 4 * j, tile + 4 * j, 4 * sizeof(float));
#endif
    for (int j = 4 * n4 + tid; j < ne; j += nthreads) dst[j] = tile[j];
}

/* Rows of the block starting at row `first`: at most Y5D_ROWS. */
Y5D_HD int y5d_block_rows(long long first, long long nrows_total) {
    const long long left = nrows_total - first;
    return left < Y5D_ROWS ? (int)left : Y5D_ROWS;
}

#endif
