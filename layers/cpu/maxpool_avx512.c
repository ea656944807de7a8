/* maxpool_avx512.c - the AVX-512 max pool of one output row, called from
 * layers/cpu/maxpool_cpu.c when y5_gemm_isa() is AVX-512. Compiled with
 * -mavx512f/vl/bw/dq only. */
#include <immintrin.h>

#include "layers/cpu/cpu_kernels.h"
#include "layers/cpu/avx512_math.h"

/* Output row y of a k x k stride-1 max pool (window clipped to the image):
 * column maxima over the rows first, then the max along x, 16 channels per
 * vector. img / out: the image's first pixel. Returns -1 when k is too big
 * for the on-stack buffer (the caller falls back). */
#define XC 64
#define RMAX 16
int y5_maxpool_row_avx512(const float *img, int h, int w, int c, int ld_in, float *out, int ld_out, int k, int y) {
    const int r = k / 2;
    if (r > RMAX) return -1;
    float cm[(XC + 2 * RMAX) * 16] __attribute__((aligned(64)));
    const int y0 = y - r < 0 ? 0 : y - r, y1 = y + r >= h ? h - 1 : y + r;
    for (int c0 = 0; c0 < c; c0 += 16) {
        const __mmask16 m = y5_mask16(c - c0);
        for (int xa = 0; xa < w; xa += XC) {
            int xb = xa + XC < w ? xa + XC : w;
            int lo = xa - r < 0 ? 0 : xa - r, hi = xb - 1 + r >= w ? w - 1 : xb - 1 + r;
            for (int xx = lo; xx <= hi; xx++) {
                const float *p = img + ((size_t)y0 * w + xx) * ld_in + c0;
                __m512 v = _mm512_maskz_loadu_ps(m, p);
                for (int yy = y0 + 1; yy <= y1; yy++) {
                    p += (size_t)w * ld_in;
                    v = _mm512_max_ps(v, _mm512_maskz_loadu_ps(m, p));
                }
                _mm512_store_ps(cm + (xx - lo) * 16, v);
            }
            for (int x = xa; x < xb; x++) {
                int x0 = x - r < lo ? lo : x - r, x1 = x + r > hi ? hi : x + r;
                __m512 v = _mm512_load_ps(cm + (x0 - lo) * 16);
                for (int xx = x0 + 1; xx <= x1; xx++) v = _mm512_max_ps(v, _mm512_load_ps(cm + (xx - lo) * 16));
                _mm512_mask_storeu_ps(out + ((size_t)y * w + x) * ld_out + c0, m, v);
            }
        }
    }
    return 0;
}
