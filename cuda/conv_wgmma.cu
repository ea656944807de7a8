/* conv_wgmma.cu - the conv lab's v5 kernel (cuda/lab/conv_v5.cuh: implicit
 * GEMM on Hopper's warpgroup MMA) as a conv path of the backend, under
 * Y5_CONV_IMPL=wgmma: every conv v5 supports (the preconditions are v3's,
 * cu_conv_mma_ok), cuBLAS for the rest. The code the lab checks and times,
 * nothing copied; its only scratch is split-K's FP32 partials, where the
 * grid is small (cu_conv_wgmma_ws_bytes, planned with the conv's scratch).
 *
 * This file alone is compiled for sm_90a and nothing else (the Makefile's
 * WGMMA_ARCH): wgmma exists only there, and with no other machine code in
 * this object a Hopper card cannot fall back to an empty sm_90 pass. On any
 * other card the launch of the probe fails (no kernel image) and
 * cu_conv_wgmma_prepare says so; the backend then keeps its convs on cuBLAS
 * with one warning. */
#include "cuda/conv_lab_args.h"
#include "cuda/cuda_internal.h"
#include "cuda/lab/conv_v5.cuh"

#include <stdint.h>


cudaError_t cu_conv_wgmma_prepare(void) { return y5w_v5_prepare(); }

/* The note (a static string, the profiler compares them): tile and splits. */
#define Y5W_NOTES(bm, bn)                                                                                                {"wgmma " #bm "x" #bn,           "wgmma " #bm "x" #bn " split 2", "wgmma " #bm "x" #bn " split 3",                     "wgmma " #bm "x" #bn " split 4", "wgmma " #bm "x" #bn " split 5", "wgmma " #bm "x" #bn " split 6",                    "wgmma " #bm "x" #bn " split 7", "wgmma " #bm "x" #bn " split 8"}
static const char *const NOTES[2][Y5W_V5_NBNS][Y5W_MAX_SPLITS] = {
    {Y5W_NOTES(64, 64), Y5W_NOTES(64, 96), Y5W_NOTES(64, 128), Y5W_NOTES(64, 192), Y5W_NOTES(64, 256)},
    {Y5W_NOTES(128, 64), Y5W_NOTES(128, 96), Y5W_NOTES(128, 128), Y5W_NOTES(128, 192), Y5W_NOTES(128, 256)},
};

const char *cu_conv_wgmma_note(const cu_impl *m, const cu_conv *c, int n, int ho, int wo) {
    const y5l_conv t = cu_out_conv(c, n, ho, wo);
    const y5w_tile tile = y5w_v5_tile(&t, m->sm_count, 0, 0);
    const int splits = y5w_v5_splits(&t, tile, m->sm_count, 0);
    for (int i = 0; i < Y5W_V5_NBNS; i++)
        if (y5w_v5_bn_at(i) == tile.bn && splits >= 1 && splits <= Y5W_MAX_SPLITS)
            return NOTES[tile.bm == 64 ? 0 : 1][i][splits - 1];
    return "wgmma";
}

/* Split-K's workspace (0: this conv does not split), what the plan's
 * scratch reserves for it beside the padded input. */
size_t cu_conv_wgmma_ws_bytes(const cu_impl *m, const cu_conv *c, int n, int ho, int wo) {
    const y5l_conv t = cu_out_conv(c, n, ho, wo);
    const int splits = y5w_v5_splits(&t, y5w_v5_tile(&t, m->sm_count, 0, 0), m->sm_count, 0);
    if (splits < 2) return 0;
    return ((size_t)splits * (size_t)y5l_M(&t) * (size_t)c->cout * sizeof(float) + 255) & ~(size_t)255;
}

cudaError_t cu_conv_wgmma(const cu_impl *m, const cu_conv *c, const y5_view *in, const __half *in_ptr,
                          const y5_view *out, const y5_view *res, int act, float slope, void *ws, size_t ws_bytes,
                          int *splits) {
    y5l_args a = cu_lab_args(m, c, in, in_ptr, out, res, act, slope);
    /* the launch splits less (or not) where the workspace is short; the
     * plan's scratch has room for the rule's count (cu_conv_wgmma_ws_bytes) */
    a.ws = ws && ((uintptr_t)ws & 7u) == 0 ? (float *)ws : NULL;
    a.ws_floats = a.ws ? (long long)(ws_bytes / sizeof(float)) : 0;
    const y5w_tile t = y5w_v5_tile(&a.c, m->sm_count, 0, 0);
    const int s = y5w_v5_splits(&a.c, t, m->sm_count, 0);
    *splits = a.ws ? y5w_splits_fit(s, y5l_M(&a.c), a.c.cout, a.ws_floats) : 1;
    return y5w_v5_launch_tile(a, t, *splits, m->stream);
}
