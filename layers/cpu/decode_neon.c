/* decode_neon.c - the NEON Detect decode of one grid row (sigmoid + box,
 * see layers/detect.c), called from layers/cpu/decode_cpu.c when
 * y5_gemm_isa() is NEON: the arithmetic of the portable loop, 4 values per
 * vector. Built for aarch64 only (Makefile). */
#include <string.h>

#include "layers/cpu/cpu_kernels.h"
#include "layers/cpu/neon_math.h"

void y5_decode_row_neon(const float *src, long ld, float *dst, long dst_astride, int na, const float *anchors,
                        int w, int no, float y, float stride, float lazy_min) {
    for (int x = 0; x < w; x++, src += ld) {
        /* lanes 0, 1: the cell's offset (x - 0.5, y - 0.5) */
        const float offv[4] = {(float)x - 0.5f, y - 0.5f, 0.0f, 0.0f};
        const float32x4_t off = vld1q_f32(offv);
        for (int a = 0; a < na; a++) {
            const float *sa = src + (size_t)a * no;
            float *da = dst + (size_t)a * dst_astride + (size_t)x * no;
            const float ancv[4] = {0.0f, 0.0f, anchors[2 * a], anchors[2 * a + 1]};
            float32x4_t s = y5_sigmoid4(vld1q_f32(sa)); /* no >= 5: the box is a full vector */
            float32x4_t t = vaddq_f32(s, s);
            float32x4_t pos = vmulq_n_f32(vaddq_f32(t, off), stride); /* (2 s + x - 0.5) * stride */
            float32x4_t wh = vmulq_f32(vmulq_f32(t, t), vld1q_f32(ancv)); /* (2 s)^2 * anchor */
            vst1q_f32(da, vcombine_f32(vget_low_f32(pos), vget_high_f32(wh)));
            for (int c = 4; c < no; c += 4) {
                int n = no - c;
                float32x4_t v = y5_sigmoid4(n >= 4 ? vld1q_f32(sa + c) : y5_ld_part4(sa + c, n));
                if (c == 4 && lazy_min > 0) {
                    float obj = vgetq_lane_f32(v, 0);
                    if (!(obj > lazy_min)) { /* a row NMS drops: only the box and obj */
                        da[4] = obj;
                        memset(da + 5, 0, (size_t)(no - 5) * sizeof(float));
                        break;
                    }
                }
                if (n >= 4)
                    vst1q_f32(da + c, v);
                else
                    y5_st_part4(da + c, v, n);
            }
        }
    }
}
