// conv_v4.cuh - lab version 4, the kernel: v3's pipeline with a deeper
// k-tile and less work around the tensor cores.
//   - BK = 64 per k-tile (4 ldmatrix/mma k-steps between two barriers, half
//     as many barriers and pipeline turns per FLOP as BK = 32), S stages (4).
//   - Shared-memory rows of exactly 128 bytes, 16-byte chunks XOR-swizzled
//     by row (conv_tile.h, y5l_swz): conflict-free ldmatrix and cp.async
//     without v3's row padding.
//   - Loader state once per block: each A slot's pixel decomposed into an
//     offset and (iy0, ix0) (W rows need no state: co*K + kk); one (ky, kx, ci)
//     position per thread (all its slots share the chunk) advanced by 64 per
//     k-tile with no division (y5l_kpos_next).
//   - Epilogue through shared memory: FP32 accumulators into the (then idle)
//     pipeline memory, then per thread 8-channel chunks of a pixel: two
//     float4 reads, bias, activation, 16-byte residual load, one 16-byte
//     store (y5l_v4_vec8; else one or two halves at a time).
// Index arithmetic: conv_tile.h only, run on the CPU by
// tests/unit/test_conv_tile.c (conv_tile_v4_*). Launch side: conv_v4_launch.cuh.
#pragma once

#include "cuda/lab/conv_common.cuh"

// One 8-channel chunk of the epilogue, element by element: bias, activation,
// residual, stored as half2 where a.pairs allows (co is even: chunks start at
// multiples of 8 of the slice), else one half at a time.
__device__ __forceinline__ void y5l_v4_store_tail(const y5l_args &a, const float (&v)[8], long long m, int co) {
    const int n = min(8, a.c.cout - co);
    __half *o = a.out + m * a.c.ld_out + co;
    const __half *r = a.res ? a.res + m * a.c.ld_res + co : nullptr;
#pragma unroll
    for (int e = 0; e < 8; e += 2) {
        if (e >= n) break;
        const bool two = e + 1 < n;
        float v0 = y5_act_dev(a.act, a.slope, v[e] + a.bias[co + e]);
        float v1 = two ? y5_act_dev(a.act, a.slope, v[e + 1] + a.bias[co + e + 1]) : 0.0f;
        if (r) {
            v0 += __half2float(r[e]);
            if (two) v1 += __half2float(r[e + 1]);
        }
        if (two && a.pairs) {
            *reinterpret_cast<__half2 *>(o + e) = __floats2half2_rn(v0, v1);
        } else {
            o[e] = __float2half_rn(v0);
            if (two) o[e + 1] = __float2half_rn(v1);
        }
    }
}

// The same with 16-byte accesses: the chunk lies inside the slice and
// y5l_v4_vec8 holds (bias, residual and output 16-byte aligned).
__device__ __forceinline__ void y5l_v4_store8(const y5l_args &a, const float (&v)[8], long long m, int co) {
    const float4 b0 = *reinterpret_cast<const float4 *>(a.bias + co);
    const float4 b1 = *reinterpret_cast<const float4 *>(a.bias + co + 4);
    const float b[8] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
    float r[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    if (a.res) {
        // a plain load, not ld.global.nc: the residual may be the output's own view
        const uint4 rv = *reinterpret_cast<const uint4 *>(a.res + m * a.c.ld_res + co);
        const unsigned rw[4] = {rv.x, rv.y, rv.z, rv.w};
#pragma unroll
        for (int q = 0; q < 4; q++) { // little-endian: channel 2q in the low half of word q
            r[2 * q] = __half2float(__ushort_as_half((unsigned short)(rw[q] & 0xFFFFu)));
            r[2 * q + 1] = __half2float(__ushort_as_half((unsigned short)(rw[q] >> 16)));
        }
    }
    unsigned ow[4];
#pragma unroll
    for (int q = 0; q < 4; q++) {
        const float v0 = y5_act_dev(a.act, a.slope, v[2 * q] + b[2 * q]) + r[2 * q];
        const float v1 = y5_act_dev(a.act, a.slope, v[2 * q + 1] + b[2 * q + 1]) + r[2 * q + 1];
        ow[q] = (unsigned)__half_as_ushort(__float2half_rn(v0)) | (unsigned)__half_as_ushort(__float2half_rn(v1)) << 16;
    }
    *reinterpret_cast<uint4 *>(a.out + m * a.c.ld_out + co) = make_uint4(ow[0], ow[1], ow[2], ow[3]);
}

template <int BM, int BN, int WM, int WN, int S, int MINB>
__global__ void __launch_bounds__(WM *WN * 32, MINB) y5l_conv_v4(const y5l_args a) {
    constexpr int BK = Y5L_V4_BK, NT = WM * WN * 32, CH = BK / 8;
    constexpr int FM = BM / WM / 16, FN = BN / WN / 8;
    constexpr int AS = BM * CH / NT, BS = BN * CH / NT;
    constexpr int LDC = BN + Y5L_V4_CPAD, ES = BM * (BN / 8) / NT; // staging row; epilogue chunks per thread
    static_assert(FM >= 1 && FN >= 2 && FN % 2 == 0 && AS >= 1 && BS >= 1 && ES >= 1, "tile too small for the block");
    static_assert(AS * NT == BM * CH && BS * NT == BN * CH && ES * NT == BM * (BN / 8),
                  "loader and epilogue chunks must divide evenly");
    static_assert(NT % CH == 0 && NT % (BN / 8) == 0, "a thread keeps one k chunk and one epilogue column");
    static_assert((BM / WM) % 16 == 0 && BN % 64 == 0, "fragments start at rows that are multiples of 8");
    static_assert(S >= 2, "at least double buffering");
    extern __shared__ uint4 y5l_smem[]; // S stages of A [BM][64], then S stages of W [BN][64]; later the FP32 staging
    __half *As = reinterpret_cast<__half *>(y5l_smem);
    __half *Bs = As + S * BM * BK;

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const long long bx = blockIdx.x;
    const int by = blockIdx.y;
    const int K = y5l_K(&a.c);
    const int nk = (K + BK - 1) / BK;
    const int wr0 = y5l_warp_row0(BM, WM, WN, warp), wc0 = y5l_warp_col0(BN, WN, warp);

    // loader state, once per block (the only divisions)
    const int ch = y5l_slot_chunk(NT, BK, tid, 0); // the same for every slot of this thread
    y5l_apix pix[AS];
#pragma unroll
    for (int j = 0; j < AS; j++) pix[j] = y5l_apix_of(&a.c, bx * BM + y5l_slot_row(NT, BK, tid, j));
    const y5l_kstep kstep = y5l_kstep_of(&a.c, BK);
    y5l_kpos kp = y5l_kpos_at(&a.c, ch * 8);

    // the next k-tile (tiles are loaded strictly in order) into `stage`
    auto load_tile = [&](int stage) {
        __half *as = As + stage * BM * BK, *bs = Bs + stage * BN * BK;
#pragma unroll
        for (int j = 0; j < AS; j++) {
            const long long off = y5l_a_src_v4(&a.c, pix[j], &kp);
            y5l_cp_async16(as + y5l_swz(y5l_slot_row(NT, BK, tid, j), ch), off >= 0 ? a.in + off : a.in,
                           off >= 0 ? 16 : 0);
        }
#pragma unroll
        for (int j = 0; j < BS; j++) {
            const long long off = y5l_b_src(&a.c, by * BN + y5l_slot_row(NT, BK, tid, j), kp.kk); // a multiply, no state
            y5l_cp_async16(bs + y5l_swz(y5l_slot_row(NT, BK, tid, j), ch), off >= 0 ? a.w + off : a.w,
                           off >= 0 ? 16 : 0);
        }
        y5l_kpos_next(&a.c, kstep, &kp);
    };

    float acc[FM][FN][4];
    y5l_acc_zero(acc);

#pragma unroll
    for (int s = 0; s < S - 1; s++) {
        if (s < nk) load_tile(s);
        y5l_cp_commit(); // empty groups keep the wait count uniform
    }
    for (int kt = 0; kt < nk; kt++) {
        y5l_cp_wait<S - 2>(); // this thread's copies of k-tile kt have landed
        __syncthreads();      // everyone's have; and everyone is done with k-tile kt-1's stage
        if (kt + S - 1 < nk) load_tile((kt + S - 1) % S);
        y5l_cp_commit();
        const __half *as = As + (kt % S) * BM * BK, *bs = Bs + (kt % S) * BN * BK;
#pragma unroll
        for (int ks = 0; ks < BK / 16; ks++) {
            unsigned af[FM][4], bf[FN][2];
#pragma unroll
            for (int mi = 0; mi < FM; mi++) y5l_ldsm_x4(af[mi], as + y5l_v4_ldm_a(wr0 + mi * 16, ks, lane));
#pragma unroll
            for (int nj = 0; nj < FN / 2; nj++) y5l_ldsm_b_pair(bf, nj, bs + y5l_v4_ldm_b(wc0 + nj * 16, ks, lane));
y5l_warp_mma(acc, af, bf);
        }
    }

    // epilogue: no copy in flight (the last groups are empty), every warp past
    // its last ldmatrix, then the pipeline's memory is the FP32 staging tile
    y5l_cp_wait<0>();
    __syncthreads();
    float *Cs = reinterpret_cast<float *>(y5l_smem);
#pragma unroll
    for (int mi = 0; mi < FM; mi++)
#pragma unroll
        for (int ni = 0; ni < FN; ni++)
#pragma unroll
            for (int h = 0; h < 2; h++) {
                const int row = y5l_acc_row(BM, WM, WN, warp, mi, lane, 2 * h);
                const int col = y5l_acc_col(BN, WN, warp, ni, lane, 2 * h);
                *reinterpret_cast<float2 *>(&Cs[row * LDC + col]) = make_float2(acc[mi][ni][2 * h], acc[mi][ni][2 * h + 1]);
            }
    __syncthreads();

    const long long M = y5l_M(&a.c);
    const bool vec = y5l_v4_vec8(&a.c, (unsigned long long)a.out, (unsigned long long)a.res,
                                 (unsigned long long)a.bias);
    const int c8 = y5l_epi_c8(NT, BN, tid, 0); // the same for every chunk of this thread
    const int co = by * BN + c8 * 8;
    const bool hi_first = y5l_epi_quad(c8, 0) != 0;
#pragma unroll 2
    for (int j = 0; j < ES; j++) {
        const int row = y5l_epi_row(NT, BN, tid, j);
        const long long m = bx * BM + row;
        if (m >= M || co >= a.c.cout) continue;
        const float4 f0 = *reinterpret_cast<const float4 *>(&Cs[row * LDC + c8 * 8 + y5l_epi_quad(c8, 0)]);
        const float4 f1 = *reinterpret_cast<const float4 *>(&Cs[row * LDC + c8 * 8 + y5l_epi_quad(c8, 1)]);
        const float4 lo = hi_first ? f1 : f0, hi = hi_first ? f0 : f1;
        const float v[8] = {lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w};
        if (vec && co + 8 <= a.c.cout) y5l_v4_store8(a, v, m, co);
        else y5l_v4_store_tail(a, v, m, co);
    }
}
