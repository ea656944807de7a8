// conv_v1.cuh - lab version 1: a straightforward implicit-GEMM conv on tensor
// cores. One shared-memory buffer: every k-step the block loads its A tile
// (BM pixels x 32 of K, gathered straight from the NHWC input, zeros for
// padding) and W tile (BN channels x 32) with 16-byte global loads, syncs,
// each warp reads its mma fragments with 32-bit shared loads (the PTX
// fragment layout, conv_tile.h) and issues mma.sync m16n8k16, syncs again.
// No overlap of loads and math: the baseline the later versions beat.
#pragma once

#include "cuda/lab/conv_common.cuh"

template <int BM, int BN, int WM, int WN>
__global__ void __launch_bounds__(WM *WN * 32) y5l_conv_v1(const y5l_args a) {
    constexpr int BK = 32, LDS = BK + Y5L_PAD, NT = WM * WN * 32;
    constexpr int FM = BM / WM / 16, FN = BN / WN / 8;
    constexpr int AS = BM * (BK / 8) / NT, BS = BN * (BK / 8) / NT;
    static_assert(FM >= 1 && FN >= 1 && AS >= 1 && BS >= 1, "tile too small for the block");
    static_assert(AS * NT == BM * (BK / 8) && BS * NT == BN * (BK / 8), "loader slots must divide evenly");
    __shared__ __align__(16) __half As[BM * LDS];
    __shared__ __align__(16) __half Bs[BN * LDS];

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const long long bx = blockIdx.x;
    const int by = blockIdx.y;
    const int K = y5l_K(&a.c);
    const int wr0 = y5l_warp_row0(BM, WM, WN, warp), wc0 = y5l_warp_col0(BN, WN, warp);

    y5l_pix pix[AS];
#pragma unroll
    for (int j = 0; j < AS; j++) pix[j] = y5l_pixel(&a.c, bx * BM + y5l_slot_row(NT, BK, tid, j));

    float acc[FM][FN][4];
    y5l_acc_zero(acc);

    const uint4 zero = make_uint4(0u, 0u, 0u, 0u);
    for (int k0 = 0; k0 < K; k0 += BK) {
#pragma unroll
        for (int j = 0; j < AS; j++) {
            const int row = y5l_slot_row(NT, BK, tid, j), ch = y5l_slot_chunk(NT, BK, tid, j);
            const long long off = y5l_a_src(&a.c, pix[j], k0 + ch * 8);
            const uint4 v = off >= 0 ? __ldg(reinterpret_cast<const uint4 *>(a.in + off)) : zero;
            *reinterpret_cast<uint4 *>(&As[row * LDS + ch * 8]) = v;
        }
#pragma unroll
        for (int j = 0; j < BS; j++) {
            const int row = y5l_slot_row(NT, BK, tid, j), ch = y5l_slot_chunk(NT, BK, tid, j);
            const long long off = y5l_b_src(&a.c, by * BN + row, k0 + ch * 8);
            const uint4 v = off >= 0 ? __ldg(reinterpret_cast<const uint4 *>(a.w + off)) : zero;
            *reinterpret_cast<uint4 *>(&Bs[row * LDS + ch * 8]) = v;
        }
        __syncthreads();
#pragma unroll
        for (int ks = 0; ks < BK / 16; ks++) {
            unsigned af[FM][4], bf[FN][2];
#pragma unroll
            for (int mi = 0; mi < FM; mi++)
#pragma unroll
                for (int r = 0; r < 4; r++) {
                    const int row = wr0 + mi * 16 + y5l_a_row(lane, 2 * r), col = ks * 16 + y5l_a_col(lane, 2 * r);
                    af[mi][r] = *reinterpret_cast<const unsigned *>(&As[row * LDS + col]);
                }
#pragma unroll
            for (int ni = 0; ni < FN; ni++)
#pragma unroll
                for (int r = 0; r < 2; r++) {
                    const int n = wc0 + ni * 8 + y5l_b_n(lane, 2 * r), k = ks * 16 + y5l_b_k(lane, 2 * r);
                    bf[ni][r] = *reinterpret_cast<const unsigned *>(&Bs[n * LDS + k]);
                }
y5l_warp_mma(acc, af, bf);
        }
        __syncthreads();
    }
    y5l_epilogue<BM, BN, WM, WN, FM, FN>(a, acc, bx, by, warp, lane);
}
