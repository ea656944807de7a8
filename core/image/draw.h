/* draw.h - annotation: boxes and "name conf" labels in a built-in bitmap font. */
#ifndef Y5_DRAW_H
#define Y5_DRAW_H

#include "core/image/image.h"
#include "core/post/nms.h"

/* Class colour (one per class, a fixed palette cycled). */
void y5_class_color(int cls, uint8_t rgb[3]);

/* Draws a filled or outlined rectangle, clipped to the image. */
void y5_draw_rect(y5_image *img, int x1, int y1, int x2, int y2, int thickness, const uint8_t rgb[3]);
/* Draws text with its top-left at (x, y), scale >= 1, clipped. Returns width in px. */
int y5_draw_text(y5_image *img, int x, int y, const char *text, int scale, const uint8_t fg[3]);
int y5_text_width(const char *text, int scale);
int y5_text_height(int scale);

/* Boxes (original pixels) with labels "name 0.87"; line width and font
 * scale follow the image size as ultralytics' Annotator does (about
 * max(round((w+h)/2*0.003), 2)). names: nc entries (may be NULL: class id). */
void y5_draw_detections(y5_image *img, const y5_det *d, int n, const char (*names)[64], int nc);

#endif
