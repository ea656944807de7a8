/* upsample_cpu.c - the CPU nearest-neighbour upsample, FP32 NHWC. */
#include <string.h>
#include "layers/cpu/cpu_kernels.h"

void y5_upsample_cpu(const float *in, int n, int h, int w, int c, int ld_in,
                     float *out, int ld_out, int s) {
    int ho = h * s, wo = w * s;
    for (int b = 0; b < n; b++)
        for (int y = 0; y < ho; y++) {
            const float *src = in + ((size_t)b * h + y / s) * w * ld_in;
            float *dst = out + ((size_t)b * ho + y) * wo * ld_out;
            for (int x = 0; x < wo; x++) memcpy(dst + (size_t)x * ld_out, src + (size_t)(x / s) * ld_in, (size_t)c * sizeof(float));
        }
}
