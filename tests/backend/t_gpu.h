/* t_gpu.h - for the gpu_* tests: they skip, with one line naming why, on a
 * machine without a usable CUDA device. */
#ifndef T_GPU_H
#define T_GPU_H

#include "cuda/cuda_backend.h"
#include "tests/t.h"

#define NEED_GPU()                                                                                  \
    do {                                                                                            \
        if (y5_cuda_device_count() <= 0) T_SKIP("no CUDA device: %s", y5_cuda_no_device_reason()); \
    } while (0)

#endif
