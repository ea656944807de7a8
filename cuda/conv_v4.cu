/* conv_v4.cu - the conv lab's v4 kernel (cuda/lab/conv_v4.cuh) as a conv
 * path of the backend: Y5_CONV_IMPL=v4 (every conv v3 could run; the
 * preconditions are v3's, cu_conv_mma_ok) and one of the paths
 * Y5_CONV_IMPL=tune times and checks per conv. v4 is v3's implicit GEMM on
 * mma.sync with 64-deep k-tiles in XOR-swizzled shared memory, the tap and
 * channel advanced per k-tile without a division, and the epilogue staged
 * through shared memory for 16-byte stores; the tile per layer is
 * conv_tile.h's y5l_v4_tile, among the tiles whose shared memory fits the
 * card. The code the lab checks and times (cuda/lab/conv_v4_launch.cuh),
 * nothing copied. It needs no scratch. */
#include "cuda/conv_lab_args.h"
#include "cuda/cuda_internal.h"
#include "cuda/lab/conv_v4_launch.cuh"

cudaError_t cu_conv_v4_prepare(int *smem_optin) {
    *smem_optin = y5l_v4_smem_optin();
    if (*smem_optin <= 0) return cudaErrorInvalidDevice;
    /* y5l_v4_tile falls back to 64x64 (64 KiB): a card without room for it
     * keeps its convs on cuBLAS (own_setup's warning) */
    if (!y5l_v4_fits(Y5L_V4_64x64, *smem_optin)) return cudaErrorInvalidConfiguration;
    return y5l_v4_prepare();
}

/* "v4 " and the tile (static strings: the profiler compares them). */
const char *cu_conv_v4_note(const cu_impl *m, const cu_conv *c, int n, int ho, int wo) {
    const y5l_conv t = cu_out_conv(c, n, ho, wo);
    switch (y5l_v4_tile(&t, m->sm_count, m->smem_optin)) {
    case Y5L_V4_256x128: return "v4 256x128";
    case Y5L_V4_128x128: return "v4 128x128";
    case Y5L_V4_128x64: return "v4 128x64";
    default: return "v4 64x64";
    }
}

cudaError_t cu_conv_v4(const cu_impl *m, const cu_conv *c, const y5_view *in, const __half *in_ptr, const y5_view *out,
                       const y5_view *res, int act, float slope) {
    const y5l_args a = cu_lab_args(m, c, in, in_ptr, out, res, act, slope);
    if (!y5l_v4_supported(a)) return cudaErrorInvalidValue; /* cu_conv_mma_ok said yes: v3's rules are v4's */
    return y5l_v4_launch(a, m->sm_count, m->smem_optin, m->stream);
}
