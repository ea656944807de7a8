/* decode_avx512.c - the AVX-512 Detect decode of one grid row (sigmoid +
 * box, see layers/detect.c), called from layers/cpu/decode_cpu.c when
 * y5_gemm_isa() is AVX-512. Compiled with -mavx512f/vl/bw/dq only. */
#include <immintrin.h>
#include <string.h>

#include "layers/cpu/cpu_kernels.h"
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
