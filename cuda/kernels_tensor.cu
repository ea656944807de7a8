/* kernels_tensor.cu - the data-movement ops over NHWC half views: SPPF's
 * max pool, nearest upsample, channel-slice copy, and the conversions the
 * backend needs around them (FP32 input -> half view, half -> FP32 for
 * reads, fills). Each op has a scalar kernel and, when channel counts,
 * strides and pointers allow, one that moves 8 channels (16 bytes) per
 * thread. Semantics as layers/sppf.c, upsample.c, concat.c. */
#include "cuda/cuda_internal.h"
#include "cuda/lab/conv_tile.h"

#include <float.h>
#include <stdint.h>

#define THREADS 256

static int al16(const void *p) { return ((uintptr_t)p & 15u) == 0; }
static int vec8_ok(int c, int ld_in, int ld_out, const void *in, const void *out) {
    return c % 8 == 0 && ld_in % 8 == 0 && ld_out % 8 == 0 && al16(in) && al16(out);
}

#define GRID_LOOP(idx, total)                                                                   \
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < (total);      \
         idx += (long long)gridDim.x * blockDim.x)

/* ---- max pool: k x k, stride 1, padding k/2 (windows clipped, as -inf padding) ---- */

__global__ void k_maxpool(const __half *__restrict__ in, int n, int h, int w, int c, int ld_in,
                          __half *__restrict__ out, int ld_out, int r) {
    const long long total = (long long)n * h * w * c;
    GRID_LOOP(idx, total) {
        long long px = idx / c;
        int ch = (int)(idx - px * c);
        int x = (int)(px % w);
        long long t = px / w;
        int y = (int)(t % h);
        long long b = t / h;
        int y0 = y - r < 0 ? 0 : y - r, y1 = y + r >= h ? h - 1 : y + r;
        int x0 = x - r < 0 ? 0 : x - r, x1 = x + r >= w ? w - 1 : x + r;
        float best = -FLT_MAX;
        for (int yy = y0; yy <= y1; yy++) {
            const __half *row = in + ((b * h + yy) * w) * (long long)ld_in + ch;
            for (int xx = x0; xx <= x1; xx++) {
                float v = __half2float(row[(long long)xx * ld_in]);
                best = v > best ? v : best;
            }
        }
        out[px * ld_out + ch] = __float2half_rn(best);
    }
}

__global__ void k_maxpool8(const __half *__restrict__ in, int n, int h, int w, int c, int ld_in,
                           __half *__restrict__ out, int ld_out, int r) {
    const int cv = c >> 3;
    const long long total = (long long)n * h * w * cv;
    GRID_LOOP(idx, total) {
        long long px = idx / cv;
        int ch = (int)(idx - px * cv) << 3;
        int x = (int)(px % w);
        long long t = px / w;
        int y = (int)(t % h);
        long long b = t / h;
        int y0 = y - r < 0 ? 0 : y - r, y1 = y + r >= h ? h - 1 : y + r;
        int x0 = x - r < 0 ? 0 : x - r, x1 = x + r >= w ? w - 1 : x + r;
        float best[8];
#pragma unroll
        for (int j = 0; j < 8; j++) best[j] = -FLT_MAX;
        for (int yy = y0; yy <= y1; yy++) {
            const __half *row = in + ((b * h + yy) * w) * (long long)ld_in + ch;
            for (int xx = x0; xx <= x1; xx++) {
                uint4 u = *reinterpret_cast<const uint4 *>(row + (long long)xx * ld_in);
                const __half2 *hv = reinterpret_cast<const __half2 *>(&u);
#pragma unroll
                for (int j = 0; j < 4; j++) {
                    float2 f = __half22float2(hv[j]);
                    best[2 * j] = f.x > best[2 * j] ? f.x : best[2 * j];
                    best[2 * j + 1] = f.y > best[2 * j + 1] ? f.y : best[2 * j + 1];
                }
            }
        }
        uint4 o;
        __half2 *oh = reinterpret_cast<__half2 *>(&o);
#pragma unroll
        for (int j = 0; j < 4; j++) oh[j] = __floats2half2_rn(best[2 * j], best[2 * j + 1]);
        *reinterpret_cast<uint4 *>(out + px * ld_out + ch) = o;
    }
}

cudaError_t cu_maxpool(const cu_impl *m, const __half *in, int n, int h, int w, int c, int ld_in, __half *out,
                       int ld_out, int k) {
    long long total = (long long)n * h * w * c;
    if (total <= 0) return cudaSuccess;
    if (vec8_ok(c, ld_in, ld_out, in, out))
        k_maxpool8<<<cu_blocks(m, total / 8, THREADS), THREADS, 0, m->stream>>>(in, n, h, w, c, ld_in, out, ld_out,
                                                                               k / 2);
    else
        k_maxpool<<<cu_blocks(m, total, THREADS), THREADS, 0, m->stream>>>(in, n, h, w, c, ld_in, out, ld_out, k / 2);
    return cudaGetLastError();
}

/* ---- nearest upsample by an integer factor ---- */

template <typename T>
__global__ void k_upsample(const T *__restrict__ in, int n, int h, int w, int cu, int ld_in, T *__restrict__ out,
                           int ld_out, int s) {
    /* cu, ld_in, ld_out in units of T */
    const int ho = h * s, wo = w * s;
    const long long total = (long long)n * ho * wo * cu;
    GRID_LOOP(idx, total) {
        long long px = idx / cu;
        int ch = (int)(idx - px * cu);
        int x = (int)(px % wo);
        long long t = px / wo;
        int y = (int)(t % ho);
        long long b = t / ho;
        out[px * ld_out + ch] = in[((b * h + y / s) * w + x / s) * (long long)ld_in + ch];
    }
}

cudaError_t cu_upsample(const cu_impl *m, const __half *in, int n, int h, int w, int c, int ld_in, __half *out,
                        int ld_out, int scale) {
    long long total = (long long)n * h * scale * w * scale * c;
    if (total <= 0) return cudaSuccess;
    if (vec8_ok(c, ld_in, ld_out, in, out))
        k_upsample<uint4><<<cu_blocks(m, total / 8, THREADS), THREADS, 0, m->stream>>>(
            reinterpret_cast<const uint4 *>(in), n, h, w, c / 8, ld_in / 8, reinterpret_cast<uint4 *>(out),
            ld_out / 8, scale);
    else
        k_upsample<__half><<<cu_blocks(m, total, THREADS), THREADS, 0, m->stream>>>(in, n, h, w, c, ld_in, out,
                                                                                   ld_out, scale);
    return cudaGetLastError();
}

/* ---- channel-slice copy ---- */

template <typename T>
__global__ void k_copy(const T *__restrict__ in, long long px, int cu, int ld_in, T *__restrict__ out, int ld_out) {
    const long long total = px * cu;
    GRID_LOOP(idx, total) {
        long long p = idx / cu;
        int ch = (int)(idx - p * cu);
        out[p * ld_out + ch] = in[p * ld_in + ch];
    }
}

cudaError_t cu_copy(const cu_impl *m, const __half *in, long long px, int c, int ld_in, __half *out, int ld_out) {
    long long total = px * c;
    if (total <= 0) return cudaSuccess;
    if (vec8_ok(c, ld_in, ld_out, in, out))
        k_copy<uint4><<<cu_blocks(m, total / 8, THREADS), THREADS, 0, m->stream>>>(
            reinterpret_cast<const uint4 *>(in), px, c / 8, ld_in / 8, reinterpret_cast<uint4 *>(out), ld_out / 8);
    else
        k_copy<__half><<<cu_blocks(m, total, THREADS), THREADS, 0, m->stream>>>(in, px, c, ld_in, out, ld_out);
    return cudaGetLastError();
}

/* ---- conversions and fills ---- */

/* dense FP32 (px x c) -> half view (row stride ld_out), round to nearest even */
__global__ void k_f32_to_f16(const float *__restrict__ in, long long px, int c, __half *__restrict__ out, int ld_out) {
    const long long total = px * c;
    GRID_LOOP(idx, total) {
        long long p = idx / c;
        int ch = (int)(idx - p * c);
        out[p * ld_out + ch] = __float2half_rn(in[idx]);
    }
}

__global__ void k_f32_to_f16_dense(const float *__restrict__ in, long long count, __half *__restrict__ out) {
    GRID_LOOP(idx, count) out[idx] = __float2half_rn(in[idx]);
}

cudaError_t cu_f32_to_f16(const cu_impl *m, const float *in, long long px, int c, __half *out, int ld_out) {
    if (px * c <= 0) return cudaSuccess;
    if (ld_out == c) /* dense: no division by c per element */
        k_f32_to_f16_dense<<<cu_blocks(m, px * c, THREADS), THREADS, 0, m->stream>>>(in, px * c, out);
    else
        k_f32_to_f16<<<cu_blocks(m, px * c, THREADS), THREADS, 0, m->stream>>>(in, px, c, out, ld_out);
    return cudaGetLastError();
}

/* u8 (px x c) -> half view: the value of core/image/letterbox.c's
 * y5_u8_to_unit_f32 ((float)v / 255.0f, IEEE division) rounded to half, as
 * the FP32 upload path stores it; __fdiv_rn keeps the division exact under
 * --use_fast_math too. */
__global__ void k_u8_to_f16(const unsigned char *__restrict__ in, long long px, int c, __half *__restrict__ out,
                            int ld_out) {
    const long long total = px * c;
    GRID_LOOP(idx, total) {
        long long p = idx / c;
        int ch = (int)(idx - p * c);
        out[p * ld_out + ch] = __float2half_rn(__fdiv_rn((float)in[idx], 255.0f));
    }
}

/* The same into a dense view (ld_out == c, the network input): element for
 * element, no division by c per element. */
__global__ void k_u8_to_f16_dense(const unsigned char *__restrict__ in, long long count, __half *__restrict__ out) {
    GRID_LOOP(idx, count) out[idx] = __float2half_rn(__fdiv_rn((float)in[idx], 255.0f));
}

cudaError_t cu_u8_to_f16(const cu_impl *m, const unsigned char *in, long long px, int c, __half *out, int ld_out) {
    if (px * c <= 0) return cudaSuccess;
    if (ld_out == c)
        k_u8_to_f16_dense<<<cu_blocks(m, px * c, THREADS), THREADS, 0, m->stream>>>(in, px * c, out);
    else
        k_u8_to_f16<<<cu_blocks(m, px * c, THREADS), THREADS, 0, m->stream>>>(in, px, c, out, ld_out);
    return cudaGetLastError();
}

__global__ void k_f16_to_f32(const __half *__restrict__ in, long long count, float *__restrict__ out) {
    GRID_LOOP(idx, count) out[idx] = __half2float(in[idx]);
}

cudaError_t cu_f16_to_f32(const cu_impl *m, const __half *in, long long count, float *out) {
    if (count <= 0) return cudaSuccess;
    k_f16_to_f32<<<cu_blocks(m, count, THREADS), THREADS, 0, m->stream>>>(in, count, out);
    return cudaGetLastError();
}

__global__ void k_fill_f16(__half *out, long long count, __half v) {
    GRID_LOOP(idx, count) out[idx] = v;
}

__global__ void k_fill_f32(float *out, long long count, float v) {
    GRID_LOOP(idx, count) out[idx] = v;
}

cudaError_t cu_fill_f16(const cu_impl *m, __half *out, long long count, float v) {
    if (count <= 0) return cudaSuccess;
    k_fill_f16<<<cu_blocks(m, count, THREADS), THREADS, 0, m->stream>>>(out, count, __float2half_rn(v));
    return cudaGetLastError();
}

cudaError_t cu_fill_f32(const cu_impl *m, float *out, long long count, float v) {
    if (count <= 0) return cudaSuccess;
    k_fill_f32<<<cu_blocks(m, count, THREADS), THREADS, 0, m->stream>>>(out, count, v);
    return cudaGetLastError();
}

/* Fault injection (Y5_FAULT_ENGINE, tests): a trap, which the driver reports
 * as a launch failure and keeps as the context's sticky error, as it does
 * for a real kernel fault. */
__global__ void k_trap(void) { __trap(); }

cudaError_t cu_trap(const cu_impl *m) {
    k_trap<<<1, 1, 0, m->stream>>>();
    return cudaGetLastError();
}

__global__ void k_view_fill(__half *v, long long px, int c, int ld, __half val) {
    GRID_LOOP(idx, px * c) {
        const long long r = idx / c;
        v[r * ld + (idx - r * c)] = val;
    }
}

cudaError_t cu_view_fill(const cu_impl *m, __half *v, long long px, int c, int ld, float val) {
    if (px <= 0 || c <= 0) return cudaSuccess;
    k_view_fill<<<cu_blocks(m, px * c, THREADS), THREADS, 0, m->stream>>>(v, px, c, ld, __float2half_rn(val));
    return cudaGetLastError();
}

/* Conv tuning's check of a path's output (backend_cuda.cu, tune_conv)
 * against the snapshot taken after the reference path: over the span of the
 * output's rows, the slice's elements (column < c of each ld-wide row) are
 * compared with a tolerance, every other element (other layers' channels)
 * must be unchanged to the bit. Non-negative floats order as their bits:
 * atomicMax on the bits is a max. */
__global__ void k_span_check(const __half *now, const __half *snap, long long span, int c, int ld, unsigned *stats) {
    float dmax = 0.0f, rmax = 0.0f;
    unsigned over = 0, outside = 0;
    GRID_LOOP(idx, span) {
        const __half a = now[idx], b = snap[idx];
        if ((int)(idx % ld) >= c) {
            outside += __half_as_ushort(a) != __half_as_ushort(b);
            continue;
        }
        const float fa = __half2float(a), fb = __half2float(b);
        float d = fabsf(fa - fb), e = fabsf(fb);
        if (!(d <= FLT_MAX)) d = FLT_MAX; /* NaN, inf */
        if (!(e <= FLT_MAX)) e = FLT_MAX;
        dmax = fmaxf(dmax, d);
        rmax = fmaxf(rmax, e);
        over += !y5l_agree(fa, fb); /* the lab's bound (conv_tile.h); NaN and inf never agree */
    }
    atomicMax(&stats[0], __float_as_uint(dmax));
    atomicMax(&stats[1], __float_as_uint(rmax));
    if (over) atomicAdd(&stats[2], over);
    if (outside) atomicAdd(&stats[3], outside);
}

cudaError_t cu_span_check(const cu_impl *m, const __half *now, const __half *snap, long long span, int c, int ld,
                          unsigned *stats) {
    if (span <= 0 || c <= 0 || ld < c) return cudaSuccess;
    k_span_check<<<cu_blocks(m, span, THREADS), THREADS, 0, m->stream>>>(now, snap, span, c, ld, stats);
    return cudaGetLastError();
}

/* Busy for us microseconds of the GPU's global timer: work queued behind it
 * meanwhile then runs back to back (tune_conv's timing). */
__global__ void k_spin(unsigned long long ns) {
    unsigned long long t0, t;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t0));
    do {
        asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
    } while (t - t0 < ns);
}

cudaError_t cu_spin(const cu_impl *m, int us) {
    k_spin<<<1, 1, 0, m->stream>>>((unsigned long long)us * 1000ull);
    return cudaGetLastError();
}
