/* maxpool_neon.c - the NEON max pool of one output row, called from
 * layers/cpu/maxpool_cpu.c when y5_gemm_isa() is NEON: the scheme of
 * maxpool_avx512.c (column maxima over the window's rows first, then the
 * max along x), 4 channels per vector. Built for aarch64 only (Makefile). */
#include "layers/cpu/cpu_kernels.h"
#include "layers/cpu/neon_math.h"

#define XC 64
#define RMAX 16
int y5_maxpool_row_neon(const float *img, int h, int w, int c, int ld_in, float *out, int ld_out, int k, int y) {
    const int r = k / 2;
    if (r > RMAX) return -1;
    float cm[(XC + 2 * RMAX) * 4] __attribute__((aligned(16)));
    const int y0 = y - r < 0 ? 0 : y - r, y1 = y + r >= h ? h - 1 : y + r;
    for (int c0 = 0; c0 < c; c0 += 4) {
        const int n = c - c0; /* < 4: the channel tail, partial loads and stores */
        for (int xa = 0; xa < w; xa += XC) {
            int xb = xa + XC < w ? xa + XC : w;
            int lo = xa - r < 0 ? 0 : xa - r, hi = xb - 1 + r >= w ? w - 1 : xb - 1 + r;
            for (int xx = lo; xx <= hi; xx++) {
                const float *p = img + ((size_t)y0 * w + xx) * ld_in + c0;
                float32x4_t v = n >= 4 ? vld1q_f32(p) : y5_ld_part4(p, n);
                for (int yy = y0 + 1; yy <= y1; yy++) {
                    p += (size_t)w * ld_in;
                    v = vmaxq_f32(v, n >= 4 ? vld1q_f32(p) : y5_ld_part4(p, n));
                }
                vst1q_f32(cm + (xx - lo) * 4, v);
            }
            for (int x = xa; x < xb; x++) {
                int x0 = x - r < lo ? lo : x - r, x1 = x + r > hi ? hi : x + r;
                float32x4_t v = vld1q_f32(cm + (x0 - lo) * 4);
                for (int xx = x0 + 1; xx <= x1; xx++) v = vmaxq_f32(v, vld1q_f32(cm + (xx - lo) * 4));
                float *o = out + ((size_t)y * w + x) * ld_out + c0;
                if (n >= 4)
                    vst1q_f32(o, v);
                else
                    y5_st_part4(o, v, n);
            }
        }
    }
    return 0;
}
