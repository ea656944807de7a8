/* kernels_detect.cu - Detect's sigmoid + grid/anchor decode on the GPU.
 *
 * Reads the nl half head outputs (n x h x w x ld, anchor a's outputs at
 * channels [a*no, a*no + no)) and writes the FP32 pred in layers/detect.c's
 * row order: per image, level, then anchor a, then grid row y, then column
 * x; columns cx, cy, w, h (network pixels), obj, classes, the same float
 * expressions (no fused multiply-adds). With lazy_obj_min > 0 the class
 * columns of rows whose obj <= lazy_obj_min are 0, as on the CPU. */
#include "cuda/conv_rows.h" /* y5r_lanes: rows x lanes launch shape */
#include "cuda/cuda_internal.h"
#include "cuda/decode_tile.h"


#include <string.h>

/* The first kernel (Y5_CUDA_DECODE=1; rows wider than a tile): rows x lanes
 * (as cuda/conv_rows.h): a row (image b, pred row r) is decomposed into
 * level, anchor and cell by each of its lanes, its obj sigmoid computed
 * once per lane, and the lanes write its no columns (coalesced: a warp
 * stores 32 consecutive floats). The parameters are the tiled kernel's
 * (decode_tile.h). */
__global__ void k_decode(const __grid_constant__ y5d_params P, float *__restrict__ pred) {
    const long long nrows = P.n * P.rows;
    for (long long t = blockIdx.x * (long long)blockDim.y + threadIdx.y; t < nrows;
         t += (long long)gridDim.x * blockDim.y) {
        const long long b = t / P.rows;
        const int r = (int)(t - b * P.rows);
        int l = 0;
        while (l + 1 < P.nl && r >= P.row0[l + 1]) l++;
        const int rr = r - P.row0[l];
        const int h = P.h[l], w = P.w[l], hw = h * w;
        const int a = rr / hw, rem = rr - a * hw;
        const int y = rem / w, x = rem - y * w;
        const unsigned short *src = P.heads[l] + ((b * h + y) * w + x) * (long long)P.ld[l] + (long long)a * P.no;
        float *dst = pred + t * P.no;
        const float obj = y5d_sigm(y5d_h2f(src[4]));
        const bool cls_on = !(P.lazy > 0.0f) || obj > P.lazy;
        for (int k = (int)threadIdx.x; k < P.no; k += (int)blockDim.x) {
            float v;
            if (k < 4) {
                float s = y5d_sigm(y5d_h2f(src[k]));
                if (k < 2) {
                    float g = k == 0 ? (float)x : (float)y;
                    v = __fmul_rn(__fadd_rn(__fmul_rn(s, 2.0f), __fsub_rn(g, 0.5f)), P.stride[l]);
                } else {
                    float s2 = __fmul_rn(s, 2.0f);
                    v = __fmul_rn(__fmul_rn(s2, s2), P.anchors[l][2 * a + (k - 2)]);
                }
            } else if (k == 4) {
                v = obj;
            } else {
                v = cls_on ? y5d_sigm(y5d_h2f(src[k])) : 0.0f;
            }
            dst[k] = v;
        }
    }
}

/* The default decode (cuda/decode_tile.h says why and how): a block per
 * Y5D_ROWS rows, staged in shared memory, stored 16 bytes at a time. The
 * parameters by address without a local copy (__grid_constant__: CUDA 11.7
 * and later; the project builds with 13). */
__global__ void __launch_bounds__(Y5D_THREADS) k_decode_tile(const __grid_constant__ y5d_params P,
                                                             float *__restrict__ pred) {
    __shared__ y5d_row R[Y5D_ROWS];
    __shared__ __align__(16) float tile[Y5D_ROWS * Y5D_MAX_NO];
    const long long nrows = P.n * P.rows;
    const int warp = (int)threadIdx.x / 32, lane = (int)threadIdx.x % 32, nwarps = (int)blockDim.x / 32;
    for (long long first = (long long)blockIdx.x * Y5D_ROWS; first < nrows; first += (long long)gridDim.x * Y5D_ROWS) {
        const int nr = y5d_block_rows(first, nrows);
        if ((int)threadIdx.x < nr) y5d_phase1(&P, first, (int)threadIdx.x, R);
        __syncthreads();
        for (int i = warp; i < nr; i += nwarps)
            for (int k = lane; k < P.no; k += 32) y5d_phase2(&P, i, k, R, tile);
        __syncthreads();
        y5d_store(pred + first * P.no, tile, nr * P.no, (int)threadIdx.x, (int)blockDim.x);
        /* no barrier here: the next rows' phase 1 writes only R (last read
         * before the barrier above), and their phase 2 writes the tile only
         * after the next first barrier, which every thread reaches after
         * its stores */
    }
}

cudaError_t cu_decode(const cu_impl *m, const y5_view *heads, const y5_detect_shape *d, const __half *arena,
                      float *pred, int *first_ran) {
    *first_ran = 0;
    y5d_params P; /* both kernels' (decode_tile.h) */
    memset(&P, 0, sizeof P);
    if (d->nl < 1 || d->nl > 8 || d->na < 1 || d->na > 8) return cudaErrorInvalidValue;
    P.nl = d->nl;
    P.no = d->no;
    P.rows = d->rows;
    P.n = heads[0].n;
    P.lazy = d->lazy_obj_min;
    int row0 = 0;
    for (int l = 0; l < d->nl; l++) {
        P.heads[l] = reinterpret_cast<const unsigned short *>(arena + heads[l].off);
        P.h[l] = heads[l].h;
        P.w[l] = heads[l].w;
        P.ld[l] = heads[l].ld;
        P.row0[l] = row0;
        P.stride[l] = d->strides[l];
        for (int j = 0; j < 16; j++) P.anchors[l][j] = d->anchors[l][j];
        row0 += d->na * heads[l].h * heads[l].w;
    }
    P.row0[d->nl] = row0;
    if (row0 != d->rows) return cudaErrorInvalidValue;
    const long long nrows = P.n * P.rows;
    if (nrows <= 0 || P.no <= 0) return cudaSuccess;
    /* Y5_CUDA_DECODE=1: the first kernel, to compare; rows wider than a
     * block's tile (more than 251 classes) take it too */
    if (!m->decode_first && P.no <= Y5D_MAX_NO) {
        k_decode_tile<<<cu_blocks(m, nrows, Y5D_ROWS), Y5D_THREADS, 0, m->stream>>>(P, pred);
        return cudaGetLastError();
    }
    const int bdx = y5r_lanes(P.no), bdy = Y5R_THREADS / bdx;
    *first_ran = 1;
    k_decode<<<cu_blocks(m, nrows, bdy), dim3((unsigned)bdx, (unsigned)bdy, 1), 0, m->stream>>>(P, pred);
    return cudaGetLastError();
}
