/* decode_avx2.c - the AVX2 Detect decode of one grid row (sigmoid + box,
 * see layers/detect.c), called from layers/cpu/decode_cpu.c when
 * y5_gemm_isa() is AVX2: the structure of decode_avx512.c, 8 lanes (the
 * box and obj values are lanes 0-4 of the first vector). Compiled with
 * -mavx2 -mfma only. */
#include <immintrin.h>
#include <string.h>

#include "layers/cpu/cpu_kernels.h"
#include "layers/cpu/avx2_math.h"

static inline __m256 ld8(const float *p, int rem) {
    return rem >= 8 ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, y5_mask8(rem));
}
static inline void st8(float *p, __m256 v, int rem) {
    if (rem >= 8)
        _mm256_storeu_ps(p, v);
    else
        _mm256_maskstore_ps(p, y5_mask8(rem), v);
}

void y5_decode_row_avx2(const float *src, long ld, float *dst, long dst_astride, int na, const float *anchors,
                        int w, int no, float y, float stride, float lazy_min) {
    const int n0 = no < 8 ? no : 8;
    const __m256 vstride = _mm256_set1_ps(stride);
    const float oy = y - 0.5f;
    for (int x = 0; x < w; x++, src += ld) {
        /* the next cell's head values: a strided stream */
        for (int c = 0; c < na * no; c += 16) __builtin_prefetch(src + 2 * ld + c, 0, 3);
        const __m256 off = _mm256_setr_ps((float)x - 0.5f, oy, 0, 0, 0, 0, 0, 0);
        for (int a = 0; a < na; a++) {
            const float *sa = src + (size_t)a * no;
            float *da = dst + (size_t)a * dst_astride + (size_t)x * no;
            const __m256 anc = _mm256_setr_ps(0, 0, anchors[2 * a], anchors[2 * a + 1], 0, 0, 0, 0);
            __m256 s = y5_sigmoid256(ld8(sa, n0));
            __m256 t = _mm256_add_ps(s, s);
            __m256 pos = _mm256_mul_ps(_mm256_add_ps(t, off), vstride);
            __m256 wh = _mm256_mul_ps(_mm256_mul_ps(t, t), anc);
            __m256 r = _mm256_blend_ps(_mm256_blend_ps(s, pos, 0x3), wh, 0xC);
            if (lazy_min > 0) {
                float obj = _mm_cvtss_f32(_mm_permute_ps(_mm256_extractf128_ps(s, 1), 0));
                if (!(obj > lazy_min)) {
                    st8(da, _mm256_blend_ps(_mm256_setzero_ps(), r, 0x1F), n0);
                    if (no > n0) memset(da + n0, 0, (size_t)(no - n0) * sizeof(float));
                    continue;
                }
            }
            st8(da, r, n0);
            for (int c = 8; c < no; c += 8) st8(da + c, y5_sigmoid256(ld8(sa + c, no - c)), no - c);
        }
    }
}
