// conv_v3.cuh - lab version 3, the launch side: the v2 kernel template
// (conv_v2.cuh) with 3 stages and a tile shape per layer. The one place v3
// is defined: the lab (conv_lab.cu) measures it and the backend
// (cuda/conv_mma.cu, Y5_CONV_IMPL=mma|auto) runs it, so what the lab checked
// and timed is what the backend launches.
//
// Tiles: 128x128 (8 warps of 64x32); 128x64 (8 warps of 32x32) where 64
// columns waste fewer output channels than 128 (cout 48, 96, 192, 255...);
// 64x64 (4 warps of 32x32) when 128-row blocks would not give every SM two
// blocks (late layers at small batches).
//
// Preconditions (the caller checks them; y5l_v3_supported names the ones a
// y5l_conv and the pointers carry): y5l_supported(&a.c) (cin % 8 == 0,
// ld_in % 8 == 0, consistent output size), a.in and a.w 16-byte aligned, the
// weights packed as W[co * K + kk] with K = k*k*cin (a multiple of 8), the
// grid within CUDA's limits (y5l_grid_m < 2^31), a.pairs only when ld_out
// (and ld_res) are even and out/res 4-byte aligned, the output not
// overlapping the input (blocks write while others still gather), and
// y5l_v3_prepare called once per device before the first launch.
#pragma once

#include "cuda/lab/conv_v2.cuh"

enum { Y5L_V3_128x128 = 0, Y5L_V3_128x64 = 1, Y5L_V3_64x64 = 2 };

// The tile of a conv on a card with `sms` multiprocessors.
static inline int y5l_v3_tile(const y5l_conv *c, int sms) {
    const int w128 = (c->cout + 127) / 128 * 128 - c->cout, w64 = (c->cout + 63) / 64 * 64 - c->cout;
    if (y5l_grid_m(c, 128) * y5l_grid_n(c, w64 < w128 ? 64 : 128) < 2LL * sms) return Y5L_V3_64x64;
    return w64 < w128 ? Y5L_V3_128x64 : Y5L_V3_128x128;
}

static inline const char *y5l_v3_tile_name(int tile) {
    return tile == Y5L_V3_64x64 ? "64x64" : tile == Y5L_V3_128x64 ? "128x64" : "128x128";
}

// The shape and pointer preconditions v3 itself can see (not the overlap
// rule, which needs the caller's buffers).
static inline bool y5l_v3_supported(const y5l_args &a) {
    const unsigned long long in = (unsigned long long)a.in, w = (unsigned long long)a.w;
    return y5l_supported(&a.c) && (in & 15u) == 0 && (w & 15u) == 0 && a.bias && a.out &&
           y5l_grid_m(&a.c, 64) < (1LL << 31) && y5l_grid_n(&a.c, 64) < 65536 &&
           (!a.res || a.c.ld_res >= a.c.cout);
}

template <int BM, int BN, int WM, int WN, int S>
static cudaError_t y5l_v3_launch_t(const y5l_args &a, cudaStream_t st) {
    dim3 grid((unsigned)y5l_grid_m(&a.c, BM), (unsigned)y5l_grid_n(&a.c, BN));
    y5l_conv_v2<BM, BN, WM, WN, S><<<grid, WM * WN * 32, y5l_v2_smem<BM, BN>(S), st>>>(a);
    return cudaGetLastError();
}

template <int BM, int BN, int WM, int WN, int S>
static cudaError_t y5l_v3_attr() {
    return cudaFuncSetAttribute(y5l_conv_v2<BM, BN, WM, WN, S>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                y5l_v2_smem<BM, BN>(S));
}

// Allows each tile's dynamic shared memory (over 48 KiB for 128x128) on the
// current device. Once per device, outside any stream capture.
static inline cudaError_t y5l_v3_prepare() {
    cudaError_t e = y5l_v3_attr<128, 128, 2, 4, 3>();
    if (e == cudaSuccess) e = y5l_v3_attr<128, 64, 4, 2, 3>();
    if (e == cudaSuccess) e = y5l_v3_attr<64, 64, 2, 2, 3>();
    return e;
}

// One launch on st (no host sync, no allocation: capturable); returns the
// launch's cudaGetLastError().
static inline cudaError_t y5l_v3_launch(const y5l_args &a, int sms, cudaStream_t st) {
    switch (y5l_v3_tile(&a.c, sms)) {
    case Y5L_V3_64x64: return y5l_v3_launch_t<64, 64, 2, 2, 3>(a, st);
    case Y5L_V3_128x64: return y5l_v3_launch_t<128, 64, 4, 2, 3>(a, st);
    default: return y5l_v3_launch_t<128, 128, 2, 4, 3>(a, st);
    }
}
