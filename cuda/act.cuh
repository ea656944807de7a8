// act.cuh - the activations on the device: the one definition every CUDA
// epilogue uses (kernels_conv.cu's after cuBLAS, the lab kernels' fused ones
// in cuda/lab/), with the float expressions of the CPU's y5_act_ref
// (layers/cpu/gemm.h), so the paths agree. A call with a constant act
// compiles to that activation alone (the switch folds).
#pragma once

#include "core/base/act.h"

__device__ __forceinline__ float y5_act_dev(int act, float slope, float v) {
    switch (act) {
    case Y5_ACT_SILU: return v / (1.0f + expf(-v));
    case Y5_ACT_RELU: return v > 0.0f ? v : 0.0f;
    case Y5_ACT_LEAKY: return v > 0.0f ? v : v * slope;
    case Y5_ACT_HARDSWISH: return v * fminf(fmaxf(v + 3.0f, 0.0f), 6.0f) / 6.0f;
    default: return v;
    }
}
