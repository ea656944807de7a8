/* conv_cpu.h - the CPU convolution: NHWC FP32, GEMM with a fused epilogue.
 *
 * A conv is out[m, co] = act(sum_k A[m, k] * W[k, co] + bias[co]) (+ res[m, co])
 * with m = (n, y, x) output pixels and k = (ky, kx, ci). 1x1 stride-1 convs
 * use the input rows directly as A (no im2col); others build A panels from the
 * NHWC input (im2col). Channel strides (ld*) let a conv read a channel slice
 * of a wider tensor and write into a channel slice of a concat buffer. */
#ifndef Y5_CONV_CPU_H
#define Y5_CONV_CPU_H

#include <stddef.h>
#include "core/base/threadpool.h"
#include "core/base/act.h"

typedef struct {
    int cin, cout, k, s, p;
    float *wpack;     /* weights packed for the GEMM micro-kernel (owned) */
    float *bias;      /* cout (owned) */
    size_t wpack_len;
    /* Per-layer algorithm choice (AVX2 stride-1 3x3 convs): pick = 1 chooses
     * among GEMM / Winograd F(2x2) / F(4x4) for each input shape by a cost
     * model, pick = 2 among F(2x2) / F(4x4) only; 0: wpack's format always.
     * The Winograd weights are packed from wraw (cout x cin x 3 x 3) the
     * first time a shape picks them (y5_conv_cpu_scratch at plan time, or
     * the first run). */
    int pick;
    float *wraw;
    float *wino[2];   /* F(2x2), F(4x4) packs (HDR + data), or NULL */
} y5_conv_cpu;

/* w_oihw: cout x cin x k x k (BN folded); bias: cout. Returns 0 or -1 (OOM). */
int y5_conv_cpu_init(y5_conv_cpu *c, const float *w_oihw, const float *bias,
                     int cout, int cin, int k, int s, int p);
void y5_conv_cpu_free(y5_conv_cpu *c);

static inline int y5_conv_out_dim(int in, int k, int s, int p) { return (in + 2 * p - k) / s + 1; }

/* Scratch bytes y5_conv_cpu_run needs for this input shape and pool size;
 * also packs the weights of the algorithm the shape picks (see pick), so
 * call it at plan time, from one thread. */
size_t y5_conv_cpu_scratch(const y5_conv_cpu *c, int n, int h, int w, int n_threads);

/* in: n x h x w x (ld_in >= cin), out: n x ho x wo x (ld_out >= cout),
 * res (may be NULL): same shape as out with ld_res. act (y5_act_kind,
 * core/base/act.h; slope for LeakyReLU): the activation after the bias,
 * applied before adding res (YOLOv5 Bottleneck: x + act(conv(...))). */
void y5_conv_cpu_run(y5_pool *pool, const y5_conv_cpu *c,
                     const float *in, int n, int h, int w, int ld_in,
                     float *out, int ld_out, const float *res, int ld_res,
                     int act, float slope, void *scratch);

/* Winograd for stride-1 3x3 convs packed from now on: 0 off, 2 F(2x2,3x3)
 * for all, 4 F(4x4,3x3) for all, 1 on with the tile size picked per layer,
 * -1 default (Y5_WINOGRAD=0/1/2/4 in the environment overrides it). The
 * default and 1 per ISA: AVX-512 F(4x4) for every layer; AVX2 a choice per
 * layer and input shape from a cost model (y5_conv_cpu_algo), the default
 * among GEMM / F(2x2) / F(4x4), 1 between F(2x2) and F(4x4); NEON and the
 * portable kernels: off by default, 1 = F(4x4). */
void y5_conv_set_winograd(int mode);

/* The algorithm y5_conv_cpu_run uses for this input shape on n_threads
 * threads: 0 GEMM (direct, implicit or im2col), 2 / 4 Winograd F(2x2) /
 * F(4x4). */
int y5_conv_cpu_algo(const y5_conv_cpu *c, int n, int h, int w, int n_threads);

#endif
