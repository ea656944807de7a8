/* conv_lab_args.h - the lab kernels' argument block (cuda/lab/conv_common.cuh)
 * for a backend conv over arena views: shared by the two own-kernel conv
 * paths, conv_mma.cu (v3) and conv_wgmma.cu (v5), so both read the same
 * views the same way. */
#ifndef Y5_CUDA_CONV_LAB_ARGS_H
#define Y5_CUDA_CONV_LAB_ARGS_H

#include "cuda/cuda_internal.h"
#include "cuda/lab/conv_common.cuh"

/* in_ptr: the input's first element when it is a copy outside the arena
 * (the padded stem input), else NULL (m->arena + in->off). */
y5l_args cu_lab_args(const cu_impl *m, const cu_conv *c, const y5_view *in, const __half *in_ptr, const y5_view *out,
                     const y5_view *res, int act, float slope);

#endif
