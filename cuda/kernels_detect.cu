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

#include <string.h>

struct dec_params {
    const __half *heads[8];
    int h[8], w[8], ld[8], row0[9];
    float stride[8];
    float anchors[8][16];
    int nl, na, no, rows;
    long long n;
    float lazy;
};

__device__ __forceinline__ float sigm(float v) { return 1.0f / (1.0f + expf(-v)); }

/* Rows x lanes (as cuda/conv_rows.h): a row (image b, pred row r) is
 * decomposed into level, anchor and cell once per thread, its obj sigmoid
 * computed once, and the lanes write its no columns (coalesced: a warp
 * stores 32 consecutive floats). */
__global__ void k_decode(const dec_params P, float *__restrict__ pred) {
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
        const __half *src = P.heads[l] + ((b * h + y) * w + x) * (long long)P.ld[l] + (long long)a * P.no;
        float *dst = pred + t * P.no;
        const float obj = sigm(__half2float(src[4]));
        const bool cls_on = !(P.lazy > 0.0f) || obj > P.lazy;
        for (int k = (int)threadIdx.x; k < P.no; k += (int)blockDim.x) {
            float v;
            if (k < 4) {
                float s = sigm(__half2float(src[k]));
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
                v = cls_on ? sigm(__half2float(src[k])) : 0.0f;
            }
            dst[k] = v;
        }
    }
}

cudaError_t cu_decode(const cu_impl *m, const y5_view *heads, const y5_detect_shape *d, const __half *arena,
                      float *pred) {
    dec_params P;
    memset(&P, 0, sizeof P);
    if (d->nl < 1 || d->nl > 8 || d->na < 1 || d->na > 8) return cudaErrorInvalidValue;
    P.nl = d->nl;
    P.na = d->na;
    P.no = d->no;
    P.rows = d->rows;
    P.n = heads[0].n;
    P.lazy = d->lazy_obj_min;
    int row0 = 0;
    for (int l = 0; l < d->nl; l++) {
        P.heads[l] = arena + heads[l].off;
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
    const int bdx = y5r_lanes(P.no), bdy = Y5R_THREADS / bdx;
    k_decode<<<cu_blocks(m, nrows, bdy), dim3((unsigned)bdx, (unsigned)bdy, 1), 0, m->stream>>>(P, pred);
    return cudaGetLastError();
}
