/* resize_area.c - cv2.resize(..., INTER_AREA) when shrinking, RGB u8.
 *
 * Why it exists: val.py's load_image shrinks images larger than --imgsz
 * with INTER_AREA (INTER_LINEAR when growing), so val's mAP matches
 * ultralytics' only if the network sees the same kind of pixels.
 *
 * Integer factors (OpenCV's fast path) average each ix x iy block with
 * rounding. Other factors follow OpenCV's area tables: destination cell dx
 * spans [dx * scale, dx * scale + scale) of the source, of size
 * min(scale, src - start); each source pixel weighs its overlap with the
 * cell / the cell size, partial pixels counted when the overlap is over
 * 1e-3 px. The sums here are in double, rounded to nearest, so the result
 * is close to, not bit-exact with, OpenCV's. */
#include "core/image/resize_area.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* One (destination index, source index, weight) entry of an area table. */
typedef struct {
    int d, s;
    double w;
} area_tab;

/* OpenCV's computeResizeAreaTab for one axis; tab needs ssize + 2 * dsize
 * entries. Returns the number written, grouped by ascending d. */
static int area_table(int ssize, int dsize, area_tab *tab) {
    const double scale = (double)ssize / dsize;
    int k = 0;
    for (int dx = 0; dx < dsize; dx++) {
        const double f1 = dx * scale, f2 = f1 + scale;
        const double cell = fmin(scale, ssize - f1);
        int s1 = (int)ceil(f1), s2 = (int)floor(f2);
        if (s2 > ssize - 1) s2 = ssize - 1;
        if (s1 > s2) s1 = s2;
        if (s1 - f1 > 1e-3) tab[k++] = (area_tab){dx, s1 - 1, (s1 - f1) / cell};
        for (int sx = s1; sx < s2; sx++) tab[k++] = (area_tab){dx, sx, 1.0 / cell};
        if (f2 - s2 > 1e-3) tab[k++] = (area_tab){dx, s2, fmin(fmin(f2 - s2, 1.0), cell) / cell};
    }
    return k;
}

/* Integer factors in both axes: the rounded mean of each ix x iy block. */
static void resize_area_int(const uint8_t *src, int sw, uint8_t *dst, int dw, int dh, int ix, int iy) {
    const int area = ix * iy;
    for (int y = 0; y < dh; y++)
        for (int x = 0; x < dw; x++)
            for (int c = 0; c < 3; c++) {
                int acc = 0;
                for (int j = 0; j < iy; j++)
                    for (int i = 0; i < ix; i++) acc += src[((size_t)(y * iy + j) * sw + (size_t)(x * ix + i)) * 3 + c];
                dst[((size_t)y * dw + x) * 3 + c] = (uint8_t)((acc + area / 2) / area);
            }
}

int y5_resize_area_u8(const uint8_t *src, int sw, int sh, uint8_t *dst, int dw, int dh) {
    const double sx = (double)sw / dw, sy = (double)sh / dh;
    const int ix = (int)sx, iy = (int)sy;
    /* OpenCV's test for the integer path: |scale - int(scale)| < DBL_EPSILON */
    if (fabs(sx - ix) < 2.220446049250313e-16 && fabs(sy - iy) < 2.220446049250313e-16) {
        resize_area_int(src, sw, dst, dw, dh, ix, iy);
        return 0;
    }
    area_tab *tx = malloc(((size_t)sw + 2 * (size_t)dw) * sizeof *tx);
    area_tab *ty = malloc(((size_t)sh + 2 * (size_t)dh) * sizeof *ty);
    double *acc = calloc((size_t)dw * 3, sizeof(double));
    if (!tx || !ty || !acc) { free(tx); free(ty); free(acc); return -1; }
    const int nx = area_table(sw, dw, tx), ny = area_table(sh, dh, ty);
    for (int a = 0; a < ny;) {
        const int dy = ty[a].d;
        memset(acc, 0, (size_t)dw * 3 * sizeof(double));
        for (; a < ny && ty[a].d == dy; a++) {
            const uint8_t *row = src + (size_t)ty[a].s * sw * 3;
            for (int b = 0; b < nx; b++) {
                const double wgt = ty[a].w * tx[b].w;
                const uint8_t *p = row + (size_t)tx[b].s * 3;
                double *q = acc + (size_t)tx[b].d * 3;
                q[0] += wgt * p[0];
                q[1] += wgt * p[1];
                q[2] += wgt * p[2];
            }
        }
        uint8_t *out = dst + (size_t)dy * dw * 3;
        for (int i = 0; i < dw * 3; i++) {
            long v = lrint(acc[i]);
            out[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }
    free(tx);
    free(ty);
    free(acc);
    return 0;
}
