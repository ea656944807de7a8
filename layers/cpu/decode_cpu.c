/* decode_cpu.c - the CPU Detect decode: sigmoid of every head value and the
 * box arithmetic of layers/detect.c, FP32, into the rows of pred. The
 * AVX2 / AVX-512 row kernels are in layers/cpu/decode_avx2.c /
 * decode_avx512.c. */
#include <math.h>
#include <string.h>
#include "layers/cpu/cpu_kernels.h"
#include "layers/cpu/isa.h"

typedef struct {
    const float *const *heads;
    const int *hs, *ws, *lds;
    const y5_detect_shape *d;
    float *pred;
    int tasks_per_image;
    int isa;
} decode_job;

static inline float sigm(float v) { return 1.0f / (1.0f + expf(-v)); }

/* One task per (image, level, grid row): all anchors of each cell in turn,
 * so the head's rows are read once, front to back. */
static void decode_task(void *ctx, int task, int worker) {
    (void)worker;
    const decode_job *j = ctx;
    const y5_detect_shape *d = j->d;
    int b = task / j->tasks_per_image, t = task % j->tasks_per_image;
    int l = 0, row0 = 0;
    while (t >= j->hs[l]) { t -= j->hs[l]; row0 += d->na * j->hs[l] * j->ws[l]; l++; }
    int y = t;
    int h = j->hs[l], w = j->ws[l], ld = j->lds[l], no = d->no;
    float stride = d->strides[l];
    const float *src0 = j->heads[l] + ((size_t)b * h + y) * w * ld;
    float *dst0 = j->pred + ((size_t)b * d->rows + row0 + (size_t)y * w) * no;
    const size_t astride = (size_t)h * w * no; /* between anchors' rows in pred */
#if Y5_ARCH_X86 /* only the target architecture's kernels exist (isa.h) */
    if (j->isa == Y5_ISA_AVX512) {
        y5_decode_row_avx512(src0, ld, dst0, (long)astride, d->na, d->anchors[l], w, no, (float)y, stride,
                             d->lazy_obj_min);
        return;
    }
    if (j->isa == Y5_ISA_AVX2 && no >= 5) {
        y5_decode_row_avx2(src0, ld, dst0, (long)astride, d->na, d->anchors[l], w, no, (float)y, stride,
                           d->lazy_obj_min);
        return;
    }
#elif Y5_ARCH_ARM64
    if (j->isa == Y5_ISA_NEON && no >= 5) {
        y5_decode_row_neon(src0, ld, dst0, (long)astride, d->na, d->anchors[l], w, no, (float)y, stride,
                           d->lazy_obj_min);
        return;
    }
#endif
    for (int a = 0; a < d->na; a++) {
        float aw = d->anchors[l][2 * a], ah = d->anchors[l][2 * a + 1];
        const float *src = src0 + (size_t)a * no;
        float *dst = dst0 + (size_t)a * astride;
        for (int x = 0; x < w; x++, src += ld, dst += no) {
            float s0 = sigm(src[0]), s1 = sigm(src[1]), s2 = sigm(src[2]), s3 = sigm(src[3]), obj = sigm(src[4]);
            dst[0] = (s0 * 2.0f + ((float)x - 0.5f)) * stride;
            dst[1] = (s1 * 2.0f + ((float)y - 0.5f)) * stride;
            float w2 = s2 * 2.0f, h2 = s3 * 2.0f;
            dst[2] = w2 * w2 * aw;
            dst[3] = h2 * h2 * ah;
            dst[4] = obj;
            if (d->lazy_obj_min > 0 && !(obj > d->lazy_obj_min)) {
                memset(dst + 5, 0, (size_t)(no - 5) * sizeof(float));
                continue;
            }
            for (int k = 5; k < no; k++) dst[k] = sigm(src[k]);
        }
    }
}

void y5_decode_cpu(y5_pool *pool, const float *const *heads, const int *hs, const int *ws,
                   const int *lds, int n, const y5_detect_shape *d, float *pred) {
    decode_job j = {heads, hs, ws, lds, d, pred, 0, y5_gemm_isa()};
    for (int l = 0; l < d->nl; l++) j.tasks_per_image += hs[l];
    y5_pool_run(pool, n * j.tasks_per_image, decode_task, &j);
}
