/* letterbox.c - detect.py's letterbox, same arithmetic and same pixels.
 *
 * The resize reproduces OpenCV 4.x cv2.resize(..., INTER_LINEAR) on 8-bit
 * images (resizeGeneric with fixed-point coefficients) bit for bit:
 *   scale = 1 / (dst/src) (double); fx = (float)((dx + 0.5) * scale - 0.5);
 *   sx = floor(fx); f = fx - sx; left of the image (sx < 0): sx = 0, f = 0;
 *   right of it (sx + 1 >= src width, after the left clamp): sx = w - 1,
 *   f = 0 and a single tap S[sx] * 2048;
 *   weights int16 lrint((1 - f) * 2048), lrint(f * 2048) (float products);
 *   rows: the same formula in y, but betas are NOT clamped, only the two
 *   source row indices are clipped to [0, h - 1];
 *   horizontal pass in exact int, vertical pass
 *   ((b0 * (r0 >> 4)) >> 16) + ((b1 * (r1 >> 4)) >> 16) + 2) >> 2
 *   (OpenCV's SIMD and scalar paths for uchar both use this formula).
 * OpenCV turns an exact 2x reduction in both axes into INTER_AREA, whose
 * 2x2 mean (a + b + c + d + 2) >> 2 equals this formula there. */
#include "core/image/letterbox.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PAD_VALUE 114
#define COEF_SCALE 2048

/* The one letterbox arithmetic behind both entry points. scaleup = 0 caps r
 * at 1 (ultralytics' scaleup=False: an image is only ever shrunk). */
static void plan(int w0, int h0, int target_h, int target_w, int rect, int stride, int scaleup, y5_letterbox_geom *g) {
    memset(g, 0, sizeof *g);
    g->w0 = w0;
    g->h0 = h0;
    if (w0 <= 0 || h0 <= 0 || target_h <= 0 || target_w <= 0) return;
    if (stride <= 0) stride = 1;
    /* r = min(new_shape[0] / shape[0], new_shape[1] / shape[1]) in doubles */
    double rh = (double)target_h / h0, rw = (double)target_w / w0;
    double r = rw < rh ? rw : rh;
    if (!scaleup && r > 1.0) r = 1.0;
    /* new_unpad = int(round(w0 * r)), int(round(h0 * r)): Python's round is
     * half to even, which is nearbyint in the default rounding mode. An
     * extreme aspect ratio could round a side to 0 (OpenCV would refuse):
     * keep at least one pixel. */
    int nw = (int)nearbyint((double)w0 * r), nh = (int)nearbyint((double)h0 * r);
    if (nw < 1) nw = 1;
    if (nh < 1) nh = 1;
    if (nw > target_w) nw = target_w;
    if (nh > target_h) nh = target_h;
    int dw = target_w - nw, dh = target_h - nh;
    if (rect) { dw %= stride; dh %= stride; } /* np.mod; dw, dh >= 0 here */
    double hw = dw / 2.0, hh = dh / 2.0;
    g->top = (int)nearbyint(hh - 0.1);
    g->bottom = (int)nearbyint(hh + 0.1);
    g->left = (int)nearbyint(hw - 0.1);
    g->right = (int)nearbyint(hw + 0.1);
    g->new_w = nw;
    g->new_h = nh;
    g->out_w = nw + g->left + g->right;
    g->out_h = nh + g->top + g->bottom;
    g->r = r;
}

void y5_letterbox_plan(int w0, int h0, int target_h, int target_w, int rect, int stride, y5_letterbox_geom *g) {
    plan(w0, h0, target_h, target_w, rect, stride, 1, g);
}

void y5_letterbox_plan_fixed(int w0, int h0, int target_h, int target_w, int scaleup, y5_letterbox_geom *g) {
    plan(w0, h0, target_h, target_w, 0, 1, scaleup, g);
}

/* ---- OpenCV INTER_LINEAR, u8, 3 channels ---- */

#define ALIGN64(n) (((n) + 63) & ~(size_t)63)

static size_t resize_scratch(int dw) {
    return ALIGN64((size_t)dw * sizeof(int))            /* xofs */
         + ALIGN64((size_t)dw * 2 * sizeof(short))      /* alpha */
         + 2 * ALIGN64((size_t)dw * 3 * sizeof(int));   /* two horizontal rows */
}

/* One source row through the horizontal pass: D[3*dx + c] (scale 2048). */
static void hresize_row(const uint8_t *S, int *D, const int *xofs, const short *alpha, int xmax, int dw) {
    int dx = 0;
    for (; dx < xmax; dx++) {
        const uint8_t *s = S + 3 * xofs[dx];
        int a0 = alpha[2 * dx], a1 = alpha[2 * dx + 1];
        D[3 * dx + 0] = s[0] * a0 + s[3] * a1;
        D[3 * dx + 1] = s[1] * a0 + s[4] * a1;
        D[3 * dx + 2] = s[2] * a0 + s[5] * a1;
    }
    for (; dx < dw; dx++) {
        const uint8_t *s = S + 3 * xofs[dx];
        D[3 * dx + 0] = s[0] * COEF_SCALE;
        D[3 * dx + 1] = s[1] * COEF_SCALE;
        D[3 * dx + 2] = s[2] * COEF_SCALE;
    }
}

static void vresize_row(const int *restrict S0, const int *restrict S1, int b0, int b1, uint8_t *restrict dst, int n) {
    for (int x = 0; x < n; x++)
        dst[x] = (uint8_t)((((b0 * (S0[x] >> 4)) >> 16) + ((b1 * (S1[x] >> 4)) >> 16) + 2) >> 2);
}

/* src: sw x sh x 3 with row stride sstride bytes; dst: dw x dh x 3 with row
 * stride dstride bytes. scratch: resize_scratch(dw) bytes, 64-aligned. */
static void resize_linear(const uint8_t *src, int sw, int sh, size_t sstride, uint8_t *dst, int dw, int dh,
                          size_t dstride, void *scratch) {
    uint8_t *p = scratch;
    int *xofs = (int *)p;
    p += ALIGN64((size_t)dw * sizeof(int));
    short *alpha = (short *)p;
    p += ALIGN64((size_t)dw * 2 * sizeof(short));
    int *rows[2];
    rows[0] = (int *)p;
    p += ALIGN64((size_t)dw * 3 * sizeof(int));
    rows[1] = (int *)p;

    int xmax = dw;
    for (int dx = 0; dx < dw; dx++) {
        int a0, a1;
        if (y5_resize_coef_x(dx, sw, dw, &xofs[dx], &a0, &a1) && dx < xmax) xmax = dx;
        alpha[2 * dx] = (short)a0;
        alpha[2 * dx + 1] = (short)a1;
    }

    int tag[2] = {-1, -1};
    const int n = dw * 3;
    for (int dy = 0; dy < dh; dy++) {
        int y0, y1, b0, b1;
        y5_resize_coef_y(dy, sh, dh, &y0, &y1, &b0, &b1);
        /* find or compute the two horizontal rows, reusing cached ones */
        int k0 = tag[0] == y0 ? 0 : tag[1] == y0 ? 1 : -1;
        if (k0 < 0) {
            k0 = tag[0] == y1 ? 1 : 0; /* do not evict the row y1 lives in */
            hresize_row(src + (size_t)y0 * sstride, rows[k0], xofs, alpha, xmax, dw);
            tag[k0] = y0;
        }
        int k1;
        if (y1 == y0) k1 = k0;
        else {
            k1 = tag[0] == y1 ? 0 : tag[1] == y1 ? 1 : -1;
            if (k1 < 0) {
                k1 = 1 - k0;
                hresize_row(src + (size_t)y1 * sstride, rows[k1], xofs, alpha, xmax, dw);
                tag[k1] = y1;
            }
        }
        vresize_row(rows[k0], rows[k1], b0, b1, dst + (size_t)dy * dstride, n);
    }
}

void y5_resize_linear_u8(const uint8_t *src, int sw, int sh, uint8_t *dst, int dw, int dh) {
    if (sw <= 0 || sh <= 0 || dw <= 0 || dh <= 0) return;
    if (sw == dw && sh == dh) { /* cv2.resize copies */
        memcpy(dst, src, (size_t)sw * sh * 3);
        return;
    }
    void *scratch = aligned_alloc(64, resize_scratch(dw));
    if (!scratch) return;
    resize_linear(src, sw, sh, (size_t)sw * 3, dst, dw, dh, (size_t)dw * 3, scratch);
    free(scratch);
}

size_t y5_letterbox_scratch(const y5_letterbox_geom *g) {
    if (g->new_w == g->w0 && g->new_h == g->h0) return 0;
    return resize_scratch(g->new_w) + 64; /* + 64: the caller's pointer may be unaligned */
}

void y5_letterbox_u8(const y5_image *src, const y5_letterbox_geom *g, uint8_t *dst, void *scratch) {
    const int ow = g->out_w, oh = g->out_h;
    const size_t ostride = (size_t)ow * 3;
    if (ow <= 0 || oh <= 0) return;
    /* border: top and bottom rows, then left/right of each image row */
    memset(dst, PAD_VALUE, (size_t)g->top * ostride);
    memset(dst + (size_t)(g->top + g->new_h) * ostride, PAD_VALUE, (size_t)g->bottom * ostride);
    for (int y = 0; y < g->new_h; y++) {
        uint8_t *row = dst + (size_t)(g->top + y) * ostride;
        memset(row, PAD_VALUE, (size_t)g->left * 3);
        memset(row + (size_t)(g->left + g->new_w) * 3, PAD_VALUE, (size_t)g->right * 3);
    }
    uint8_t *inner = dst + (size_t)g->top * ostride + (size_t)g->left * 3;
    if (g->new_w == g->w0 && g->new_h == g->h0) {
        for (int y = 0; y < g->new_h; y++)
            memcpy(inner + (size_t)y * ostride, src->px + (size_t)y * g->w0 * 3, (size_t)g->w0 * 3);
        return;
    }
    void *own = NULL;
    if (!scratch) {
        own = malloc(y5_letterbox_scratch(g));
        if (!own) return;
        scratch = own;
    }
    uintptr_t a = ((uintptr_t)scratch + 63) & ~(uintptr_t)63;
    resize_linear(src->px, g->w0, g->h0, (size_t)g->w0 * 3, inner, g->new_w, g->new_h, ostride, (void *)a);
    free(own);
}

void y5_u8_to_unit_f32(const uint8_t *src, size_t count, float *dst) {
    float lut[256];
    for (int i = 0; i < 256; i++) lut[i] = (float)i / 255.0f; /* IEEE division, as torch's / 255 */
    for (size_t i = 0; i < count; i++) dst[i] = lut[src[i]];
}
