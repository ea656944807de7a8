/* conv_lab_args.h - the lab kernels' argument block (cuda/lab/conv_common.cuh)
 * for a backend conv over arena views: shared by the two own-kernel conv
 * paths, conv_mma.cu (v3), conv_v4.cu (v4) and conv_wgmma.cu (v5), so all
 * read the same views the same way. */
#ifndef Y5_CUDA_CONV_LAB_ARGS_H
#define Y5_CUDA_CONV_LAB_ARGS_H

#include "cuda/cuda_internal.h"
#include "cuda/lab/conv_common.cuh"

/* in_ptr: the input's first element when it is a copy outside the arena
 * (the padded stem input), else NULL (m->arena + in->off). */
y5l_args cu_lab_args(const cu_impl *m, const cu_conv *c, const y5_view *in, const __half *in_ptr, const y5_view *out,
                     const y5_view *res, int act, float slope);

/* The shape the tile and split rules read (y5l_v3_tile, y5w_v5_tile,
 * y5w_v5_splits) for conv c with an n x ho x wo output: batch, output size,
 * cout, and K's parts (cin_pad, k); the input's size is not needed. */
y5l_conv cu_out_conv(const cu_conv *c, int n, int ho, int wo);

#endif
