/* letterbox.h - detect.py's letterbox: same arithmetic, same pixels.
 *
 * r = min(H/h0, W/w0); new = (round_half_even(w0*r), round_half_even(h0*r));
 * rect ("auto"): pad each side only to a multiple of stride; square: pad to HxW.
 * top = round(dh/2 - 0.1), bottom = round(dh/2 + 0.1) (likewise left/right);
 * fill 114; resize = OpenCV INTER_LINEAR fixed-point (bit exact). */
#ifndef Y5_LETTERBOX_H
#define Y5_LETTERBOX_H

#include <stdint.h>
#include "image.h"

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

/* cv2.resize(src, (dw, dh), INTER_LINEAR) on RGB u8, bit exact. */
void y5_resize_linear_u8(const uint8_t *src, int sw, int sh, uint8_t *dst, int dw, int dh);

/* Writes g->out_h x g->out_w x 3 u8 into dst (resized image + 114 border).
 * scratch: at least y5_letterbox_scratch(g) bytes (NULL: allocated inside). */
void y5_letterbox_u8(const y5_image *src, const y5_letterbox_geom *g, uint8_t *dst, void *scratch);
size_t y5_letterbox_scratch(const y5_letterbox_geom *g);

/* u8 -> float / 255 (IEEE division), count values. */
void y5_u8_to_unit_f32(const uint8_t *src, size_t count, float *dst);

#endif
