/* letterbox.h - detect.py's letterbox: same arithmetic, same pixels.
 *
 * r = min(H/h0, W/w0); new = (round_half_even(w0*r), round_half_even(h0*r));
 * rect ("auto"): pad each side only to a multiple of stride; square: pad to HxW.
 * top = round(dh/2 - 0.1), bottom = round(dh/2 + 0.1) (likewise left/right);
 * fill 114; resize = OpenCV INTER_LINEAR fixed-point (bit exact). */
#ifndef Y5_LETTERBOX_H
#define Y5_LETTERBOX_H

#include <math.h>
#include <stdint.h>
#include "core/image/image.h"

typedef struct {
    int w0, h0;               /* original */
    int new_w, new_h;         /* resized, before padding */
    int top, bottom, left, right;
    int out_w, out_h;         /* network input */
    double r;
} y5_letterbox_geom;

/* target_h/target_w: --imgsz (already multiples of stride). rect != 0 is
 * detect.py's auto=True. */
void y5_letterbox_plan(int w0, int h0, int target_h, int target_w, int rect, int stride,
                       y5_letterbox_geom *g);

/* letterbox(img, (target_h, target_w), auto=False, scaleup=scaleup): the
 * output is always target_h x target_w, whatever the image's aspect ratio
 * (val.py's fixed batch shape, where detect.py pads only to a multiple of
 * the stride). scaleup = 0 never enlarges (r <= 1), as val.py's dataloader
 * (scaleup=augment, False). The half-paddings letterbox() returns as floats
 * are (out_w - new_w) / 2.0 and (out_h - new_h) / 2.0. */
void y5_letterbox_plan_fixed(int w0, int h0, int target_h, int target_w, int scaleup, y5_letterbox_geom *g);

/* cv2.resize(src, (dw, dh), INTER_LINEAR) on RGB u8, bit exact. */
void y5_resize_linear_u8(const uint8_t *src, int sw, int sh, uint8_t *dst, int dw, int dh);

/* Writes g->out_h x g->out_w x 3 u8 into dst (resized image + 114 border).
 * scratch: at least y5_letterbox_scratch(g) bytes (NULL: allocated inside). */
void y5_letterbox_u8(const y5_image *src, const y5_letterbox_geom *g, uint8_t *dst, void *scratch);
size_t y5_letterbox_scratch(const y5_letterbox_geom *g);

/* u8 -> float / 255 (IEEE division), count values. */
void y5_u8_to_unit_f32(const uint8_t *src, size_t count, float *dst);

/* OpenCV INTER_LINEAR (uint8) coefficients, fixed point with weights summing
 * to 2048. Shared by the CPU resize and the CUDA letterbox so the two cannot
 * drift. Horizontal, for destination column dx of a sw -> dw resize: source
 * column *sx and weights *w0 (at sx), *w1 (at sx + 1); returns 1 from the
 * first column whose right neighbour does not exist on (OpenCV's xmax: all
 * the weight on *sx). */
static inline int y5_resize_coef_x(int dx, int sw, int dw, int *sx, int *w0, int *w1) {
    double scale = 1.0 / ((double)dw / sw);
    float f = (float)((dx + 0.5) * scale - 0.5);
    int s = (int)floorf(f);
    f -= (float)s;
    if (s < 0) { f = 0.f; s = 0; }
    int edge = s + 1 >= sw;
    if (edge) { f = 0.f; s = sw - 1; }
    *sx = s;
    *w0 = (short)lrintf((1.f - f) * 2048.f);
    *w1 = (short)lrintf(f * 2048.f);
    return edge;
}

/* Vertical, for destination row dy of a sh -> dh resize: source rows *y0,
 * *y1 (clamped to the image) and weights *w0, *w1. OpenCV clamps only the
 * rows here, not the weights. */
static inline void y5_resize_coef_y(int dy, int sh, int dh, int *y0, int *y1, int *w0, int *w1) {
    double scale = 1.0 / ((double)dh / sh);
    float f = (float)((dy + 0.5) * scale - 0.5);
    int s = (int)floorf(f);
    f -= (float)s;
    *w0 = (short)lrintf((1.f - f) * 2048.f);
    *w1 = (short)lrintf(f * 2048.f);
    *y0 = s < 0 ? 0 : s >= sh ? sh - 1 : s;
    *y1 = s + 1 < 0 ? 0 : s + 1 >= sh ? sh - 1 : s + 1;
}

#endif
