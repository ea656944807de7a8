/* conv_wgmma.cu - the conv lab's v5 kernel (cuda/lab/conv_v5.cuh: implicit
 * GEMM on Hopper's warpgroup MMA) as a conv path of the backend, under
 * Y5_CONV_IMPL=wgmma: every conv v5 supports (the preconditions are v3's,
 * cu_conv_mma_ok), cuBLAS for the rest. The code the lab checks and times,
 * nothing copied; like v3 it needs no scratch.
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

#include <string.h>


cudaError_t cu_conv_wgmma_prepare(void) { return y5w_v5_prepare(); }

const char *cu_conv_wgmma_note(const cu_impl *m, const cu_conv *c, int n, int ho, int wo) {
    static const char *const n128[] = {"wgmma 128x64", "wgmma 128x96", "wgmma 128x128", "wgmma 128x192",
                                       "wgmma 128x256"};
    static const char *const n64[] = {"wgmma 64x64", "wgmma 64x96", "wgmma 64x128", "wgmma 64x192", "wgmma 64x256"};
    y5l_conv t;
    memset(&t, 0, sizeof t);
    t.n = n;
    t.ho = ho;
    t.wo = wo;
    t.cout = c->cout;
    const y5w_tile tile = y5w_v5_tile(&t, m->sm_count, 0, 0);
    for (int i = 0; i < Y5W_V5_NBNS; i++)
        if (y5w_v5_bn_at(i) == tile.bn) return tile.bm == 64 ? n64[i] : n128[i];
    return "wgmma";
}

cudaError_t cu_conv_wgmma(const cu_impl *m, const cu_conv *c, const y5_view *in, const __half *in_ptr,
                          const y5_view *out, const y5_view *res, int act, float slope) {
    return y5w_v5_launch(cu_lab_args(m, c, in, in_ptr, out, res, act, slope), m->sm_count, m->stream);
}
