// conv_v2.cuh - lab version 2 (and 3): v1 with the loads off the critical
// path. S shared-memory stages filled by cp.async (16 bytes, zero-fill for
// padding: src-size 0 reads nothing), so the gather of k-tile kt+S-1 is in
// flight while the tensor cores work on k-tile kt; fragments come from
// ldmatrix.x4 (one instruction per 16x16 A fragment or pair of n8 B
// fragments, instead of 4 or 2 shared loads each). One __syncthreads per
// k-tile: at the top of iteration kt every thread has finished computing on
// the stage that iteration kt refills (it computed on it in iteration kt-1).
// v2 is S = 2 with the 128x128 tile; v3 picks among tile shapes per layer
// and runs S = 3 (launch side, conv_lab.cu).
#pragma once

#include "cuda/lab/conv_common.cuh"

template <int BM, int BN>
constexpr int y5l_v2_smem(int stages) {
    return stages * (BM + BN) * (32 + Y5L_PAD) * 2;
}

template <int BM, int BN, int WM, int WN, int S>
__global__ void __launch_bounds__(WM *WN * 32) y5l_conv_v2(const y5l_args a) {
    constexpr int BK = 32, LDS = BK + Y5L_PAD, NT = WM * WN * 32;
    constexpr int FM = BM / WM / 16, FN = BN / WN / 8;
    constexpr int AS = BM * (BK / 8) / NT, BS = BN * (BK / 8) / NT;
    static_assert(FM >= 1 && FN >= 2 && FN % 2 == 0 && AS >= 1 && BS >= 1, "tile too small for the block");
    static_assert(AS * NT == BM * (BK / 8) && BS * NT == BN * (BK / 8), "loader slots must divide evenly");
    static_assert(S >= 2, "at least double buffering");
    extern __shared__ uint4 y5l_smem[]; // S stages of A [BM][LDS], then S stages of W [BN][LDS]
    __half *As = reinterpret_cast<__half *>(y5l_smem);
    __half *Bs = As + S * BM * LDS;

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const long long bx = blockIdx.x;
    const int by = blockIdx.y;
    const int K = y5l_K(&a.c);
    const int nk = (K + BK - 1) / BK;
    const int wr0 = y5l_warp_row0(BM, WM, WN, warp), wc0 = y5l_warp_col0(BN, WN, warp);

    y5l_pix pix[AS];
#pragma unroll
    for (int j = 0; j < AS; j++) pix[j] = y5l_pixel(&a.c, bx * BM + y5l_slot_row(NT, BK, tid, j));

    auto load_tile = [&](int stage, int k0) {
        __half *as = As + stage * BM * LDS, *bs = Bs + stage * BN * LDS;
#pragma unroll
        for (int j = 0; j < AS; j++) {
            const int row = y5l_slot_row(NT, BK, tid, j), ch = y5l_slot_chunk(NT, BK, tid, j);
            const long long off = y5l_a_src(&a.c, pix[j], k0 + ch * 8);
            y5l_cp_async16(as + row * LDS + ch * 8, off >= 0 ? a.in + off : a.in, off >= 0 ? 16 : 0);
        }
#pragma unroll
        for (int j = 0; j < BS; j++) {
            const int row = y5l_slot_row(NT, BK, tid, j), ch = y5l_slot_chunk(NT, BK, tid, j);
            const long long off = y5l_b_src(&a.c, by * BN + row, k0 + ch * 8);
            y5l_cp_async16(bs + row * LDS + ch * 8, off >= 0 ? a.w + off : a.w, off >= 0 ? 16 : 0);
        }
    };

    float acc[FM][FN][4];
    y5l_acc_zero(acc);

#pragma unroll
    for (int s = 0; s < S - 1; s++) {
        if (s < nk) load_tile(s, s * BK);
        y5l_cp_commit(); // empty groups keep the wait count uniform
    }
    for (int kt = 0; kt < nk; kt++) {
        y5l_cp_wait<S - 2>(); // this thread's copies of k-tile kt have landed
        __syncthreads();      // everyone's have; and everyone is done with k-tile kt-1's stage
        const int nxt = kt + S - 1;
        if (nxt < nk) load_tile(nxt % S, nxt * BK);
        y5l_cp_commit();
        const __half *as = As + (kt % S) * BM * LDS, *bs = Bs + (kt % S) * BN * LDS;
#pragma unroll
        for (int ks = 0; ks < BK / 16; ks++) {
            unsigned af[FM][4], bf[FN][2];
#pragma unroll
            for (int mi = 0; mi < FM; mi++)
                y5l_ldsm_x4(af[mi], as + (wr0 + mi * 16 + y5l_ldm_a_row(lane)) * LDS + ks * 16 + y5l_ldm_a_col(lane));
#pragma unroll
            for (int nj = 0; nj < FN / 2; nj++) y5l_ldsm_b_pair(bf, nj, bs + (wc0 + nj * 16 + y5l_ldm_b_n(lane)) * LDS + ks * 16 + y5l_ldm_b_k(lane));
y5l_warp_mma(acc, af, bf);
        }
    }
    y5l_cp_wait<0>();
    y5l_epilogue<BM, BN, WM, WN, FM, FN>(a, acc, bx, by, warp, lane);
}
