/* act.h - the activation a conv's epilogue applies after its bias.
 *
 * One small enum shared by the weight file (weights/FORMAT.md stores it per
 * layer), the graph and backend ops, the CPU kernels' epilogues (GEMM,
 * Winograd, implicit GEMM) and the CUDA epilogue, so every place agrees on
 * the numbers. NONE = 0 and SILU = 1 on purpose: the former `int silu` flag
 * (0/1) keeps its meaning, and SiLU's code path stays the same code.
 *
 *   NONE       x
 *   SILU       x / (1 + exp(-x))            (YOLOv5 v4.0+ default)
 *   RELU       max(x, 0)
 *   LEAKY      x > 0 ? x : slope * x         (nn.LeakyReLU(slope); v1-v3 style: 0.1)
 *   HARDSWISH  x * min(max(x + 3, 0), 6) / 6 (nn.Hardswish, v3.x)
 *
 * The scalar reference is y5_act_ref (layers/cpu/gemm.h); plain C++ safe
 * (the CUDA files include it through core/engine/backend.h). */
#ifndef Y5_ACT_H
#define Y5_ACT_H

typedef enum {
    Y5_ACT_NONE = 0,
    Y5_ACT_SILU = 1,
    Y5_ACT_RELU = 2,
    Y5_ACT_LEAKY = 3,
    Y5_ACT_HARDSWISH = 4
} y5_act_kind;

#define Y5_ACT_COUNT 5

/* "none", "SiLU", "ReLU", "LeakyReLU", "Hardswish"; "?" for other values. */
static inline const char *y5_act_name(int kind) {
    switch (kind) {
    case Y5_ACT_NONE: return "none";
    case Y5_ACT_SILU: return "SiLU";
    case Y5_ACT_RELU: return "ReLU";
    case Y5_ACT_LEAKY: return "LeakyReLU";
    case Y5_ACT_HARDSWISH: return "Hardswish";
    default: return "?";
    }
}

#endif
