/* image.h - decoded images (RGB u8, HWC): JPEG through libjpeg-turbo, every
 * other format through stb. */
#ifndef Y5_IMAGE_H
#define Y5_IMAGE_H

#include <stddef.h>
#include <stdint.h>
#include <yolov5c.h> /* y5_image, y5_image_load/free/write */


/* Decodes a JPEG (libjpeg-turbo, bytes identical to cv2.imread's) or any
 * other format stb_image reads into RGB. Returns 0, or -1 with one line
 * "PATH: problem" in err (missing, unreadable, not an image, truncated: a
 * JPEG whose data ends early is refused, not padded with grey). */
int y5_image_load(const char *path, y5_image *img, char *err, size_t errlen);
int y5_image_load_mem(const uint8_t *bytes, size_t len, const char *name, y5_image *img, char *err, size_t errlen);
void y5_image_free(y5_image *img);

/* y5_image_load's first step, for callers that look at the header (and
 * budget the memory) before decoding: the whole file, malloc'd, or NULL
 * with y5_image_load's message in err. */
uint8_t *y5_image_read_file(const char *path, size_t *len, char *err, size_t errlen);

/* Width and height from the header alone (libjpeg for a JPEG, stb for the
 * rest), before any EXIF orientation. Returns 0, or -1 when unreadable. */
int y5_image_info_mem(const uint8_t *bytes, size_t len, int *w, int *h);

/* Encodes by the extension of path (.jpg/.jpeg: libjpeg-turbo, quality 95,
 * 4:2:0, as cv2.imwrite; .png, .bmp: stb; any other extension is written as
 * JPEG). Atomic: temp file + rename. */
int y5_image_write(const char *path, const y5_image *img, char *err, size_t errlen);

/* The EXIF orientation (1..8) of JPEG bytes, 1 when absent. y5_image_load
 * applies it as cv2.imread does (flip/transpose), so callers need not. */
int y5_jpeg_exif_orientation(const uint8_t *bytes, size_t len);

#endif
