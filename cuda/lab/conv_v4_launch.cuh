// conv_v4_launch.cuh - lab version 4, the launch side: one instantiation of
// the v4 kernel (conv_v4.cuh) per tile of conv_tile.h's Y5L_V4_TILES list,
// the tile per layer (y5l_v4_tile, conv_tile.h), the shared-memory
// attributes, the preconditions. In the backend as Y5_CONV_IMPL=v4 and as
// one of the paths Y5_CONV_IMPL=tune times and checks per conv
// (cuda/conv_v4.cu); no default takes it until a GPU run has it passing and
// ahead.
//
// Preconditions: those of v3 (conv_v3.cuh; y5l_v4_supported names the ones
// the arguments carry), y5l_v4_prepare called once per device before the
// first launch, and the tile's shared memory within the card's opt-in limit
// (y5l_v4_fits; y5l_v4_launch only picks tiles that fit: 128x128 needs
// 128 KiB (sm_80, sm_90), 256x128 192 KiB (sm_90); 64x64 and 128x64 fit
// sm_86/sm_89's 99 KiB too).
#pragma once

#include "cuda/lab/conv_v4.cuh"

static inline bool y5l_v4_supported(const y5l_args &a) {
    const unsigned long long in = (unsigned long long)a.in, w = (unsigned long long)a.w;
    return y5l_supported(&a.c) && (in & 15u) == 0 && (w & 15u) == 0 && a.bias && a.out &&
           y5l_grid_m(&a.c, 64) < (1LL << 31) && y5l_grid_n(&a.c, 64) < 65536 &&
           (!a.res || a.c.ld_res >= a.c.cout);
}

// The current device's opt-in shared memory per block (bytes); 0 on error.
static inline int y5l_v4_smem_optin() {
    int dev = 0, v = 0;
    if (cudaGetDevice(&dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&v, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) != cudaSuccess)
        return 0;
    return v;
}

static inline bool y5l_v4_fits(int tile, int smem_optin) {
    return tile >= 0 && tile < Y5L_V4_NTILES && y5l_v4_smem(y5l_v4_tile_cfg(tile)) <= smem_optin;
}

template <int BM, int BN, int WM, int WN, int S, int MINB>
static int y5l_v4_smem_t() {
    const y5l_v4_cfg t = {BM, BN, WM, WN, S, MINB};
    return y5l_v4_smem(t);
}

// Allows each tile that fits this device its dynamic shared memory (all of
// them exceed the default 48 KiB). Once per device, outside stream capture.
static inline cudaError_t y5l_v4_prepare() {
    const int optin = y5l_v4_smem_optin();
    cudaError_t e = cudaSuccess;
#define Y5L_V4_ATTR(id, BM, BN, WM, WN, S, MINB)                                                                    \
    if (e == cudaSuccess && y5l_v4_smem_t<BM, BN, WM, WN, S, MINB>() <= optin)                                     \
        e = cudaFuncSetAttribute(y5l_conv_v4<BM, BN, WM, WN, S, MINB>, cudaFuncAttributeMaxDynamicSharedMemorySize,  \
                                 y5l_v4_smem_t<BM, BN, WM, WN, S, MINB>());
    Y5L_V4_TILES(Y5L_V4_ATTR)
#undef Y5L_V4_ATTR
    return e;
}

// One launch of a given tile on st (no host sync, no allocation: capturable).
static inline cudaError_t y5l_v4_launch_tile(const y5l_args &a, int tile, cudaStream_t st) {
    switch (tile) {
#define Y5L_V4_LAUNCH(id, BM, BN, WM, WN, S, MINB)                                                                  \
    case id: {                                                                                                       \
        dim3 grid((unsigned)y5l_grid_m(&a.c, BM), (unsigned)y5l_grid_n(&a.c, BN));                                   \
        y5l_conv_v4<BM, BN, WM, WN, S, MINB><<<grid, WM * WN * 32, y5l_v4_smem_t<BM, BN, WM, WN, S, MINB>(), st>>>(a); \
        return cudaGetLastError();                                                                                   \
    }
        Y5L_V4_TILES(Y5L_V4_LAUNCH)
#undef Y5L_V4_LAUNCH
    default: return cudaErrorInvalidValue;
    }
}

// One launch with the tile of y5l_v4_tile for a card of `sms` SMs and
// `smem_optin` bytes of opt-in shared memory per block.
static inline cudaError_t y5l_v4_launch(const y5l_args &a, int sms, int smem_optin, cudaStream_t st) {
    return y5l_v4_launch_tile(a, y5l_v4_tile(&a.c, sms, smem_optin), st);
}
