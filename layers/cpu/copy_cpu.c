/* copy_cpu.c - the CPU channel-slice copy (a Concat input that could not be
 * written in place), FP32 NHWC. */
#include <string.h>
#include "layers/cpu/cpu_kernels.h"

void y5_copy_cpu(const float *in, int n, int h, int w, int c, int ld_in, float *out, int ld_out) {
    size_t px = (size_t)n * h * w;
    for (size_t i = 0; i < px; i++) memcpy(out + i * ld_out, in + i * ld_in, (size_t)c * sizeof(float));
}
