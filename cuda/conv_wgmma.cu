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

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>


cudaError_t cu_conv_wgmma_prepare(void) { return y5w_v5_prepare(); }

/* v5's tile and split-K for a conv (the rules of wgmma_tile.h, on the card's SMs). */
typedef struct {
    y5w_tile tile;
    int splits;
} v5_plan;
static v5_plan plan_of(const cu_impl *m, const y5l_conv *t) {
    v5_plan p;
    p.tile = y5w_v5_tile(t, m->sm_count, 0, 0);
    p.splits = y5w_v5_splits(t, p.tile, m->sm_count, 0);
    return p;
}

/* The notes, static strings (the profiler compares them): "wgmma 64x64",
 * "wgmma 64x64 split 3", for every tile and count, written once. */
static char g_notes[2][Y5W_V5_NBNS][Y5W_MAX_SPLITS][32];
static pthread_once_t g_notes_once = PTHREAD_ONCE_INIT;
static void notes_init(void) {
    for (int r = 0; r < 2; r++)
        for (int i = 0; i < Y5W_V5_NBNS; i++)
            for (int s = 1; s <= Y5W_MAX_SPLITS; s++) {
                const y5w_tile t = {r ? 128 : 64, y5w_v5_bn_at(i)};
                char *n = g_notes[r][i][s - 1];
                if (s == 1) snprintf(n, sizeof g_notes[0][0][0], "wgmma %s", y5w_v5_tile_name(t));
                else snprintf(n, sizeof g_notes[0][0][0], "wgmma %s split %d", y5w_v5_tile_name(t), s);
            }
}

const char *cu_conv_wgmma_note(const cu_impl *m, const cu_conv *c, int n, int ho, int wo) {
    const y5l_conv t = cu_out_conv(c, n, ho, wo);
    const v5_plan p = plan_of(m, &t);
    pthread_once(&g_notes_once, notes_init);
    for (int i = 0; i < Y5W_V5_NBNS; i++)
        if (y5w_v5_bn_at(i) == p.tile.bn) return g_notes[p.tile.bm == 64 ? 0 : 1][i][p.splits - 1];
    return "wgmma";
}

/* Split-K's workspace (0: this conv does not split), what the plan's
 * scratch reserves for it beside the padded input. */
size_t cu_conv_wgmma_ws_bytes(const cu_impl *m, const cu_conv *c, int n, int ho, int wo) {
    const y5l_conv t = cu_out_conv(c, n, ho, wo);
    const int splits = plan_of(m, &t).splits;
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
    const v5_plan p = plan_of(m, &a.c);
    return y5w_v5_launch_tile(a, p.tile, p.splits, m->stream, splits);
}
