/* pointwise_avx512.c - AVX-512 versions of the small non-GEMM CPU kernels:
 * the Detect decode (sigmoid + box) and the SPPF max pool. Called from
 * layers/detect.c and layers/sppf.c when y5_gemm_isa() is AVX-512. */
#include <immintrin.h>
#include <string.h>

#include "layers/cpu/gemm.h"
#include "layers/cpu/avx512_math.h"

void y5_decode_row_avx512(const float *src, long ld, float *dst, long dst_astride, int na, const float *anchors,
                          int w, int no, float y, float stride, float lazy_min) {
    const __mmask16 m0 = y5_mask16(no);
    const int n0 = no < 16 ? no : 16;
    const __m512 vstride = _mm512_set1_ps(stride);
    const float oy = y - 0.5f;
    for (int x = 0; x < w; x++, src += ld) {
        /* the next cell's head values: a strided stream */
        for (int c = 0; c < na * no; c += 16) __builtin_prefetch(src + 2 * ld + c, 0, 3);
        const __m512 off = _mm512_setr_ps((float)x - 0.5f, oy, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
        for (int a = 0; a < na; a++) {
            const float *sa = src + (size_t)a * no;
            float *da = dst + (size_t)a * dst_astride + (size_t)x * no;
            const __m512 anc = _mm512_setr_ps(0, 0, anchors[2 * a], anchors[2 * a + 1], 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                              0, 0);
            __m512 s = y5_sigmoid512(_mm512_maskz_loadu_ps(m0, sa));
            __m512 t = _mm512_add_ps(s, s);
            __m512 pos = _mm512_mul_ps(_mm512_add_ps(t, off), vstride);
            __m512 wh = _mm512_mul_ps(_mm512_mul_ps(t, t), anc);
            __m512 r = _mm512_mask_mov_ps(_mm512_mask_mov_ps(s, 0x3, pos), 0xC, wh);
            if (lazy_min > 0) {
                float obj = _mm_cvtss_f32(_mm512_castps512_ps128(_mm512_permutexvar_ps(_mm512_set1_epi32(4), s)));
                if (!(obj > lazy_min)) {
                    _mm512_mask_storeu_ps(da, m0, _mm512_maskz_mov_ps(0x1F, r));
                    if (no > n0) memset(da + n0, 0, (size_t)(no - n0) * sizeof(float));
                    continue;
                }
            }
            _mm512_mask_storeu_ps(da, m0, r);
            for (int c = 16; c < no; c += 16) {
                __mmask16 m = y5_mask16(no - c);
                _mm512_mask_storeu_ps(da + c, m, y5_sigmoid512(_mm512_maskz_loadu_ps(m, sa + c)));
            }
        }
    }
}

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
