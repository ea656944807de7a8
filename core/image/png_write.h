/* png_write.h - a fast streaming PNG encoder for RGB u8 images.
 *
 * Why not stb_image_write's PNG writer (which this replaced for .png
 * output): it tries all five filters on every row, then compresses with a
 * hash-chain LZ77 (at least 5 candidates per byte) and holds the filtered
 * image, the compressed stream and the finished file in memory at once: a
 * 13400x9528 image took 17.7 s and over 1 GB beyond its pixels. This one
 * uses one filter for every row (Up by default: on a 13400x9528 photo
 * mosaic the fastest of the five, and within 0.4% of the smallest, Paeth;
 * bench/results/giant.md), a greedy LZ77 with a one-entry hash (zlib level
 * 1's strategy) and fixed Huffman codes, and streams: a band of filtered
 * rows and one IDAT chunk (1 MiB) at a time go to the sink, so memory beyond
 * the pixels stays a few MiB whatever the image size. The output is a
 * standard PNG (8-bit RGB, non-interlaced, zlib stream split into IDAT
 * chunks) that any decoder reads back to the same pixels. */
#ifndef Y5_PNG_WRITE_H
#define Y5_PNG_WRITE_H

#include <stddef.h>
#include <yolov5c.h> /* y5_image */

/* PNG row filters (the spec's numbers); Y5_PNG_FILTER_DEFAULT picks ours. */
enum { Y5_PNG_FILTER_NONE, Y5_PNG_FILTER_SUB, Y5_PNG_FILTER_UP, Y5_PNG_FILTER_AVG, Y5_PNG_FILTER_PAETH,
       Y5_PNG_FILTER_DEFAULT = -1 };

/* The sink: writes n bytes, returns 0, or -1 to stop the encoding. */
typedef int (*y5_png_sink)(void *ctx, const void *bytes, size_t n);

/* Encodes img (RGB, 3 bytes per pixel) as PNG into sink, every row with
 * filter (Y5_PNG_FILTER_*). Returns 0, -1 when the sink failed, -2 out of
 * memory. Thread-safe (the constant tables are built once). */
int y5_png_write(const y5_image *img, int filter, y5_png_sink sink, void *ctx);

#endif
