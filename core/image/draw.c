/* draw.c - boxes and "name 0.87" labels, laid out like ultralytics'
 * Annotator.box_label (cv2 path): line width lw = max(round((h + w + 3) / 2
 * * 0.003), 2) (sum(im.shape) counts the 3 channels), the class colour from
 * ultralytics' 20-colour palette, a filled label in the class colour above
 * the box (inside it when there is no room above), white text.
 *
 * The glyphs come from stb_easy_font (Debian libstb-dev): each character is
 * a few axis-aligned unit rectangles on an integer grid (caps 7 units high,
 * descenders to 9), which we scale by an integer factor and fill, clipped to
 * the image. Only printable ASCII is drawn; any other byte (or UTF-8
 * sequence) shows as '?'. */
#include "core/image/draw.h"

#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-braces"
#include <stb_easy_font.h>
#pragma GCC diagnostic pop

#define GLYPH_ROWS 9 /* ink rows of the font: caps 0..6, descenders to 8 */

static const uint8_t PALETTE[20][3] = {
    {0xFF, 0x38, 0x38}, {0xFF, 0x9D, 0x97}, {0xFF, 0x70, 0x1F}, {0xFF, 0xB2, 0x1D}, {0xCF, 0xD2, 0x31},
    {0x48, 0xF9, 0x0A}, {0x92, 0xCC, 0x17}, {0x3D, 0xDB, 0x86}, {0x1A, 0x93, 0x34}, {0x00, 0xD4, 0xBB},
    {0x2C, 0x99, 0xA8}, {0x00, 0xC2, 0xFF}, {0x34, 0x45, 0x93}, {0x64, 0x73, 0xFF}, {0x00, 0x18, 0xEC},
    {0x84, 0x38, 0xFF}, {0x52, 0x00, 0x85}, {0xCB, 0x38, 0xFF}, {0xFF, 0x95, 0xC8}, {0xFF, 0x37, 0xC7},
};

void y5_class_color(int cls, uint8_t rgb[3]) {
    int k = cls % 20;
    if (k < 0) k += 20;
    rgb[0] = PALETTE[k][0];
    rgb[1] = PALETTE[k][1];
    rgb[2] = PALETTE[k][2];
}

/* Fills [x1, x2] x [y1, y2] (inclusive), clipped. 64-bit so that any int
 * input is safe. */
static void fill(y5_image *img, long long x1, long long y1, long long x2, long long y2, const uint8_t rgb[3]) {
    if (!img || !img->px || img->w <= 0 || img->h <= 0) return;
    if (x1 > x2) { long long t = x1; x1 = x2; x2 = t; }
    if (y1 > y2) { long long t = y1; y1 = y2; y2 = t; }
    if (x1 < 0) x1 = 0;
    if (y1 < 0) y1 = 0;
    if (x2 > img->w - 1) x2 = img->w - 1;
    if (y2 > img->h - 1) y2 = img->h - 1;
    if (x1 > x2 || y1 > y2) return;
    /* rows are copied from a run of the colour, PAT pixels at a time: a
     * byte loop of 3-byte pixels cost about 5% of a detect run with many
     * boxes (perf, 2026-11-27) */
    enum { PAT = 64 };
    uint8_t pat[PAT * 3];
    const size_t run = (size_t)(x2 - x1 + 1) * 3, first = run < sizeof pat ? run : sizeof pat;
    for (size_t i = 0; i < first; i += 3) {
        pat[i] = rgb[0];
        pat[i + 1] = rgb[1];
        pat[i + 2] = rgb[2];
    }
    for (long long y = y1; y <= y2; y++) {
        uint8_t *p = img->px + ((size_t)y * (size_t)img->w + (size_t)x1) * 3;
        for (size_t left = run; left > 0;) {
            const size_t n = left < first ? left : first;
            memcpy(p, pat, n);
            p += n;
            left -= n;
        }
    }
}

void y5_draw_rect(y5_image *img, int x1, int y1, int x2, int y2, int thickness, const uint8_t rgb[3]) {
    if (thickness <= 0) { /* filled, as cv2.rectangle with thickness -1 */
        fill(img, x1, y1, x2, y2, rgb);
        return;
    }
    long long a1 = x1 < x2 ? x1 : x2, a2 = x1 < x2 ? x2 : x1;
    long long b1 = y1 < y2 ? y1 : y2, b2 = y1 < y2 ? y2 : y1;
    /* lines of the given thickness centred on the edges, as cv2 draws them */
    long long lo = thickness / 2, hi = thickness - 1 - thickness / 2;
    fill(img, a1 - lo, b1 - lo, a2 + hi, b1 + hi, rgb); /* top */
    fill(img, a1 - lo, b2 - lo, a2 + hi, b2 + hi, rgb); /* bottom */
    fill(img, a1 - lo, b1 - lo, a1 + hi, b2 + hi, rgb); /* left */
    fill(img, a2 - lo, b1 - lo, a2 + hi, b2 + hi, rgb); /* right */
}

/* Next drawable character of text (printable ASCII, else '?'), advancing *s
 * past a whole UTF-8 sequence. */
static char next_char(const char **s) {
    unsigned char c = (unsigned char)**s;
    (*s)++;
    if (c >= 32 && c < 127) return (char)c;
    if (c >= 0xC0) /* UTF-8 lead byte: skip its continuation bytes */
        while ((**s & 0xC0) == 0x80) (*s)++;
    return '?';
}

static int char_advance(char c) {
    char s[2] = {c, 0};
    return stb_easy_font_width(s);
}

int y5_text_width(const char *text, int scale) {
    if (!text) return 0;
    if (scale < 1) scale = 1;
    int w = 0;
    while (*text) w += char_advance(next_char(&text));
    return w * scale;
}

int y5_text_height(int scale) { return GLYPH_ROWS * (scale < 1 ? 1 : scale); }

int y5_draw_text(y5_image *img, int x, int y, const char *text, int scale, const uint8_t fg[3]) {
    if (!text) return 0;
    if (scale < 1) scale = 1;
    long long cx = x;
    char quads[4096]; /* one character: at most a few dozen quads of 64 bytes */
    while (*text) {
        char s[2] = {next_char(&text), 0};
        int nq = stb_easy_font_print(0.f, 0.f, s, NULL, quads, (int)sizeof quads);
        for (int q = 0; q < nq; q++) {
            float v0[2], v2[2];
            memcpy(v0, quads + q * 64, sizeof v0);      /* vertex 0: top-left */
            memcpy(v2, quads + q * 64 + 32, sizeof v2); /* vertex 2: bottom-right */
            long long qx1 = (long long)v0[0], qy1 = (long long)v0[1];
            long long qx2 = (long long)v2[0], qy2 = (long long)v2[1];
            fill(img, cx + qx1 * scale, (long long)y + qy1 * scale, cx + qx2 * scale - 1,
                 (long long)y + qy2 * scale - 1, fg);
        }
        cx += (long long)char_advance(s[0]) * scale;
    }
    return (int)(cx - x);
}

/* A float box coordinate to int as detect.py does (round half to even, then
 * int), saturated far outside any image; 0 for NaN. */
static int coord(float v) {
    if (v != v) return 0;
    if (v < -1e7f) v = -1e7f;
    if (v > 1e7f) v = 1e7f;
    return (int)nearbyintf(v);
}

void y5_draw_detections(y5_image *img, const y5_det *d, int n, const char (*names)[64], int nc) {
    if (!img || !img->px || img->w <= 0 || img->h <= 0 || !d) return;
    int lw = (int)nearbyint(((double)img->h + img->w + 3) / 2 * 0.003);
    if (lw < 2) lw = 2;
    const int scale = lw;                 /* about cv2's Hershey text at fontScale lw / 3 */
    const int pad = scale;
    static const uint8_t white[3] = {255, 255, 255};
    /* detect.py draws reversed(det): the most confident box ends on top */
    for (int i = n - 1; i >= 0; i--) {
        uint8_t col[3];
        y5_class_color(d[i].cls, col);
        int x1 = coord(d[i].x1), y1 = coord(d[i].y1), x2 = coord(d[i].x2), y2 = coord(d[i].y2);
        y5_draw_rect(img, x1, y1, x2, y2, lw, col);

        char label[128];
        if (names && d[i].cls >= 0 && d[i].cls < nc)
            snprintf(label, sizeof label, "%.63s %.2f", names[d[i].cls], (double)d[i].conf);
        else
            snprintf(label, sizeof label, "%d %.2f", d[i].cls, (double)d[i].conf);
        int tw = y5_text_width(label, scale), th = y5_text_height(scale);
        long long bw = tw + 2LL * pad - scale; /* the font's advance already ends in one blank column */
        long long bh = th + 2LL * pad;
        long long bx = x1 < x2 ? x1 : x2, top = y1 < y2 ? y1 : y2;
        long long by = top - bh >= 0 ? top - bh : top; /* above the box, else inside it */
        if (bx + bw > img->w) bx = img->w - bw;
        if (bx < 0) bx = 0;
        if (by + bh > img->h) by = img->h - bh;
        if (by < 0) by = 0;
        fill(img, bx, by, bx + bw - 1, by + bh - 1, col);
        y5_draw_text(img, (int)(bx + pad), (int)(by + pad), label, scale, white);
    }
}
