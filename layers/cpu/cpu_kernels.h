/* cpu_kernels.h - internal: the CPU kernels of the non-conv ops, FP32 NHWC,
 * called by the CPU backend (layers/cpu/backend_cpu.c). One file each:
 * maxpool_cpu.c, upsample_cpu.c, copy_cpu.c, decode_cpu.c, with the AVX-512
 * row kernels in maxpool_avx512.c and decode_avx512.c (x86-64 builds) and
 * the NEON ones in maxpool_neon.c and decode_neon.c (aarch64 builds). The conv is
 * conv_cpu.h. ld_in / ld_out: channel strides, so an op can read or write a
 * channel slice of a wider buffer. */
#ifndef Y5_CPU_KERNELS_H
#define Y5_CPU_KERNELS_H

#include "core/base/threadpool.h"
#include "core/engine/backend.h"

/* k x k max pool, stride 1, window clipped to the image (= PyTorch's -inf
 * padding of k/2). */
void y5_maxpool_cpu(y5_pool *pool, const float *in, int n, int h, int w, int c, int ld_in,
                    float *out, int ld_out, int k);
/* Nearest-neighbour upsample by an integer factor. */
void y5_upsample_cpu(const float *in, int n, int h, int w, int c, int ld_in,
                     float *out, int ld_out, int scale);
/* Copies c channels per pixel (a Concat input that is not written in place). */
void y5_copy_cpu(const float *in, int n, int h, int w, int c, int ld_in, float *out, int ld_out);
/* Detect decode of n images: head l is hs[l] x ws[l] cells of lds[l]
 * floats; pred gets d->rows rows of d->no floats per image. */
void y5_decode_cpu(y5_pool *pool, const float *const *heads, const int *hs, const int *ws,
                   const int *lds, int n, const y5_detect_shape *d, float *pred);

/* ---- AVX-512 row kernels (only called when y5_gemm_isa() is AVX-512) ---- */
/* Detect decode of one grid row, all na anchors: w cells of the head
 * (cell stride ld, anchor a's no values at a * no), into pred rows of no
 * floats: anchor a's row x at dst + a * dst_astride + x * no (sigmoid, then
 * box with anchors[2a], anchors[2a+1]: see layers/detect.c). decode_avx512.c. */
void y5_decode_row_avx512(const float *src, long ld, float *dst, long dst_astride, int na, const float *anchors,
                          int w, int no, float y, float stride, float lazy_min);
/* Output row y of a k x k stride-1 clipped max pool of one NHWC image;
 * returns -1 (nothing written) when k is too large for it. maxpool_avx512.c. */
int y5_maxpool_row_avx512(const float *img, int h, int w, int c, int ld_in, float *out, int ld_out, int k, int y);

/* ---- AVX2 row kernel (when y5_gemm_isa() is AVX2): the same contract,
 * decode_avx2.c ---- */
void y5_decode_row_avx2(const float *src, long ld, float *dst, long dst_astride, int na, const float *anchors,
                        int w, int no, float y, float stride, float lazy_min);

/* ---- NEON row kernels (aarch64 builds; when y5_gemm_isa() is NEON): the
 * same contracts, decode_neon.c and maxpool_neon.c ---- */
void y5_decode_row_neon(const float *src, long ld, float *dst, long dst_astride, int na, const float *anchors,
                        int w, int no, float y, float stride, float lazy_min);
int y5_maxpool_row_neon(const float *img, int h, int w, int c, int ld_in, float *out, int ld_out, int k, int y);

#endif
