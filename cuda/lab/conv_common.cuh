// conv_common.cuh - what the lab's conv kernels share: the argument block,
// the PTX wrappers (mma.sync m16n8k16, ldmatrix, cp.async) and the fused
// epilogue. Index arithmetic lives in conv_tile.h (checked on the CPU by
// tests/unit/test_conv_tile.c); nothing here computes an index of its own
// beyond adding those results to pointers.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "core/base/act.h"
#include "cuda/act.cuh"
#include "cuda/lab/conv_tile.h"

struct y5l_args {
    y5l_conv c;
    const __half *in;   // input slice: pixel (n, y, x), channel ci at in[((n*h + y)*w + x)*ld_in + ci]
    const __half *w;    // cout x K, K contiguous (the order (ky, kx, ci))
    const float *bias;  // cout
    const __half *res;  // residual slice (ld_res), added after the activation; NULL: none
    __half *out;        // output slice (ld_out)
    int act;            // y5_act_kind (core/base/act.h): 0 none, 1 SiLU, 2 ReLU, 3 LeakyReLU, 4 Hardswish
    float slope;        // LeakyReLU's negative slope
    int pairs;          // half2 stores allowed: ld_out (and ld_res) even, out/res 4-byte aligned
    float *ws;          // v5's split-K workspace (8-byte aligned), ws_floats floats; NULL: no split
    long long ws_floats;
};

// D += A * B, m16n8k16, FP16 in, FP32 accumulate (sm_80+).
__device__ __forceinline__ void y5l_mma(float (&d)[4], const unsigned (&a)[4], unsigned b0, unsigned b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ unsigned y5l_smem_addr(const void *p) {
    return (unsigned)__cvta_generic_to_shared(p);
}

// Four 8x8 b16 matrices; lane L gives the address of row L % 8 of matrix L / 8.
__device__ __forceinline__ void y5l_ldsm_x4(unsigned (&r)[4], const __half *p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(y5l_smem_addr(p))
                 : "memory");
}

// The mma.sync kernels' (v1-v4) warp tile: FM x FN m16n8k16 accumulators,
// zeroed; one k16 step's products from the A fragments af and B fragments
// bf; and the ldmatrix.x4 that loads B fragments 2nj and 2nj+1 (the row
// addresses as y5l_ldm_b_n / _k give them, p this lane's).
template <int FM, int FN> __device__ __forceinline__ void y5l_acc_zero(float (&acc)[FM][FN][4]) {
#pragma unroll
    for (int mi = 0; mi < FM; mi++)
#pragma unroll
        for (int ni = 0; ni < FN; ni++)
#pragma unroll
            for (int i = 0; i < 4; i++) acc[mi][ni][i] = 0.0f;
}
template <int FM, int FN>
__device__ __forceinline__ void y5l_warp_mma(float (&acc)[FM][FN][4], const unsigned (&af)[FM][4],
                                             const unsigned (&bf)[FN][2]) {
#pragma unroll
    for (int mi = 0; mi < FM; mi++)
#pragma unroll
        for (int ni = 0; ni < FN; ni++) y5l_mma(acc[mi][ni], af[mi], bf[ni][0], bf[ni][1]);
}
template <int FN> __device__ __forceinline__ void y5l_ldsm_b_pair(unsigned (&bf)[FN][2], int nj, const __half *p) {
    unsigned r[4];
    y5l_ldsm_x4(r, p);
    bf[2 * nj][0] = r[0];
    bf[2 * nj][1] = r[1];
    bf[2 * nj + 1][0] = r[2];
    bf[2 * nj + 1][1] = r[3];
}

// 16 bytes global -> shared, bypassing L1; src_bytes 0 writes 16 zero bytes
// (padding taps, rows past M, channels past cout) without reading src.
__device__ __forceinline__ void y5l_cp_async16(__half *smem, const __half *gmem, int src_bytes) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(y5l_smem_addr(smem)), "l"(gmem),
                 "r"(src_bytes)
                 : "memory");
}
__device__ __forceinline__ void y5l_cp_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int N> __device__ __forceinline__ void y5l_cp_wait() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

// Channels co and co + 1 (two: co + 1 < cout) of output pixel m from their
// FP32 sums: + bias, activation, + residual, rounded to half and stored into
// the output slice, as one half2 where allowed. The epilogues of v1-v3 and
// v5 end here (v4 stores 8 channels at a time from shared memory).
__device__ __forceinline__ void y5l_store_pair(const y5l_args &a, long long m, int co, bool two, float s0,
                                               float s1) {
    float v0 = y5_act_dev(a.act, a.slope, s0 + a.bias[co]);
    float v1 = two ? y5_act_dev(a.act, a.slope, s1 + a.bias[co + 1]) : 0.0f;
    if (a.res) {
        const __half *r = a.res + m * a.c.ld_res + co;
        v0 += __half2float(r[0]);
        if (two) v1 += __half2float(r[1]);
    }
    __half *o = a.out + m * a.c.ld_out + co;
    if (two && a.pairs) {
        *reinterpret_cast<__half2 *>(o) = __floats2half2_rn(v0, v1);
    } else {
        o[0] = __float2half_rn(v0);
        if (two) o[1] = __float2half_rn(v1);
    }
}

// The fused epilogue: accumulators + bias, activation, + residual, rounded to
// half and stored into the output slice. Element (m, co) of acc[mi][ni][i]
// comes from conv_tile.h; i = 0,1 (and 2,3) are two adjacent channels of one
// pixel, stored as one half2 where allowed.
template <int BM, int BN, int WM, int WN, int FM, int FN>
__device__ __forceinline__ void y5l_epilogue(const y5l_args &a, float (&acc)[FM][FN][4], long long bx, int by,
                                             int warp, int lane) {
    const long long M = y5l_M(&a.c);
    const int cout = a.c.cout;
#pragma unroll
    for (int mi = 0; mi < FM; mi++) {
#pragma unroll
        for (int ni = 0; ni < FN; ni++) {
#pragma unroll
            for (int h = 0; h < 2; h++) {
                const int i = 2 * h;
                const long long m = y5l_out_m(BM, WM, WN, bx, warp, mi, lane, i);
                const int co = y5l_out_co(BN, WN, by, warp, ni, lane, i);
                if (m >= M || co >= cout) continue;
                y5l_store_pair(a, m, co, co + 1 < cout, acc[mi][ni][i], acc[mi][ni][i + 1]);
            }
        }
    }
}
