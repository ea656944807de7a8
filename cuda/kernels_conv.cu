/* kernels_conv.cu - the two kernels around a conv's cuBLAS GEMM.
 *
 * im2col: NHWC half input -> column matrix, one row of K = k*k*cin halves
 * per output pixel m = (n, oy, ox), in the order (ky, kx, ci) the packed
 * weights use; out-of-image taps are 0. Rows have stride ldcol (K rounded up
 * to 8, so every row starts 16-byte aligned); the tail is never read.
 *
 * epilogue: FP32 GEMM result (mc x cout, dense) + bias, activation
 * (act: y5_act_kind of core/base/act.h, slope for LeakyReLU), + residual
 * (after the activation, as YOLOv5's Bottleneck), rounded to half and written into
 * the output view's channel slice (row stride ld_out, usually the concat
 * width). Both have a scalar kernel and an 8-channel (16-byte) kernel used
 * when every pointer and stride allows it. */
#include "cuda/cuda_internal.h"

#include <stdint.h>

#define THREADS 256

/* ---- im2col ---- */

__global__ void k_im2col(const __half *__restrict__ in, int h, int w, int cin, int ld_in, int k, int s, int p,
                         int ho, int wo, long long m0, long long mc, int K, __half *__restrict__ col, int ldcol) {
    const long long total = mc * K;
    const long long hw = (long long)ho * wo;
    const __half zero = __float2half_rn(0.f);
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
         idx += (long long)gridDim.x * blockDim.x) {
        long long i = idx / K;
        int kk = (int)(idx - i * K);
        long long m = m0 + i;
        long long b = m / hw;
        int rem = (int)(m - b * hw);
        int oy = rem / wo, ox = rem - (rem / wo) * wo;
        int tap = kk / cin, ci = kk - tap * cin;
        int ky = tap / k, kx = tap - ky * k;
        int iy = oy * s - p + ky, ix = ox * s - p + kx;
        __half v = zero;
        if (iy >= 0 && iy < h && ix >= 0 && ix < w) v = in[((b * h + iy) * w + ix) * (long long)ld_in + ci];
        col[i * ldcol + kk] = v;
    }
}

/* 8 channels per thread: cin, ld_in, ldcol multiples of 8, pointers 16-byte aligned. */
__global__ void k_im2col8(const __half *__restrict__ in, int h, int w, int cin, int ld_in, int k, int s, int p,
                          int ho, int wo, long long m0, long long mc, int K, __half *__restrict__ col, int ldcol) {
    const int Kv = K >> 3;
    const long long total = mc * Kv;
    const long long hw = (long long)ho * wo;
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
         idx += (long long)gridDim.x * blockDim.x) {
        long long i = idx / Kv;
        int kk = (int)(idx - i * Kv) << 3;
        long long m = m0 + i;
        long long b = m / hw;
        int rem = (int)(m - b * hw);
        int oy = rem / wo, ox = rem - (rem / wo) * wo;
        int tap = kk / cin, ci = kk - tap * cin;
        int ky = tap / k, kx = tap - ky * k;
        int iy = oy * s - p + ky, ix = ox * s - p + kx;
        uint4 v = make_uint4(0u, 0u, 0u, 0u); /* eight +0.0 halves */
        if (iy >= 0 && iy < h && ix >= 0 && ix < w)
            v = *reinterpret_cast<const uint4 *>(in + ((b * h + iy) * w + ix) * (long long)ld_in + ci);
        *reinterpret_cast<uint4 *>(col + i * ldcol + kk) = v;
    }
}

static int aligned16(const void *p) { return ((uintptr_t)p & 15u) == 0; }

cudaError_t cu_im2col(const cu_impl *m, const __half *in, int n, int h, int w, int cin, int ld_in, int k, int s,
                      int p, int ho, int wo, long long m0, long long mc, __half *col, int ldcol) {
    (void)n;
    const int K = k * k * cin;
    if (mc <= 0) return cudaSuccess;
    if (cin % 8 == 0 && ld_in % 8 == 0 && ldcol % 8 == 0 && aligned16(in) && aligned16(col)) {
        k_im2col8<<<cu_blocks(m, mc * (K / 8), THREADS), THREADS, 0, m->stream>>>(in, h, w, cin, ld_in, k, s, p, ho,
                                                                                 wo, m0, mc, K, col, ldcol);
    } else {
        k_im2col<<<cu_blocks(m, mc * K, THREADS), THREADS, 0, m->stream>>>(in, h, w, cin, ld_in, k, s, p, ho, wo,
                                                                          m0, mc, K, col, ldcol);
    }
    return cudaGetLastError();
}

/* ---- epilogue ---- */

__device__ __forceinline__ float silu_f(float v) { return v / (1.0f + expf(-v)); }

/* The activations other than SiLU, as y5_act_ref (layers/cpu/gemm.c). */
__device__ __forceinline__ float act_f(int act, float slope, float v) {
    switch (act) {
    case Y5_ACT_SILU: return silu_f(v);
    case Y5_ACT_RELU: return v > 0.0f ? v : 0.0f;
    case Y5_ACT_LEAKY: return v > 0.0f ? v : v * slope;
    case Y5_ACT_HARDSWISH: return v * fminf(fmaxf(v + 3.0f, 0.0f), 6.0f) / 6.0f;
    default: return v;
    }
}

__global__ void k_epilogue(const float *__restrict__ acc, long long mc, int cout, const float *__restrict__ bias,
                           int act, float slope, const __half *res, int ld_res, __half *out, int ld_out) {
    const long long total = mc * cout;
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
         idx += (long long)gridDim.x * blockDim.x) {
        long long i = idx / cout;
        int co = (int)(idx - i * cout);
        float v = acc[idx] + bias[co];
        if (act == Y5_ACT_SILU) v = silu_f(v);
        else if (act) v = act_f(act, slope, v);
        if (res) v += __half2float(res[i * ld_res + co]);
        out[i * ld_out + co] = __float2half_rn(v);
    }
}

/* 8 channels per thread: cout, ld_out, ld_res multiples of 8, out/res 16-byte aligned. */
__global__ void k_epilogue8(const float *__restrict__ acc, long long mc, int cout, const float *__restrict__ bias,
                            int act, float slope, const __half *res, int ld_res, __half *out, int ld_out) {
    const int cv = cout >> 3;
    const long long total = mc * cv;
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
         idx += (long long)gridDim.x * blockDim.x) {
        long long i = idx / cv;
        int co = (int)(idx - i * cv) << 3;
        const float4 a0 = *reinterpret_cast<const float4 *>(acc + i * cout + co);
        const float4 a1 = *reinterpret_cast<const float4 *>(acc + i * cout + co + 4);
        const float4 b0 = *reinterpret_cast<const float4 *>(bias + co);
        const float4 b1 = *reinterpret_cast<const float4 *>(bias + co + 4);
        float v[8] = {a0.x + b0.x, a0.y + b0.y, a0.z + b0.z, a0.w + b0.w,
                      a1.x + b1.x, a1.y + b1.y, a1.z + b1.z, a1.w + b1.w};
        if (act == Y5_ACT_SILU) {
#pragma unroll
            for (int j = 0; j < 8; j++) v[j] = silu_f(v[j]);
        } else if (act) {
#pragma unroll
            for (int j = 0; j < 8; j++) v[j] = act_f(act, slope, v[j]);
        }
        if (res) {
            uint4 r = *reinterpret_cast<const uint4 *>(res + i * ld_res + co);
            const __half2 *rh = reinterpret_cast<const __half2 *>(&r);
#pragma unroll
            for (int j = 0; j < 4; j++) {
                float2 f = __half22float2(rh[j]);
                v[2 * j] += f.x;
                v[2 * j + 1] += f.y;
            }
        }
        uint4 o;
        __half2 *oh = reinterpret_cast<__half2 *>(&o);
#pragma unroll
        for (int j = 0; j < 4; j++) oh[j] = __floats2half2_rn(v[2 * j], v[2 * j + 1]);
        *reinterpret_cast<uint4 *>(out + i * ld_out + co) = o;
    }
}

cudaError_t cu_epilogue(const cu_impl *m, const float *acc, long long mc, int cout, const float *bias, int act,
                        float slope, const __half *res, int ld_res, __half *out, int ld_out) {
    if (mc <= 0) return cudaSuccess;
    int vec = cout % 8 == 0 && ld_out % 8 == 0 && aligned16(out) && aligned16(acc) && aligned16(bias) &&
              (!res || (ld_res % 8 == 0 && aligned16(res)));
    if (vec)
        k_epilogue8<<<cu_blocks(m, mc * (cout / 8), THREADS), THREADS, 0, m->stream>>>(acc, mc, cout, bias, act,
                                                                                      slope, res, ld_res, out, ld_out);
    else
        k_epilogue<<<cu_blocks(m, mc * cout, THREADS), THREADS, 0, m->stream>>>(acc, mc, cout, bias, act, slope,
                                                                               res, ld_res, out, ld_out);
    return cudaGetLastError();
}
