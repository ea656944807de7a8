/* maxpool_cpu.c - the CPU max pool (SPPF's pool: k x k, stride 1, pad k/2),
 * FP32 NHWC, one task per output row; the AVX-512 row kernel is in
 * layers/cpu/maxpool_avx512.c. */
#include <float.h>
#include "layers/cpu/cpu_kernels.h"
#include "layers/cpu/isa.h"

typedef struct {
    const float *in;
    float *out;
    int n, h, w, c, ld_in, ld_out, k;
    int isa;
} pool_job;

/* One task per output row: out(y, x, :) = max over the k x k window clipped
 * to the image (PyTorch pads with -inf, so clipping is the same). */
static void pool_row(void *ctx, int task, int worker) {
    (void)worker;
    const pool_job *j = ctx;
    int b = task / j->h, y = task % j->h, r = j->k / 2;
#if Y5_ARCH_X86 /* only the target architecture's kernels exist (isa.h) */
    if (j->isa == Y5_ISA_AVX512 &&
        y5_maxpool_row_avx512(j->in + (size_t)b * j->h * j->w * j->ld_in, j->h, j->w, j->c, j->ld_in,
                              j->out + (size_t)b * j->h * j->w * j->ld_out, j->ld_out, j->k, y) == 0)
        return;
#elif Y5_ARCH_ARM64
    if (j->isa == Y5_ISA_NEON &&
        y5_maxpool_row_neon(j->in + (size_t)b * j->h * j->w * j->ld_in, j->h, j->w, j->c, j->ld_in,
                            j->out + (size_t)b * j->h * j->w * j->ld_out, j->ld_out, j->k, y) == 0)
        return;
#endif
    int y0 = y - r < 0 ? 0 : y - r, y1 = y + r >= j->h ? j->h - 1 : y + r;
    for (int x = 0; x < j->w; x++) {
        int x0 = x - r < 0 ? 0 : x - r, x1 = x + r >= j->w ? j->w - 1 : x + r;
        float *o = j->out + (((size_t)b * j->h + y) * j->w + x) * j->ld_out;
        for (int ch = 0; ch < j->c; ch++) o[ch] = -FLT_MAX;
        for (int yy = y0; yy <= y1; yy++)
            for (int xx = x0; xx <= x1; xx++) {
                const float *p = j->in + (((size_t)b * j->h + yy) * j->w + xx) * j->ld_in;
                for (int ch = 0; ch < j->c; ch++) o[ch] = p[ch] > o[ch] ? p[ch] : o[ch];
            }
    }
}

void y5_maxpool_cpu(y5_pool *pool, const float *in, int n, int h, int w, int c, int ld_in,
                    float *out, int ld_out, int k) {
    pool_job j = {in, out, n, h, w, c, ld_in, ld_out, k, y5_gemm_isa()};
    y5_pool_run(pool, n * h, pool_row, &j);
}
