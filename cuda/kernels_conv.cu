/* kernels_conv.cu - the two kernels around a conv's cuBLAS GEMM.
 *
 * im2col: NHWC half input -> column matrix (cuda/conv_rows.h says the layout
 * and holds the thread body, which tests/unit/test_conv_rows.c runs on the
 * CPU). A block is rows (output pixels) x lanes (along the row's K).
 *
 * epilogue: FP32 GEMM result (mc x cout, dense) + bias, activation
 * (act: y5_act_kind of core/base/act.h, slope for LeakyReLU), + residual
 * (after the activation, as YOLOv5's Bottleneck), rounded to half and written into
 * the output view's channel slice (row stride ld_out, usually the concat
 * width); rows x lanes the same way, lanes over channels or 8-channel groups.
 * Both have an 8-channel (16-byte) form used when every pointer and stride
 * allows it, and a one-channel form for the rest (an input slice at an odd
 * channel, the Detect heads' 255 outputs). The stem's cin 3 reaches the
 * im2col already padded to 8 channels (channel padding, below).
 *
 * channel padding: a conv input with cin % 8 != 0 copied into dense rows of
 * cin_pad channels, the added ones zero (cu_conv.cin_pad says why). The copy
 * is the whole input (every chunk of the conv reads it): for the stem, 16
 * bytes per input pixel, two thirds of the stem's own output. */
#include "cuda/conv_rows.h"
#include "cuda/act.cuh"
#include "cuda/cuda_internal.h"

#include <stdint.h>

#define THREADS Y5R_THREADS

/* Launch shape of a rows x lanes kernel: lanes along a row of `items`,
 * rows = THREADS / lanes per block, blocks over mc rows (grid-stride beyond
 * the cap cu_blocks applies). */
static void rows_lanes(const cu_impl *m, long long mc, long long items, dim3 *grid, dim3 *block) {
    const int bdx = y5r_lanes(items), bdy = THREADS / bdx;
    *block = dim3((unsigned)bdx, (unsigned)bdy, 1);
    *grid = dim3(cu_blocks(m, mc, bdy), 1, 1);
}

/* ---- im2col ---- */

template <int VEC>
__global__ void k_im2col(y5r_im2col a) {
    y5r_im2col_thread(&a, VEC, blockIdx.x, gridDim.x, threadIdx.x, threadIdx.y, blockDim.x, blockDim.y);
}

static int aligned16(const void *p) { return ((uintptr_t)p & 15u) == 0; }

cudaError_t cu_im2col(const cu_impl *m, const __half *in, int n, int h, int w, int cin, int ld_in, int k, int s,
                      int p, int ho, int wo, long long m0, long long mc, __half *col, int ldcol) {
    (void)n;
    if (mc <= 0) return cudaSuccess;
    y5r_im2col a;
    a.in = reinterpret_cast<const unsigned short *>(in);
    a.col = reinterpret_cast<unsigned short *>(col);
    a.h = h, a.w = w, a.cin = cin, a.ld_in = ld_in;
    a.k = k, a.s = s, a.p = p, a.ho = ho, a.wo = wo;
    a.K = k * k * cin, a.ldcol = ldcol;
    a.m0 = m0, a.mc = mc;
    dim3 grid, block;
    if (cin % 8 == 0 && ld_in % 8 == 0 && ldcol % 8 == 0 && aligned16(in) && aligned16(col)) {
        rows_lanes(m, mc, a.K / 8, &grid, &block);
        k_im2col<8><<<grid, block, 0, m->stream>>>(a);
    } else {
        rows_lanes(m, mc, a.K, &grid, &block);
        k_im2col<1><<<grid, block, 0, m->stream>>>(a);
    }
    return cudaGetLastError();
}

/* ---- channel padding (before a conv with cin % 8 != 0) ---- */

__global__ void k_pad_channels(const unsigned short *__restrict__ in, long long items, int cin, int ld_in,
                               unsigned short *__restrict__ out, int cpad) {
    for (long long g = (long long)blockIdx.x * blockDim.x + threadIdx.x; g < items;
         g += (long long)gridDim.x * blockDim.x)
        y5r_pad_item(in, cin, ld_in, out, cpad, g);
}

cudaError_t cu_pad_channels(const cu_impl *m, const __half *in, long long px, int cin, int ld_in, __half *out,
                            int cpad) {
    if (px <= 0) return cudaSuccess;
    if (cpad % 8 != 0 || cpad <= cin || !aligned16(out)) return cudaErrorInvalidValue;
    const long long items = px * (cpad / 8);
    k_pad_channels<<<cu_blocks(m, items, THREADS), THREADS, 0, m->stream>>>(
        reinterpret_cast<const unsigned short *>(in), items, cin, ld_in, reinterpret_cast<unsigned short *>(out),
        cpad);
    return cudaGetLastError();
}

/* ---- epilogue ---- */

/* The GEMM's result as the epilogue reads it: FP32 rows of a dense scratch
 * (ld = cout_pad), or half rows already in the output slice (ld = ld_out; the
 * epilogue then rewrites them in place, each thread reading exactly the
 * values it writes). */
__device__ __forceinline__ float acc_at(const float *a, long long off) { return a[off]; }
__device__ __forceinline__ float acc_at(const __half *a, long long off) { return __half2float(a[off]); }
__device__ __forceinline__ void acc8(const float *a, long long off, float *v) {
    const float4 a0 = *reinterpret_cast<const float4 *>(a + off), a1 = *reinterpret_cast<const float4 *>(a + off + 4);
    v[0] = a0.x, v[1] = a0.y, v[2] = a0.z, v[3] = a0.w, v[4] = a1.x, v[5] = a1.y, v[6] = a1.z, v[7] = a1.w;
}
__device__ __forceinline__ void acc8(const __half *a, long long off, float *v) {
    uint4 r = *reinterpret_cast<const uint4 *>(a + off);
    const __half2 *rh = reinterpret_cast<const __half2 *>(&r);
#pragma unroll
    for (int j = 0; j < 4; j++) {
        float2 f = __half22float2(rh[j]);
        v[2 * j] = f.x, v[2 * j + 1] = f.y;
    }
}

/* acc and out may be the same memory (the in-place form): no __restrict__ on either. */
template <typename A>
__global__ void k_epilogue(const A *acc, int ld_acc, long long mc, int cout, const float *__restrict__ bias, int act,
                           float slope, const __half *res, int ld_res, __half *out, int ld_out) {
    for (long long i = blockIdx.x * (long long)blockDim.y + threadIdx.y; i < mc;
         i += (long long)gridDim.x * blockDim.y) {
        for (int co = (int)threadIdx.x; co < cout; co += (int)blockDim.x) {
            float v = acc_at(acc, i * ld_acc + co) + bias[co];
            if (act == Y5_ACT_SILU) v = y5_act_dev(Y5_ACT_SILU, 0.0f, v);
            else if (act) v = y5_act_dev(act, slope, v);
            if (res) v += __half2float(res[i * ld_res + co]);
            out[i * ld_out + co] = __float2half_rn(v);
        }
    }
}

/* 8 channels per thread: cout, ld_acc, ld_out, ld_res multiples of 8, acc/out/res 16-byte aligned. */
template <typename A>
__global__ void k_epilogue8(const A *acc, int ld_acc, long long mc, int cout, const float *__restrict__ bias, int act,
                            float slope, const __half *res, int ld_res, __half *out, int ld_out) {
    const int cv = cout >> 3;
    for (long long i = blockIdx.x * (long long)blockDim.y + threadIdx.y; i < mc;
         i += (long long)gridDim.x * blockDim.y) {
        for (int g = (int)threadIdx.x; g < cv; g += (int)blockDim.x) {
            const int co = g << 3;
            float v[8];
            acc8(acc, i * ld_acc + co, v);
            const float4 b0 = *reinterpret_cast<const float4 *>(bias + co);
            const float4 b1 = *reinterpret_cast<const float4 *>(bias + co + 4);
            v[0] += b0.x, v[1] += b0.y, v[2] += b0.z, v[3] += b0.w;
            v[4] += b1.x, v[5] += b1.y, v[6] += b1.z, v[7] += b1.w;
            if (act == Y5_ACT_SILU) {
#pragma unroll
                for (int j = 0; j < 8; j++) v[j] = y5_act_dev(Y5_ACT_SILU, 0.0f, v[j]);
            } else if (act) {
#pragma unroll
                for (int j = 0; j < 8; j++) v[j] = y5_act_dev(act, slope, v[j]);
            }
            if (res) {
                float r[8];
                acc8(res, i * ld_res + co, r);
#pragma unroll
                for (int j = 0; j < 8; j++) v[j] += r[j];
            }
            uint4 o;
            __half2 *oh = reinterpret_cast<__half2 *>(&o);
#pragma unroll
            for (int j = 0; j < 4; j++) oh[j] = __floats2half2_rn(v[2 * j], v[2 * j + 1]);
            *reinterpret_cast<uint4 *>(out + i * ld_out + co) = o;
        }
    }
}

template <typename A>
static cudaError_t epilogue(const cu_impl *m, const A *acc, int ld_acc, long long mc, int cout, const float *bias,
                            int act, float slope, const __half *res, int ld_res, __half *out, int ld_out) {
    if (mc <= 0) return cudaSuccess;
    const int vec = cout % 8 == 0 && ld_acc % 8 == 0 && ld_out % 8 == 0 && aligned16(out) && aligned16(acc) &&
                    aligned16(bias) && (!res || (ld_res % 8 == 0 && aligned16(res)));
    dim3 grid, block;
    rows_lanes(m, mc, vec ? cout / 8 : cout, &grid, &block);
    if (vec)
        k_epilogue8<A><<<grid, block, 0, m->stream>>>(acc, ld_acc, mc, cout, bias, act, slope, res, ld_res, out, ld_out);
    else
        k_epilogue<A><<<grid, block, 0, m->stream>>>(acc, ld_acc, mc, cout, bias, act, slope, res, ld_res, out, ld_out);
    return cudaGetLastError();
}

cudaError_t cu_epilogue(const cu_impl *m, const float *acc, int ld_acc, long long mc, int cout, const float *bias,
                        int act, float slope, const __half *res, int ld_res, __half *out, int ld_out) {
    return epilogue(m, acc, ld_acc, mc, cout, bias, act, slope, res, ld_res, out, ld_out);
}

cudaError_t cu_epilogue_inplace(const cu_impl *m, long long mc, int cout, const float *bias, int act, float slope,
                                const __half *res, int ld_res, __half *out, int ld_out) {
    return epilogue(m, (const __half *)out, ld_out, mc, cout, bias, act, slope, res, ld_res, out, ld_out);
}
