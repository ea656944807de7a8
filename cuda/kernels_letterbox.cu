/* kernels_letterbox.cu - detect.py's letterbox on the GPU, bit exact with
 * core/image/letterbox.c.
 *
 * The host builds OpenCV's INTER_LINEAR tables with the same float and
 * double expressions as letterbox.c (xofs and the two int16 alphas per
 * output column, the first column from which only the single tap
 * S[sx] * 2048 is used, and per output row the two clipped source rows and
 * the two unclamped int16 betas); they travel with the u8 image in one
 * pinned upload. One thread per output pixel then does the horizontal pass
 * for its two source rows in exact integers and OpenCV's vertical rounding
 * ((b0 * (r0 >> 4)) >> 16) + ((b1 * (r1 >> 4)) >> 16) + 2) >> 2, or a copy
 * when the size does not change, or 114 in the border, and stores
 * u8 / 255.0f (IEEE division) rounded to half: the value the CPU letterbox
 * + y5_u8_to_unit_f32 + input_commit produce. */
#include "cuda/cuda_internal.h"
extern "C" {
#include "core/image/letterbox.h" /* y5_resize_coef_x/y: the CPU resize's coefficients */
}

#include <math.h>
#include <string.h>

#define THREADS 256
#define COEF 2048
#define PAD 114

struct lb_params {
    const unsigned char *src; /* w0 x h0 x 3 */
    const int *tab;           /* xofs, a0, a1 (new_w each), y0, y1, b0, b1 (new_h each) */
    int w0, h0, new_w, new_h, top, left, xmax, resize;
    int out_w, out_h, ld;
    __half *dst;              /* slot's first pixel */
};

__global__ void k_letterbox(const lb_params P) {
    const long long total = (long long)P.out_w * P.out_h;
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
         idx += (long long)gridDim.x * blockDim.x) {
        int y = (int)(idx / P.out_w), x = (int)(idx - (long long)y * P.out_w);
        int dx = x - P.left, dy = y - P.top;
        int v[3];
        if (dx < 0 || dx >= P.new_w || dy < 0 || dy >= P.new_h) {
            v[0] = v[1] = v[2] = PAD;
        } else if (!P.resize) {
            const unsigned char *s = P.src + ((long long)dy * P.w0 + dx) * 3;
            v[0] = s[0];
            v[1] = s[1];
            v[2] = s[2];
        } else {
            const int *xofs = P.tab, *a0t = P.tab + P.new_w, *a1t = P.tab + 2 * P.new_w;
            const int *y0t = P.tab + 3 * P.new_w, *y1t = y0t + P.new_h, *b0t = y1t + P.new_h, *b1t = b0t + P.new_h;
            const int sx = xofs[dx], a0 = a0t[dx], a1 = a1t[dx], single = dx >= P.xmax;
            const int b0 = b0t[dy], b1 = b1t[dy];
            const unsigned char *r0 = P.src + ((long long)y0t[dy] * P.w0 + sx) * 3;
            const unsigned char *r1 = P.src + ((long long)y1t[dy] * P.w0 + sx) * 3;
#pragma unroll
            for (int c = 0; c < 3; c++) {
                int h0 = single ? r0[c] * COEF : r0[c] * a0 + r0[c + 3] * a1;
                int h1 = single ? r1[c] * COEF : r1[c] * a0 + r1[c + 3] * a1;
                v[c] = (unsigned char)((((b0 * (h0 >> 4)) >> 16) + ((b1 * (h1 >> 4)) >> 16) + 2) >> 2);
            }
        }
        __half *o = P.dst + idx * P.ld;
#pragma unroll
        for (int c = 0; c < 3; c++) o[c] = __float2half_rn(__fdiv_rn((float)v[c], 255.0f));
    }
}

/* The resize tables, from the coefficient functions letterbox.c uses. */
static int build_tables(int sw, int sh, int dw, int dh, int *tab) {
    int *xofs = tab, *a0 = tab + dw, *a1 = tab + 2 * dw;
    int *y0t = tab + 3 * dw, *y1t = y0t + dh, *b0t = y1t + dh, *b1t = b0t + dh;
    int xmax = dw;
    for (int dx = 0; dx < dw; dx++)
        if (y5_resize_coef_x(dx, sw, dw, &xofs[dx], &a0[dx], &a1[dx]) && dx < xmax) xmax = dx;
    for (int dy = 0; dy < dh; dy++) y5_resize_coef_y(dy, sh, dh, &y0t[dy], &y1t[dy], &b0t[dy], &b1t[dy]);
    return xmax;
}

#define ALIGN256(x) (((x) + 255) & ~(size_t)255)

extern "C" int y5_cuda_letterbox(y5_backend *b, const y5_view *in, int slot, const uint8_t *rgb, int w0, int h0,
                                 int new_w, int new_h, int top, int left, char *err, size_t errlen) {
    if (!y5_cuda_is(b)) {
        snprintf(err, errlen, "cuda: letterbox: not a CUDA backend");
        return -1;
    }
    cu_impl *m = cu_of(b);
    if (m->capturing) {
        snprintf(err, errlen, "cuda: letterbox: called during a graph capture");
        return -1;
    }
    if (!rgb || w0 < 1 || h0 < 1 || new_w < 1 || new_h < 1 || top < 0 || left < 0 || slot < 0 || slot >= in->n ||
        in->c != 3 || in->ld < 3 || top + new_h > in->h || left + new_w > in->w) {
        snprintf(err, errlen, "cuda: letterbox: %dx%d image resized to %dx%d at (%d,%d) does not fit slot %d of a "
                 "%dx%dx%d input", w0, h0, new_w, new_h, left, top, slot, in->n, in->w, in->h);
        return -1;
    }
    if (!m->arena || in->off + ((size_t)in->n * in->h * in->w - 1) * in->ld + 3 > m->arena_elems) {
        snprintf(err, errlen, "cuda: letterbox: the input view lies outside the arena (plan first)");
        return -1;
    }
    if (cu_use_device(m)) return cu_take_error(m, err, errlen);
    const int resize = !(new_w == w0 && new_h == h0);
    const size_t img = (size_t)w0 * h0 * 3, img_al = ALIGN256(img);
    const size_t tab_bytes = resize ? (size_t)(3 * new_w + 4 * new_h) * sizeof(int) : 0;
    const size_t total = img_al + tab_bytes;
    /* the pinned staging may still feed the previous upload */
    if (m->lb_pending) {
        if (CU_CK(m, cudaEventSynchronize(m->lb_done))) return cu_take_error(m, err, errlen);
        m->lb_pending = 0;
    }
    if (total > m->lb_cap || !m->lb_h || !m->lb_d) {
        size_t c1 = m->lb_h ? m->lb_cap : 0, c2 = m->lb_d ? m->lb_cap : 0;
        m->lb_cap = 0;
        /* the device buffer may still be read by a queued letterbox kernel:
         * cudaFree waits for the device, so freeing it is safe */
        if (cu_grow_host(m, (void **)&m->lb_h, &c1, total) || cu_grow(m, (void **)&m->lb_d, &c2, total))
            return cu_take_error(m, err, errlen);
        m->lb_cap = total;
    }
    memcpy(m->lb_h, rgb, img);
    int xmax = 0;
    if (resize) xmax = build_tables(w0, h0, new_w, new_h, (int *)(m->lb_h + img_al));
    lb_params P;
    P.src = m->lb_d;
    P.tab = (const int *)(m->lb_d + img_al);
    P.w0 = w0;
    P.h0 = h0;
    P.new_w = new_w;
    P.new_h = new_h;
    P.top = top;
    P.left = left;
    P.xmax = xmax;
    P.resize = resize;
    P.out_w = in->w;
    P.out_h = in->h;
    P.ld = in->ld;
    P.dst = m->arena + in->off + (size_t)slot * in->h * in->w * in->ld;
    if (CU_CK(m, cudaMemcpyAsync(m->lb_d, m->lb_h, total, cudaMemcpyHostToDevice, m->stream)) ||
        CU_CK(m, cudaEventRecord(m->lb_done, m->stream)))
        return cu_take_error(m, err, errlen);
    m->lb_pending = 1;
    long long px = (long long)in->w * in->h;
    k_letterbox<<<cu_blocks(m, px, THREADS), THREADS, 0, m->stream>>>(P);
    if (CU_CK(m, cudaGetLastError())) return cu_take_error(m, err, errlen);
    m->input_src = CU_IN_DEVICE;
    return cu_take_error(m, err, errlen);
}
