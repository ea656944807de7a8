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


cudaError_t cu_conv_wgmma_prepare(void) { return y5w_v5_prepare(); }

const char *cu_conv_wgmma_note(const cu_conv *c) {
    switch (y5w_v5_bn(c->cout, 0)) {
    case 64: return "wgmma 128x64";
    case 96: return "wgmma 128x96";
    case 192: return "wgmma 128x192";
    case 256: return "wgmma 128x256";
    default: return "wgmma 128x128";
    }
}

cudaError_t cu_conv_wgmma(const cu_impl *m, const cu_conv *c, const y5_view *in, const __half *in_ptr,
                          const y5_view *out, const y5_view *res, int act, float slope) {
    return y5w_v5_launch(cu_lab_args(m, c, in, in_ptr, out, res, act, slope), m->stream);
}
